"""Read an officer's list of organisations (CSV or Excel) as text columns, for `vcse match` and `vcse tag`.

Officers' lists come from Excel: "CSV UTF-8" (with a byte-order mark), the Windows default "CSV (Comma
delimited)" (Windows-1252, so a curly apostrophe is byte 0x92), or a workbook. All three are read; every error
names the file and, where it can, the line or the cell. Writing results is procurement/export.py's job.

A CSV row with more fields than the header row names is an error naming the line (a name with an unquoted comma
would otherwise shift every column, or on the first row make the names a row label). With `keep_blank_rows` a blank
row between rows is kept as a row of blanks, so a result file lines up with its input row for row; blank rows after
the last filled one are dropped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from .errors import PipelineError

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
FALLBACK_ENCODING = "cp1252"   # what Excel's "CSV (Comma delimited)" writes on an English Windows
SAVE_AS_HINT = "save it from Excel as \"CSV UTF-8 (Comma delimited)\" or as an .xlsx workbook"


def read_table(path: Path, what: str = "input", note: Callable[[str], None] | None = None, *,
               text_columns: Iterable[str] | None = None, keep_blank_rows: bool = False) -> pd.DataFrame:
    """Every column as text, blank cells as "". `what` names the file's role in errors ("input file x.csv");
    `note` is told when a CSV had to be read as Windows-1252.

    With `text_columns` (the ones a command reads: name, postcode...) only those are made text in a workbook;
    its other columns keep their cell values (123 stays a number, a date a date, a blank None), so a result
    file gives them back as they were written. CSV cells are text whatever is asked.

    `keep_blank_rows` keeps a blank row between filled ones as a row of blanks (`vcse match` writes one result row
    per input row) and blank rows after the last filled row are left out; without it a workbook's blank rows and a
    CSV's blank lines are left out (a CSV row of commas is kept)."""
    path = Path(path)
    if path.is_dir():
        raise PipelineError(f"{what} file {path} is a folder; give the CSV or .xlsx file inside it")
    if not path.exists():
        raise PipelineError(f"{what} file {path} not found")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return _read_xlsx(path, what, None if text_columns is None else set(text_columns), keep_blank_rows)
    if suffix in (".xls", ".ods", ".numbers"):
        raise PipelineError(f"{what} file {path}: {suffix} files cannot be read; {SAVE_AS_HINT}")
    return _read_csv(path, what, note, keep_blank_rows)


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


