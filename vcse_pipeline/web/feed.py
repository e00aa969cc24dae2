"""The published opportunity feed (docs/feed.md), read-only, for the web app: its latest notices, a notice's stored
shortlist and a provider's "opportunities for you".

The feed is published like the register, by os.replace of opportunity_feed.duckdb beside it, so it is read the same
way (register.PublishedReader): a working copy per version, switched to when the file is replaced, requests that
started on the old version finishing on it. The shortlists are the feed's as stored when the notice was matched:
nothing is scored again on request. With no feed published the pages say so (FeedUnavailable is caught, never a
503: the register's pages still work).

Each notice carries its warning (an award, a cancelled tender, a deadline or expected tender date passed) as of the
request, worked out from its compiled releases by the function the digest and `vcse opportunities feed` use
(procurement.feed.digest, ocds.notice_phase), so the web pages, the digest and the screen never disagree about
which notices are open. Its deadline (and a planning notice's expected tender date) is shown as officers read it, as
`vcse opportunities` shows it: the day and the time in UK time (when_text), never the bare day of a date-time in
whatever offset the notice gave, and "(passed)" when that moment has passed (ocds.passed), whatever the warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack

import duckdb
from fastapi import Request

from ..errors import PipelineError
from ..procurement.feed.digest import stored_warning as notice_warning
from ..procurement.feed.store import FEED_TABLES
from ..procurement.ocds import UK_TIME, as_datetime, passed
from .register import SOURCE, PublishedReader, RegisterInfo, RegisterView, copy_database, fetch_dicts
from .render import day

log = logging.getLogger(__name__)


class FeedUnavailable(PipelineError):
    """No usable published feed (none yet, or not a feed file)."""


class FeedReader(PublishedReader):
    """Cursors on the current version of the published opportunity feed."""

    unavailable = FeedUnavailable
    what = "opportunity feed"

    def _missing(self) -> str:
        return (f"no opportunity feed at {self.path} yet: run `vcse opportunities harvest` "
                "(or the vcse_opportunity_feed DAG)")

    def _build(self, builder: duckdb.DuckDBPyConnection) -> None:
        copy_database(builder, self.path, _check_feed)

    def _info(self, con: duckdb.DuckDBPyConnection) -> RegisterInfo:
        """The feed named by its file and last finished run (what its exports are stamped with)."""
        row = con.execute("SELECT run_id, finished_at FROM feed_run WHERE finished_at IS NOT NULL "
                          "ORDER BY finished_at DESC, run_id DESC LIMIT 1").fetchone()
        if row is None:
            return RegisterInfo(self.path.name, None, None)
        return RegisterInfo(f"{self.path.name} (run {row[0]})", str(row[1]), row[0])


def _check_feed(builder: duckdb.DuckDBPyConnection, published) -> None:
    tables = {r[0] for r in builder.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                            [SOURCE]).fetchall()}
    missing = [t for t in FEED_TABLES if t not in tables]
    if missing:
        raise FeedUnavailable(f"{published} is not an opportunity feed (it has no {', '.join(missing)})")


def current_feed(request: Request) -> Iterator[RegisterView | None]:
    """FastAPI dependency: the current feed version, or None when there is none to read (the page says so); released
    after the request."""
    with ExitStack() as stack:
        try:
            view = stack.enter_context(request.app.state.feed.view())
        except FeedUnavailable as exc:
            log.info("no opportunity feed to show: %s", exc)
            view = None
        yield view


# ---------------------------------------------------------------------------------------------- queries

NOTICE_FIELDS = """n.ocid, n.release_id, n.service, n.title, n.description, n.buyer_name, n.stage, n.tender_status,
    n.deadline, n.tender_expected, n.value, n.suitable_for_vcse, n.release_count, n.updated_at, a.kept_reasons,
    a.location, a.location_reason, a.providers_matched, a.matched_at, n.compiled"""


def when_text(text: str | None) -> str:
    """An OCDS date-time as an officer reads it, in UK time with its time of day (GOV.UK style): '2025-07-01T11:30:00Z'
    -> '1 July 2025, 12:30pm (UK time)', 12:00 'midday', 00:00 'midnight at the start of the day' (so a deadline of
    midnight is not read as lasting that whole day); a bare date as its day; '' when absent."""
    when = as_datetime(text)
    if when is None:
        return str(text or "")
    if len(str(text).strip()) == 10:   # a bare date: the day, lasting to its end (ocds.passed)
        return day(when.date())
    when = when.astimezone(UK_TIME)
    if (when.hour, when.minute) == (12, 0):
        clock = "midday"
    elif (when.hour, when.minute) == (0, 0):
        clock = "midnight at the start of the day"
    else:
        minutes = f":{when.minute:02d}" if when.minute else ""
        clock = f"{(when.hour - 1) % 12 + 1}{minutes}{'am' if when.hour < 12 else 'pm'}"
    return f"{day(when)}, {clock} (UK time)"


def _with_warnings(rows: list[dict]) -> list[dict]:
    """The rows, each with its notice's warning as of now in place of its compiled releases (None: open), and its
    deadline and expected tender date in words (when_text) with whether each has passed as of now."""
    for row in rows:
        row["warning"] = notice_warning(row.pop("compiled"), None)
        for key in ("deadline", "tender_expected"):
            if key in row:
                row[f"{key}_text"] = when_text(row[key])
                row[f"{key}_passed"] = passed(row[key])
    return rows


def count_notices(con: duckdb.DuckDBPyConnection, area_code: str) -> int:
    return con.execute("SELECT count(*) FROM feed_notice_area WHERE area_code = ? AND kept",
                       [area_code]).fetchone()[0]


def latest_notices(con: duckdb.DuckDBPyConnection, area_code: str, limit: int, offset: int = 0) -> list[dict]:
    """The area's kept notices, latest changed first (the digest's order), one page of them, with their warnings."""
    return _with_warnings(fetch_dicts(
        con, f"""SELECT {NOTICE_FIELDS} FROM feed_notice n JOIN feed_notice_area a USING (ocid)
                 WHERE a.area_code = ? AND a.kept
                 ORDER BY n.updated_at DESC, n.release_date DESC, n.ocid LIMIT ? OFFSET ?""",
        [area_code, limit, offset]))


# The services the feed harvests (procurement/feed/harvest.py), by the names officers know them by.
SERVICE_NAMES = {"find_a_tender": "Find a Tender", "contracts_finder": "Contracts Finder"}


def notice(con: duckdb.DuckDBPyConnection, area_code: str, ocid: str) -> dict | None:
    """A kept notice of the area with its CPV codes, its warning and the service it came from by name, or None."""
    found = fetch_dicts(con, f"""SELECT {NOTICE_FIELDS},
                                   (SELECT list(c.cpv_code ORDER BY c.position) FROM feed_notice_cpv c
                                    WHERE c.ocid = n.ocid) AS cpv_codes
                                 FROM feed_notice n JOIN feed_notice_area a USING (ocid)
                                 WHERE a.area_code = ? AND a.kept AND n.ocid = ?""", [area_code, ocid])
    if not found:
        return None
    row = _with_warnings(found)[0]
    row["service_name"] = SERVICE_NAMES.get(row["service"], row["service"])
    return row


# The stored shortlist in the upload's export columns (procurement.export.SHORTLIST_COLUMNS), so a feed notice's
# file reads like a shortlist made from an uploaded notice. The feed stores no fit: left empty. The notice's warning
# is worked out as of now (stored_shortlist), as on the page.
SHORTLIST_SQL = """
    SELECT s.rank, s.score, NULL::INTEGER AS fit, s.name, s.legal_form, s.ward_name, s.service_areas, s.service_fit,
           s.location_fit, s.size_fit, s.readiness_level, s.latest_income, s.reasons, s.website, s.email, s.phone,
           s.org_id, s.area_code, n.release_id AS notice_id, n.stage AS notice_stage, n.compiled
    FROM feed_shortlist s JOIN feed_notice n USING (ocid)
    WHERE s.area_code = ? AND s.ocid = ? ORDER BY s.rank"""


def stored_shortlist(con: duckdb.DuckDBPyConnection, area_code: str, ocid: str) -> list[dict]:
    """The providers the feed matched to the notice when it was processed, by rank, with their reasons and the
    notice's warning (notice_warning)."""
    rows = fetch_dicts(con, SHORTLIST_SQL, [area_code, ocid])
    warning = notice_warning(rows[0]["compiled"], None) if rows else None
    for row in rows:
        del row["compiled"]
        row["notice_warning"] = warning
    return rows


def provider_notices(con: duckdb.DuckDBPyConnection, area_code: str, org_id: str) -> list[dict]:
    """The kept notices the feed shortlisted the provider for, best score first (the provider_opportunity view),
    each with its warning."""
    return _with_warnings(fetch_dicts(
        con, """SELECT p.ocid, p.title, p.buyer_name, p.stage, p.deadline, p.value, p.rank, p.score, p.reasons,
                       n.compiled
                FROM provider_opportunity p JOIN feed_notice n USING (ocid) WHERE p.area_code = ? AND p.org_id = ?
                ORDER BY p.score DESC, p.updated_at DESC, p.ocid""", [area_code, org_id]))
