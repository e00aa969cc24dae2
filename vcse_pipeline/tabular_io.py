"""Read an officer's list of organisations (CSV or Excel) as text columns, for `vcse match` and `vcse tag`.

Officers' lists come from Excel: "CSV UTF-8" (with a byte-order mark), the Windows default "CSV (Comma
delimited)" (Windows-1252, so a curly apostrophe is byte 0x92), or a workbook. All three are read; every error
names the file and, where it can, the line or the cell. Writing results is procurement/export.py's job.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from .errors import PipelineError

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
FALLBACK_ENCODING = "cp1252"   # what Excel's "CSV (Comma delimited)" writes on an English Windows
SAVE_AS_HINT = "save it from Excel as \"CSV UTF-8 (Comma delimited)\" or as an .xlsx workbook"


def read_table(path: Path, what: str = "input", note: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Every column as text, blank cells as "". `what` names the file's role in errors ("input file x.csv");
    `note` is told when a CSV had to be read as Windows-1252."""
    path = Path(path)
    if path.is_dir():
        raise PipelineError(f"{what} file {path} is a folder; give the CSV or .xlsx file inside it")
    if not path.exists():
        raise PipelineError(f"{what} file {path} not found")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return _read_xlsx(path, what)
    if suffix in (".xls", ".ods", ".numbers"):
        raise PipelineError(f"{what} file {path}: {suffix} files cannot be read; {SAVE_AS_HINT}")
    return _read_csv(path, what, note)


def _decode(data: bytes, path: Path, what: str, note: Callable[[str], None] | None) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            text = data.decode(FALLBACK_ENCODING)
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise PipelineError(f"{what} file {path} line {line}: byte 0x{data[exc.start]:02x} is neither UTF-8 nor "
                                f"Windows-1252 text; {SAVE_AS_HINT}") from None
        if note:
            line = data[:utf8_error.start].count(b"\n") + 1
            note(f"{what} file {path} is not UTF-8 (first at line {line}); read it as Windows-1252, Excel's "
                 "\"CSV (Comma delimited)\". If names look wrong, save it as \"CSV UTF-8\".")
        return text


def _read_csv(path: Path, what: str, note: Callable[[str], None] | None) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if data.startswith(b"PK\x03\x04"):   # a zip: an Excel workbook saved under a .csv name
        raise PipelineError(f"{what} file {path} is an Excel workbook, not CSV text; rename it to .xlsx")
    text = _decode(data, path, what, note)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{what} file {path} is empty: expected a header row of column names") from None
    except pd.errors.ParserError as exc:   # pandas says "Expected 3 fields in line 5, saw 4"
        raise PipelineError(f"{what} file {path} is not a readable CSV: {exc}".rstrip()) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _cell_text(value) -> str:
    """A workbook value as the text a CSV of it would hold: 5000 not 5000.0, dates as yyyy-mm-dd."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


def _read_xlsx(path: Path, what: str) -> pd.DataFrame:
    """The first sheet; row 1 is the header. Formulas give their last calculated value."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for a damaged file
        raise PipelineError(f"cannot read {what} file {path} as an Excel workbook: {exc}") from None
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows()]
    finally:
        wb.close()
    if not rows:
        raise PipelineError(f"{what} file {path}: its first sheet ({ws.title!r}) is empty; "
                            "expected a header row of column names")
    width = max((i + 1 for r in rows for i, c in enumerate(r) if c.value not in (None, "")), default=0)
    header = [_cell_text(c.value) for c in rows[0][:width]] + [""] * max(0, width - len(rows[0]))
    records = []
    for r, row in enumerate(rows[1:], start=2):
        values = []
        for col in range(width):
            cell = row[col] if col < len(row) else None
            if cell is not None and cell.data_type == "e":   # #REF!, #DIV/0!, #N/A...
                letter = get_column_letter(col + 1)
                raise PipelineError(f"{what} file {path} row {r} column {header[col] or letter!r} (cell {letter}{r}): "
                                    f"Excel error {cell.value}; fix or clear it")
            values.append(_cell_text(cell.value if cell is not None else None))
        if any(values):   # Excel keeps formatted but empty rows; skip them
            records.append(values)
    for col, name in enumerate(header):
        if not name and any(rec[col] for rec in records):
            raise PipelineError(f"{what} file {path} column {get_column_letter(col + 1)} has values but no header "
                                "in row 1; give it a name")
    duplicates = sorted({n for n in header if n and header.count(n) > 1})
    if duplicates:
        raise PipelineError(f"{what} file {path}: row 1 names column(s) {', '.join(map(repr, duplicates))} twice")
    keep = [i for i, name in enumerate(header) if name]
    return pd.DataFrame([[rec[i] for i in keep] for rec in records], columns=[header[i] for i in keep], dtype=str)
