"""The feed's DuckDB file: every release as received, each service's high-water mark, the notices folded from them
(one per procurement, ocid), what each area keeps and the providers matched; published beside the register.

The feed is written in its own working file (data folder's feed/feed.duckdb; one writer: the feed DAG or
`vcse opportunities harvest`) and published by copying it whole into `opportunity_feed.duckdb.tmp` beside the
register and renaming that over `opportunity_feed.duckdb` (os.replace: atomic), so readers (the web app, BI tools,
`vcse opportunities feed`) see the previous state or the new one, never a half-written one. It is not a register
version: the register is rebuilt only when its sources change, while the feed changes every day.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ...config import Config
from ...db import connect

PUBLISHED_NAME = "opportunity_feed.duckdb"

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_mark (
    service VARCHAR PRIMARY KEY, harvested_to TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS feed_release (
    service VARCHAR NOT NULL, release_id VARCHAR NOT NULL, ocid VARCHAR, release_date VARCHAR, tags VARCHAR[],
    raw JSON NOT NULL, sha256 VARCHAR NOT NULL, page_url VARCHAR, run_id VARCHAR, received_at TIMESTAMP NOT NULL,
    times_received INTEGER NOT NULL DEFAULT 1, processed BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (service, release_id));
CREATE TABLE IF NOT EXISTS feed_notice (
    ocid VARCHAR PRIMARY KEY, service VARCHAR, release_id VARCHAR, release_count INTEGER, first_release_date VARCHAR,
    release_date VARCHAR, title VARCHAR, description VARCHAR, buyer_id VARCHAR, buyer_name VARCHAR,
    buyer_postcode VARCHAR, stage VARCHAR, tender_status VARCHAR, deadline VARCHAR, tender_expected VARCHAR,
    value DOUBLE, annual_value DOUBLE, contract_years DOUBLE, suitable_for_vcse BOOLEAN, suitable_for_sme BOOLEAN,
    compiled JSON, first_seen_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS feed_notice_cpv (ocid VARCHAR, position INTEGER, cpv_code VARCHAR);
CREATE TABLE IF NOT EXISTS feed_delivery_place (
    ocid VARCHAR, position INTEGER, region VARCHAR, postal_code VARCHAR, locality VARCHAR, description VARCHAR);
CREATE TABLE IF NOT EXISTS feed_notice_area (
    ocid VARCHAR, area_code VARCHAR, kept BOOLEAN, kept_reasons VARCHAR[], location VARCHAR,
    location_reason VARCHAR, providers_matched INTEGER, matched_at TIMESTAMP, digested_at TIMESTAMP,
    first_digested_at TIMESTAMP, PRIMARY KEY (ocid, area_code));
CREATE TABLE IF NOT EXISTS feed_shortlist (
    ocid VARCHAR, area_code VARCHAR, rank INTEGER, org_id VARCHAR, name VARCHAR, score INTEGER, legal_form VARCHAR,
    ward_name VARCHAR, service_areas VARCHAR[], service_fit VARCHAR, location_fit VARCHAR, size_fit VARCHAR,
    readiness_level VARCHAR, latest_income DOUBLE, reasons VARCHAR[], website VARCHAR, email VARCHAR, phone VARCHAR,
    matched_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS feed_run (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, harvested_to VARCHAR,
    requests INTEGER, releases_received INTEGER, releases_new INTEGER, error VARCHAR);
CREATE OR REPLACE VIEW provider_opportunity AS
    SELECT s.area_code, s.org_id, s.name AS provider, s.rank, s.score, n.ocid, n.release_id, n.title,
           n.buyer_name, n.stage, n.deadline, n.tender_expected, n.value, n.suitable_for_vcse, a.location,
           a.kept_reasons, s.service_fit, s.location_fit, s.size_fit, s.readiness_level, s.reasons, n.updated_at
    FROM feed_shortlist s
    JOIN feed_notice n USING (ocid)
    JOIN feed_notice_area a ON a.ocid = s.ocid AND a.area_code = s.area_code
    WHERE a.kept;
"""

FEED_TABLES = ("feed_mark", "feed_release", "feed_notice", "feed_notice_cpv", "feed_delivery_place",
               "feed_notice_area", "feed_shortlist", "feed_run")


def store_path(cfg: Config) -> Path:
    return cfg.data_dir / "feed" / "feed.duckdb"


def published_path(cfg: Config) -> Path:
    return cfg.register_path.parent / PUBLISHED_NAME


