"""Companies House Free Company Data Product: the monthly snapshot of every live company.

Accepts `BasicCompanyDataAsOneFile-YYYY-MM-01.zip`, the `BasicCompanyData-...-partN_M.zip` parts (staged
together) or plain CSVs. The ~2.5 GB CSV is scanned once by DuckDB; only the VCSE-relevant company
categories are kept (in a temporary table), and the three staging tables are built from that subset.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb

from ..config import Config
from ..db import sql_literal
from ..errors import SourceError, excerpt
from ._csv import (
    FORMAT_CHANGED,
    LINE_DELIM,
    LINE_QUOTE,
    REPORT_VALUE,
    blank_to_null,
    check_csv_text,
    csv_files,
    csv_headers,
    fetch_again,
    file_label,
    find_bad_value,
    ident,
    raise_for_scan_error,
    read_csv_sql,
    read_header,
    read_lines_sql,
    require_columns,
)
from ._duplicates import resolve_duplicates

NAME = "companies_house"
MEMBER_PATTERN = "*.csv"
DATE_FORMAT = "%d/%m/%Y"

# Source header (leading spaces stripped) -> staged column, in the contract's order.
TEXT_COLUMNS = {
    "CompanyName": "company_name",
    "RegAddress.CareOf": "care_of",
    "RegAddress.POBox": "po_box",
    "RegAddress.AddressLine1": "address_line1",
    "RegAddress.AddressLine2": "address_line2",
    "RegAddress.PostTown": "post_town",
    "RegAddress.County": "county",
    "RegAddress.Country": "country",
}
COMPANY_COLUMNS: list[tuple[str, str, str]] = [  # (source header, staged name, kind)
    ("CompanyNumber", "company_number", "company_number"),
    *[(src, dst, "text") for src, dst in TEXT_COLUMNS.items()],
    ("RegAddress.PostCode", "postcode", "postcode"),
    ("CompanyCategory", "company_category", "text"),
    ("CompanyStatus", "company_status", "text"),
    ("CountryOfOrigin", "country_of_origin", "text"),
    ("DissolutionDate", "dissolution_date", "date"),
    ("IncorporationDate", "incorporation_date", "date"),
    ("Accounts.AccountRefDay", "accounts_ref_day", "int"),
    ("Accounts.AccountRefMonth", "accounts_ref_month", "int"),
    ("Accounts.NextDueDate", "accounts_next_due_date", "date"),
    ("Accounts.LastMadeUpDate", "accounts_last_made_up_date", "date"),
    ("Accounts.AccountCategory", "accounts_category", "text"),
    ("Returns.NextDueDate", "returns_next_due_date", "date"),
    ("Returns.LastMadeUpDate", "returns_last_made_up_date", "date"),
    ("Mortgages.NumMortCharges", "num_mort_charges", "int"),
    ("Mortgages.NumMortOutstanding", "num_mort_outstanding", "int"),
    ("Mortgages.NumMortPartSatisfied", "num_mort_part_satisfied", "int"),
    ("Mortgages.NumMortSatisfied", "num_mort_satisfied", "int"),
    ("URI", "uri", "text"),
    ("ConfStmtNextDueDate", "conf_stmt_next_due_date", "date"),
    ("ConfStmtLastMadeUpDate", "conf_stmt_last_made_up_date", "date"),
]
SIC_COLUMNS = [f"SICCode.SicText_{n}" for n in range(1, 5)]
PREVIOUS_NAME_COLUMNS = [(f"PreviousName_{n}.CONDATE", f"PreviousName_{n}.CompanyName") for n in range(1, 11)]
REQUIRED_COLUMNS = ([src for src, _, _ in COMPANY_COLUMNS] + SIC_COLUMNS
                    + [c for pair in PREVIOUS_NAME_COLUMNS for c in pair])
DATE_COLUMNS = [src for src, _, kind in COMPANY_COLUMNS if kind == "date"] + [d for d, _ in PREVIOUS_NAME_COLUMNS]
INT_COLUMNS = [src for src, _, kind in COMPANY_COLUMNS if kind == "int"]
# Which row of a repeated company number is kept: the most recently filed (see _one_row_per_company).
NEWEST_FIRST = ["conf_stmt_last_made_up_date", "accounts_last_made_up_date", "incorporation_date"]
# Characters a category name must have escaped in a regular expression.
_RE2_SPECIAL = re.compile(r"[\\.^$|?*+()\[\]{}]")
# The longest row the all-companies scan reads (DuckDB sizes its read buffers from it).
ALL_COMPANY_LINE_BYTES = 1 << 20


def download(cfg: Config) -> list:
    """Fetch the current release: the newest month on the download page (releases.companies_house_release), or
    the configured `url` (one URL, or a list for the parts) when one is set."""
    from ..download import fetch
    from ..releases import companies_house_release

    settings = cfg.section("download")
    release = companies_house_release(cfg)
    dest_dir = cfg.download_dir(NAME)
    return [fetch(url, dest_dir / file_name, source=NAME, settings=settings,
                  expect="csv" if file_name.lower().endswith(".csv") else "zip",
                  progress=settings.get("progress", True), release=release.as_dict())
            for url, file_name in zip(release.urls, release.file_names, strict=True)]


def verify(paths: list[Path]) -> None:
    """Each file is a readable zip holding one CSV (or a CSV) whose header has every column we stage."""
    if not paths:
        raise SourceError(NAME, "no files to stage: fetch the data product (`vcse refresh companies_house`)")
    for path in paths:
        for label, header in csv_headers(Path(path), MEMBER_PATTERN, NAME):
            require_columns(header, REQUIRED_COLUMNS, NAME, label)


def stage(con: duckdb.DuckDBPyConnection, paths: list[Path], cfg: Config) -> dict[str, int]:
    """Create company, company_sic and company_previous_name from the VCSE-relevant categories."""
    categories = list(cfg.source(NAME)["categories"])
    if not categories:
        raise SourceError(NAME, "[sources.companies_house].categories is empty: nothing would be staged; list the "
                                "company categories to stage (the packaged settings list them)")
    paths = [Path(p) for p in paths]
    if not paths:
        raise SourceError(NAME, "no files to stage: fetch the data product (`vcse refresh companies_house`)")
    with csv_files(paths, MEMBER_PATTERN, NAME) as files, tempfile.TemporaryDirectory(prefix="vcse-ch-") as scratch:
        scans = [_scan(path) for path in files]
        _load_raw(con, scans, categories, Path(scratch))
        try:
            con.execute(_company_sql())
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            _raise_bad_value(con, scans, categories, exc)
        _one_row_per_company(con)
        con.execute(_sic_sql())
        con.execute(_previous_name_sql())
        _stage_all_companies(con, scans)
    con.execute("DROP TABLE _ch_raw")
    return {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("company", "company_sic", "company_previous_name", "all_company")}


def _stage_all_companies(con: duckdb.DuckDBPyConnection, scans: list[tuple[Path, list[str], str]]) -> None:
    """A slim row for every company of every category (local spend resolves businesses' names against it): one
    more scan of seven columns, streamed by DuckDB into the staging file; no typed dates, so nothing can fail
    here that the checks above did not already catch. Its read buffers are sized for rows under 1 MiB (every
    row was read whole by check_csv_text), which keeps the scan of the whole file near 400 MB, not 2.5 GB."""
    selects = " UNION ALL ".join(
        f"""SELECT lpad(upper(trim({ident('CompanyNumber')})), 8, '0') AS company_number,
                   {blank_to_null(ident('CompanyName'))} AS company_name,
                   normalise_postcode({ident('RegAddress.PostCode')}) AS postcode,
                   {blank_to_null(ident('CompanyCategory'))} AS company_category,
                   {blank_to_null(ident('CompanyStatus'))} AS company_status,
                   {blank_to_null(ident('Accounts.AccountCategory'))} AS accounts_category,
                   nullif(regexp_extract({ident('SICCode.SicText_1')}, '^(\\w+)\\s*-', 1), '') AS sic_code
            FROM {read_csv_sql(path, header, max_line_size=ALL_COMPANY_LINE_BYTES)}"""
        for path, header, _scan in scans)
    try:
        con.execute(f"CREATE OR REPLACE TABLE all_company AS {selects}")
    except duckdb.Error as exc:
        raise_for_scan_error(exc, scans[0][0], NAME)


def _scan(path: Path) -> tuple[Path, list[str], str]:
    header = read_header(path, NAME)
    require_columns(header, REQUIRED_COLUMNS, NAME, file_label(path))
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise SourceError(NAME, f"duplicate column(s) {', '.join(dupes)} in the header; {FORMAT_CHANGED}",
                          file=file_label(path))
    check_csv_text(path, NAME, header)  # a bad byte anywhere, or a file cut mid-row or mid-quote
    return path, header, read_csv_sql(path, header)


def _category_filter(categories: list[str]) -> str:
    return f'"CompanyCategory" IN ({", ".join(sql_literal(c) for c in categories)})'


def _load_raw(con: duckdb.DuckDBPyConnection, scans: list[tuple[Path, list[str], str]], categories: list[str],
              scratch: Path) -> None:
    # Keep the wanted rows' text, untyped, so conversion errors can be traced back to a row afterwards.
    wanted = ", ".join(ident(c) for c in REQUIRED_COLUMNS)
    for i, (path, header, scan) in enumerate(scans):
        candidates = _prefilter_lines(con, path, header, categories, scratch / f"{i}.csv")
        source = read_csv_sql(candidates, header, skip=0) if candidates else scan
        select = f"SELECT {wanted} FROM {source} WHERE {_category_filter(categories)}"
        sql = f"CREATE OR REPLACE TEMP TABLE _ch_raw AS {select}" if i == 0 else f"INSERT INTO _ch_raw {select}"
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            raise_for_scan_error(exc, path, NAME)


def _prefilter_lines(con: duckdb.DuckDBPyConnection, path: Path, header: list[str], categories: list[str],
                     out: Path) -> Path | None:
    """Copy to `out` the lines that may hold a wanted company, or return None to parse the whole file instead.

    Splitting 5.5 million rows into 55 values each costs twice as much as the scan itself, and ~90% of
    rows are dropped. So each physical line is read whole (cheap), and CompanyCategory is tested with an
    anchored pattern that only matches when every earlier field is plainly quoted: a line is kept when that
    category is wanted or the pattern could not tell. The kept lines are parsed as CSV.
    A kept line with an odd number of quotes is part of a record spanning lines: then, or on any error
    here, the caller parses the whole file (which also reports bad bytes with their row).
    """
    # Two plain matches rather than one extract with a capture group: RE2 then runs its DFA, which took a fifth
    # off this pass. Kept: a wanted (or empty) category, or a line whose fields the pattern cannot follow.
    fields_before = '^(?:"[^"]*",){' + str(header.index("CompanyCategory")) + "}"
    alternatives = "|".join(_RE2_SPECIAL.sub(r"\\\g<0>", c) for c in categories)
    wanted_or_empty = sql_literal(fields_before + '"(?:' + alternatives + '|)"')
    any_quoted = sql_literal(fields_before + '"[^"]*"')
    keep = f"regexp_matches(line, {wanted_or_empty}) OR NOT regexp_matches(line, {any_quoted})"
    try:
        con.execute(f"""
            COPY (SELECT line FROM {read_lines_sql(path, skip=1)} WHERE {keep})
            TO {sql_literal(out)} (FORMAT csv, HEADER false, DELIMITER {sql_literal(LINE_DELIM)},
                                  QUOTE {sql_literal(LINE_QUOTE)}, ESCAPE {sql_literal(LINE_QUOTE)})""")
        split_records = con.execute(
            f"SELECT count(*) FROM {read_lines_sql(out, skip=0)} "
            "WHERE (length(line) - length(replace(line, '\"', ''))) % 2 = 1").fetchone()[0]
    except duckdb.Error:
        return None
    return None if split_records else out


def _one_row_per_company(con: duckdb.DuckDBPyConnection) -> None:
    """A company number the file repeats keeps one row (sources/_duplicates.py: identical rows collapse, else
    the latest confirmation statement, accounts or incorporation date wins); its SIC codes and previous names
    come from the row kept."""
    dropped = resolve_duplicates(con, NAME, "company", "company_number", NEWEST_FIRST, helpers=("_raw_row",))
    if dropped:
        con.execute("DELETE FROM _ch_raw WHERE rowid NOT IN (SELECT _raw_row FROM company)")
    con.execute("ALTER TABLE company DROP COLUMN _raw_row")


def _date(expr: str) -> str:
    return f"CAST(strptime({blank_to_null(expr)}, '{DATE_FORMAT}') AS DATE)"


def _company_sql() -> str:
    selects = []
    for src, dst, kind in COMPANY_COLUMNS:
        col = ident(src)
        if kind == "company_number":
            expr = f"lpad(upper({blank_to_null(col)}), 8, '0')"
        elif kind == "postcode":
            expr = f"normalise_postcode({col})"
        elif kind == "date":
            expr = _date(col)
        elif kind == "int":
            expr = f"CAST({blank_to_null(col)} AS INTEGER)"
        else:
            expr = blank_to_null(col)
        selects.append(f"{expr} AS {dst}")
    return f"CREATE OR REPLACE TABLE company AS SELECT {', '.join(selects)}, rowid AS _raw_row FROM _ch_raw"


def _sic_sql() -> str:
    # "88990 - Other social work ..." -> ('88990', 'Other social work ...'); "None Supplied" gives no row.
    unions = " UNION ALL ".join(
        f"SELECT {ident('CompanyNumber')} AS number, {n} AS position, {blank_to_null(ident(col))} AS text "
        f"FROM _ch_raw" for n, col in enumerate(SIC_COLUMNS, start=1))
    return f"""
        CREATE OR REPLACE TABLE company_sic AS
        SELECT lpad(upper(trim(number)), 8, '0') AS company_number, position,
               regexp_extract(text, '^(\\w+)\\s*-', 1) AS sic_code,
               nullif(trim(regexp_replace(text, '^\\w+\\s*-\\s*', '')), '') AS sic_description
        FROM ({unions})
        WHERE regexp_matches(text, '^\\w+\\s*-')
        ORDER BY company_number, position"""


def _previous_name_sql() -> str:
    unions = " UNION ALL ".join(
        f"SELECT {ident('CompanyNumber')} AS number, {n} AS position, {_date(ident(d))} AS change_date, "
        f"{blank_to_null(ident(name))} AS previous_name FROM _ch_raw"
        for n, (d, name) in enumerate(PREVIOUS_NAME_COLUMNS, start=1))
    return f"""
        CREATE OR REPLACE TABLE company_previous_name AS
        SELECT lpad(upper(trim(number)), 8, '0') AS company_number, position, change_date, previous_name
        FROM ({unions})
        WHERE previous_name IS NOT NULL
        ORDER BY company_number, position"""


def _raise_bad_value(con, scans, categories, exc: duckdb.Error) -> None:
    checks = {c: f"{blank_to_null(ident(c))} IS NOT NULL AND try_strptime(trim({ident(c)}), '{DATE_FORMAT}') IS NULL"
              for c in DATE_COLUMNS}
    checks.update({c: f"{blank_to_null(ident(c))} IS NOT NULL AND TRY_CAST(trim({ident(c)}) AS INTEGER) IS NULL"
                   for c in INT_COLUMNS})
    for path, _header, scan in scans:
        found = find_bad_value(con, scan, checks, _category_filter(categories))
        if found:
            row, column, value = found
            kind = "date (expected dd/mm/yyyy)" if column in DATE_COLUMNS else "whole number"
            raise SourceError(NAME, f"{excerpt(value)} is not a valid {kind}: {REPORT_VALUE}", file=file_label(path),
                              row=row, column=column) from exc
    raise SourceError(NAME, f"could not convert the staged values ({str(exc).splitlines()[0]}): "
                            f"{fetch_again(NAME)}") from exc
