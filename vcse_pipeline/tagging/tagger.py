"""Tag organisations' text with UKCAT codes, keeping for each code the field and words that gave it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import Hits, Scores, TrainedTagger, cached_model, join_text, predict_codes, texts_and_hits
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


@dataclass(frozen=True)
class AreaScores:
    """The model's service-area scores of a batch of records: for the records at positions `rows` (those with
    more than a name: has_body_text), each area's decision and strength, arrays (len(rows), len(areas))."""

    areas: list[str]
    rows: np.ndarray
    decision: np.ndarray
    strength: np.ndarray

    def per_record(self, count: int) -> list[dict | None]:
        """Per record of the batch (`count` of them): area -> [decision, strength], or None when it has none."""
        found: list[dict | None] = [None] * count
        # rows x areas x [decision, strength], made Python floats in one call
        pairs = np.stack([self.decision, self.strength], axis=2).tolist()
        for i, row in zip(self.rows.tolist(), pairs, strict=True):
            found[i] = dict(zip(self.areas, row, strict=True))
        return found


class UkcatTagger:
    """Applies the rules alone (`model=None`) or the rules combined with the trained model."""

    def __init__(self, rules: Sequence[UkcatRule], model: TrainedTagger | None = None):
        self.rules = list(rules)
        self.by_code = {r.code: r for r in self.rules}
        self.known = frozenset(self.by_code)
        self.parents: dict[str, list[str]] = {}  # code -> its ancestors (rules.parent_codes), as tags are closed
        self.matcher = rule_matcher(self.rules)
        self.model = model

    @classmethod
    def default(cls, rules: Sequence[UkcatRule] | None = None, cache_dir: Path | None = None,
                use_model: bool = True) -> UkcatTagger:
        rules = list(rules) if rules is not None else load_rules()
        return cls(rules, cached_model(rules, cache_dir) if use_model else None)

    def _scores(self, records: Sequence[TextRecord], areas: bool = False) -> tuple[list[str], Hits, Scores | None]:
        """(texts, expression hits, the model's scores or None) for the records."""
        names = [join_text(r.name, r.other_names) for r in records]
        texts, hits = texts_and_hits(self.matcher, names, [r.activities for r in records],
                                     [r.objects for r in records])
        return texts, hits, self.model.scores(texts, hits, areas) if self.model is not None else None

    def _chosen(self, texts: list[str], hits: Hits, scores: Scores | None) -> list[set[str]]:
        if scores is None:
            return [set(found) for found in hits.short]
        return predict_codes(self.model, scores.codes, has_text=[bool(t) for t in texts])

    def predict(self, records: Sequence[TextRecord]) -> list[set[str]]:
        """Predicted codes per record (not yet closed), without building evidence (for scoring)."""
        return self._chosen(*self._scores(records))

    def tag(self, records: Sequence[TextRecord]) -> list[list[Tag]]:
        """Tags with evidence for each record, closed under the UKCAT hierarchy."""
        return self.tag_with_area_scores(records)[0]

    def tag_with_area_scores(self, records: Sequence[TextRecord]) -> tuple[list[list[Tag]], list[dict | None]]:
        """(tags as `tag` gives them, the model's service-area scores per record: area -> [decision, strength]).

        A record's area scores are None when no model ran or it has no activities or objects: a name alone is
        too little text for the model's area decision (docs/tagging.md), so its codes' evidence decides.
        """
        tags, scores = self.tag_with_area_arrays(records)
        return tags, scores.per_record(len(records)) if scores is not None else [None] * len(records)

    def tag_with_area_arrays(self, records: Sequence[TextRecord]) -> tuple[list[list[Tag]], AreaScores | None]:
        """`tag_with_area_scores` with the area scores left as arrays (None when no model ran): what a build
        stores (tagging/cache.py) without a Python float per score."""
        texts, hits, scores = self._scores(records, areas=True)
        area_scores = None
        if scores is not None and scores.area_decision is not None:
            body = np.array([i for i, r in enumerate(records) if has_body_text(r)], dtype=np.int64)
            area_scores = AreaScores(list(self.model.areas), body, scores.area_decision[body],
                                     scores.area_strength[body])
        tags = [[self._rule_evidence(code, record) for code in sorted(codes)]
                for record, codes in zip(records, self._chosen(texts, hits, scores), strict=True)]
        self._model_evidence(tags, scores)
        return [self._close(found) for found in tags], area_scores

    def _rule_evidence(self, code: str, record: TextRecord) -> Tag | str:
        """The tag with the first field its expression finds (in TEXT_FIELDS order), else the code: its evidence is
        the model's (`_model_evidence`)."""
        rule = self.by_code.get(code)
        if rule is not None and rule.regex is not None:
            for field in TEXT_FIELDS:
                text = getattr(record, field)
                found = rule.regex.search(text) if text else None
                if found and not (rule.exclude and rule.exclude.search(text)):
                    return Tag(code, field, snippet(text, found.start(), found.end()), "regex")
        return code

    def _model_evidence(self, tags: list[list[Tag | str]], scores: Scores | None) -> None:
        """Replace every code left without expression evidence by its model tag: the score and the words that pushed
        it up, explained for all of them at once (without a model: score 0 and no words)."""
        pending = [(i, k) for i, found in enumerate(tags) for k, tag in enumerate(found) if isinstance(tag, str)]
        if scores is None:
            words = [""] * len(pending)
        else:
            words = self.model.explain(scores.x, [(i, tags[i][k]) for i, k in pending])
        column = {c: j for j, c in enumerate(self.model.codes)} if scores is not None else {}
        for (i, k), said in zip(pending, words, strict=True):
            code = tags[i][k]
            score = float(scores.codes[i, column[code]]) if scores is not None else 0.0
            tags[i][k] = Tag(code, MODEL_FIELD, f"model score {score:.2f}" + (f"; words: {said}" if said else ""),
                             "model")

    def _close(self, tags: list[Tag]) -> list[Tag]:
        seen = {t.code for t in tags}
        closed = list(tags)
        for tag in tags:
            parents = self.parents.get(tag.code)
            if parents is None:
                parents = self.parents[tag.code] = parent_codes(tag.code, self.known)
            for parent in parents:
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
