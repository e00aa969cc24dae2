"""Write result rows to CSV or Excel so every cell is safe to open in a spreadsheet.

A cell that starts with = + - @ tab or carriage return could be run as a formula (CSV injection), so it is
prefixed with a single quote as OWASP recommends; in Excel every text cell is also written as a string,
never a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT = '£#,##0;-£#,##0'
DATE_FORMAT = "yyyy-mm-dd"


def safe_text(value: str) -> str:
    """Neutralise text a spreadsheet would read as a formula."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def cell_value(value):
    """A plain value for a cell: lists joined with '; ', text neutralised, numbers and dates kept."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = "; ".join("" if v is None else str(v) for v in value)
    if isinstance(value, str):
        return safe_text(value)
    return value


def write_csv(columns: Sequence[str], rows: Sequence[Sequence], path: Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel then reads UTF-8
        writer = csv.writer(fh)
        writer.writerow([safe_text(c) for c in columns])
        for row in rows:
            writer.writerow(["" if v is None else cell_value(v) for v in row])


def write_xlsx(columns: Sequence[str], rows: Sequence[Sequence], path: Path, *, sheet_title: str = "Providers",
               money_columns: Sequence[str] = ()) -> None:
    """An Excel workbook: bold filled header, frozen, auto-filtered, sized columns, money and date formats."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F4E79")
    for col, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=col, value=safe_text(str(name)))
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    widths = [len(str(c)) for c in columns]
    for r, row in enumerate(rows, start=2):
        for col, raw in enumerate(row, start=1):
            value = cell_value(raw)
            cell = ws.cell(row=r, column=col)
            if isinstance(value, str):
                # set the value and force the string type, so openpyxl never treats "=..." as a formula
                cell._value, cell.data_type = value, TYPE_STRING
            else:
                cell.value = value
            if columns[col - 1] in money_columns and isinstance(value, (int, float)):
                cell.number_format = MONEY_FORMAT
            elif isinstance(value, (date, datetime)):
                cell.number_format = DATE_FORMAT
            widths[col - 1] = max(widths[col - 1], min(len(str(value)) if value is not None else 0, 60))
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = max(10, width + 2)
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    wb.save(path)
