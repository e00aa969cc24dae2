"""Reading one published payments file (CSV in any of the encodings councils use, or XLSX) into canonical text rows.

The file is streamed once: its bytes are decoded (a UTF-8 byte-order mark, UTF-8, else Windows-1252, else
ISO-8859-1), title rows above the header are skipped, blank leading columns and trailing commas fall away because
fields are picked by the header's positions, and each payment row becomes a line of a UTF-8 CSV of the canonical
fields that DuckDB then scans and types set-wise (spend/load.py, sql/spend/00_macros.sql).

A workbook is read sheet by sheet: every sheet with a known payment header is read (a month or quarter per sheet
is common), its rows numbered as in that sheet and kept with the sheet's name; a sheet with no payment layout (notes,
a pivot) is listed as skipped; a workbook with no payment sheet at all is the same error as a CSV with no layout.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PipelineError, SourceError
from ..tabular_io import EXCEL_SUFFIXES, _cell_text
from .layouts import FIELDS, Layout, find_header

SOURCE = "spend"
CANONICAL_HEADER = ["row_number", *FIELDS]
SHEET_COLUMN = "sheet"     # after CANONICAL_HEADER in a workbook's canonical rows: the sheet each row came from


@dataclass
class ReadResult:
    file: str
    layout: str
    basis: str
    encoding: str
    header_row: int        # 1-based row of the header in the file (title rows above it were skipped)
    rows: int              # payment rows written
    headers: dict[str, str]  # canonical field -> header as published, for error messages
    sheets: list[str] = field(default_factory=list)          # a workbook's sheets read (in workbook order)
    skipped_sheets: list[str] = field(default_factory=list)  # a workbook's sheets with no payment layout


def detect_encoding(path: Path) -> str:
    """utf-8-sig (a byte-order mark), utf-8 when every byte decodes, else cp1252 (Excel's Windows CSV), else
    latin-1 (ISO-8859-1: five bytes cp1252 leaves undefined). Read in chunks: the file is never held whole."""
    with path.open("rb") as fh:
        if fh.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _csv_rows(path: Path, encoding: str) -> Iterator[list[str]]:
    with path.open(encoding=encoding, newline="") as fh:
        yield from csv.reader(fh)


def _xlsx_sheets(path: Path) -> Iterator[tuple[str, Iterator[list[str]]]]:
    """(name, rows as text) of each sheet in workbook order (dates as yyyy-mm-dd, 5000 not 5000.0), streamed from
    a read-only workbook."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for a damaged file
        raise SourceError(SOURCE, f"cannot read it as an Excel workbook: {exc}", file=path.name) from None
    try:
        for ws in wb.worksheets:
            yield ws.title, ([_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True))
    finally:
        wb.close()


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() in EXCEL_SUFFIXES


def _write_rows(writer, rows, first: list, header_index: int, positions: dict[str, int], extra: list,
                where: str) -> int:
    """Write the payment rows after the header; row numbers as a person sees them (the header's row counted)."""
    written = 0
    number = header_index + 1
    try:
        for row in itertools.chain(first[header_index + 1:], rows):
            number += 1
            cells = [row[positions[f]].strip() if f in positions and positions[f] < len(row) else ""
                     for f in FIELDS]
            if not any(cells):
                continue   # blank lines and blank rows between months
            writer.writerow([number, *cells, *extra])
            written += 1
    except csv.Error as exc:
        raise SourceError(SOURCE, f"not a readable CSV: {exc}", file=where, row=number) from None
    return written


def sheet_label(file: str, sheet: str | None) -> str:
    """How errors and reports name a place in a file: "q1.xlsx, sheet '2025-05'" (the file alone for a CSV)."""
    return f"{file}, sheet {sheet!r}" if sheet else file


def write_canonical(path: Path, out: Path, layouts: list[Layout]) -> ReadResult:
    """Write `path`'s payment rows to `out` as a UTF-8 CSV of CANONICAL_HEADER; row_number is the row in the
    source file (1-based, the header's row counted), so errors name the row a person sees. A workbook's rows come
    from every sheet with a payment header, each row with its sheet (SHEET_COLUMN)."""
    if is_workbook(path):
        return _write_workbook(path, out, layouts)
    encoding = detect_encoding(path)
    rows = _csv_rows(path, encoding)
    try:
        first = list(itertools.islice(rows, 40))
    except csv.Error as exc:
        raise SourceError(SOURCE, f"not a readable CSV: {exc}", file=path.name) from None
    header_index, layout, positions = find_header(first, layouts, path.name)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CANONICAL_HEADER)
        written = _write_rows(writer, rows, first, header_index, positions, [], path.name)
    return ReadResult(path.name, layout.name, layout.basis, encoding, header_index + 1, written,
                      dict(layout.columns))


def _write_workbook(path: Path, out: Path, layouts: list[Layout]) -> ReadResult:
    """Every sheet with a payment header, in workbook order; the first such sheet's layout names the file's (a
    sheet in another layout is read by its own header). No payment sheet: find_header's error for the first."""
    result, refusal = None, None
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*CANONICAL_HEADER, SHEET_COLUMN])
        skipped, read = [], []
        for sheet, rows in _xlsx_sheets(path):
            first = list(itertools.islice(rows, 40))
            try:
                header_index, layout, positions = find_header(first, layouts, sheet_label(path.name, sheet))
            except PipelineError as exc:
                refusal = refusal or exc
                skipped.append(sheet)
                continue
            written = _write_rows(writer, rows, first, header_index, positions, [sheet],
                                  sheet_label(path.name, sheet))
            read.append(sheet)
            if result is None:
                result = ReadResult(path.name, layout.name, layout.basis, "xlsx", header_index + 1, 0,
                                    dict(layout.columns))
            else:
                for name, header in layout.columns.items():
                    result.headers.setdefault(name, header)
            result.rows += written
    if result is None:
        raise refusal or SourceError(SOURCE, "the workbook has no sheets", file=path.name)
    result.sheets, result.skipped_sheets = read, skipped
    return result
