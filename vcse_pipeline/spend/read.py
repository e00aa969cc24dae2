"""Reading one published payments file (CSV in any of the encodings councils use, or XLSX) into canonical text rows.

The file is streamed once: its bytes are decoded (a UTF-8 byte-order mark, UTF-8, else Windows-1252, else
ISO-8859-1), title rows above the header are skipped, blank leading columns and trailing commas fall away because
fields are picked by the header's positions, and each payment row becomes a line of a UTF-8 CSV of the canonical
fields that DuckDB then scans and types set-wise (spend/load.py, sql/spend/00_macros.sql).
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError
from ..tabular_io import _cell_text
from .layouts import FIELDS, Layout, find_header

SOURCE = "spend"
CANONICAL_HEADER = ["row_number", *FIELDS]


@dataclass
class ReadResult:
    file: str
    layout: str
    basis: str
    encoding: str
    header_row: int        # 1-based row of the header in the file (title rows above it were skipped)
    rows: int              # payment rows written
    headers: dict[str, str]  # canonical field -> header as published, for error messages


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


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    """The first sheet's rows as text (dates as yyyy-mm-dd, 5000 not 5000.0), streamed from a read-only workbook."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for a damaged file
        raise SourceError(SOURCE, f"cannot read it as an Excel workbook: {exc}", file=path.name) from None
    try:
        ws = wb.worksheets[0]
        for row in ws.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    finally:
        wb.close()


def file_rows(path: Path) -> tuple[Iterator[list[str]], str]:
    """(rows of text cells, encoding or 'xlsx')."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_rows(path), "xlsx"
    encoding = detect_encoding(path)
    return _csv_rows(path, encoding), encoding


def write_canonical(path: Path, out: Path, layouts: list[Layout]) -> ReadResult:
    """Write `path`'s payment rows to `out` as a UTF-8 CSV of CANONICAL_HEADER; row_number is the row in the
    source file (1-based, the header's row counted), so errors name the row a person sees."""
    rows, encoding = file_rows(path)
    try:
        first = list(itertools.islice(rows, 40))
    except csv.Error as exc:
        raise SourceError(SOURCE, f"not a readable CSV: {exc}", file=path.name) from None
    header_index, layout, positions = find_header(first, layouts, path.name)
    written = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CANONICAL_HEADER)
        number = header_index + 1
        try:
            for row in itertools.chain(first[header_index + 1:], rows):
                number += 1
                cells = [row[positions[f]].strip() if f in positions and positions[f] < len(row) else ""
                         for f in FIELDS]
                if not any(cells):
                    continue   # blank lines and blank rows between months
                writer.writerow([number, *cells])
                written += 1
        except csv.Error as exc:
            raise SourceError(SOURCE, f"not a readable CSV: {exc}", file=path.name, row=number) from None
    return ReadResult(path.name, layout.name, layout.basis, encoding, header_index + 1, written,
                      dict(layout.columns))