def now() -> datetime:
    """UTC, without a zone (DuckDB TIMESTAMP), to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def open_store(path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(path)
    con.execute(SCHEMA)
    return con


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], rows: Sequence[dict]) -> None:
    """Insert rows (dicts) set-wise: one statement unnesting a list of structs. `columns`: name -> DuckDB type."""
    if not rows:
        return
    struct = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
    names = ", ".join(f'"{name}"' for name in columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT unnest(?::STRUCT({struct})[], recursive := true)",
                [[{c: r.get(c) for c in columns} for r in rows]])


# -- harvesting ------------------------------------------------------------------------------------------------

def mark(con: duckdb.DuckDBPyConnection, service: str) -> datetime | None:
    row = con.execute("SELECT harvested_to FROM feed_mark WHERE service = ?", [service]).fetchone()
    return row[0] if row else None


def set_mark(con: duckdb.DuckDBPyConnection, service: str, harvested_to: datetime) -> None:
    """Move the service's mark to the end of a window whose every page is stored; never backwards."""
    con.execute("""INSERT INTO feed_mark VALUES (?, ?, ?) ON CONFLICT (service) DO UPDATE
                   SET harvested_to = greatest(feed_mark.harvested_to, excluded.harvested_to),
                       updated_at = excluded.updated_at""", [service, harvested_to, now()])


RELEASE_COLUMNS = {"service": "VARCHAR", "release_id": "VARCHAR", "ocid": "VARCHAR", "release_date": "VARCHAR",
                   "tags": "VARCHAR[]", "raw": "VARCHAR", "sha256": "VARCHAR", "page_url": "VARCHAR",
                   "run_id": "VARCHAR", "received_at": "TIMESTAMP"}


def store_releases(con: duckdb.DuckDBPyConnection, service: str, releases: Iterable[dict], page_url: str,
                   run_id: str) -> tuple[int, int]:
    """Store a page's releases as received; (received, new). A release already stored (the same id from this
    service: a page asked for again, a window boundary, a duplicate in the feed) only counts as received again;
    one whose content changed under the same id is replaced and processed again."""
    rows, seen = [], set()
    for r in releases:
        release_id = str(r.get("id") or "")
        if not release_id or release_id in seen:
            continue
        seen.add(release_id)
        raw = json.dumps(r, ensure_ascii=False, sort_keys=True)
        tags = r.get("tag") if isinstance(r.get("tag"), list) else [r.get("tag")] if r.get("tag") else []
        rows.append({"service": service, "release_id": release_id, "ocid": r.get("ocid"),
                     "release_date": r.get("date"), "tags": [str(t) for t in tags], "raw": raw,
                     "sha256": hashlib.sha256(raw.encode()).hexdigest(), "page_url": page_url, "run_id": run_id,
                     "received_at": now()})
    if not rows:
        return 0, 0
    con.execute("BEGIN")
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE incoming (" +
                    ", ".join(f"{name} {kind}" for name, kind in RELEASE_COLUMNS.items()) + ")")
        insert_rows(con, "incoming", RELEASE_COLUMNS, rows)
        new = con.execute("""SELECT count(*) FROM incoming i ANTI JOIN feed_release f
                             ON f.service = i.service AND f.release_id = i.release_id""").fetchone()[0]
        con.execute(f"""INSERT INTO feed_release ({', '.join(RELEASE_COLUMNS)}) SELECT * FROM incoming
                        ON CONFLICT (service, release_id) DO UPDATE
                       SET times_received = feed_release.times_received + 1,
                           processed = feed_release.processed AND feed_release.sha256 = excluded.sha256,
                           raw = excluded.raw, sha256 = excluded.sha256""")
        con.execute("DROP TABLE incoming")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows), new


# -- runs ------------------------------------------------------------------------------------------------------

def start_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    con.execute("INSERT OR REPLACE INTO feed_run (run_id, started_at, status) VALUES (?, ?, 'running')",
                [run_id, now()])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, counts: dict,
               error: str | None = None) -> None:
    con.execute("""UPDATE feed_run SET finished_at = ?, status = ?, harvested_to = ?, requests = ?,
                   releases_received = ?, releases_new = ?, error = ? WHERE run_id = ?""",
                [now(), status, counts.get("harvested_to"), counts.get("requests"), counts.get("releases_received"),
                 counts.get("releases_new"), error, run_id])


# -- publishing ------------------------------------------------------------------------------------------------

def publish(con: duckdb.DuckDBPyConnection, target: Path) -> Path:
    """Copy the feed's tables and view into `target` atomically: a fresh .tmp file, then os.replace."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    own = con.execute("SELECT current_database()").fetchone()[0]
    con.execute("ATTACH ? AS published_feed", [str(tmp)])
    try:
        for table in FEED_TABLES:
            con.execute(f"CREATE TABLE published_feed.{table} AS SELECT * FROM {table}")
        con.execute("USE published_feed")   # the view is created in the published file, naming its tables
        try:
            con.execute(SCHEMA[SCHEMA.index("CREATE OR REPLACE VIEW"):])
        finally:
            con.execute('USE "' + own.replace('"', '""') + '"')   # the file's own catalog, quoted
    finally:
        con.execute("DETACH published_feed")
    os.replace(tmp, target)
    return target
