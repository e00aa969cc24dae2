"""Charity Commission for England and Wales (CCEW) register extract: one zip per table.

Each `publicextract.{table}.zip` holds one `publicextract.{table}.txt`: tab-separated, CRLF line ends, a
header row, `date_of_extract` first, `True`/`False` booleans, dates like `2023-09-07 00:00:00.0000000` and
empty strings for null. Fields are never quoted, so a `"` is an ordinary character. Free text can hold a
line break (the sample's `charity_published_report` splits one record over two lines), so records are put
back together by counting tabs before DuckDB reads them.

Staging rewrites each .txt, streamed from the zip, into a quoted tab-separated file with the record's
starting line number in front (so a bad value can be reported by row), then lets DuckDB read and type it.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import IO

import duckdb

from ..archive import find_member, is_machine_error, open_zip
from ..config import Config
from ..db import sql_literal
from ..errors import SourceError, excerpt, os_error_message
from ._csv import FORMAT_CHANGED, REPORT_VALUE, fetch_again, ident
from ._duplicates import resolve_duplicates

NAME = "charity_commission"

# The columns of each extract table, in the real files' order (the demo writes its files with them). Every listed
# column must be present; staging takes the order from each file's header, so a reordered extract still loads.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "charity": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "charity_name", "charity_type", "charity_registration_status", "date_of_registration", "date_of_removal",
        "charity_reporting_status", "latest_acc_fin_period_start_date", "latest_acc_fin_period_end_date",
        "latest_income", "latest_expenditure", "charity_contact_address1", "charity_contact_address2",
        "charity_contact_address3", "charity_contact_address4", "charity_contact_address5",
        "charity_contact_postcode", "charity_contact_phone", "charity_contact_email", "charity_contact_web",
        "charity_company_registration_number", "charity_insolvent", "charity_in_administration",
        "charity_previously_excepted", "charity_is_cdf_or_cif", "charity_is_cio", "cio_is_dissolved",
        "date_cio_dissolution_notice", "charity_activities", "charity_gift_aid", "charity_has_land",
    ),
    "charity_annual_return_history": (
        "date_of_extract", "organisation_number", "registered_charity_number", "fin_period_start_date",
        "fin_period_end_date", "ar_cycle_reference", "reporting_due_date", "date_annual_return_received",
        "date_accounts_received", "total_gross_income", "total_gross_expenditure", "accounts_qualified",
        "suppression_ind", "suppression_type",
    ),
    "charity_annual_return_parta": (
        "date_of_extract", "organisation_number", "registered_charity_number", "latest_fin_period_submitted_ind",
        "fin_period_order_number", "ar_cycle_reference", "fin_period_start_date", "fin_period_end_date",
        "ar_due_date", "ar_received_date", "total_gross_income", "total_gross_expenditure",
        "charity_raises_funds_from_public", "charity_professional_fundraiser",
        "charity_agreement_professional_fundraiser", "charity_commercial_participator",
        "charity_agreement_commerical_participator", "grant_making_is_main_activity",
        "charity_receives_govt_funding_contracts", "count_govt_contracts", "charity_receives_govt_funding_grants",
        "count_govt_grants", "income_from_government_contracts", "income_from_government_grants",
        "charity_has_trading_subsidiary", "trustee_also_director_of_subsidiary", "does_trustee_receive_any_benefit",
        "trustee_payments_acting_as_trustee", "trustee_receives_payments_services", "trustee_receives_other_benefit",
        "trustee_resigned_employment", "employees_salary_over_60k", "count_salary_band_60001_70000",
        "count_salary_band_70001_80000", "count_salary_band_80001_90000", "count_salary_band_90001_100000",
        "count_salary_band_100001_110000", "count_salary_band_110001_120000", "count_salary_band_120001_130000",
        "count_salary_band_130001_140000", "count_salary_band_140001_150000", "count_salary_band_150001_200000",
        "count_salary_band_200001_250000", "count_salary_band_250001_300000", "count_salary_band_300001_350000",
        "count_salary_band_350001_400000", "count_salary_band_400001_450000", "count_salary_band_450001_500000",
        "count_salary_band_over_500000", "count_volunteers",
    ),
    "charity_annual_return_partb": (
        "date_of_extract", "organisation_number", "registered_charity_number", "latest_fin_period_submitted_ind",
        "fin_period_order_number", "ar_cycle_reference", "fin_period_start_date", "fin_period_end_date",
        "ar_due_date", "ar_received_date", "income_donations_and_legacies", "income_other_trading_activities",
        "income_charitable_activities", "income_investments", "income_other",
        "income_total_income_and_endowments", "income_legacies", "income_endowments", "expenditure_raising_funds",
        "expenditure_charitable_expenditure", "expenditure_other", "expenditure_total",
        "expenditure_investment_management", "expenditure_grants_institution", "expenditure_governance",
        "expenditure_support_costs", "expenditure_depreciation", "gain_loss_investment", "gain_loss_pension_fund",
        "gain_loss_revaluation_fixed_investment", "gain_loss_other", "reserves", "assets_total_fixed",
        "assets_own_use", "assets_long_term_investment", "defined_benefit_pension_scheme", "assets_other_assets",
        "assets_total_liabilities", "assets_current_investment", "assets_total_assets_and_liabilities",
        "creditors_one_year_total_current", "creditors_falling_due_after_one_year", "assets_cash",
        "funds_endowment", "funds_unrestricted", "funds_restricted", "funds_total", "count_employees",
        "charity_only_accounts", "consolidated_accounts",
    ),
    "charity_area_of_operation": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "geographic_area_type", "geographic_area_description", "parent_geographic_area_type",
        "parent_geographic_area_description", "welsh_ind",
    ),
    "charity_classification": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "classification_code", "classification_type", "classification_description",
    ),
    "charity_event_history": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "charity_name", "charity_event_order", "event_type", "date_of_event", "reason",
        "assoc_organisation_number", "assoc_registered_charity_number", "assoc_charity_name",
    ),
    "charity_governing_document": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "governing_document_description", "charitable_objects", "area_of_benefit",
    ),
    "charity_other_names": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "charity_name_id", "charity_name_type", "charity_name",
    ),
    "charity_other_regulators": (
        "date_of_extract", "organisation_number", "registered_charity_number", "regulator_order",
        "regulator_name", "regulator_web_url",
    ),
    "charity_policy": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "policy_name",
    ),
    "charity_published_report": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "report_name", "report_location", "date_published",
    ),
    "charity_trustee": (
        "date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
        "trustee_id", "trustee_name", "trustee_is_chair", "individual_or_organisation",
        "trustee_date_of_appointment",
    ),
}

BOOLEAN_COLUMNS = frozenset({
    "charity_insolvent", "charity_in_administration", "charity_previously_excepted", "charity_is_cdf_or_cif",
    "charity_is_cio", "cio_is_dissolved", "charity_gift_aid", "charity_has_land", "accounts_qualified",
    "suppression_ind", "latest_fin_period_submitted_ind", "charity_raises_funds_from_public",
    "charity_professional_fundraiser", "charity_agreement_professional_fundraiser",
    "charity_commercial_participator", "charity_agreement_commerical_participator",
    "grant_making_is_main_activity", "charity_receives_govt_funding_contracts",
    "charity_receives_govt_funding_grants", "charity_has_trading_subsidiary",
    "trustee_also_director_of_subsidiary", "does_trustee_receive_any_benefit",
    "trustee_payments_acting_as_trustee", "trustee_receives_payments_services", "trustee_receives_other_benefit",
    "trustee_resigned_employment", "employees_salary_over_60k", "charity_only_accounts", "consolidated_accounts",
    "welsh_ind", "trustee_is_chair",
})
# Identifiers, order numbers and counts. The company number stays text: it has letters and leading zeros.
INTEGER_COLUMNS = frozenset({
    "organisation_number", "registered_charity_number", "linked_charity_number", "fin_period_order_number",
    "charity_event_order", "assoc_organisation_number", "assoc_registered_charity_number", "charity_name_id",
    "classification_code", "regulator_order", "trustee_id",
})
INTEGER_PREFIXES = ("count_",)
MONEY_COLUMNS = frozenset({
    "latest_income", "latest_expenditure", "total_gross_income", "total_gross_expenditure", "reserves",
    "defined_benefit_pension_scheme",
})
MONEY_PREFIXES = ("income_", "expenditure_", "gain_loss_", "assets_", "creditors_", "funds_")

# Tables a register build keys by organisation: table -> (key, the dates that pick the row kept when a key
# repeats, latest first). The extract repeats rows now and then.
KEYED_TABLES: dict[str, tuple[str, list[str]]] = {
    "charity": ("organisation_number", ["date_of_extract", "latest_acc_fin_period_end_date"]),
}

_FILE_NAME = re.compile(r"^publicextract\.([a-z_]+)\.zip$", re.IGNORECASE)
# Every record starts with its date_of_extract; a line that does not is the tail of the previous record.
_RECORD_START = re.compile(rb"\d{4}-\d{2}-\d{2}")
_CHUNK_BYTES = 8 << 20
# Longest header line we accept: the widest real header is about 1.5 KB.
_MAX_HEADER_BYTES = 64 << 10
# Longest line (record) accepted; DuckDB is told the same.
_MAX_LINE_BYTES = 64 << 20


def column_type(column: str) -> str:
    """The staging type of an extract column, by the naming rules of the extract."""
    if "date" in column.split("_"):  # a word, not a substring: consolidated_accounts is a boolean
        return "DATE"
    if column in BOOLEAN_COLUMNS:
        return "BOOLEAN"
    if column in INTEGER_COLUMNS or column.startswith(INTEGER_PREFIXES):
        return "BIGINT"
    if column in MONEY_COLUMNS or column.startswith(MONEY_PREFIXES):
        return "DOUBLE"
    return "VARCHAR"


def table_of(path: Path) -> str:
    """The extract table a downloaded file holds, from its name `publicextract.{table}.zip`."""
    match = _FILE_NAME.match(Path(path).name)
    if not match or match.group(1).lower() not in TABLE_COLUMNS:
        raise SourceError(NAME, f"not a known CCEW extract file: expected publicextract.<table>.zip with a table "
                                f"among {', '.join(TABLE_COLUMNS)}; stage the files `vcse refresh {NAME}` fetches",
                          file=Path(path).name)
    return match.group(1).lower()


def download(cfg: Config) -> list:
    """Fetch each configured table's zip into cfg.download_dir(NAME)."""
    from ..download import fetch

    settings = cfg.section("download")
    source_cfg = cfg.source(NAME)
    dest_dir = cfg.download_dir(NAME)
    return [
        fetch(source_cfg["url"].format(table=table), dest_dir / f"publicextract.{table}.zip", source=NAME,
              settings=settings, expect="zip", progress=bool(settings.get("progress", False)))
        for table in source_cfg["tables"]
    ]


