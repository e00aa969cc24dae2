"""UK Charity Activity Tags (UKCAT): the tag list and the regular expressions that assign tags.

A small CSV (about 250 rows). Verification checks the header, that the file is UTF-8 and not cut mid-row, and
that every expression compiles, so a bad upstream edit is caught before it reaches a register build; each error ends
with what to do next, in sources/_csv.py's words (a bad rule: report it to the publisher; the previous data stays
published). A pinned copy ships in vcse_pipeline/reference/ukcat.csv for offline use. Licence: CC BY 4.0 (UK Charity
Activity Tags, charityclassification.org.uk).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from ..config import Config
from ..errors import SourceError
from ..tagging.rules import UKCAT_COLUMNS, check_pattern_time, compile_pattern, read_ukcat_csv
from ._csv import REPORT_VALUE, check_csv_text, check_text_file, fetch_again, read_header, require_columns

NAME = "ukcat"
STAGED = list(UKCAT_COLUMNS.values())


def download(cfg: Config) -> list:
    from ..download import fetch

    settings = cfg.section("download")
    return [fetch(cfg.source(NAME)["url"], cfg.download_dir(NAME) / "ukcat.csv", source=NAME, settings=settings,
                  expect="csv")]


def _single(paths: list[Path]) -> Path:
    if len(paths) != 1:
        raise SourceError(NAME, f"expected one ukcat.csv, got {len(paths)} file(s); give one")
    return Path(paths[0])


def verify(paths: list[Path]) -> None:
    """Header has every UKCAT column; codes are present, unique and levelled 1-3; every expression compiles and
    stays within its time limit on texts that expose catastrophic backtracking."""
    path = _single(paths)
    check_text_file(path, NAME)
    header = read_header(path, NAME)
    require_columns(header, UKCAT_COLUMNS, NAME, path.name)
    check_csv_text(path, NAME, header)  # a byte that is not UTF-8, or a file cut mid-row: one line, not a traceback
    seen: set[str] = set()
    for row, rec in enumerate(read_ukcat_csv(path), start=2):
        code = (rec["code"] or "").strip()
        if not code:
            raise SourceError(NAME, f"empty Code: {REPORT_VALUE}", file=path.name, row=row, column="Code")
        if code in seen:
            raise SourceError(NAME, f"code {code} appears twice: {REPORT_VALUE}", file=path.name, row=row,
                              column="Code")
        seen.add(code)
        if rec["level"] not in ("1", "2", "3"):
            raise SourceError(NAME, f"code {code}: Level must be 1, 2 or 3, got {rec['level']!r}: {REPORT_VALUE}",
                              file=path.name, row=row, column="Level")
        for key, column in (("regex", "Regular expression"), ("exclude_regex", "Exclude regular expression")):
            _check_rule(rec[key], code, {"source": NAME, "file": f"{path.name} (code {code})", "row": row,
                                         "column": column})
    if not seen:
        raise SourceError(NAME, f"no tags in the file: {fetch_again(NAME)}", file=path.name)


def _check_rule(pattern: str | None, code: str, where: dict) -> None:
    """A rule's expression compiles and stays within its time limit; if not, the tagging module's error (shared with
    the tagger, which reads no download) with this source's next step added."""
    try:
        compiled = compile_pattern(pattern, code=code, **where)
        if compiled is not None:
            check_pattern_time(compiled, **where)
    except SourceError as exc:
        raise SourceError(NAME, f"{exc.detail}: {REPORT_VALUE}", file=exc.file, row=exc.row,
                          column=exc.column) from exc


def stage(con: duckdb.DuckDBPyConnection, paths: list[Path], cfg: Config) -> dict[str, int]:
    frame = pd.DataFrame(read_ukcat_csv(_single(paths)), columns=STAGED, dtype=object)
    con.register("_ukcat_rows", frame)
    try:
        con.execute("""CREATE OR REPLACE TABLE ukcat_tag AS
            SELECT code, tag, category, nullif(trim(subcategory), '') AS subcategory,
                   CAST(level AS INTEGER) AS level, nullif(trim(notes), '') AS notes,
                   nullif(trim(related_icnptso), '') AS related_icnptso,
                   nullif(regex, '') AS regex, nullif(exclude_regex, '') AS exclude_regex
            FROM _ukcat_rows""")
    finally:
        con.unregister("_ukcat_rows")
    return {"ukcat_tag": con.execute("SELECT count(*) FROM ukcat_tag").fetchone()[0]}
