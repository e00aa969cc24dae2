"""FCA Mutuals Public Register: co-operative and community benefit societies, credit unions, friendly societies.

SocietyList.csv is small (tens of thousands of rows), so it is decoded and checked in Python, row by
row, and handed to DuckDB for typing. Encoding: UTF-8 (with or without a BOM); a file that is wholly
Windows-1252 (as Excel saves it) is accepted too; a file mixing the two is refused, naming the line. Each
error ends with what to do next, in sources/_csv.py's words (docs/operations.md, "Bad input").
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from ..archive import csv_ends_mid_row
from ..config import Config
from ..errors import SourceError, excerpt
from ..postcode import normalise_postcode
from ._csv import (
    FORMAT_CHANGED,
    REPORT_VALUE,
    check_text_file,
    decode_small_text,
    fetch_again,
    file_name_from_url,
    header_summary,
    parse_small_csv,
)
from ._duplicates import resolve_duplicates

NAME = "fca_mutuals"
log = logging.getLogger(__name__)

# Source header -> staged column. The register spells "Registation" so; a corrected header is accepted too.
COLUMNS = {
    "Society Number": "society_number",
    "Society Suffix": "society_suffix",
    "Full Registation Number": "registration_number",
    "Society Name": "society_name",
    "Registered As": "registered_as",
    "Society Address": "society_address",
    "Registration Date": "registration_date",
    "Deregistration Date": "deregistration_date",
    "Registration Act": "registration_act",
    "Standard Industrial Classification Code (SIC)": "sic_code",
    "Reporting Classification": "reporting_classification",
    "Society Status": "society_status",
}
ALIASES = {"Full Registration Number": "Full Registation Number"}
DATE_COLUMNS = ("Registration Date", "Deregistration Date")
STAGED = ["society_number", "society_suffix", "registration_number", "society_name", "registered_as",
          "society_address", "postcode", "registration_date", "deregistration_date", "registration_act",
          "sic_code", "reporting_classification", "society_status"]
# A UK postcode at the very end of the address (after trailing spaces and punctuation).
_TRAILING_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2})[\s,.]*$", re.IGNORECASE)
_DATE = re.compile(r"(\d{1,2}/\d{1,2}/\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")


def download(cfg: Config) -> list:
    from ..download import fetch

    settings = cfg.section("download")
    url = cfg.source(NAME)["url"]
    return [fetch(url, cfg.download_dir(NAME) / file_name_from_url(url, "SocietyList.csv"), source=NAME,
                  settings=settings, expect="csv", progress=settings.get("progress", True))]


def postcode_from_address(address: str | None) -> str | None:
    """The normalised postcode ending a one-line address ("..., Birkenhead, CH41 1LD" -> "CH41 1LD")."""
    if not address:
        return None
    match = _TRAILING_POSTCODE.search(address.strip())
    return normalise_postcode(match.group(1)) if match else None


def verify(paths: list[Path]) -> None:
    """The file decodes, has the register's header, and every row has that many fields and valid dates."""
    _single(paths)
    read_societies(_single(paths))


def stage(con: duckdb.DuckDBPyConnection, paths: list[Path], cfg: Config) -> dict[str, int]:
    rows = read_societies(_single(paths), with_lines=True)
    frame = pd.DataFrame(rows, columns=[*STAGED, "_line"], dtype=object)
    con.register("_society_rows", frame)
    try:
        casts = ", ".join(f"CAST({c} AS DATE) AS {c}" if c.endswith("_date") else f"CAST({c} AS VARCHAR) AS {c}"
                          for c in STAGED)
        con.execute(f"CREATE OR REPLACE TABLE society AS SELECT {casts}, CAST(_line AS BIGINT) AS _line "
                    "FROM _society_rows")
    finally:
        con.unregister("_society_rows")
    # A registration number listed twice keeps one row (sources/_duplicates.py): the latest registration.
    resolve_duplicates(con, NAME, "society", "registration_number", ["registration_date"], line="_line")
    con.execute("ALTER TABLE society DROP COLUMN _line")
    return {"society": con.execute("SELECT count(*) FROM society").fetchone()[0]}


def _single(paths: list[Path]) -> Path:
    if len(paths) != 1:
        raise SourceError(NAME, f"expected one SocietyList.csv, got {len(paths)} files; give one")
    return Path(paths[0])


def read_societies(path: Path, with_lines: bool = False) -> list[list]:
    """Rows in STAGED order: text stripped (empty -> None), dates as ISO text, postcode from the address
    (and, `with_lines`, the row's line in the file last)."""
    check_text_file(path, NAME)
    raw = path.read_bytes()
    if csv_ends_mid_row(path):  # no line break after a last row that is not whole
        raise SourceError(NAME, "the last row has no line break after it and is not whole (a quoted field left "
                                "open, or fewer fields than the header): the file was cut short (a truncated "
                                f"download or copy): {fetch_again(NAME)}", file=path.name, row=raw.count(b"\n") + 1)
    text, encoding = decode_small_text(raw, NAME, path.name)
    if encoding == "cp1252":
        converted = sum(1 for byte in raw if byte > 0x7F)
        log.warning("%s: read as Windows-1252 (a re-saved export, not UTF-8): %d non-ASCII byte(s) converted",
                    path.name, converted)
    records = parse_small_csv(text, NAME, path.name)
    header = [ALIASES.get(h.strip(), h.strip()) for h in records[0]] if records else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SourceError(NAME, f"missing column(s) {', '.join(repr(m) for m in missing)}; "
                                f"the header has: {header_summary(header)}; {FORMAT_CHANGED}", file=path.name,
                          column=missing[0])
    index = {name: header.index(name) for name in COLUMNS}
    out = []
    for row_number, record in enumerate(records[1:], start=2):
        if not any(field.strip() for field in record):
            continue  # a blank line, as Excel leaves at the end
        if len(record) != len(header):
            raise SourceError(NAME, f"expected {len(header)} fields, found {len(record)} (a comma or line break "
                                    f"inside an unquoted value, or a cut line): {fetch_again(NAME)}", file=path.name,
                              row=row_number)
        values = {name: (record[i].strip() or None) for name, i in index.items()}
        for column in DATE_COLUMNS:
            values[column] = _iso_date(values[column], path.name, row_number, column)
        staged = {COLUMNS[name]: value for name, value in values.items()}
        staged["postcode"] = postcode_from_address(staged["society_address"])
        out.append([staged[c] for c in STAGED] + ([row_number] if with_lines else []))
    return out


def _iso_date(value: str | None, file: str, row: int, column: str) -> str | None:
    if value is None:
        return None
    match = _DATE.fullmatch(value)
    try:
        if not match:
            raise ValueError
        return datetime.strptime(match.group(1), "%d/%m/%Y").date().isoformat()
    except ValueError:
        raise SourceError(NAME, f"{excerpt(value)} is not a date in dd/mm/yyyy form: {REPORT_VALUE}", file=file,
                          row=row, column=column) from None
