"""UKCAT rules: load the tag list, apply its regular expressions (with exclusions), close codes upwards.

UKCAT's hierarchy is written into its codes: level-1 codes are two letters (``AR``), level-2 codes end
in ``00`` (``AR200``) and level-3 codes sit under the level-2 code of their hundred when one exists
(``AR201`` -> ``AR200`` -> ``AR``) and directly under the level-1 code otherwise (``AR101`` -> ``AR``:
there is no ``AR100``).
"""

from __future__ import annotations

import csv
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from re import _constants as sre_c  # the parsed-pattern opcodes, to read the literals each expression's matches hold
from re import _parser as sre_parse

import ahocorasick
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


# ------------------------------------------------------------------------------ many expressions, one pass
# What an expression says about the text it matches is read from its parsed form as literal strings: lower-case
# printable ASCII, with MARK where a word boundary lies. A text is read the same way (`marked`: folded to lower case,
# MARK at every word boundary), so `\bcats?\b` is the strings MARK "cat" MARK and MARK "cats" MARK, one of which occurs
# in a marked text exactly where the expression matches.
MARK = "\x01"
LITERAL_SET_LIMIT = 64  # an exactly known part that stands for more strings than this is not listed further
_SMALL_CLASS = 16       # a character class of at most this many characters counts as a list of literals
_PRINTABLE = range(0x20, 0x7F)
_WORD_RUN = re.compile(r"(\w+)")                         # word runs of an ASCII text (as `regex` sees them)
_UNICODE_WORD_RUN = regex.compile(r"(\w+)", regex.VERSION0)  # and of any text, as the expressions see them
# Parts of `regex` syntax that `re` parses differently (POSIX classes, fuzzy matching): such an expression is searched.
_NOT_RE_SYNTAX = re.compile(r"\[:|\{[^\d,}]")


@dataclass(frozen=True)
class _Literals:
    """What a part of an expression says about the text it matches (strings as MARKed literals, see above).

    `exact`: every string the part can match, when few and all known; `need`: strings one of which every match
    contains (None: nothing known); `plain`: `exact` is exactly the part's matches, not a superset of them (no
    lookaround, anchor, possessive repeat or inline flag), so finding one of them decides that the part matches;
    `head`/`tail`: when `exact` is not known, strings every match starts/ends with (None: nothing known), so a
    neighbouring part's letters join them (`\\b(homes?)+\\b` needs MARK "home", not just "home").
    """

    exact: frozenset[str] | None
    need: frozenset[str] | None
    plain: bool = False
    head: frozenset[str] | None = None
    tail: frozenset[str] | None = None

    @property
    def starts(self) -> frozenset[str] | None:
        return self.exact if self.exact is not None else self.head

    @property
    def ends(self) -> frozenset[str] | None:
        return self.exact if self.exact is not None else self.tail

    def required(self) -> frozenset[str] | None:
        """Strings one of which every match contains: the exact strings when known, else `need`."""
        if self.exact is None:
            return self.need
        forms = {_normal(s) for s in self.exact} - {None}
        return None if not forms or "" in forms else _shortest_cover(forms)


_UNKNOWN = _Literals(None, None)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # for printable ASCII, what \w means to `re` and `regex`


def _normal(form: str) -> str | None:
    r"""A string of literals and \b MARKs as it reads in a marked text: MARK between two characters exactly where
    one is a word character and the other not, and kept at either end; None when a \b stands where the characters
    make no boundary (that path can never match)."""
    out: list[str] = []
    prev, asserted = None, False  # the last character; whether a \b stands since it
    for ch in form:
        if ch == MARK:
            asserted = True
            continue
        boundary = prev is None and asserted or prev is not None and _is_word(prev) != _is_word(ch)
        if asserted and not boundary:
            return None
        if boundary:
            out.append(MARK)
        out.append(ch)
        prev, asserted = ch, False
    if prev is None:
        return ""
    return "".join(out) + (MARK if asserted else "")