def _check_field_counts(text: str, path: Path, what: str) -> None:
    """A PipelineError naming the first line with more fields than the header row (the first line not blank)
    names. pandas takes an extra field on the first data row as a column of row labels, shifting every name one
    column along."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next((fields for fields in reader if fields), [])   # pandas skips blank lines above the header
        start = reader.line_num + 1
        for fields in reader:
            if len(fields) > len(header):
                if len(header) == 1:   # a title above the column names ("Suppliers 2025-26")
                    raise PipelineError(
                        f"{what} file {path} line {start} has {len(fields)} fields but the first line holds only "
                        f"{header[0]!r}: if it is a title, delete it so the column names are on the first line; if "
                        "not, a value with a comma in it must be in double quotes, as Excel writes it")
                raise PipelineError(
                    f"{what} file {path} line {start} has {len(fields)} fields but the header row names "
                    f"{len(header)} columns; a value with a comma in it (\"Brown, Smith and Co\") must be in double "
                    "quotes, as Excel writes it: save the list from Excel, or add the missing column name")
            start = reader.line_num + 1
    except csv.Error:
        return   # pandas says what is wrong, with the line


def _read_csv(path: Path, what: str, note: Callable[[str], None] | None, keep_blank_rows: bool) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if data.startswith(b"PK\x03\x04"):   # a zip: an Excel workbook saved under a .csv name
        raise PipelineError(f"{what} file {path} is an Excel workbook, not CSV text; rename it to .xlsx")
    text = _decode(data, path, what, note)
    _check_field_counts(text, path, what)
    try:
        # index_col=False: never a column of row labels (the check above has ruled out rows longer than the header).
        # Blank lines above the header are skipped either way (pandas would take one as the header if it kept them).
        frame = pd.read_csv(io.StringIO(text.lstrip("\r\n") if keep_blank_rows else text), dtype=str,
                            keep_default_na=False, index_col=False, skip_blank_lines=not keep_blank_rows)
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{what} file {path} is empty: expected a header row of column names") from None
    except pd.errors.ParserError as exc:   # pandas says "Expected 3 fields in line 5, saw 4"
        raise PipelineError(f"{what} file {path} is not a readable CSV: {exc}".rstrip()) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if not keep_blank_rows:
        return frame   # blank lines skipped; a row of commas kept, as it always was for vcse tag and the spend files
    # a blank line or a row of commas reads as a row of "": those after the last filled row go
    filled = frame.ne("").any(axis=1).to_numpy()
    return frame.iloc[:filled.nonzero()[0][-1] + 1 if filled.any() else 0].reset_index(drop=True)


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


def _cell_value(value):
    """A workbook value kept as written: numbers, true/false and dates as they are (a date without a time as a
    date), text stripped, blank as None."""
    if isinstance(value, datetime) and value.time() == time(0):
        return value.date()
    if isinstance(value, str):
        return value.strip() or None
    return value


def _sheet_rows(path: Path, what: str, data_only: bool) -> tuple[str, list[list]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for a damaged file
        raise PipelineError(f"cannot read {what} file {path} as an Excel workbook: {exc}") from None
    try:
        ws = wb.worksheets[0]
        return ws.title, [list(r) for r in ws.iter_rows()]
    finally:
        wb.close()


def _read_xlsx(path: Path, what: str, text_columns: set[str] | None, keep_blank_rows: bool) -> pd.DataFrame:
    """The first sheet; row 1 is the header. Formulas give their last calculated value; a formula with none saved
    (a workbook written by a program, never opened in Excel) is an error naming the cell, not a blank. Empty rows
    below the last filled one (Excel keeps formatted ones) are left out; those between filled rows only without
    `keep_blank_rows`."""
    from openpyxl.cell.read_only import EmptyCell
    from openpyxl.utils import get_column_letter

    title, rows = _sheet_rows(path, what, data_only=True)
    formulas = None   # the same sheet with formulas as written, read only when a cell has no value
    if not rows:
        raise PipelineError(f"{what} file {path}: its first sheet ({title!r}) is empty; "
                            "expected a header row of column names")
    width = max((i + 1 for r in rows for i, c in enumerate(r) if c.value not in (None, "")), default=0)
    header = [_cell_text(c.value) for c in rows[0][:width]] + [""] * max(0, width - len(rows[0]))
    keep_text = [text_columns is None or name in text_columns for name in header]

    def where(r: int, col: int) -> str:
        letter = get_column_letter(col + 1)
        return f"{what} file {path} row {r} column {header[col] or letter!r} (sheet {title!r}, cell {letter}{r})"

    records, blanks = [], 0   # blanks: the empty rows since the last filled one
    for r, row in enumerate(rows[1:], start=2):
        values = []
        for col in range(width):
            cell = row[col] if col < len(row) else None
            value = None if cell is None else cell.value
            if cell is not None and cell.data_type == "e":   # #REF!, #DIV/0!, #N/A...
                raise PipelineError(f"{where(r, col)}: Excel error {cell.value}; fix or clear it")
            # A formula Excel calculated to "" is saved as an empty text value (data type "str"): a blank, not
            # an error. One with no value saved at all reads as a number-typed None.
            # A cell the sheet does not hold at all (EmptyCell: most blanks) cannot be a formula: only a cell
            # written in the file with no value makes the (slow) second read with formulas worth it.
            if value is None and cell is not None and cell.data_type != "str" and not isinstance(cell, EmptyCell):
                formulas = formulas if formulas is not None else _sheet_rows(path, what, data_only=False)[1]
                written = _formula_at(formulas, r, col)
                if written:
                    raise PipelineError(f"{where(r, col)}: the formula {written} has no calculated value saved "
                                        "(the workbook was written by a program, not saved by Excel); open it in "
                                        "Excel and save it, or paste the values in place of the formulas")
            values.append(_cell_text(value) if keep_text[col] else _cell_value(value))
        if all(v in (None, "") for v in values):
            blanks += 1   # kept only when a filled row follows: Excel keeps formatted but empty rows below a list
            continue
        if keep_blank_rows:
            records += [["" if keep_text[col] else None for col in range(width)] for _ in range(blanks)]
        blanks = 0
        records.append(values)
    for col, name in enumerate(header):
        if not name and any(rec[col] not in (None, "") for rec in records):
            letter = get_column_letter(col + 1)
            title = _title_row(rows, header)
            if title:
                raise PipelineError(f"{what} file {path}: row 1 holds only {title[0]!r} and row {title[1]} fills "
                                    f"{title[2]} columns, so row 1 looks like a title: delete it (and any blank rows "
                                    f"below it) so the column names are in row 1; if it is not, give column {letter} "
                                    "a name in row 1")
            raise PipelineError(f"{what} file {path} column {letter} has values but no header in row 1; give it a name")
    duplicates = sorted({n for n in header if n and header.count(n) > 1})
    if duplicates:
        raise PipelineError(f"{what} file {path}: row 1 names column(s) {', '.join(map(repr, duplicates))} twice")
    keep = [i for i, name in enumerate(header) if name]
    frame = pd.DataFrame([[rec[i] for i in keep] for rec in records], columns=[header[i] for i in keep],
                         dtype=object)
    for i in keep:   # text columns as pandas text, as a CSV's are; the others stay objects (numbers, dates)
        if keep_text[i]:
            frame[header[i]] = frame[header[i]].astype(str)
    return frame


def _title_row(rows: list[list], header: list[str]) -> tuple[str, int, int] | None:
    """(row 1's one value, the first row below with two or more cells filled, how many) when row 1 holds a single
    value, as a title above the column names does ("Suppliers 2025-26"); else None."""
    named = [name for name in header if name]
    if len(named) != 1:
        return None
    for r, row in enumerate(rows[1:], start=2):
        filled = sum(1 for cell in row if cell is not None and cell.value not in (None, ""))
        if filled >= 2:
            return named[0], r, filled
    return None


def _formula_at(rows: list[list], r: int, col: int) -> str | None:
    """The formula written in row `r` (1-based) and column `col` (0-based) of a sheet read with formulas, if any."""
    if r - 1 >= len(rows) or col >= len(rows[r - 1]):
        return None
    cell = rows[r - 1][col]
    value = getattr(cell, "value", None)
    return value if getattr(cell, "data_type", None) == "f" and isinstance(value, str) else None


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str, path: Path,
                    option: str | None = None) -> None:
    """A PipelineError naming the file, the missing column(s) and the file's columns (match and tag word it
    alike); `option` is the command-line option that names the column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = f"; name the right column with {option}" if option else ""
        raise PipelineError(f"{what} file {path} has no column {', '.join(repr(c) for c in missing)} "
                            f"(its columns are {', '.join(map(str, frame.columns))}){hint}")


def frame_rows(frame: pd.DataFrame) -> list[list]:
    """A frame's rows as plain values for export.write_csv_rows / write_table: missing values as None."""
    def plain(value):
        return None if not isinstance(value, (list, tuple)) and pd.isna(value) else value

    return [[plain(v) for v in row] for row in frame.itertuples(index=False, name=None)]
