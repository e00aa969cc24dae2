"""National state: the work every area shares, done once per build and kept for the next one.

Every area selects from the same national tables: all staged records with their postcode geography
(`build_records`), every exact identifier link (`find_exact_links`) and the clusters those links make. They depend
only on the staging, the [vcse] and [linking] settings and the code, so they are built once into a DuckDB file,
data/cache/national/national-<key>.duckdb, where <key> digests those inputs (the staging fingerprints of
fingerprint.py). A build whose inputs did not change reuses the file; Airflow builds it in one task before the
mapped area tasks, which attach it read-only.

Tables: register_record (the `_register_records` shape), exact_link (left_record, right_record, method, score,
evidence), exact_cluster (record_id, root: the smallest record id of its exact-link cluster, for every record in
an exact link), and every area's membership at once (register/area.py: area_membership, sorted by area, and
membership_area, the areas it covers), so no area scans the records or the areas of operation again. What one area
reads of these (its source records, their exact links and the staged rows they key) a build selects for its own
areas only, once per build (register/area_facts.py): the state holds nothing per area beyond membership, so a
build of one area pays for that area's rows, not for every area's.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import duckdb
import pandas as pd

from ..config import Config
from ..db import attach_staging, connect, remove_database, sql_literal
from ..fingerprint import code_version, digest, staging_fingerprints
from ..postcode import register_macros
from .area import write_national_membership
from .clusters import cluster
from .exact_links import LINK_COLUMNS, find_exact_links
from .records import RECORDS_TABLE, build_records

log = logging.getLogger(__name__)

SCHEMA = "national"
EXACT_TABLE = "_exact_links"


def national_key(cfg: Config) -> str | None:
    """A digest of what the national state is made from; None when a source's staged release is unknown."""
    sources = staging_fingerprints(cfg)
    if any(fp is None for fp in sources.values()):
        return None
    return digest({"sources": sources, "vcse": cfg.section("vcse"), "linking": cfg.section("linking"),
                   "code": code_version()})[:24]


def national_dir(cfg: Config) -> Path:
    return cfg.data_dir / "cache" / "national"


def ensure_national_state(cfg: Config) -> Path:
    """The national state file for the current staging and settings: reused when it exists, else built (to a
    temporary name, then renamed, so a reader never sees half a file). Older state files are removed."""
    key = national_key(cfg) or f"unkeyed-{uuid.uuid4().hex[:12]}"
    final = national_dir(cfg) / f"national-{key}.duckdb"
    if final.exists():
        log.info("national state %s reused", final.name)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        _build(cfg, tmp)
        os.replace(tmp, final)
    finally:
        remove_database(tmp)
    for old in final.parent.glob("national-*.duckdb"):
        if old != final:
            remove_database(old)  # an open reader keeps its handle; the next build never wants it
    return final


def _build(cfg: Config, path: Path) -> None:
    con = connect()
    try:
        # On national inputs DuckDB would hold all ~850,000 records and their joins in memory (1.1 GB peak); spilling
        # past [register] build_memory_limit (640 MB) keeps the national build under the 1 GB an area build is allowed,
        # at no measured cost in time.
        con.execute(f"SET temp_directory = {sql_literal(path.parent / '.spill')}")
        con.execute(f"SET memory_limit = {sql_literal(cfg.section('register')['build_memory_limit'])}")
        register_macros(con)
        attach_staging(con, cfg)
        con.execute(f"ATTACH {sql_literal(path)} AS {SCHEMA}")
        write_national_tables(con, cfg, SCHEMA)
        con.execute(f"DETACH {SCHEMA}")
    finally:
        con.close()


def write_national_tables(con: duckdb.DuckDBPyConnection, cfg: Config, database: str) -> None:
    """Create register_record, exact_link and exact_cluster in `database` from the staging attached to `con`."""
    vcse, linking = cfg.section("vcse"), cfg.section("linking")
    build_records(con, vcse, list(linking.get("placeholder_company_numbers", [])))
    exact = find_exact_links(con, linking)
    write_national_membership(con, database, bool(vcse.get("count_national_area_of_operation", False)))
    con.execute(f"CREATE TABLE {database}.register_record AS SELECT * FROM {RECORDS_TABLE}")
    con.execute(f"CREATE TABLE {database}.exact_link AS SELECT {', '.join(LINK_COLUMNS)} FROM {EXACT_TABLE} "
                "ORDER BY left_record, right_record, method, evidence")
    roots = cluster((), zip(exact["left_record"], exact["right_record"], strict=True))
    con.register("_roots_df", pd.DataFrame({"record_id": list(roots), "root": list(roots.values())}, dtype=object))
    try:
        con.execute(f"CREATE TABLE {database}.exact_cluster AS SELECT record_id, root FROM _roots_df "
                    "ORDER BY record_id")
    finally:
        con.unregister("_roots_df")


def attach_national_state(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Attach a national state file read-only as `national` and expose its records as `_register_records` (what
    the area SQL reads); returns the number of national records."""
    con.execute(f"ATTACH {sql_literal(path)} AS {SCHEMA} (READ_ONLY)")
    return _expose(con)


def national_records(con: duckdb.DuckDBPyConnection, cfg: Config) -> int:
    """The national record count, building the national state in memory first when none is attached (a build on
    a connection whose staging was attached by hand, as the tests do)."""
    attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    if SCHEMA not in attached:
        con.execute(f"ATTACH ':memory:' AS {SCHEMA}")
        write_national_tables(con, cfg, SCHEMA)  # leaves its own _register_records table in this connection
    return con.execute(f"SELECT count(*) FROM {SCHEMA}.register_record").fetchall()[0][0]


def _expose(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(f"CREATE OR REPLACE TEMP VIEW {RECORDS_TABLE} AS SELECT * FROM {SCHEMA}.register_record")
    return con.execute(f"SELECT count(*) FROM {SCHEMA}.register_record").fetchall()[0][0]


def area_members(con: duckdb.DuckDBPyConnection, area_table: str) -> set[str]:
    """The area's records (`area_table`) plus every record an exact link joins to them, transitively."""
    rows = con.execute(f"""
        SELECT record_id FROM {area_table}
        UNION
        SELECT c2.record_id FROM {area_table} a
        JOIN {SCHEMA}.exact_cluster c1 USING (record_id)
        JOIN {SCHEMA}.exact_cluster c2 ON c2.root = c1.root
    """).fetchall()
    return {r[0] for r in rows}


def area_exact_links(con: duckdb.DuckDBPyConnection, members_table: str) -> pd.DataFrame:
    """The exact links with both ends among the area's members (`members_table`: record_id)."""
    return con.execute(f"""
        SELECT e.{', e.'.join(LINK_COLUMNS)} FROM {SCHEMA}.exact_link e
        WHERE e.left_record IN (SELECT record_id FROM {members_table})
          AND e.right_record IN (SELECT record_id FROM {members_table})
        ORDER BY e.left_record, e.right_record, e.method, e.evidence
    """).df()[LINK_COLUMNS]