def verify(paths: list[Path]) -> None:
    """Check each zip opens, holds exactly one .txt, and its header has every column staging needs."""
    if not paths:
        raise SourceError(NAME, f"no files to verify: fetch the extract (`vcse refresh {NAME}`)")
    for path in paths:
        _read_header(Path(path))


def _read_header(path: Path) -> list[str]:
    table = table_of(path)
    with open_zip(path, NAME) as archive:
        info = find_member(archive, "*.txt", path, NAME)
        where = f"{path.name}:{info.filename}"
        try:
            with archive.open(info) as member:
                line = member.readline(_MAX_HEADER_BYTES)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise SourceError(NAME, f"zip entry is truncated or corrupt ({exc}): {fetch_again(NAME)}",
                              file=where) from exc
    return _parse_header(line, table, where)


def _parse_header(line: bytes, table: str, where: str) -> list[str]:
    if not line.strip():
        raise SourceError(NAME, f"file is empty (no header row): {fetch_again(NAME)}", file=where, row=1)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(NAME, f"header is not UTF-8 ({exc.reason} at byte {exc.start}): {fetch_again(NAME)}",
                          file=where, row=1) from exc
    header = text.rstrip("\r\n").split("\t")
    if header[0] != "date_of_extract":
        raise SourceError(NAME, f"first column is {header[0]!r}, expected 'date_of_extract' (not a CCEW extract "
                                f"table, or the format changed); {FORMAT_CHANGED}", file=where, row=1,
                          column="date_of_extract")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise SourceError(NAME, f"header repeats column(s) {', '.join(duplicated)}; {FORMAT_CHANGED}", file=where,
                          row=1, column=duplicated[0])
    missing = [c for c in TABLE_COLUMNS[table] if c not in header]
    if missing:
        unexpected = [c for c in header if c not in TABLE_COLUMNS[table]]
        hint = f"; the header has unexpected column(s) {', '.join(unexpected)}" if unexpected else ""
        raise SourceError(NAME, f"required column(s) missing from the {table} table: {', '.join(missing)}{hint}; "
                                f"{FORMAT_CHANGED}", file=where, row=1, column=missing[0])
    return header


