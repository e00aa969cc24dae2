"""Deliver the feed: the daily digest for officers (new notices kept for the area, each with its top providers, as an
HTML file and by email through the [alerts] SMTP connection) and, for each provider, the notices it was shortlisted
for ("opportunities for you"), as a table for CSV or Excel (export.write_table: every cell formula-safe).

Each notice carries its ocds.notice_phase warning as of the day shown (an award, a cancelled tender, a deadline or
expected tender date already passed): the digest lists those notices apart, after the open ones, and the screen and
the table say why, so a shortlist for a contract already let is never taken for an open opportunity."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ...config import Config
from ...lookups import area_name
from ..ocds import notice_phase, planning_milestone, region_label, value_text

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# A notice with its top providers: the columns the digest and `vcse opportunities feed` show.
_NOTICE_SQL = """
    SELECT n.ocid, n.release_id, n.service, n.title, n.buyer_name, n.stage, n.tender_status, n.deadline,
           n.tender_expected, n.value, n.suitable_for_vcse, n.release_count, n.updated_at, n.compiled, a.kept_reasons,
           a.location, a.location_reason, a.providers_matched, a.digested_at, a.first_digested_at,
           (SELECT list(struct_pack(rank := s.rank, name := s.name, org_id := s.org_id, score := s.score,
                                    readiness := s.readiness_level, ward := s.ward_name, reasons := s.reasons)
                        ORDER BY s.rank)
            FROM feed_shortlist s WHERE s.ocid = n.ocid AND s.area_code = a.area_code AND s.rank <= ?) AS providers,
           (SELECT list(DISTINCT d.region ORDER BY d.region) FROM feed_delivery_place d
            WHERE d.ocid = n.ocid AND d.region IS NOT NULL) AS regions
    FROM feed_notice n JOIN feed_notice_area a USING (ocid)
    WHERE a.area_code = ? AND a.kept {where}
    ORDER BY n.updated_at DESC, n.release_date DESC, n.ocid"""


def _compiled(compiled: str | None) -> dict:
    release = json.loads(compiled) if compiled else {}
    return release if isinstance(release, dict) else {}


def stored_warning(compiled: str | None, today: date | None) -> str | None:
    """A feed notice's notice_phase warning on `today` (None: it is open), from its stored compiled releases: what
    the digest, `vcse opportunities feed` and the web's feed pages all say of it."""
    return notice_phase(_compiled(compiled), today)["warning"]


def _notices(con: duckdb.DuckDBPyConnection, area_code: str, providers: int, where: str = "",
             params: list | None = None, today: date | None = None) -> list[dict]:
    cursor = con.execute(_NOTICE_SQL.format(where=where), [providers, area_code, *(params or [])])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["providers"] = row["providers"] or []
        row["regions"] = [region_label(r) for r in row["regions"] or []]
        release = _compiled(row.pop("compiled"))
        row["warning"] = notice_phase(release, today)["warning"]
        row["value_text"] = value_text(release)   # awarded or estimated, in its currency, with its term and lots
        row["milestone"] = planning_milestone(release, today) if row["stage"] == "planning" else None
    return rows


def undigested(con: duckdb.DuckDBPyConnection, area_code: str, providers: int,
               today: date | None = None) -> list[dict]:
    """The kept notices of the area not yet in a digest, newest first, each with its top `providers` and its
    warning on `today` (default: now)."""
    return _notices(con, area_code, providers, "AND a.digested_at IS NULL", today=today)


def latest_notices(con: duckdb.DuckDBPyConnection, area_code: str, providers: int, days: float | None = None,
                   limit: int | None = None, today: date | None = None) -> list[dict]:
    """The kept notices of the area (changed in the last `days`, when given), newest first, each with its warning
    on `today` (default: now)."""
    where, params = "", []
    if days is not None:
        where, params = "AND n.updated_at >= (SELECT max(updated_at) FROM feed_notice) - to_days(?)", [int(days)]
    rows = _notices(con, area_code, providers, where, params, today)
    return rows[:limit] if limit else rows


