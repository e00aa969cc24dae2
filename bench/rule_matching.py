"""Measure the UKCAT rule matching that feeds the tagger (`model.texts_and_hits` with `rules.RuleMatcher`: one
Aho-Corasick pass over each text decides the word-list expressions; a text met twice in a batch is read once)
against the matcher it replaced (kept below as the baseline: each expression indexed by its first four letters,
tried with a timed `regex.match` at every word start where one occurs), on the same organisation texts in one
process. Both must give the same hits for every record and the same first match for every distinct text: the
bench stops (exit status 1) when they differ.

    .venv/bin/python bench/rule_matching.py                                   # the packaged labelled charities
    .venv/bin/python bench/rule_matching.py --charity-db DATA/staging/charity_commission.duckdb --limit 30000

The texts are the tagger's: name (and other names) + activities, and the objects, of the packaged hand-labelled
charities and, with --charity-db, of the main charities of a staged Charity Commission database (for example the
national-size inputs of bench/national_inputs.py). Printed: records, distinct texts, CPU seconds of each method
(building its matcher included) and the ratio.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from re import _constants as sre_c
from re import _parser as sre_parse

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcse_pipeline.tagging.model import PACKAGED_LABELLED, Hits, join_text, read_labelled, texts_and_hits  # noqa: E402
from vcse_pipeline.tagging.rules import RuleMatcher, UkcatRule, load_rules  # noqa: E402

# ------------------------------------------------------------------------------------ the baseline matcher
PREFIX_CHARS = 4  # how many leading letters of each expression index it
_WORD_START = re.compile(r"\b\w")
_WORD_CHAR = re.compile(r"\w")


def _starts(items, states: set[tuple[str, bool, bool]]) -> set[tuple[str, bool, bool]]:
    """Extend (prefix, still open, anchored at a word boundary) states through a parsed sequence."""
    for op, av in items:
        done = {st for st in states if not st[1]}
        todo = {st for st in states if st[1]}
        if not todo:
            break
        if op is sre_c.AT:
            new = {(p, True, a or (not p and av is sre_c.AT_BOUNDARY)) for p, _, a in todo}
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            new = todo
        elif op is sre_c.LITERAL:
            new = {(p + chr(av).lower(), len(p) + 1 < PREFIX_CHARS, a) for p, _, a in todo}
        elif op is sre_c.SUBPATTERN:
            new = _starts(av[-1], todo)
        elif op is sre_c.BRANCH:
            new = set().union(*(_starts(alt, todo) for alt in av[1]))
        elif op is sre_c.IN and _small_set(av):
            new = {(p + ch, len(p) + 1 < PREFIX_CHARS, a) for p, _, a in todo for ch in _small_set(av)}
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
            low, _high, sub = av
            new = {(p, False, a) for p, _, a in _starts(sub, todo)}
            if low == 0:
                new |= todo
        else:
            new = {(p, False, a) for p, _, a in todo}
        states = done | new
    return states


def _small_set(items) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is sre_c.LITERAL:
            chars.add(chr(av).lower())
        elif op is sre_c.RANGE and av[1] - av[0] < 16:
            chars.update(chr(c).lower() for c in range(av[0], av[1] + 1))
        else:
            return None
    return chars


class PrefixMatcher:
    """The matcher before the Aho-Corasick one: expressions indexed by the letters any match must start with."""

    def __init__(self, rules: list[UkcatRule]):
        self.rules = [r for r in rules if r.regex is not None]
        self.word_prefixes: dict[str, list[int]] = {}
        self.other_prefixes: dict[str, list[int]] = {}
        self.searched: list[int] = []
        for i, rule in enumerate(self.rules):
            states = _starts(sre_parse.parse(rule.regex.pattern, rule.regex.flags).data, {("", True, False)})
            if any(not p or (_WORD_CHAR.match(p[0]) and not anchored) for p, _, anchored in states):
                self.searched.append(i)
                continue
            for p, _, _anchored in states:
                target = self.word_prefixes if _WORD_CHAR.match(p[0]) else self.other_prefixes
                target.setdefault(p, []).append(i)
        self.other_first = {p[0] for p in self.other_prefixes}

    def spans(self, text: str | None) -> dict[str, tuple[int, int]]:
        if not text:
            return {}
        low = text.lower()
        found: dict = {}
        if len(low) != len(text):
            candidates = {i: None for i in range(len(self.rules))}
        else:
            candidates = self._candidates(low)
        for i, positions in candidates.items():
            pattern = self.rules[i].regex
            if positions is None:
                m = pattern.search(text)
                if m:
                    found[i] = m
                continue
            for pos in sorted(positions):
                m = pattern.match(text, pos)
                if m:
                    found[i] = m
                    break
        hits = {}
        for i, m in sorted(found.items()):
            rule = self.rules[i]
            if not (rule.exclude and rule.exclude.search(text)):
                hits[rule.code] = (m.start(), m.end())
        return hits

    def _candidates(self, low: str) -> dict[int, set[int] | None]:
        candidates: dict[int, set[int] | None] = {i: None for i in self.searched}
        starts = [m.start() for m in _WORD_START.finditer(low)]
        for table, positions in ((self.word_prefixes, starts),
                                 (self.other_prefixes, [j for j, ch in enumerate(low) if ch in self.other_first])):
            for pos in positions:
                for k in range(1, PREFIX_CHARS + 1):
                    for i in table.get(low[pos:pos + k], ()):
                        candidates.setdefault(i, set()).add(pos)
        return candidates


def baseline_texts_and_hits(rules: list[UkcatRule], names, activities, objects) -> tuple[list[str], Hits]:
    """texts_and_hits as it was: every field of every record through the prefix matcher."""
    matcher = PrefixMatcher(rules)
    texts, short, objs = [], [], []
    for name, act, obj in zip(names, activities, objects, strict=True):
        texts.append(join_text(name, act, obj))
        short.append(set(matcher.spans(join_text(name, act))))
        objs.append(set(matcher.spans(join_text(obj))))
    return texts, Hits(short, objs)


# ---------------------------------------------------------------------------------------------- the texts
def charity_texts(path: Path, limit: int) -> tuple[list[str], list[str], list[str]]:
    """(name + other names, activities, objects) of up to `limit` main charities of a staged database."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("""
            SELECT c.charity_name,
                   (SELECT string_agg(DISTINCT n.charity_name, '; ' ORDER BY n.charity_name)
                    FROM charity_other_names n WHERE n.organisation_number = c.organisation_number),
                   c.charity_activities, g.charitable_objects
            FROM charity c LEFT JOIN charity_governing_document g
              ON g.organisation_number = c.organisation_number AND g.linked_charity_number = 0
            WHERE c.linked_charity_number = 0 ORDER BY c.organisation_number LIMIT ?""", [limit]).fetchall()
    return ([join_text(name, other) for name, other, _, _ in rows], [r[2] for r in rows], [r[3] for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charity-db", type=Path, help="a staged charity_commission.duckdb to take charities from")
    parser.add_argument("--limit", type=int, default=30000, help="charities taken from --charity-db")
    args = parser.parse_args(argv)
    frame = read_labelled(PACKAGED_LABELLED)
    names, activities, objects = list(frame["name"]), list(frame["activities"]), list(frame["objects"])
    if args.charity_db:
        more = charity_texts(args.charity_db, args.limit)
        names, activities, objects = names + more[0], activities + more[1], objects + more[2]
    rules = sorted(load_rules(), key=lambda r: r.code)

    started = time.process_time()
    expected = baseline_texts_and_hits(rules, names, activities, objects)
    baseline = time.process_time() - started
    started = time.process_time()
    got = texts_and_hits(RuleMatcher(rules), names, activities, objects)
    new = time.process_time() - started
    if got != expected:
        bad = next(i for i, pair in enumerate(zip(got[1].short, expected[1].short, strict=True)) if pair[0] != pair[1])
        print(f"DIFFERENT hits, first at record {bad}: {names[bad]!r}", file=sys.stderr)
        return 1
    distinct = list(dict.fromkeys([join_text(n, a) for n, a in zip(names, activities, strict=True)]
                                  + [join_text(o) for o in objects]))
    old_matcher, new_matcher = PrefixMatcher(rules), RuleMatcher(rules)
    differ = [t for t in distinct if old_matcher.spans(t) != new_matcher.spans(t)]
    if differ:
        print(f"DIFFERENT first matches on {len(differ)} texts, e.g. {differ[0][:120]!r}", file=sys.stderr)
        return 1
    print(f"{len(names):,} records, {len(distinct):,} distinct texts: same hits and first matches")
    print(f"texts_and_hits CPU s: prefix matcher (baseline) {baseline:.2f}, Aho-Corasick {new:.2f}, "
          f"ratio {new / baseline:.3f} ({baseline / new:.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