def stage(con: duckdb.DuckDBPyConnection, paths: list[Path], cfg: Config) -> dict[str, int]:
    """Create one typed table per extract file in con's main schema; returns rows per table."""
    by_table: dict[str, Path] = {}
    for path in map(Path, paths):
        table = table_of(path)
        if table in by_table:
            raise SourceError(NAME, f"two files for table {table}: {by_table[table].name} and {path.name}; "
                                    "give one", file=path.name)
        by_table[table] = path
    missing = [t for t in cfg.source(NAME)["tables"] if t not in by_table]
    if missing:
        raise SourceError(NAME, f"configured table(s) not among the downloaded files: {', '.join(missing)}; fetch "
                                f"them (`vcse refresh {NAME}`)", file=f"publicextract.{missing[0]}.zip")
    return {table: stage_table(con, table, path) for table, path in by_table.items()}


def stage_table(con: duckdb.DuckDBPyConnection, table: str, zip_path: Path) -> int:
    """Stage one extract zip as table `table`; returns its row count."""
    work_dir = zip_path.parent / "_work"
    work_dir.mkdir(parents=True, exist_ok=True)
    tsv = work_dir / f"{table}.tsv"
    try:
        header, where = _normalise_zip(zip_path, table, tsv)
        _load_tsv(con, table, header, tsv, where)
    finally:
        tsv.unlink(missing_ok=True)
        if not any(work_dir.iterdir()):
            work_dir.rmdir()
    return con.execute(f"SELECT count(*) FROM main.{ident(table)}").fetchone()[0]