def _shortest_cover(strings: Iterable[str]) -> frozenset[str]:
    """The strings without those containing another of them: a text holding a dropped one holds a kept one."""
    kept: list[str] = []
    for s in sorted(set(strings), key=len):
        if not any(k in s for k in kept):
            kept.append(s)
    return frozenset(kept)


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """The more selective of two required sets: longest shortest string, then fewest strings."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=lambda s: (min(map(len, s)), -len(s)))


def _class_literals(items) -> frozenset[str] | None:
    """The lower-case characters of a character class made only of printable ASCII literals and short ranges."""
    chars: set[str] = set()
    for op, av in items:
        if op is sre_c.LITERAL and av in _PRINTABLE:
            chars.add(chr(av).lower())
        elif op is sre_c.RANGE and av[0] in _PRINTABLE and av[1] in _PRINTABLE and av[1] - av[0] < _SMALL_CLASS:
            chars.update(chr(c).lower() for c in range(av[0], av[1] + 1))
        else:
            return None
    return frozenset(chars) if len(chars) <= _SMALL_CLASS else None


def _joined(left: frozenset[str], right: frozenset[str] | None) -> frozenset[str] | None:
    """Every string of `left` followed by every string of `right`, unless there are too many (or nothing known)."""
    if right is None or len(left) * len(right) > LITERAL_SET_LIMIT:
        return None
    return frozenset(a + b for a in left for b in right)


def _sequence_literals(items) -> _Literals:
    """_Literals of a parsed sequence: runs of exactly known parts joined (cross products), with the first and last
    strings of the parts that end them; the most selective required strings are what the sequence needs."""
    run: frozenset[str] = frozenset({""})  # the strings of the exactly known parts since the last unknown one
    exact, plain = True, True
    need = head = None
    for op, av in items:
        part = _part_literals(op, av)
        plain = plain and part.plain
        whole = _joined(run, part.exact)
        if whole is not None:
            run = whole
            continue
        joined = _joined(run, part.starts) or run  # the run, and the start of this part when known
        if exact:
            head = joined  # every match of the sequence starts with one of these
        exact = False
        need = _better(need, _better(_Literals(joined, None).required(), part.need))
        run = part.ends if part.ends is not None else frozenset({""})  # the part's end starts the next run
    if exact:
        return _Literals(run, None, plain)
    return _Literals(None, _better(need, _Literals(run, None).required()), head=head, tail=run)


def _union(sets: list[frozenset[str] | None], cover: bool = False) -> frozenset[str] | None:
    """The alternatives' strings together (None when one knows nothing, or there are too many to list)."""
    if any(s is None for s in sets):
        return None
    union = frozenset().union(*sets)
    if cover:
        return _shortest_cover(union)
    return union if len(union) <= LITERAL_SET_LIMIT else None


def _part_literals(op, av) -> _Literals:
    """_Literals of one parsed item. Anything not understood is unknown, which only weakens the filter."""
    if op is sre_c.LITERAL:
        return _Literals(frozenset({chr(av).lower()}), None, True) if av in _PRINTABLE else _UNKNOWN
    if op is sre_c.IN:
        chars = _class_literals(av)
        return _UNKNOWN if chars is None else _Literals(chars, None, True)
    if op is sre_c.AT:
        return _Literals(frozenset({MARK}), None, True) if av is sre_c.AT_BOUNDARY else _Literals(frozenset({""}), None)
    if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
        return _Literals(frozenset({""}), None)  # zero-width: adds no characters to the match
    if op is sre_c.SUBPATTERN:
        _group, add_flags, del_flags, items = av
        return _UNKNOWN if add_flags or del_flags else _sequence_literals(items)
    if op is sre_c.BRANCH:
        alternatives = [_sequence_literals(alt) for alt in av[1]]
        if all(a.exact is not None for a in alternatives):
            union = frozenset().union(*(a.exact for a in alternatives))
            if len(union) <= LITERAL_SET_LIMIT:
                return _Literals(union, None, all(a.plain for a in alternatives))
        return _Literals(None, _union([a.required() for a in alternatives], cover=True),
                         head=_union([a.starts for a in alternatives]), tail=_union([a.ends for a in alternatives]))
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, high, sub = av
        inner = _sequence_literals(sub)
        plain = inner.plain and op is not sre_c.POSSESSIVE_REPEAT  # a possessive repeat never gives back
        if low == high == 1:
            return replace(inner, plain=plain)
        if low == 0 and high == 1 and inner.exact is not None:
            return _Literals(inner.exact | {""}, None, plain)
        if low == 0:
            return _UNKNOWN
        return _Literals(None, inner.required(), head=inner.starts, tail=inner.ends)  # one repetition at least
    return _UNKNOWN


def expression_literals(pattern: str) -> _Literals:
    """What an expression (case-insensitive) says about the marked texts it matches; unknown for the few `regex`
    constructs `re` parses differently, and for inline flags other than the default."""
    parsed = sre_parse.parse(pattern, re.IGNORECASE)
    if _NOT_RE_SYNTAX.search(pattern) or parsed.state.flags != re.IGNORECASE | re.UNICODE:
        return _UNKNOWN
    return _sequence_literals(parsed.data)


