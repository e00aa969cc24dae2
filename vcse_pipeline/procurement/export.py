"""Write result rows to CSV or Excel so every cell is safe to open in a spreadsheet.

A cell that starts with = + - @ tab or carriage return could be run as a formula (CSV injection), so it is
prefixed with a single quote as OWASP recommends; in Excel every text cell is also written as a string,
never a formula.

`write_table` is the one way a command writes a result file: the format from --format or the file's extension,
the folder created, CSV with a byte-order mark or a real Excel workbook.
"""

from __future__ import annotations

import csv
import enum
import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..errors import PipelineError
from .ocds import region_label

if TYPE_CHECKING:  # the shortlist's types; opportunities.py does not import this module at run time
    from .opportunities import NoticeSummary, ProviderMatch

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


def csv_value(value, money: bool | str = False):
    """A CSV cell: money in whole pounds (5640, not 5640.0), or with `money="pence"` to the penny as the workbook
    holds it (a notice value of 71220.31, a nominal 0.01; whole pounds still 5640), true/false, dates yyyy-mm-dd,
    text neutralised."""
    if value is None or (isinstance(value, float) and value != value):   # None or NaN: an empty cell
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if money == "pence" and isinstance(value, (int, float)):
        pence = round(value, 2)
        return int(pence) if pence == int(pence) else pence
    if money and isinstance(value, (int, float)):
        return round(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return cell_value(value)


def write_csv(columns: Sequence[str], rows: Sequence[Sequence], path: Path, *,
              money_columns: Sequence[str] = (), pence_columns: Sequence[str] = ()) -> None:
    with Path(path).open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel then reads UTF-8
        write_csv_rows(fh, columns, rows, money_columns=money_columns, pence_columns=pence_columns)


def write_csv_rows(fh: IO[str], columns: Sequence[str], rows: Sequence[Sequence], *,
                   money_columns: Sequence[str] = (), pence_columns: Sequence[str] = (),
                   lineterminator: str = "\r\n") -> None:
    """CSV to an open text stream (a file, or standard output) with formula-safe cells: money_columns in whole
    pounds, pence_columns (money as published: a notice's value) to the penny."""
    money = ["pence" if c in pence_columns else c in money_columns for c in columns]
    # csv quotes a field only when it holds a character of the writer's line terminator, so with "\n" a cell
    # holding a bare "\r" went out unquoted and a reader split it there ("\r=1+1" read back as a formula).
    # The writer always ends rows with "\r\n" (quoting both), and each row's ending is then swapped.
    row_text = io.StringIO()
    writer = csv.writer(row_text, lineterminator="\r\n")

    def put(cells: list) -> None:
        writer.writerow(cells)
        fh.write(row_text.getvalue()[:-2] + lineterminator)
        row_text.seek(0)
        row_text.truncate()

    put([safe_text(str(c)) for c in columns])
    for row in rows:
        put([csv_value(v, m) for v, m in zip(row, money, strict=True)])


def write_xlsx(columns: Sequence[str], rows: Sequence[Sequence], path: Path | IO[bytes], *,
               sheet_title: str = "Providers", money_columns: Sequence[str] = (),
               headers: Mapping[str, str] | None = None, provenance: Sequence[tuple[str, str]] = ()) -> None:
    """An Excel workbook: bold filled header, frozen, auto-filtered, sized columns, money and date formats.

    With `headers` (column name -> heading for people) the sheet shows those headings, true/false as Yes/No,
    and a second sheet "Columns" lists each heading beside its column name (as in CSV and the data dictionary).
    `provenance` (label, value) pairs go on a last sheet "About this list": the search and register version a list
    came from (the web app's exports), so a file passed on still says what it is.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F4E79")
    shown = [headers.get(c, c) for c in columns] if headers else list(columns)
    for col, name in enumerate(shown, start=1):
        cell = ws.cell(row=1, column=col, value=safe_text(str(name)))
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    widths = [len(str(c)) for c in shown]
    for r, row in enumerate(rows, start=2):
        for col, raw in enumerate(row, start=1):
            if isinstance(raw, float) and raw != raw:   # NaN from pandas: an empty cell
                raw = None
            value = ("Yes" if raw else "No") if headers and isinstance(raw, bool) else cell_value(raw)
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
    if headers:
        about = wb.create_sheet("Columns")
        about.append(["Heading", "Column name (CSV, data dictionary)"])
        for heading, name in zip(shown, columns, strict=True):
            about.append([safe_text(str(heading)), safe_text(str(name))])
        for cell in about[1]:
            cell.font, cell.fill = header_font, header_fill
        about.column_dimensions["A"].width = max(12, *(len(h) + 2 for h in shown))
        about.column_dimensions["B"].width = max(36, *(len(str(c)) + 2 for c in columns))
    if provenance:
        stamp = wb.create_sheet("About this list")
        for label, value in provenance:
            stamp.append([safe_text(str(label)), cell_value(value)])
            stamp.cell(row=stamp.max_row, column=1).font = Font(bold=True)
        stamp.column_dimensions["A"].width = max(12, *(len(str(label)) + 2 for label, _ in provenance))
        stamp.column_dimensions["B"].width = 80
    wb.save(path)


# Excel headings for people (provider_directory columns as find and opportunities export them); CSV keeps the
# column names of the data dictionary.
EXCEL_HEADINGS = {
    "name": "Provider", "based": "Where", "legal_form": "Legal form", "ward_name": "Ward", "ward_code": "Ward code",
    "imd_decile": "Deprivation decile (1 = most deprived)", "postcode": "Postcode",
    "latest_financial_year_end": "Financial year end", "other_names": "Other names",
    "date_registered": "Registered on", "service_areas": "Service areas", "latest_income": "Latest income",
    "latest_expenditure": "Latest expenditure", "readiness_level": "Readiness",
    "readiness_reasons": "Readiness reasons",
    "employees": "Employees", "volunteers": "Volunteers", "website": "Website", "email": "Email", "phone": "Phone",
    "org_id": "Org ID", "identifiers": "Identifiers", "based_in_area": "Based in area",
    "postcode_terminated": "Postcode discontinued", "area_basis": "Why in the area", "area_code": "Area code",
    "address": "Address", "charity_commission_url": "Charity Commission page",
    "companies_house_url": "Companies House page", "fca_mutuals_url": "FCA Mutuals page",
    "distance_km": "Distance (km)", "relevance": "Keyword fit",
}


def excel_headings(columns) -> dict[str, str]:
    """A heading for every column; one not in EXCEL_HEADINGS reads as its name in words ("notice_id" -> "Notice id")."""
    return {c: EXCEL_HEADINGS.get(c, str(c).replace("_", " ").capitalize()) for c in columns}



# -- choosing the format and the file: one rule for find, match, tag and opportunities ---------------------------

class TableFormat(enum.StrEnum):
    """The file formats write_table writes, as a --format choice (match, tag)."""

    csv = "csv"
    xlsx = "xlsx"


TABLE_FORMATS = tuple(TableFormat)
SCREEN = "table"   # --format table: on screen (find, opportunities), never a file


def _format_name(fmt) -> str | None:
    return None if fmt is None else str(getattr(fmt, "value", fmt)).lower()


def output_format(output: Path | None, fmt: str | None = None, formats: Sequence[str] = TABLE_FORMATS) -> str | None:
    """The format to write: --format when given, else the --output file's extension (.csv, .xlsx, ...).

    None when neither is given (the command prints on screen). A --format that is not a file format (e.g. "table")
    with --output, an unknown extension, or an extension that contradicts --format is a PipelineError.
    """
    fmt = _format_name(fmt)
    if output is None:
        return fmt
    _not_a_folder(Path(output), f"results.{formats[0]}")
    by_extension = {f".{f}": f for f in formats}
    names = " or ".join(by_extension)
    if fmt is not None and fmt not in formats:
        raise PipelineError(f"--format {fmt} is shown on screen and cannot be written to --output {output}; "
                            f"use --format {' or '.join(formats)} (or leave out --format and name the file {names})")
    suffix = Path(output).suffix.lower()
    from_name = by_extension.get(suffix)
    if from_name is None:
        wanted = f"{Path(output).stem or 'output'}.{fmt or formats[0]}"
        problem = f"unknown extension {suffix}" if suffix else "no file extension"
        raise PipelineError(f"--output {output}: {problem}; "
                            f"name the file {names} (e.g. {wanted}) so the format is clear")
    if fmt is not None and fmt != from_name:
        raise PipelineError(f"--output {output} is named {suffix} but --format is {fmt}; "
                            f"name it {Path(output).stem}.{fmt} or use --format {from_name}")
    return from_name


def check_table_output(output: Path | None, fmt, *, formats: Sequence[str] = TABLE_FORMATS,
                       example: str = "results") -> str | None:
    """Checked before any work: the format to write, or None for a table on screen (no --format, or "table",
    without --output). Without --output csv (and json, where offered) goes to standard output; Excel cannot, so
    --format xlsx without --output is a PipelineError (e.g. -o `example`.xlsx)."""
    fmt = _format_name(fmt)
    if output is not None:
        return output_format(output, fmt, formats)
    if fmt == "xlsx":
        raise PipelineError(f"--format xlsx needs --output FILE.xlsx (e.g. -o {example}.xlsx): Excel cannot go to "
                            "standard output")
    return None if fmt in (None, SCREEN) else fmt


def _not_a_folder(path: Path, example: str = "results.csv") -> Path:
    if path.is_dir():
        raise PipelineError(f"--output {path} is a folder; give a file name inside it, e.g. {path / example}")
    return path


def prepare_output(path: Path) -> Path:
    """The output file's folder created (with its parents); a PipelineError when the path is a folder."""
    path = _not_a_folder(Path(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:   # a file where a folder should be, or no permission
        raise PipelineError(f"cannot create the folder {path.parent} for --output {path}: "
                            f"{exc.strerror or exc}") from None
    return path


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """A failed write as a PipelineError naming the file (a workbook open in Excel is locked on Windows)."""
    try:
        yield
    except PermissionError as exc:
        raise PipelineError(f"cannot write {path}: {exc.strerror} (is it open in Excel?)") from None
    except OSError as exc:
        raise PipelineError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_table(columns: Sequence[str], rows: Sequence[Sequence], path: Path, fmt: str | None = None, *,
                sheet_title: str = "Results", money_columns: Sequence[str] = (),
                headers: Mapping[str, str] | None = None, pence_columns: Sequence[str] = ()) -> str:
    """Write a result table to `path` as CSV or Excel; returns the format used ("csv" or "xlsx").

    The format is `fmt` (--format) or else the file's extension (see output_format); the folder is created. Every
    cell is formula-safe. `headers` (column -> heading) is used in Excel only: CSV keeps the column names. Money
    columns are money-formatted in Excel; in CSV money_columns are whole pounds, pence_columns to the penny.
    """
    fmt = output_format(path, fmt)
    prepare_output(path)
    with _writing(path):
        if fmt == "csv":
            write_csv(columns, rows, path, money_columns=money_columns, pence_columns=pence_columns)
        else:
            write_xlsx(columns, rows, path, sheet_title=sheet_title, money_columns=[*money_columns, *pence_columns],
                       headers=headers)
    return fmt


def write_text_file(path: Path, text: str) -> None:
    """A text file (opportunities' JSON) written as write_table writes: folder created, failures named."""
    prepare_output(path)
    with _writing(path):
        Path(path).write_text(text, encoding="utf-8")


def emit_table(columns: Sequence[str], rows: Sequence[Sequence], output: Path | None, fmt, *,
               sheet_title: str = "Results", money_columns: Sequence[str] = (),
               headers: Mapping[str, str] | None = None, pence_columns: Sequence[str] = ()) -> str:
    """The one way find, match, tag and opportunities hand over a result table: to --output (write_table), or
    as CSV to standard output when there is no --output (for piping; the command's messages go to standard
    error). Returns the format written. --format xlsx without --output is a PipelineError (check_table_output,
    which a command also calls before its work)."""
    fmt = check_table_output(output, fmt, example=sheet_title.lower())
    if output is not None:
        return write_table(columns, rows, output, fmt, sheet_title=sheet_title, money_columns=money_columns,
                           headers=headers, pence_columns=pence_columns)
    if fmt != "csv":
        raise ValueError(f"emit_table: nothing to write for --format {fmt} without --output (a table on screen)")
    write_csv_rows(sys.stdout, columns, rows, money_columns=money_columns, pence_columns=pence_columns,
                   lineterminator="\n")
    return fmt


def frame_table(frame) -> tuple[list[str], list[list]]:
    """A pandas DataFrame as emit_table's columns and rows (missing values as empty cells)."""
    from ..tabular_io import frame_rows

    return [str(c) for c in frame.columns], frame_rows(frame)


# -- the opportunities shortlist as a table --------------------------------------------------------------------

# The shortlist as a table for CSV and Excel: service areas by label (as vcse find exports), reasons in full; the
# fit beside the score, as the list is ordered by fit first (docs/procurement.md).
SHORTLIST_COLUMNS = ["rank", "score", "fit", "name", "legal_form", "ward_name", "service_areas", "service_fit",
                     "location_fit", "size_fit", "readiness_level", "latest_income", "reasons", "website", "email",
                     "phone", "org_id", "area_code", "notice_id", "notice_stage", "notice_warning"]
SHORTLIST_MONEY_COLUMNS = ["latest_income"]
# Excel headings for people (CSV keeps the column names); the provider columns read as in vcse find's Excel.
SHORTLIST_HEADINGS = {"rank": "Rank", "score": "Score", "fit": "Fit", "service_fit": "Service fit",
                      "location_fit": "Location fit", "size_fit": "Size fit", "reasons": "Reasons",
                      "notice_id": "Notice ID", "notice_stage": "Notice stage", "notice_warning": "Notice warning"}


def shortlist_headings() -> dict[str, str]:
    return {**excel_headings(SHORTLIST_COLUMNS), **SHORTLIST_HEADINGS}


def shortlist_rows(matches: list[ProviderMatch], notice: NoticeSummary) -> list[list]:
    """One row per provider in SHORTLIST_COLUMNS order; each row names the notice, its phase and the phase's warning
    (deadline passed, an award...), so a file that travels on its own still says whether the opportunity was open."""
    rows = []
    for rank, m in enumerate(matches, start=1):
        d = m.as_dict()
        d.update(rank=rank, service_areas=m.service_area_labels or m.service_areas, notice_id=notice.release_id,
                 notice_stage=notice.phase, notice_warning=notice.warning)
        rows.append([d[c] for c in SHORTLIST_COLUMNS])
    return rows


# The notices in a file (vcse opportunities list) as a table.
RELEASE_COLUMNS = ["id", "ocid", "title", "buyer", "stage", "tender_status", "deadline", "tender_expected",
                   "regions", "suitable_for_vcse", "value", "warning"]
RELEASE_HEADINGS = {"id": "Release ID", "ocid": "OCID", "title": "Title", "buyer": "Buyer", "stage": "Stage",
                    "tender_status": "Tender status", "deadline": "Deadline", "tender_expected": "Tender expected",
                    "regions": "Delivery regions", "suitable_for_vcse": "Suitable for VCSEs", "value": "Value",
                    "warning": "Note"}


def release_rows(releases: list[dict]) -> list[list]:
    """The releases (ocds.list_releases) in RELEASE_COLUMNS order for CSV and Excel, NUTS/ITL region codes with
    their names."""
    return [[[region_label(x) for x in r["regions"]] if c == "regions" else r[c] for c in RELEASE_COLUMNS]
            for r in releases]