def _normalise_zip(zip_path: Path, table: str, tsv: Path) -> tuple[list[str], str]:
    with open_zip(zip_path, NAME) as archive:
        info = find_member(archive, "*.txt", zip_path, NAME)
        where = f"{zip_path.name}:{info.filename}"
        try:
            with archive.open(info) as member, tsv.open("wb") as out:
                chunks = _line_chunks(member, where)
                first, plain = next(chunks, ([b""], True))
                header = _parse_header(first[0], table, where)
                _write_records(chain([(first[1:], plain)], chunks), len(header), out, where)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            if is_machine_error(exc):  # a full or read-only disk under the work folder, not a bad zip
                raise SourceError(NAME, os_error_message(exc), file=where) from exc
            raise SourceError(NAME, f"zip entry is truncated or corrupt ({exc}): {fetch_again(NAME)}",
                              file=where) from exc
    return header, where


def _line_chunks(member: IO[bytes], where: str) -> Iterator[tuple[list[bytes], bool]]:
    """The file's lines without their CRLF/LF ends, a few MB at a time; a non-UTF-8 byte names its line.

    Each list comes with `plain`: no quote, NUL or stray CR anywhere in it, so its lines can be written
    to DuckDB as they are.
    """
    tail = b""
    lines_before = 0
    header: list[str] = []  # to name the column of a bad byte
    while True:
        chunk = member.read(_CHUNK_BYTES)
        if not chunk:
            break
        buf = tail + chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) > _MAX_LINE_BYTES:  # not a text table (or a runaway line): do not buffer it all
                raise SourceError(NAME, f"no line break in {len(buf):,} bytes: not a line-based text file: "
                                        f"{fetch_again(NAME)}", file=where, row=lines_before + 1)
            tail = buf
            continue
        complete, tail = buf[:cut - 1], buf[cut:]
        if not lines_before:
            header = complete.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace").split("\t")
        yield _split_lines(complete, lines_before, where, header)
        lines_before += complete.count(b"\n") + 1
    if tail:
        yield _split_lines(tail, lines_before, where, header)


