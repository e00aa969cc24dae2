"""UKCAT rules: load the tag list, apply its regular expressions (with exclusions), close codes upwards.

UKCAT's hierarchy is written into its codes: level-1 codes are two letters (``AR``), level-2 codes end
in ``00`` (``AR200``) and level-3 codes sit under the level-2 code of their hundred when one exists
(``AR201`` -> ``AR200`` -> ``AR``) and directly under the level-1 code otherwise (``AR101`` -> ``AR``:
there is no ``AR100``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from re import _constants as sre_c  # the parsed-pattern opcodes, to read each expression's possible first letters
from re import _parser as sre_parse

import regex

from ..errors import PipelineError, SourceError, excerpt

PACKAGED_UKCAT = Path(__file__).resolve().parent.parent / "reference" / "ukcat.csv"

# UKCAT CSV header -> our column name (the staging table ukcat_tag uses the right-hand names).
UKCAT_COLUMNS = {
    "Code": "code",
    "tag": "tag",
    "Category": "category",
    "Subcategory": "subcategory",
    "Level": "level",
    "Notes": "notes",
    "Related ICNPTSO code": "related_icnptso",
    "Regular expression": "regex",
    "Exclude regular expression": "exclude_regex",
}
SNIPPET_CHARS = 40  # context kept either side of a match in the evidence text
# Time limits for one search or match of one expression (the `regex` package's timeout). Real expressions take
# microseconds on a charity's text; one with catastrophic backtracking (`(a+)+$`) would take hours.
MATCH_TIMEOUT_SECONDS = 2.0
VERIFY_TIMEOUT_SECONDS = 0.5   # per probe text at verify
# Probe texts: short for every expression (an exponential one, like (a|aa)+$, explodes within 64 characters, a
# quadratic one, common in UKCAT, stays fast), long for one with a repeat inside a repeat (like (a+)+$, which the
# `regex` package slows to polynomial: seconds only on a few thousand characters).
_PROBE_LENGTH, _NESTED_PROBE_LENGTH = 64, 4000


class RuleTimeoutError(PipelineError):
    """An expression ran over its time limit on a text: the build stops and names the rule."""


class TimedPattern:
    """A compiled expression whose every search and match runs under a time limit, so no rule can hang a build.

    Compiled with the `regex` package (compatible with `re` for these expressions, with a `timeout=`); offers
    the `re.Pattern` methods the tagger uses (search, match, pattern, flags).
    """

    __slots__ = ("compiled", "pattern", "flags", "code", "limit")

    def __init__(self, pattern: str, code: str = "", limit: float | None = None):
        self.compiled = regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)
        self.pattern, self.flags, self.code = pattern, re.IGNORECASE, code
        self.limit = MATCH_TIMEOUT_SECONDS if limit is None else limit

    def search(self, text: str, pos: int = 0):
        return self._run(self.compiled.search, text, pos)

    def match(self, text: str, pos: int = 0):
        return self._run(self.compiled.match, text, pos)

    def _run(self, method, text: str, pos: int):
        try:
            return method(text, pos, timeout=self.limit)
        except TimeoutError as exc:
            raise RuleTimeoutError(f"UKCAT rule {self.code or '?'}: regular expression {excerpt(self.pattern)} ran "
                                   f"over its {self.limit:g}s time limit on a {len(text):,}-character text "
                                   f"({excerpt(text, 40)}): catastrophic backtracking; fix or remove the rule in "
                                   "the UKCAT file") from exc

    def __eq__(self, other) -> bool:
        return isinstance(other, TimedPattern) and (self.pattern, self.code) == (other.pattern, other.code)

    def __hash__(self) -> int:
        return hash((self.pattern, self.code))

    def __repr__(self) -> str:
        return f"TimedPattern({self.pattern!r})"


def _repeat_in_repeat(items, inside: bool = False) -> bool:
    """True when a parsed expression has an unbounded repeat inside another (the shape of (a+)+)."""
    for op, av in items:
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            unbounded = av[1] == sre_c.MAXREPEAT
            if (unbounded and inside) or _repeat_in_repeat(av[2], inside or unbounded):
                return True
        elif op is sre_c.SUBPATTERN and _repeat_in_repeat(av[-1], inside):
            return True
        elif op is sre_c.BRANCH and any(_repeat_in_repeat(alt, inside) for alt in av[1]):
            return True
    return False


@dataclass(frozen=True)
class UkcatRule:
    code: str
    tag: str
    category: str
    level: int
    regex: TimedPattern | re.Pattern | None
    exclude: TimedPattern | re.Pattern | None


def compile_pattern(pattern: str | None, *, source: str = "ukcat", file: str | None = None,
                    row: int | None = None, column: str = "Regular expression",
                    code: str = "") -> TimedPattern | None:
    """Compile one UKCAT expression case-insensitively, with a time limit on every use; SourceError naming the
    row and column if it is bad. It must compile under `re` too: the matcher reads its parsed form."""
    if not pattern or not pattern.strip():
        return None
    try:
        re.compile(pattern, re.IGNORECASE)
        return TimedPattern(pattern, code)
    except (re.error, regex.error) as exc:
        raise SourceError(source, f"regular expression does not compile ({exc}): {excerpt(pattern, 200)}",
                          file=file, row=row, column=column) from exc


def check_pattern_time(compiled: TimedPattern, *, source: str = "ukcat", file: str | None = None,
                       row: int | None = None, column: str = "Regular expression") -> None:
    """Run an expression on texts that make backtracking expressions explode (each letter of the pattern, and
    words, repeated and then not matched); SourceError naming the rule if one runs over the verify time limit."""
    parsed = sre_parse.parse(compiled.pattern, re.IGNORECASE).data
    length = _NESTED_PROBE_LENGTH if _repeat_in_repeat(parsed) else _PROBE_LENGTH
    letters = sorted({ch.lower() for ch in compiled.pattern if ch.isalnum()} | {"a", " "})
    probes = [ch * length + "!" for ch in letters]
    probes.append("word " * (length // 5) + "!")
    for probe in probes:
        try:
            compiled.compiled.search(probe, timeout=VERIFY_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise SourceError(source, f"code {compiled.code}: regular expression {excerpt(compiled.pattern, 200)} "
                                      f"ran over the {VERIFY_TIMEOUT_SECONDS:g}s time limit on a "
                                      f"{len(probe):,}-character test text ({probe[:12]!r}...): catastrophic "
                                      "backtracking would hang the tagger", file=file, row=row,
                              column=column) from exc


def rules_from_records(records: Iterable[dict], file: str | None = None) -> list[UkcatRule]:
    """Rules from dicts keyed by our column names (code, tag, category, level, regex, exclude_regex)."""
    rules = []
    for row_number, rec in enumerate(records, start=2):
        code = (rec.get("code") or "").strip()
        where = f"{file} (code {code})" if file else f"code {code}"
        rules.append(UkcatRule(
            code=code,
            tag=rec.get("tag") or "",
            category=rec.get("category") or "",
            level=int(rec.get("level") or 0),
            regex=compile_pattern(rec.get("regex"), file=where, row=row_number, column="Regular expression",
                                  code=code),
            exclude=compile_pattern(rec.get("exclude_regex"), file=where, row=row_number,
                                    column="Exclude regular expression", code=code),
        ))
    return rules


def read_ukcat_csv(path: Path = PACKAGED_UKCAT) -> list[dict]:
    """The UKCAT CSV as dicts with our column names."""
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return [{ours: (row.get(theirs) or None) for theirs, ours in UKCAT_COLUMNS.items()}
                for row in csv.DictReader(fh)]


def load_rules(path: Path = PACKAGED_UKCAT) -> list[UkcatRule]:
    return rules_from_records(read_ukcat_csv(path), file=Path(path).name)


def load_rules_from_db(con, table: str = "ukcat.ukcat_tag") -> list[UkcatRule]:
    """The rules in a database table when it exists and has rows, else the packaged copy.

    The default is the staged table (attached as `ukcat` during a build); a published register holds
    the rules it was tagged with as `ukcat_tag`.
    """
    from ..db import table_exists

    schema, _, name = table.rpartition(".")
    if table_exists(con, name, schema or None):
        cur = con.execute(f"SELECT code, tag, category, level, regex, exclude_regex FROM {table} ORDER BY code")
        names = [d[0] for d in cur.description]
        records = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        if records:
            return rules_from_records(records, file=table)
    return load_rules()


def snippet(text: str, start: int, end: int, width: int = SNIPPET_CHARS) -> str:
    """The matched words with a little context, on one line, so a person can see why a tag fired."""
    left, right = max(0, start - width), min(len(text), end + width)
    core = f"{text[left:start]}[{text[start:end]}]{text[end:right]}"
    core = " ".join(core.split())
    return ("…" if left else "") + core + ("…" if right < len(text) else "")


PREFIX_CHARS = 4  # how many leading letters of each expression index it
_WORD_START = re.compile(r"\b\w")
_WORD_CHAR = re.compile(r"\w")


def _starts(items, states: set[tuple[str, bool, bool]]) -> set[tuple[str, bool, bool]]:
    """Extend (prefix, still open, anchored at a word boundary) states through a parsed sequence.

    Sound over-approximation: anything not understood closes the prefix where it stands, so a text that
    lacks every prefix of an expression can never match it.
    """
    for op, av in items:
        done = {st for st in states if not st[1]}
        todo = {st for st in states if st[1]}
        if not todo:
            break
        if op is sre_c.AT:
            new = {(p, True, a or (not p and av is sre_c.AT_BOUNDARY)) for p, _, a in todo}
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            new = todo  # zero-width: only narrows what matches
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
            new = {(p, False, a) for p, _, a in _starts(sub, todo)}  # one repetition, then stop
            if low == 0:
                new |= todo
        else:
            new = {(p, False, a) for p, _, a in todo}
        states = done | new
    return states


def _small_set(items) -> set[str] | None:
    """The letters of a character class made only of literals and short ranges ([ae], [0-9]), else None."""
    chars: set[str] = set()
    for op, av in items:
        if op is sre_c.LITERAL:
            chars.add(chr(av).lower())
        elif op is sre_c.RANGE and av[1] - av[0] < 16:
            chars.update(chr(c).lower() for c in range(av[0], av[1] + 1))
        else:
            return None
    return chars


class RuleMatcher:
    """Applies many UKCAT expressions to a text quickly, with exactly the results of `regex.search`.

    Python's `re` tries every position of the text for each of ~250 expressions. Instead each expression
    is indexed by the few letters any match must start with (read from its parsed form); a text is cut into
    candidate start positions (word starts, and the punctuation/space some expressions begin with), and an
    expression is tried (`regex.match`) only where one of its prefixes occurs. An expression whose match
    may start inside a word with letters we cannot pin down is searched in full as before.
    """

    def __init__(self, rules: Iterable[UkcatRule]):
        self.rules = [r for r in rules if r.regex is not None]
        self.word_prefixes: dict[str, list[int]] = {}   # prefix -> rules, tried at word starts
        self.other_prefixes: dict[str, list[int]] = {}  # prefix starting with a non-word char, tried there
        self.searched: list[int] = []                   # rules searched in full
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
        """{code: (start, end) of the first match} for each rule that fires on `text`, exclusions applied."""
        if not text:
            return {}
        low = text.lower()
        found: dict = {}  # rule index -> its first match
        if len(low) != len(text):  # a letter whose lower case is longer: positions would shift, search plainly
            candidates = {i: None for i in range(len(self.rules))}
        else:
            candidates = self._candidates(low)
        for i, positions in candidates.items():
            regex = self.rules[i].regex
            if positions is None:
                m = regex.search(text)
                if m:
                    found[i] = m
                continue
            for pos in sorted(positions):
                m = regex.match(text, pos)
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

    def match(self, text: str | None) -> dict[str, str]:
        """{code: evidence snippet}, as `match_rules`."""
        return {code: snippet(text, start, end) for code, (start, end) in self.spans(text).items()}


@lru_cache(maxsize=8)
def _matcher(rules: tuple[UkcatRule, ...]) -> RuleMatcher:
    return RuleMatcher(rules)


def rule_matcher(rules: Sequence[UkcatRule] | RuleMatcher) -> RuleMatcher:
    """A (cached) RuleMatcher for a list of rules."""
    return rules if isinstance(rules, RuleMatcher) else _matcher(tuple(rules))


def match_rules(rules: Iterable[UkcatRule] | RuleMatcher, text: str | None) -> dict[str, str]:
    """{code: evidence snippet} for every rule whose expression matches `text` and whose exclusion does not."""
    return rule_matcher(rules if isinstance(rules, RuleMatcher) else list(rules)).match(text)


def parent_codes(code: str, known: set[str] | frozenset[str]) -> list[str]:
    """The UKCAT ancestors of a code, nearest first (AR201 -> [AR200, AR])."""
    if len(code) <= 2:
        return []
    parents = []
    level2 = f"{code[:3]}00"
    if level2 != code and level2 in known:
        parents.append(level2)
    parents.append(code[:2])
    return parents


def close_codes(codes: Iterable[str], known: set[str] | frozenset[str]) -> set[str]:
    """The codes plus all their ancestors."""
    closed: set[str] = set()
    for code in codes:
        closed.add(code)
        closed.update(parent_codes(code, known))
    return closed
