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

A state is built for the areas its builds ask for: their membership, and of the national records, exact links and
clusters only those their members need (each member's whole exact-link cluster). Every record is still read, since
an identifier links a record in an area to one anywhere; but Wirral alone writes 9,000 of 842,000 records at
national size, and its membership only (writing every record and every area's membership was 9 of a one-area cold
build's 27 s CPU). A state covering the areas asked is reused; one that does not is replaced by one that does. Built
for no areas in particular (`areas` None) it holds every record and every area's membership. Table `state` says
which: national_records (every staged record, however many it holds) and complete (it holds them all).
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import duckdb
import pandas as pd

from ..config import Config
from ..db import attach_staging, connect, remove_database, sql_literal, table_exists
from ..fingerprint import code_version, digest, staging_fingerprints
from ..postcode import register_macros
from .area import MEMBERSHIP_TABLE, write_national_membership
from .clusters import cluster
from .exact_links import LINK_COLUMNS, find_exact_links
from .records import RECORDS_TABLE, build_records

log = logging.getLogger(__name__)

SCHEMA = "national"
EXACT_TABLE = "_exact_links"
STATE_TABLE = "state"  # one row: national_records (every staged record), complete (register_record holds them all)


def national_key(cfg: Config) -> str | None:
    """A digest of what the national state is made from; None when a source's staged release is unknown."""
    sources = staging_fingerprints(cfg)
    if any(fp is None for fp in sources.values()):
        return None
    return digest({"sources": sources, "vcse": cfg.section("vcse"), "linking": cfg.section("linking"),
                   "code": code_version()})[:24]


def national_dir(cfg: Config) -> Path:
    return cfg.data_dir / "cache" / "national"


def ensure_national_state(cfg: Config, areas: list[str] | None = None) -> Path:
    """The national state file for the current staging and settings, covering `areas` (every area when None):
    reused when one covers them, else built (to a temporary name, then renamed, so a reader never sees half a file).
    Other state files are removed."""
    key = national_key(cfg)
    directory = national_dir(cfg)
    if key is not None:
        for existing in sorted(directory.glob(f"national-{key}-*.duckdb")):
            if state_covers(existing, areas):
                log.info("national state %s reused", existing.name)
                return existing
    scope = "all" if areas is None else digest(sorted(set(areas)))[:8]
    final = directory / f"national-{key or 'unkeyed-' + uuid.uuid4().hex[:12]}-{scope}.duckdb"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        _build(cfg, tmp, areas)
        os.replace(tmp, final)
    finally:
        remove_database(tmp)
    for old in final.parent.glob("national-*.duckdb"):
        if old != final:
            remove_database(old)  # an open reader keeps its handle; the next build never wants it
    return final


def state_covers(path: Path, areas: list[str] | None) -> bool:
    """Whether the state file at `path` serves builds of `areas`: it holds their membership (and, for None, every
    record and every area's)."""
    con = connect(path, read_only=True)
    try:
        if not table_exists(con, STATE_TABLE):
            return False  # written by code that kept no scope: build it again rather than guess
        complete = con.execute(f"SELECT complete FROM {STATE_TABLE}").fetchall()[0][0]
        if areas is None:
            return bool(complete)
        covered = {r[0] for r in con.execute("SELECT area_code FROM membership_area").fetchall()}
    finally:
        con.close()
    return set(areas) <= covered


def _build(cfg: Config, path: Path, areas: list[str] | None) -> None:
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
        write_national_tables(con, cfg, SCHEMA, areas)
        con.execute(f"DETACH {SCHEMA}")
    finally:
        con.close()


def write_national_tables(con: duckdb.DuckDBPyConnection, cfg: Config, database: str,
                          areas: list[str] | None = None) -> None:
    """Create register_record, exact_link, exact_cluster, the membership tables and `state` in `database` from the
    staging attached to `con`: for `areas` (only what their members need), or every record and area when None."""
    vcse, linking = cfg.section("vcse"), cfg.section("linking")
    national_records = build_records(con, vcse, list(linking.get("placeholder_company_numbers", [])))
    exact = find_exact_links(con, linking)
    write_national_membership(con, database, bool(vcse.get("count_national_area_of_operation", False)), areas)
    roots = cluster((), zip(exact["left_record"], exact["right_record"], strict=True))
    con.register("_roots_df", pd.DataFrame({"record_id": list(roots), "root": list(roots.values())}, dtype=object))
    try:
        if areas is None:
            con.execute(f"CREATE TABLE {database}.exact_cluster AS SELECT record_id, root FROM _roots_df "
                        "ORDER BY record_id")
            needed = ""
        else:
            # the members and every record of their exact-link clusters: all an area build of them reads
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _state_roots AS
                SELECT DISTINCT c.root FROM {database}.{MEMBERSHIP_TABLE} m JOIN _roots_df c USING (record_id)""")
            con.execute(f"CREATE TABLE {database}.exact_cluster AS SELECT record_id, root FROM _roots_df "
                        "WHERE root IN (SELECT root FROM _state_roots) ORDER BY record_id")
            needed = (f" WHERE record_id IN (SELECT record_id FROM {database}.{MEMBERSHIP_TABLE} UNION "
                      f"SELECT record_id FROM {database}.exact_cluster)")
    finally:
        con.unregister("_roots_df")
    con.execute(f"CREATE TABLE {database}.register_record AS SELECT * FROM {RECORDS_TABLE}{needed}")
    in_state = (f" WHERE left_record IN (SELECT record_id FROM {database}.exact_cluster)" if areas is not None
                else "")
    con.execute(f"CREATE TABLE {database}.exact_link AS SELECT {', '.join(LINK_COLUMNS)} FROM {EXACT_TABLE}{in_state} "
                "ORDER BY left_record, right_record, method, evidence")
    con.execute(f"CREATE TABLE {database}.{STATE_TABLE} AS SELECT ?::BIGINT AS national_records, "
                "?::BOOLEAN AS complete", [national_records, areas is None])
    con.execute("DROP TABLE IF EXISTS _state_roots")


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
    return con.execute(f"SELECT national_records FROM {SCHEMA}.{STATE_TABLE}").fetchall()[0][0]


def state_is_complete(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the attached national state holds every national record (else only what its areas need)."""
    return bool(con.execute(f"SELECT complete FROM {SCHEMA}.{STATE_TABLE}").fetchall()[0][0])


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
