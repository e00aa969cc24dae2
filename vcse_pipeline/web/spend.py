"""Local spend (issue 17, docs/spend.md): how much of the council's money stays local under each definition, against
the target, over time, by supplier type and expense area; the top suppliers (the CLES view) with downloads; coverage;
and the expense areas where local VCSEs could win more, with links to their profiles.

`vcse spend` writes spend.duckdb in place (spend/run.py), holding DuckDB's file lock for the whole run, and a reader
holding the file open would make that run fail. So the page reads it as the register and the feed are read
(register.PublishedReader): a private working copy (the views as tables), taken once when the file changes (its
size or modification time) with the file attached only for the copy, then served to every request. While a run
writes, the copy cannot be taken: the page keeps serving the figures it has, or with none yet says they are being
updated (503), never a 500. With no spend database, one without measures yet, or one holding no payments (every
file removed), the page says how to create the figures, and the downloads and the chart are 404s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from ..errors import PipelineError
from .exports import FORMATS, table_download
from .register import (
    SOURCE,
    PublishedReader,
    RegisterInfo,
    RegisterView,
    copy_database,
    current_register,
    fetch_dicts,
    held_by_writer,
    materialise_views,
)
from .render import render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

TOP_SUPPLIERS_SHOWN = 25
BIGGEST_UNRESOLVED_SHOWN = 10
TOP_SUPPLIERS = "Top suppliers"   # the report's table (spend/report.py TABLES): the page's download is the same
# spend/report.py (the chart and the download's columns) is imported when first used: it loads matplotlib, which
# the app's start need not wait for.
_DRAWING = threading.Lock()


class SpendUnavailable(PipelineError):
    """No local spend figures to read: no spend database, one without measures yet, or one a run is writing."""

    @property
    def busy(self) -> bool:
        return held_by_writer(str(self))


class SpendReader(PublishedReader):
    """Cursors on a working copy of the spend database, taken again whenever the file changes."""

    unavailable = SpendUnavailable
    what = "spend database"

    def _missing(self) -> str:
        return f"no spend database at {self.path} yet: load the council's payments with `vcse spend`"

    def _build(self, builder: duckdb.DuckDBPyConnection) -> None:
        copy_database(builder, self.path, _check_spend)
        materialise_views(builder)
        builder.execute("CHECKPOINT")

    def _info(self, con: duckdb.DuckDBPyConnection) -> RegisterInfo:
        """What the figures were read from (exports are stamped with it): the file, and when a file was last loaded."""
        loaded = con.execute("SELECT max(loaded_at) FROM spend_file").fetchone()[0]
        return RegisterInfo(self.path.name, loaded.isoformat(timespec="seconds") if loaded else None, None)


def _check_spend(builder: duckdb.DuckDBPyConnection, published: Path) -> None:
    views = {r[0] for r in builder.execute("SELECT view_name FROM duckdb_views() WHERE database_name = ?",
                                           [SOURCE]).fetchall()}
    if "spend_local_share" not in views:
        raise SpendUnavailable(f"{published} has no measures yet: run `vcse spend FILES...`")
    # Every file taken out (`vcse spend --remove`): measures of nothing, which would read as figures ("From 0 payment
    # lines paid between and", empty tables, an empty chart and downloads). No figures, as with no database.
    if builder.execute(f"SELECT count(*) FROM {SOURCE}.spend_line").fetchone()[0] == 0:
        raise SpendUnavailable(f"{published} holds no payments (every file was removed): run `vcse spend FILES...`")


@dataclass
class SpendState:
    """The spend figures for one request: a cursor on them and what they were read from, or why there are none."""

    path: Path
    con: duckdb.DuckDBPyConnection | None = None
    info: RegisterInfo | None = None
    busy: bool = False
    memo: dict = field(default_factory=dict)   # what is drawn once per version of the figures (the chart)


def current_spend(request: Request) -> Iterator[SpendState]:
    """FastAPI dependency: the current spend figures, or the reason there are none (the page says it)."""
    reader: SpendReader = request.app.state.spend
    with ExitStack() as stack:
        try:
            view = stack.enter_context(reader.view())
        except SpendUnavailable as exc:
            log.info("no local spend figures to show: %s", exc)
            yield SpendState(reader.path, busy=exc.busy)
            return
        yield SpendState(reader.path, view.cursor, view.info, memo=view.memo)


# ---------------------------------------------------------------------------------------------- queries

# Every definition by financial year, as the report's "By financial year" table has them, in the local share
# table's order and with its labels; the with-tier-2 row (district_tier2) only when tier-2 spend was declared.
BY_YEAR_SQL = """
    SELECT p.period, p.definition, s.label, p.scope_amount, p.local_amount, p.local_share, p.target_share
    FROM spend_share_by_period p JOIN spend_local_share s USING (definition)
    WHERE p.period_type = 'financial_year' AND (p.definition <> 'district_tier2' OR ?)
    ORDER BY p.period, CASE p.definition WHEN 'district' THEN 1 WHEN 'wider_area' THEN 2 WHEN 'region' THEN 3
                                         ELSE 4 END"""

# The first top suppliers, each with where it is based named as the local share table names it ("Wirral", "Liverpool
# City Region", "North West": the definition's label), not by the definition's key ("district", "wider area",
# "region"), which the page does not define; "elsewhere" and "not known" are kept.
TOP_SQL = """
    SELECT t.*, s.label AS based_label
    FROM spend_top_suppliers t LEFT JOIN spend_local_share s ON s.definition = replace(t.based, ' ', '_')
    ORDER BY t.rank LIMIT ?"""


def spend_figures(con: duckdb.DuckDBPyConnection) -> dict:
    """Every figure the page shows, straight from the spend views (docs/data-dictionary.md). With no tier-2 spend
    declared ([spend] tier2_file), the "with declared tier-2 spend" rows, the district's figures again, are left
    out; with some, every declared row not counted in full (spend_tier2_check: capped or ignored) and why."""
    declared = con.execute("SELECT count(*) FROM spend_tier2").fetchone()[0] > 0
    return {
        "shares": fetch_dicts(con, "SELECT * FROM spend_local_share WHERE definition <> 'district_tier2' OR ?",
                              [declared]),
        "by_year": fetch_dicts(con, BY_YEAR_SQL, [declared]),
        "tier2": fetch_dicts(con, """SELECT count(*) AS rows, sum(local_amount) AS declared_amount,
                                            sum(counted_amount) AS counted_amount,
                                            string_agg(DISTINCT file, ', ' ORDER BY file) AS files
                                     FROM spend_tier2_check""", [])[0] if declared else None,
        "tier2_not_counted": fetch_dicts(con, """SELECT supplier, financial_year, local_amount, counted_amount, status,
                                                        reason
                                                 FROM spend_tier2_check WHERE status <> 'counted'
                                                 ORDER BY file, row_number""", []),
        "by_quarter": fetch_dicts(con, """SELECT period, scope_amount, local_amount, local_share, target_share
                                          FROM spend_share_by_period WHERE period_type = 'quarter'
                                          AND definition = 'district' ORDER BY period""", []),
        "by_size": fetch_dicts(con, "SELECT * FROM spend_by_size_class", []),
        "by_area": fetch_dicts(con, "SELECT * FROM spend_by_expense_area", []),
        "top": fetch_dicts(con, TOP_SQL, [TOP_SUPPLIERS_SHOWN]),
        "top_count": con.execute("SELECT count(*) FROM spend_top_suppliers").fetchone()[0],
        "coverage": fetch_dicts(con, "SELECT * FROM spend_coverage", []),
        "unresolved": fetch_dicts(con, """SELECT supplier_name, supplier_id, status, amount, line_count
                                          FROM spend_review ORDER BY amount DESC, supplier_name LIMIT ?""",
                                  [BIGGEST_UNRESOLVED_SHOWN]),
        "opportunities": fetch_dicts(con, "SELECT * FROM spend_opportunity", []),
        "lines": dict(zip(("count", "first", "last"), con.execute(
            "SELECT count(*), min(payment_date), max(payment_date) FROM spend_line").fetchone(), strict=True)),
    }


def link_providers(register: duckdb.DuckDBPyConnection, opportunities: list[dict]) -> None:
    """Each opportunity's providers (names, as spend_opportunity keeps them) with their profile in the register: the
    active provider of that name working in the service area (by name alone when the register has changed since)."""
    for opp in opportunities:
        names = list(opp["providers"] or [])
        found = fetch_dicts(register, """
            SELECT name, area_code, org_id, list_contains(service_areas, ?) AS in_service
            FROM provider_directory WHERE name IN (SELECT unnest(?::VARCHAR[]))
            ORDER BY in_service DESC, based_in_area DESC, org_id""", [opp["service_area"], names])
        first = {}
        for row in found:
            first.setdefault(row["name"], row)
        opp["provider_links"] = [{"name": n, "href": f"/organisations/{first[n]['area_code']}/{first[n]['org_id']}"
                                  if n in first else None} for n in names]


# ---------------------------------------------------------------------------------------------- pages

def _unavailable(request: Request, state: SpendState, register: RegisterView) -> Response:
    if state.busy:
        return render(request, "spend.html", {"title": "Local spend", "busy": True}, register=register.info,
                      status=503)
    return render(request, "spend.html", {"title": "Local spend", "missing": True, "path": state.path},
                  register=register.info)


def _no_figures(state: SpendState) -> None:
    """A download or chart asked for while there are no figures to read: the reason, as an error page."""
    if state.busy:
        raise HTTPException(503, "The local spend figures are being updated. Try again in a few minutes.")
    raise HTTPException(404, "There are no local spend figures yet: load the council's payments with `vcse spend`.")


@router.get("/spend", response_class=HTMLResponse)
def spend_page(request: Request, state: SpendState = Depends(current_spend),
               register: RegisterView = Depends(current_register)):
    if state.con is None:
        return _unavailable(request, state, register)
    figures = spend_figures(state.con)
    link_providers(register.cursor, figures["opportunities"])
    return render(request, "spend.html", {"title": "Local spend", **figures, "spend": state.info},
                  register=register.info)


@router.get("/spend/share-chart.svg")
def share_chart_svg(state: SpendState = Depends(current_spend)) -> Response:
    """The local share by month against the target, drawn as the spend report draws it (an image: no JavaScript)."""
    if state.con is None:
        _no_figures(state)
    from ..spend.report import share_chart

    with _DRAWING:   # pyplot's figures are global state: one drawing at a time
        if "share_chart" not in state.memo:   # a version never changes: draw its chart once
            state.memo["share_chart"] = share_chart(state.con)
    return Response(state.memo["share_chart"], media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.get("/spend/top-suppliers.{fmt}")
def top_suppliers_download(fmt: str, state: SpendState = Depends(current_spend)) -> Response:
    """All the top suppliers (the CLES view, [spend] top_suppliers of them) as CSV or Excel, the report's columns."""
    if fmt not in FORMATS:
        raise HTTPException(404, "Downloads are CSV or Excel (.csv or .xlsx).")
    if state.con is None:
        _no_figures(state)
    from ..spend.report import TABLES

    sql, money = TABLES[TOP_SUPPLIERS]
    cursor = state.con.execute(f"{sql} ORDER BY rank")
    columns = [d[0] for d in cursor.description]
    return table_download(fmt, columns, cursor.fetchall(), search="local spend: top suppliers", register=state.info,
                          stem="top-suppliers", sheet_title=TOP_SUPPLIERS, money_columns=money)
