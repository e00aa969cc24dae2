"""UKCAT rules: load the tag list, apply its regular expressions (with exclusions), close codes upwards.

UKCAT's hierarchy is written into its codes: level-1 codes are two letters (``AR``), level-2 codes end
in ``00`` (``AR200``) and level-3 codes sit under the level-2 code of their hundred when one exists
(``AR201`` -> ``AR200`` -> ``AR``) and directly under the level-1 code otherwise (``AR101`` -> ``AR``:
there is no ``AR100``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError

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


@dataclass(frozen=True)
class UkcatRule:
    code: str
    tag: str
    category: str
    level: int
    regex: re.Pattern | None
    exclude: re.Pattern | None


def compile_pattern(pattern: str | None, *, source: str = "ukcat", file: str | None = None,
                    row: int | None = None, column: str = "Regular expression") -> re.Pattern | None:
    """Compile one UKCAT expression case-insensitively; SourceError naming the row and column if it is bad."""
    if not pattern or not pattern.strip():
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise SourceError(source, f"regular expression does not compile ({exc}): {pattern!r}",
                          file=file, row=row, column=column) from exc


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
            regex=compile_pattern(rec.get("regex"), file=where, row=row_number, column="Regular expression"),
            exclude=compile_pattern(rec.get("exclude_regex"), file=where, row=row_number,
                                    column="Exclude regular expression"),
        ))
    return rules


def read_ukcat_csv(path: Path = PACKAGED_UKCAT) -> list[dict]:
    """The UKCAT CSV as dicts with our column names."""
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return [{ours: (row.get(theirs) or None) for theirs, ours in UKCAT_COLUMNS.items()}
                for row in csv.DictReader(fh)]


def load_rules(path: Path = PACKAGED_UKCAT) -> list[UkcatRule]:
    return rules_from_records(read_ukcat_csv(path), file=Path(path).name)


def load_rules_from_db(con) -> list[UkcatRule]:
    """The staged rules (`ukcat.ukcat_tag`) when that table exists, else the packaged copy."""
    from ..db import table_exists

    if table_exists(con, "ukcat_tag", "ukcat"):
        cur = con.execute("SELECT code, tag, category, level, regex, exclude_regex FROM ukcat.ukcat_tag ORDER BY code")
        names = [d[0] for d in cur.description]
        records = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        if records:
            return rules_from_records(records, file="ukcat.ukcat_tag")
    return load_rules()


def snippet(text: str, start: int, end: int, width: int = SNIPPET_CHARS) -> str:
    """The matched words with a little context, on one line, so a person can see why a tag fired."""
    left, right = max(0, start - width), min(len(text), end + width)
    core = f"{text[left:start]}[{text[start:end]}]{text[end:right]}"
    core = " ".join(core.split())
    return ("…" if left else "") + core + ("…" if right < len(text) else "")


def match_rules(rules: Iterable[UkcatRule], text: str | None) -> dict[str, str]:
    """{code: evidence snippet} for every rule whose expression matches `text` and whose exclusion does not."""
    if not text:
        return {}
    hits: dict[str, str] = {}
    for rule in rules:
        if rule.regex is None:
            continue
        found = rule.regex.search(text)
        if found and not (rule.exclude and rule.exclude.search(text)):
            hits[rule.code] = snippet(text, found.start(), found.end())
    return hits


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