class _Fold(dict):
    """str.translate table: each character the expressions match as an ASCII letter becomes that letter in lower
    case (ſ -> s, K -> k, İ -> i: as the `regex` package decides), MARK becomes NUL, others stay. Filled as met."""

    _LETTERS = [(ch, regex.compile(ch, regex.IGNORECASE | regex.VERSION0)) for ch in string.ascii_lowercase]

    def __missing__(self, code: int) -> int:
        ch = chr(code)
        folded = next((ord(letter) for letter, pattern in self._LETTERS if pattern.fullmatch(ch)), code)
        self[code] = 0 if ch == MARK else folded
        return self[code]


_FOLD = _Fold()


def marked(text: str) -> str:
    """The text as the literals read it: folded to lower case (a character that is none of the literals' stays
    as it is), with MARK at every word boundary (between a word character and another, or an end)."""
    if text.isascii() and MARK not in text:
        return MARK.join(_WORD_RUN.split(text.lower()))
    return MARK.join(_UNICODE_WORD_RUN.split(text.translate(_FOLD)))


class RuleMatcher:
    """Applies many UKCAT expressions to a text quickly, with exactly the results of `regex.search`.

    Each expression (and each exclusion) is read once for the literal strings its matches contain (see `marked`).
    Most UKCAT expressions are plain lists of words between word boundaries: their strings are exactly their
    matches, so finding one in the marked text decides that the expression fires. For the others the strings are
    only what any match must contain: the expression is searched (`regex.search`) only when one occurs, and in
    every text when it names none. One Aho-Corasick automaton (pyahocorasick) finds every string of every
    expression in one pass over the text, in C.
    """

    def __init__(self, rules: Iterable[UkcatRule]):
        self.rules = [r for r in rules if r.regex is not None]
        # Check 2i is rule i's expression, 2i + 1 its exclusion. An automaton value lists the checks a string
        # decides (c) and those it makes worth searching (~c).
        self.patterns: list[TimedPattern | re.Pattern | None] = []
        self.decided: set[int] = set()  # checks decided by their strings alone
        self.searched: set[int] = set()  # checks searched in every text
        by_string: dict[str, list[int]] = {}
        for rule in self.rules:
            for pattern in (rule.regex, rule.exclude):
                check = len(self.patterns)
                self.patterns.append(pattern)
                if pattern is None:
                    continue
                # The literals read `regex` semantics (IGNORECASE, VERSION0): any other compiled pattern is searched.
                literals = expression_literals(pattern.pattern) if isinstance(pattern, TimedPattern) else _UNKNOWN
                strings = literals.required()
                if strings is None:
                    self.searched.add(check)
                    continue
                if literals.plain and literals.exact is not None:
                    self.decided.add(check)
                for s in strings:
                    by_string.setdefault(s, []).append(check if check in self.decided else ~check)
        self.automaton = ahocorasick.Automaton()
        for s, checks in by_string.items():
            self.automaton.add_word(s, tuple(checks))
        self.automaton.make_automaton()
        self._strings = bool(by_string)  # an automaton without strings cannot be iterated
        self._always = frozenset(c for c in self.searched if c % 2 == 0)

    def _fires(self, check: int, found: set[int], text: str, first_match: bool):
        """Whether a check fires on `text` (whose automaton values are `found`): its first match (`regex.search`),
        or True when its strings decide it and `first_match` is not asked for; None when it does not fire."""
        if check in self.decided:
            if check not in found:
                return None
            return self.patterns[check].search(text) if first_match else True
        if ~check in found or check in self.searched:
            return self.patterns[check].search(text)
        return None

    def _fired(self, text: str | None, first_match: bool) -> dict[int, object]:
        """{rule index: first match, or True} for each rule that fires on `text`, exclusions applied, in order."""
        if not text:
            return {}
        found: set[int] = set()
        for _end, checks in self.automaton.iter(marked(text)) if self._strings else ():
            found.update(checks)
        expressions = {c for c in (c if c >= 0 else ~c for c in found) if not c % 2} | self._always
        fired = {}
        for check in sorted(expressions):
            m = self._fires(check, found, text, first_match)
            if m and not self._fires(check + 1, found, text, False):
                fired[check // 2] = m
        return fired

    def codes(self, text: str | None) -> list[str]:
        """The codes of the rules that fire on `text`, exclusions applied: `spans` without the positions."""
        return [self.rules[i].code for i in self._fired(text, False)]

    def spans(self, text: str | None) -> dict[str, tuple[int, int]]:
        """{code: (start, end) of the first match} for each rule that fires on `text`, exclusions applied."""
        return {self.rules[i].code: (m.start(), m.end()) for i, m in self._fired(text, True).items()}

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