def render_digest(area_code: str, notices: list[dict], today: datetime) -> str:
    """New and updated open notices; then, apart, the awards, cancelled tenders and notices whose deadline (or
    expected tender date) has passed, each with its warning: shown for reference, never as opportunities."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    open_ = [n for n in notices if not n.get("warning")]
    return env.get_template("feed_digest.html.j2").render(
        area_name=area_name(area_code), area_code=area_code, date=today.strftime("%d %B %Y"), notices=notices,
        new=[n for n in open_ if n["first_digested_at"] is None],
        updated=[n for n in open_ if n["first_digested_at"] is not None],
        closed=[n for n in notices if n.get("warning")])


def digest_subject(area_code: str, notices: list[dict], today: datetime) -> str:
    count = len(notices)
    return (f"VCSE opportunities for {area_name(area_code)}, {today:%d %b %Y}: {count} notice"
            f"{'' if count == 1 else 's'}")


def write_digest(cfg: Config, area_code: str, notices: list[dict], today: datetime) -> Path:
    """The digest as an HTML file: the data folder's feed/digests/<date>-<area>.html (a rerun the same day
    replaces it)."""
    path = cfg.data_dir / "feed" / "digests" / f"{today:%Y-%m-%d}-{area_code}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_digest(area_code, notices, today), encoding="utf-8")
    tmp.replace(path)
    return path


def send_digest(cfg: Config, area_code: str, path: Path, notices: list[dict], today: datetime) -> bool:
    """Email the digest to [feed] digest_to through the [alerts] SMTP connection. True when it went (or there is
    nobody to send it to); False when sending failed (logged), so its notices wait for the next digest."""
    from ...alerts import send_html_email

    to = cfg.section("feed").get("digest_to") or []
    if not to:
        return True
    try:
        detail = send_html_email(cfg.section("alerts"), to, digest_subject(area_code, notices, today),
                                 path.read_text(encoding="utf-8"))
    except Exception as exc:   # the digest stays on disk and its notices in the next one
        log.error("feed digest for %s not sent: %s: %s", area_code, type(exc).__name__, exc)
        return False
    log.info("feed digest for %s %s", area_code, detail)
    return True


# -- opportunities for a provider ---------------------------------------------------------------------------------

OPPORTUNITY_COLUMNS = ["provider", "org_id", "rank", "score", "title", "buyer_name", "stage", "deadline",
                       "tender_expected", "warning", "value", "suitable_for_vcse", "location", "kept_reasons",
                       "service_fit", "location_fit", "size_fit", "readiness_level", "reasons", "ocid", "release_id",
                       "area_code"]
OPPORTUNITY_HEADINGS = {"provider": "Provider", "org_id": "Org ID", "rank": "Rank", "score": "Score",
                        "title": "Notice", "buyer_name": "Buyer", "stage": "Stage", "deadline": "Deadline",
                        "tender_expected": "Tender expected", "warning": "Notice warning", "value": "Value",
                        "suitable_for_vcse": "Suitable for VCSEs", "location": "Where delivered",
                        "kept_reasons": "Why in the feed",
                        "reasons": "Why this provider", "ocid": "OCID", "release_id": "Release ID"}


def provider_opportunities(con: duckdb.DuckDBPyConnection, area_code: str | None = None,
                           org_id: str | None = None, today: date | None = None) -> list[list]:
    """Rows in OPPORTUNITY_COLUMNS order from the provider_opportunity view: each provider's notices, best first;
    one provider's with `org_id`. The warning is the notice's on `today` (default: now)."""
    where, params = [], []
    if area_code:
        where.append("p.area_code = ?")
        params.append(area_code)
    if org_id:
        where.append("p.org_id = ?")
        params.append(org_id)
    columns = ", ".join("NULL" if c == "warning" else f"p.{c}" for c in OPPORTUNITY_COLUMNS)
    sql = (f"SELECT {columns}, n.compiled FROM provider_opportunity p JOIN feed_notice n ON n.ocid = p.ocid"
           + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY p.provider, p.org_id, p.score DESC, p.ocid")
    at, warnings, rows = OPPORTUNITY_COLUMNS.index("warning"), {}, []
    for *row, compiled in con.execute(sql, params).fetchall():
        ocid = row[OPPORTUNITY_COLUMNS.index("ocid")]
        if ocid not in warnings:
            warnings[ocid] = stored_warning(compiled, today)
        row[at] = warnings[ocid]
        rows.append(row)
    return rows
