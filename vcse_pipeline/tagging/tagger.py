"""Tag organisations' text with UKCAT codes, keeping for each code the field and words that gave it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .model import TrainedTagger, cached_model, join_text, predict_codes, texts_and_hits
from .rules import UkcatRule, close_codes, load_rules, parent_codes, rule_matcher, snippet

TEXT_FIELDS = ("name", "activities", "objects", "other_names")
MODEL_FIELD = "name+activities+objects"


@dataclass(frozen=True)
class Tag:
    code: str
    source_field: str   # the field whose text fired the rule, or MODEL_FIELD for a model tag
    evidence: str       # matched snippet, model words, or "implied by <child code>"
    method: str         # 'regex' | 'model'


@dataclass
class TextRecord:
    name: str | None = None
    activities: str | None = None
    objects: str | None = None
    other_names: str | None = None   # working and previous names, joined with "; "


class UkcatTagger:
    """Applies the rules alone (`model=None`) or the rules combined with the trained model."""

    def __init__(self, rules: Sequence[UkcatRule], model: TrainedTagger | None = None):
        self.rules = list(rules)
        self.by_code = {r.code: r for r in self.rules}
        self.known = frozenset(self.by_code)
        self.matcher = rule_matcher(self.rules)
        self.model = model

    @classmethod
    def default(cls, rules: Sequence[UkcatRule] | None = None, cache_dir: Path | None = None,
                use_model: bool = True) -> UkcatTagger:
        rules = list(rules) if rules is not None else load_rules()
        return cls(rules, cached_model(rules, cache_dir) if use_model else None)

    def _scores(self, records: Sequence[TextRecord]):
        """(texts, expression hits, scores or None, feature matrix or None) for the records."""
        names = [join_text(r.name, r.other_names) for r in records]
        texts, hits = texts_and_hits(self.matcher, names, [r.activities for r in records],
                                     [r.objects for r in records])
        if self.model is None:
            return texts, hits, None, None
        scores, matrix = self.model.scores(texts, hits)
        return texts, hits, scores, matrix

    def _chosen(self, texts, hits, scores, i: int) -> set[str]:
        if scores is None:
            return set(hits.short[i])
        return predict_codes(self.model, scores[i], has_text=bool(texts[i]))

    def predict(self, records: Sequence[TextRecord]) -> list[set[str]]:
        """Predicted codes per record (not yet closed), without building evidence (for scoring)."""
        texts, hits, scores, _ = self._scores(records)
        return [self._chosen(texts, hits, scores, i) for i in range(len(records))]

    def tag(self, records: Sequence[TextRecord]) -> list[list[Tag]]:
        """Tags with evidence for each record, closed under the UKCAT hierarchy."""
        return self.tag_with_area_scores(records)[0]

    def tag_with_area_scores(self, records: Sequence[TextRecord]) -> tuple[list[list[Tag]], list[dict | None]]:
        """(tags as `tag` gives them, the model's service-area scores per record: area -> [decision, strength]).

        A record's area scores are None when no model ran or it has no activities or objects: a name alone is
        too little text for the model's area decision (docs/tagging.md), so its codes' evidence decides.
        """
        texts, hits, scores, matrix = self._scores(records)
        area_scores: list[dict | None] = [None] * len(records)
        if self.model is not None and self.model.areas and records:
            decision, strength = self.model.area_scores(matrix, scores, hits)
            area_scores = [{a: [float(d), float(s)] for a, d, s in zip(self.model.areas, decision[i], strength[i],
                                                                       strict=True)} if has_body_text(r) else None
                           for i, r in enumerate(records)]
        out = []
        for i, record in enumerate(records):
            tags = [self._evidence(code, record, matrix[i] if matrix is not None else None,
                                   scores[i] if scores is not None else None)
                    for code in sorted(self._chosen(texts, hits, scores, i))]
            out.append(self._close(tags))
        return out, area_scores

    def _evidence(self, code: str, record: TextRecord, x_row, score_row) -> Tag:
        rule = self.by_code.get(code)
        if rule is not None and rule.regex is not None:
            for field in TEXT_FIELDS:
                text = getattr(record, field)
                found = rule.regex.search(text) if text else None
                if found and not (rule.exclude and rule.exclude.search(text)):
                    return Tag(code, field, snippet(text, found.start(), found.end()), "regex")
        score = float(score_row[self.model.codes.index(code)]) if score_row is not None else 0.0
        words = self.model.explain(x_row, code) if self.model is not None and x_row is not None else ""
        return Tag(code, MODEL_FIELD, f"model score {score:.2f}" + (f"; words: {words}" if words else ""), "model")

    def _close(self, tags: list[Tag]) -> list[Tag]:
        seen = {t.code for t in tags}
        closed = list(tags)
        for tag in tags:
            for parent in parent_codes(tag.code, self.known):
                if parent not in seen:
                    seen.add(parent)
                    closed.append(Tag(parent, tag.source_field, f"implied by {tag.code}", tag.method))
        return sorted(closed, key=lambda t: t.code)


def has_body_text(record: TextRecord) -> bool:
    """Whether a record has more than a name to go on: activities or objects."""
    return any(isinstance(v, str) and v.strip() for v in (record.activities, record.objects))


def closed_code_list(tags: Sequence[Tag], known: frozenset[str]) -> list[str]:
    """All codes of a record's tags, leaf and parent, in code order (for the `ukcat_codes` column)."""
    return sorted(close_codes((t.code for t in tags), known))
