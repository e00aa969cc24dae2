"""One feed run, in three idempotent steps (the feed DAG's tasks; `vcse opportunities harvest` runs all three):

    harvest(cfg, until)   every window from each service's high-water mark up to `until`; each page's releases are
                          stored as received, and the mark moves past a window only once all its pages are stored
    process(cfg)          the procurements with releases not yet processed: folded into one notice each, kept or
                          not for each of the register's areas, and the kept ones matched to local providers
    deliver(cfg)          the digest of notices not yet sent (HTML file, and email), then the feed published

A step that fails leaves what it stored; the next run carries on from there (nothing is fetched twice: a release
already stored is only counted again; nothing is missed: the mark stays before the window that failed).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from contextlib import closing
from datetime import UTC, datetime, timedelta

import duckdb

from ...config import Config
from ...errors import PipelineError, SourceError
from ..connection import open_register
from ..opportunities import area_districts, describe_notice, match_notice, notice_location
from . import store
from .fold import compile_releases, cpv_rows, delivery_rows, notice_row
from .harvest import Wait, WindowFetch, feed_session, services, windows
from .keep import keep_reasons

log = logging.getLogger(__name__)


def _utc_naive(when: datetime | str | None) -> datetime:
    if when is None:
        return store.now()
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.replace(microsecond=0)


def new_run_id() -> str:
    return "feed-" + store.now().strftime("%Y%m%dT%H%M%S") + f"-{time.monotonic_ns() % 100000:05d}"


# -- harvest ---------------------------------------------------------------------------------------------------

def harvest(cfg: Config, until: datetime | str | None = None, *, wait: Wait = time.sleep,
            run_id: str | None = None) -> dict:
    """Fetch every service's windows from its mark (or `lookback_days` before `until`) up to `until` (UTC).

    Each service is harvested even when another fails; the failures are raised together afterwards (transient when
    every one is: a later try may pass)."""
    settings = cfg.section("feed")
    until = _utc_naive(until)
    run_id = run_id or new_run_id()
    counts = {"run_id": run_id, "harvested_to": until.isoformat(), "requests": 0, "releases_received": 0,
              "releases_new": 0, "services": {}}
    failures: list[SourceError] = []
    with closing(store.open_store(store.store_path(cfg))) as con:
        store.start_run(con, run_id)
        for service in services(settings):
            start = store.mark(con, service.name) or until - timedelta(days=float(settings["lookback_days"]))
            done = {"from": start.isoformat(), "to": None, "windows": 0, "pages": 0, "received": 0, "new": 0}
            counts["services"][service.name] = done
            with closing(feed_session(service, settings, wait)) as session:
                fetch = WindowFetch(service, session, settings, wait)
                try:
                    for window_start, window_end in windows(start, until, settings["window_hours"]):
                        for page in fetch.pages(window_start, window_end):
                            received, new = store.store_releases(con, service.name, page.releases, page.url,
                                                                 run_id)
                            done["pages"] += 1
                            done["received"] += received
                            done["new"] += new
                        store.set_mark(con, service.name, window_end)   # every page of the window is stored
                        done["windows"] += 1
                        done["to"] = window_end.isoformat()
                except SourceError as exc:
                    log.error("feed: %s stopped at its window from %s: %s", service.name,
                              done["to"] or done["from"], exc)
                    done["error"] = str(exc)
                    failures.append(exc)
                finally:
                    counts["requests"] += fetch.requests
            counts["releases_received"] += done["received"]
            counts["releases_new"] += done["new"]
        store.finish_run(con, run_id, "failed" if failures else "harvested", counts,
                         "; ".join(str(f) for f in failures) or None)
    if failures:
        raise SourceError("feed", "harvest stopped (the next run resumes from each service's mark): " +
                          "; ".join(str(f) for f in failures), transient=all(f.transient for f in failures))
    return counts


# -- process ---------------------------------------------------------------------------------------------------

AREA_COLUMNS = {"ocid": "VARCHAR", "area_code": "VARCHAR", "kept": "BOOLEAN", "kept_reasons": "VARCHAR[]",
                "location": "VARCHAR", "location_reason": "VARCHAR", "providers_matched": "INTEGER",
                "matched_at": "TIMESTAMP", "digested_at": "TIMESTAMP", "first_digested_at": "TIMESTAMP"}
SHORTLIST_COLUMNS = {"ocid": "VARCHAR", "area_code": "VARCHAR", "rank": "INTEGER", "org_id": "VARCHAR",
                     "name": "VARCHAR", "score": "INTEGER", "legal_form": "VARCHAR", "ward_name": "VARCHAR",
                     "service_areas": "VARCHAR[]", "service_fit": "VARCHAR", "location_fit": "VARCHAR",
                     "size_fit": "VARCHAR", "readiness_level": "VARCHAR", "latest_income": "DOUBLE",
                     "reasons": "VARCHAR[]", "website": "VARCHAR", "email": "VARCHAR", "phone": "VARCHAR",
                     "matched_at": "TIMESTAMP"}
NOTICE_COLUMNS = {"ocid": "VARCHAR", "service": "VARCHAR", "release_id": "VARCHAR", "release_count": "INTEGER",
                  "first_release_date": "VARCHAR", "release_date": "VARCHAR", "title": "VARCHAR",
                  "description": "VARCHAR", "buyer_id": "VARCHAR", "buyer_name": "VARCHAR",
                  "buyer_postcode": "VARCHAR", "stage": "VARCHAR", "tender_status": "VARCHAR", "deadline": "VARCHAR",
                  "tender_expected": "VARCHAR", "value": "DOUBLE", "annual_value": "DOUBLE",
                  "contract_years": "DOUBLE", "suitable_for_vcse": "BOOLEAN", "suitable_for_sme": "BOOLEAN",
                  "compiled": "VARCHAR", "first_seen_at": "TIMESTAMP", "updated_at": "TIMESTAMP"}


def process(cfg: Config) -> dict:
    """Fold, keep and match every procurement with a release not yet processed; written in one transaction."""
    settings = cfg.section("feed")
    with closing(store.open_store(store.store_path(cfg))) as con, closing(open_register(cfg.register_path)) as reg:
        pending = con.execute("""
            SELECT ocid, service, raw FROM feed_release
            WHERE ocid IN (SELECT ocid FROM feed_release WHERE NOT processed AND ocid IS NOT NULL)
            ORDER BY ocid, release_date, release_id""").fetchall()
        by_ocid: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        for ocid, service, raw in pending:
            by_ocid[ocid].append((service, json.loads(raw)))
        areas = [r[0] for r in reg.execute("SELECT DISTINCT area_code FROM organisation ORDER BY 1").fetchall()]
        districts = {area: area_districts(reg, area) for area in areas}
        seen_before = dict(con.execute("SELECT ocid, first_seen_at FROM feed_notice").fetchall())
        # a notice in a digest already goes in the next one again when it changes, shown as updated
        digested_before = {(ocid, area): when for ocid, area, when in con.execute(
            "SELECT ocid, area_code, first_digested_at FROM feed_notice_area WHERE first_digested_at IS NOT NULL"
        ).fetchall()}
        now = store.now()
        notices, cpvs, places, kept_rows, shortlists = [], [], [], [], []
        for ocid, received in by_ocid.items():
            releases = [r for _s, r in received]
            compiled = compile_releases(releases)
            notice = notice_row(compiled, received[-1][0], len(releases),
                                min((str(r.get("date")) for r in releases if r.get("date")), default=None))
            notice.update(compiled=json.dumps(compiled, ensure_ascii=False),
                          first_seen_at=seen_before.get(ocid, now), updated_at=now)
            notices.append(notice)
            cpvs += cpv_rows(compiled)
            places += delivery_rows(compiled)
            for area in areas:
                location = notice_location(reg, compiled, area)
                reasons = keep_reasons(reg, compiled, notice, area, settings, location, districts[area])
                matches = []
                if reasons:
                    summary = describe_notice(reg, compiled, area)
                    matches = match_notice(reg, compiled, area, limit=int(settings["shortlist_size"]),
                                           notice=summary)
                kept_rows.append({"ocid": ocid, "area_code": area, "kept": bool(reasons), "kept_reasons": reasons,
                                  "location": location[0], "location_reason": location[1],
                                  "providers_matched": len(matches), "matched_at": now if reasons else None,
                                  "first_digested_at": digested_before.get((ocid, area))})
                shortlists += [{**m.as_dict(), "ocid": ocid, "rank": rank, "matched_at": now,
                                "service_areas": m.service_area_labels or m.service_areas}
                               for rank, m in enumerate(matches, start=1)]
        _write_processed(con, list(by_ocid), notices, cpvs, places, kept_rows, shortlists)
    return {"notices_changed": len(notices), "notices_kept": sum(1 for k in kept_rows if k["kept"]),
            "shortlisted": len(shortlists)}


def _write_processed(con: duckdb.DuckDBPyConnection, ocids: list[str], notices, cpvs, places, kept_rows,
                     shortlists) -> None:
    if not ocids:
        return
    con.execute("BEGIN")
    try:
        for table in ("feed_notice", "feed_notice_cpv", "feed_delivery_place", "feed_notice_area", "feed_shortlist"):
            con.execute(f"DELETE FROM {table} WHERE ocid IN (SELECT unnest(?::VARCHAR[]))", [ocids])
        store.insert_rows(con, "feed_notice", NOTICE_COLUMNS, notices)
        store.insert_rows(con, "feed_notice_cpv", {"ocid": "VARCHAR", "position": "INTEGER", "cpv_code": "VARCHAR"},
                          cpvs)
        store.insert_rows(con, "feed_delivery_place", {"ocid": "VARCHAR", "position": "INTEGER", "region": "VARCHAR",
                                                       "postal_code": "VARCHAR", "locality": "VARCHAR",
                                                       "description": "VARCHAR"}, places)
        store.insert_rows(con, "feed_notice_area", AREA_COLUMNS, kept_rows)
        store.insert_rows(con, "feed_shortlist", SHORTLIST_COLUMNS, shortlists)
        con.execute("UPDATE feed_release SET processed = true WHERE ocid IN (SELECT unnest(?::VARCHAR[]))", [ocids])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# -- deliver ---------------------------------------------------------------------------------------------------

def deliver(cfg: Config, today: datetime | str | None = None) -> dict:
    """The digest of every kept notice not yet sent, per area (an HTML file, and email to [feed] digest_to); then the
    feed published beside the register."""
    from .digest import send_digest, undigested, write_digest

    settings = cfg.section("feed")
    today = _utc_naive(today)
    sent: dict[str, dict] = {}
    with closing(store.open_store(store.store_path(cfg))) as con:
        areas = [r[0] for r in con.execute("SELECT DISTINCT area_code FROM feed_notice_area ORDER BY 1").fetchall()]
        for area in areas:
            notices = undigested(con, area, int(settings["digest_providers"]), today)
            if not notices:
                continue
            path = write_digest(cfg, area, notices, today)
            delivered = send_digest(cfg, area, path, notices, today)
            if delivered:
                con.execute("UPDATE feed_notice_area SET digested_at = $1, first_digested_at = "
                            "coalesce(first_digested_at, $1) WHERE area_code = $2 AND kept AND digested_at IS NULL "
                            "AND ocid IN (SELECT unnest($3::VARCHAR[]))",
                            [store.now(), area, [n["ocid"] for n in notices]])
            # emailed only when it went to someone: with [feed] digest_to empty the digest is the HTML file alone
            sent[area] = {"notices": len(notices), "file": str(path), "delivered": delivered,
                          "emailed": delivered and bool(settings.get("digest_to"))}
        published = store.publish(con, store.published_path(cfg))
    return {"digests": sent, "published": str(published)}


def run_feed(cfg: Config, until: datetime | str | None = None, *, wait: Wait = time.sleep) -> dict:
    """harvest, process and deliver, as the DAG runs them; a harvest failure still processes and publishes what
    was stored before it is raised."""
    if not cfg.register_path.exists():
        raise PipelineError(f"no register at {cfg.register_path}: the feed matches notices to the published "
                            "register; build it first (`vcse run` or `vcse demo`)")
    failure = None
    try:
        counts = harvest(cfg, until, wait=wait)
    except SourceError as exc:
        failure, counts = exc, {}
    counts.update(process(cfg))
    counts.update(deliver(cfg, until))
    if failure:
        raise failure
    return counts
