"""Any list on the site as a CSV or Excel download, stamped with what it is: the search that made it, the register
version it was read from and that version's publish date.

The cells are those of the CLI's exports (procurement.export: formula-safe text, money in whole pounds, Excel
headings for people). Excel carries the stamp on a last sheet, "About this list"; a CSV has one table only, so
each row carries it in three last columns (search, register_version, register_published_at), which also keeps
rows traceable once copied into another sheet.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.responses import Response

from ..procurement.export import excel_headings, write_csv_rows, write_xlsx
from .register import RegisterInfo

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
STAMP_COLUMNS = ("search", "register_version", "register_published_at")
STAMP_HEADINGS = {"search": "Search", "register_version": "Register version",
                  "register_published_at": "Register published"}


def provenance(search: str, register: RegisterInfo, count: int, what: str) -> list[tuple[str, str]]:
    return [("List", what), ("Search", search), ("Rows", f"{count:,}"), ("Register version", register.version),
            ("Register published", register.published_at or "not recorded"),
            ("Exported", datetime.now(UTC).isoformat(timespec="seconds")),
            ("Note", "Read from the VCSE register's published version named above; open data from the Charity "
                     "Commission, Companies House, the FCA Mutuals Register, ONS and UKCAT.")]


def file_name(stem: str, register: RegisterInfo, fmt: str) -> str:
    """"providers-20261203.xlsx": the list and its register's publish date (or version), safe in a header."""
    stamp = re.sub(r"[^0-9]", "", register.published_at or "")[:8] or re.sub(r"[^A-Za-z0-9]+", "-",
                                                                               register.version)[:40]
    return f"{re.sub(r'[^a-z0-9-]+', '-', stem.lower()).strip('-') or 'list'}-{stamp}.{fmt}"


def table_download(fmt: str, columns: Sequence[str], rows: Sequence[Sequence], *, search: str,
                   register: RegisterInfo, stem: str, sheet_title: str, money_columns: Sequence[str] = (),
                   headings: dict[str, str] | None = None) -> Response:
    """The table as a CSV or Excel attachment, stamped (see the module's docstring)."""
    if fmt == "csv":
        text = io.StringIO()
        text.write("\ufeff")   # a byte-order mark, as the CLI writes: Excel then reads the file as UTF-8
        stamp = [search, register.version, register.published_at]
        write_csv_rows(text, [*columns, *STAMP_COLUMNS], [[*row, *stamp] for row in rows],
                       money_columns=money_columns)
        body = text.getvalue().encode("utf-8")
    else:
        buffer = io.BytesIO()
        write_xlsx(columns, rows, buffer, sheet_title=sheet_title, money_columns=money_columns,
                   headers=headings or excel_headings(columns),
                   provenance=provenance(search, register, len(rows), sheet_title))
        body = buffer.getvalue()
    name = file_name(stem, register, fmt)
    return Response(body, media_type=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