def _split_lines(block: bytes, lines_before: int, where: str, header: list[str]) -> tuple[list[bytes], bool]:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = lines_before + block.count(b"\n", 0, exc.start) + 1
        field = block.count(b"\t", block.rfind(b"\n", 0, exc.start) + 1, exc.start)
        raise SourceError(NAME, f"byte 0x{block[exc.start]:02x} is not valid UTF-8 ({exc.reason}; the extract is "
                                f"UTF-8: a byte from another encoding, or a corrupt file): {fetch_again(NAME)}",
                          file=where, row=row, column=header[field] if field < len(header) else None) from exc
    if block.endswith(b"\r"):
        block = block[:-1]
    newlines, returns = block.count(b"\n"), block.count(b"\r")
    if returns == newlines:  # the usual CRLF file, unless a stray CR pairs up with a bare LF
        lines = block.split(b"\r\n")
        if len(lines) == newlines + 1:
            return lines, b'"' not in block and b"\x00" not in block
    lines = [line[:-1] if line.endswith(b"\r") else line for line in block.split(b"\n")]
    return lines, False


def _write_records(chunks: Iterator[tuple[list[bytes], bool]], n_columns: int, out: IO[bytes],
                   where: str) -> None:
    """Join lines split by a line break inside a field, then write `line_no<TAB>record` lines for DuckDB.

    A record continues while it has fewer tabs than the header, or while the next line does not start
    with a date (a break in the last column). Records holding a quote, CR, NUL or line break are quoted.
    """
    want_tabs = n_columns - 1
    starts_record = _RECORD_START.match
    pending: list[bytes] = []
    pending_tabs = 0
    pending_plain = True
    start = 0
    line_no = 1  # the header
    for lines, plain in chunks:
        buffer: list[bytes] = []
        for line in lines:
            line_no += 1
            tabs = line.count(b"\t")
            if pending and (pending_tabs < want_tabs or not starts_record(line)):
                pending.append(line)
                pending_tabs += tabs
                pending_plain = False
                if pending_tabs > want_tabs:
                    _raise_field_count(pending_tabs + 1, n_columns, start, line_no, where)
                continue
            if pending:
                buffer.append(b"%d\t%s\n" % (start, pending[0]) if pending_plain else _quoted(pending, start))
            if tabs > want_tabs:
                _raise_field_count(tabs + 1, n_columns, line_no, line_no, where)
            pending, pending_tabs, start = [line], tabs, line_no
            pending_plain = plain or not (b'"' in line or b"\r" in line or b"\x00" in line)
        out.write(b"".join(buffer))
    if pending:
        if pending_tabs < want_tabs:
            _raise_field_count(pending_tabs + 1, n_columns, start, line_no, where)
        out.write(b"%d\t%s\n" % (start, pending[0]) if pending_plain else _quoted(pending, start))


def _raise_field_count(found: int, expected: int, start: int, end: int, where: str) -> None:
    lines = f"line {start}" if start == end else f"lines {start}-{end}"
    raise SourceError(NAME, f"record on {lines} has {found} fields, expected {expected} (a tab inside a value, "
                            f"or a truncated line): {fetch_again(NAME)}", file=where, row=start)


def _quoted(parts: list[bytes], start: int) -> bytes:
    """One record as a DuckDB line, quoting the fields that hold a quote or a line break."""
    fields = b"\n".join(parts).replace(b"\x00", b"").split(b"\t")
    if len(parts) > 1:  # a break at the start or end of a field is an artefact of the export, not text
        fields = [f.strip(b"\r\n") for f in fields]
    quoted = [b'"' + f.replace(b'"', b'""') + b'"' if (b'"' in f or b"\n" in f or b"\r" in f) else f
              for f in fields]
    return b"%d\t%s\n" % (start, b"\t".join(quoted))


def _clean(column: str) -> str:
    # Surrounding spaces carry no meaning and an empty value is a null. (Line breaks at the edge of a field
    # are dropped when the record is rejoined: trim() with a character list is several times slower.)
    return f"NULLIF(trim({ident(column)}), '')"


def _typed(column: str) -> str:
    value = _clean(column)
    kind = column_type(column)
    if kind == "DATE":
        return f"CAST(TRY_CAST({value} AS TIMESTAMP) AS DATE)"
    if kind == "BOOLEAN":
        return f"CASE lower({value}) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE WHEN 'false' THEN FALSE " \
               f"WHEN '0' THEN FALSE END"
    if kind == "BIGINT":
        return f"CASE WHEN regexp_full_match({value}, '[+-]?[0-9]+') THEN TRY_CAST({value} AS BIGINT) END"
    if kind == "DOUBLE":
        return f"TRY_CAST({value} AS DOUBLE)"
    return value


def _load_tsv(con: duckdb.DuckDBPyConnection, table: str, header: list[str], tsv: Path, where: str) -> None:
    columns = "{" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in ["_line", *header]) + "}"
    scan = (f"read_csv({sql_literal(tsv)}, delim='\\t', quote='\"', escape='\"', header=false, "
            f"auto_detect=false, columns={columns}, new_line='\\n', encoding='utf-8', max_line_size={_MAX_LINE_BYTES})")
    typed = [c for c in header if column_type(c) != "VARCHAR"]
    if typed:
        _raise_first_bad_value(con, scan, typed, where)
    select = ", ".join(f"{_typed(c)} AS {ident(c)}" for c in header)
    if table not in KEYED_TABLES:
        con.execute(f"CREATE OR REPLACE TABLE main.{ident(table)} AS SELECT {select} FROM {scan}")
        return
    # A keyed table keeps one row per key (sources/_duplicates.py); the line is kept until then, for the report.
    key, newest_first = KEYED_TABLES[table]
    con.execute(f"CREATE OR REPLACE TABLE main.{ident(table)} AS SELECT {select}, "
                f"CAST(_line AS BIGINT) AS _line FROM {scan}")
    resolve_duplicates(con, NAME, table, key, newest_first, line="_line")
    con.execute(f"ALTER TABLE main.{ident(table)} DROP COLUMN _line")


def _raise_first_bad_value(con: duckdb.DuckDBPyConnection, scan: str, typed: list[str], where: str) -> None:
    # A value that is present but does not cast is an error, not a silent null: find the first one.
    # One filtered min() per column is a single scan and several times faster than CASE over all columns.
    firsts = ", ".join(f"min(CAST(_line AS BIGINT)) FILTER (WHERE {_clean(c)} IS NOT NULL AND {_typed(c)} IS NULL)"
                       for c in typed)
    found = [(line, column) for line, column in zip(con.execute(f"SELECT {firsts} FROM {scan}").fetchone(), typed,
                                                    strict=True) if line is not None]
    if not found:
        return
    line, column = min(found)
    value = con.execute(f"SELECT {ident(column)} FROM {scan} WHERE CAST(_line AS BIGINT) = ?", [line]).fetchone()[0]
    expected = {"DATE": "a date (yyyy-mm-dd hh:mm:ss)", "BOOLEAN": "True or False", "BIGINT": "a whole number",
                "DOUBLE": "a number"}[column_type(column)]
    raise SourceError(NAME, f"cannot read {excerpt(value)} as {expected}: {REPORT_VALUE}", file=where, row=line,
                      column=column)
