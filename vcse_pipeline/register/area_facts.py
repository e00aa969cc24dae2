"""What an area build reads beyond the national state's shared tables (its source records, their exact links, and
the staged rows those records key: names, finances, filing, classifications, charity texts, postcode coordinates),
selected once per build for the build's areas instead of scanning national-sized tables per area.

`hold_area_tables` runs right after the national state is attached (pipeline.build_register), for all of the build's
areas in one pass each, into `build_area`, an in-memory (compressed) database of the build's connection, each table
sorted by area so an area reads a few row groups:
- `build_area.source_record`: each area's source_record rows (its records of the state's area_membership plus every
  record an exact link joins to them; about 1.4 rows per record when every area is built) and
  `build_area.exact_link`, the exact links among them;
- `build_area.<fact>`: the rows of each fact table (a staging table and how a source record keys it: a charity's
  organisation number, a company number, a society number, a postcode) keyed by each area's source records, area_code
  + only the columns the area SQL reads, in staging order.
A build of one area (a council's, an Airflow mapped task) pays for that area's rows, one of every English area pays
once, and a national state holds nothing per area beyond membership. For each batch of areas a build writes
together (register/build.py), `select_area_facts` makes `_area_<fact>` temp views (only those areas' rows, with
their area_code): over the held tables, or, for areas the national state does not cover, over staging (the path
that selects everything per area). The SQL of sql/enrich, sql/reference and sql/links/record_names.sql reads those
views, joining on area_code.

An area's rows are exactly what a join of its source_record rows to the staging table finds, duplicates included:
every organisation, name and member of an area comes from its source records.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb
import pandas as pd

from ..db import sql_literal
from .area import MEMBERSHIP_TABLE, national_coverage, operation_codes
from .exact_links import LINK_COLUMNS
from .national import SCHEMA
from .records import RECORDS_TABLE, SOURCE_RECORD_SELECT

FACTS_AREA = "_area_facts_area"  # a view naming the areas the _area_<fact> views select
WRITE_AREAS = "_write_areas"  # the areas being written, numbered in build order (write_area_order)
HELD = "build_area"  # the build connection's in-memory database of the tables below
HELD_AREAS = f"{HELD}.areas"  # the areas whose rows it holds
AREA_RECORD_TABLE = f"{HELD}.source_record"  # area_code + source_record's columns, sorted by area
AREA_LINK_TABLE = f"{HELD}.exact_link"  # area_code + LINK_COLUMNS, sorted by area
CHARITY_NUMBER = "TRY_CAST(split_part(s.record_id, ':', 2) AS BIGINT)"
REGISTER_NUMBER = "split_part(s.record_id, ':', 2)"
CHARITY = "s.source = 'charity_commission'"
COMPANY = "s.source = 'companies_house'"
SOCIETY = "s.source = 'fca_mutuals'"


class Fact(NamedTuple):
    table: str           # the staging table
    key: str             # its column a source record keys
    record_key: str      # that key for a source record `s`
    has_key: str         # which source records have one
    columns: tuple[str, ...]  # what the area SQL reads (the key first)


FACTS = {
    "charity": Fact("charity_commission.charity", "organisation_number", CHARITY_NUMBER, CHARITY, (
        "organisation_number", "charity_insolvent", "charity_in_administration", "charity_reporting_status",
        "charity_activities")),
    "charity_other_names": Fact("charity_commission.charity_other_names", "organisation_number", CHARITY_NUMBER,
                                CHARITY, ("organisation_number", "charity_name", "charity_name_type",
                                          "charity_name_id")),
    "charity_governing_document": Fact("charity_commission.charity_governing_document", "organisation_number",
                                       CHARITY_NUMBER, CHARITY, ("organisation_number", "charitable_objects")),
    "charity_classification": Fact("charity_commission.charity_classification", "organisation_number",
                                   CHARITY_NUMBER, CHARITY, ("organisation_number", "classification_type",
                                                             "classification_code", "classification_description")),
    "charity_annual_return_history": Fact("charity_commission.charity_annual_return_history", "organisation_number",
                                          CHARITY_NUMBER, CHARITY, (
        "organisation_number", "fin_period_end_date", "total_gross_income", "total_gross_expenditure",
        "reporting_due_date", "date_annual_return_received", "date_accounts_received")),
    "charity_annual_return_parta": Fact("charity_commission.charity_annual_return_parta", "organisation_number",
                                        CHARITY_NUMBER, CHARITY, (
        "organisation_number", "fin_period_end_date", "income_from_government_contracts",
        "income_from_government_grants", "count_volunteers")),
    "charity_annual_return_partb": Fact("charity_commission.charity_annual_return_partb", "organisation_number",
                                        CHARITY_NUMBER, CHARITY, ("organisation_number", "fin_period_end_date",
                                                                  "count_employees")),
    "company": Fact("companies_house.company", "company_number", REGISTER_NUMBER, COMPANY, (
        "company_number", "company_status", "accounts_next_due_date", "conf_stmt_next_due_date", "dissolution_date")),
    "company_sic": Fact("companies_house.company_sic", "company_number", REGISTER_NUMBER, COMPANY,
                        ("company_number", "sic_code", "sic_description")),
    "company_previous_name": Fact("companies_house.company_previous_name", "company_number", REGISTER_NUMBER, COMPANY,
                                  ("company_number", "previous_name", "position")),
    "society": Fact("fca_mutuals.society", "registration_number", REGISTER_NUMBER, SOCIETY,
                    ("registration_number", "sic_code")),
    "postcode": Fact("postcodes.postcode", "postcode", "s.postcode", "s.postcode IS NOT NULL",
                     ("postcode", "lad_code", "ward_code", "lat", "long")),
}


def held_areas(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The areas whose rows this connection's build_area tables hold."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'areas'",
                       [HELD]).fetchall()[0][0]:
        return set()
    return {r[0] for r in con.execute(f"SELECT area_code FROM {HELD_AREAS}").fetchall()}


def hold_area_tables(con: duckdb.DuckDBPyConnection, area_codes: list[str]) -> set[str]:
    """Select into the build_area tables the rows of those of `area_codes` the attached national state covers and
    the tables do not hold yet, all in one pass per table; returns those of `area_codes` held. A build calls it once
    with all its areas (build_area again with its own, answered by one query)."""
    held = held_areas(con)
    wanted = sorted(national_coverage(con, [a for a in dict.fromkeys(area_codes) if a not in held]))
    if wanted:
        _write_area_tables(con, wanted, first=not held)
        held |= set(wanted)
    return held & set(area_codes)


def _write_area_tables(con: duckdb.DuckDBPyConnection, areas: list[str], first: bool) -> None:
    """The build_area rows of `areas` (codes from the state's membership_area, quoted: a literal list lets the
    scan of the state's area_membership, sorted by area, skip other areas' row groups). The database is in memory
    and compressed when checkpointed: every English area's rows at 0.25x take 47 MB so, 276 MB as temp tables (and
    it spills past [register] build_memory_limit like the rest)."""
    in_areas = f"area_code IN ({', '.join(sql_literal(a) for a in areas)})"
    if first:
        con.execute(f"DETACH DATABASE IF EXISTS {HELD}")  # a write that failed half-way
        # READ_WRITE: a connection opened read-only (reading a published register) can still hold areas
        con.execute(f"ATTACH ':memory:' AS {HELD} (COMPRESS, READ_WRITE)")

    def write(table: str, select: str) -> None:
        con.execute((f"CREATE TABLE {table} AS " if first else f"INSERT INTO {table} ") + select)

    # An area's members are its records plus the whole exact-link cluster of each, so its exact links are those of
    # the clusters it touches.
    write(AREA_RECORD_TABLE, f"""
        WITH membership AS (
            SELECT * FROM {SCHEMA}.{MEMBERSHIP_TABLE} WHERE {in_areas}
        ), member AS (
            SELECT area_code, record_id FROM membership
            UNION
            SELECT m.area_code, c2.record_id FROM membership m
            JOIN {SCHEMA}.exact_cluster c1 USING (record_id)
            JOIN {SCHEMA}.exact_cluster c2 ON c2.root = c1.root
        )
        SELECT member.area_code, {SOURCE_RECORD_SELECT}
        FROM member JOIN {RECORDS_TABLE} r USING (record_id)
        LEFT JOIN membership a USING (area_code, record_id)
        ORDER BY member.area_code, r.record_id
    """)
    records = f"(SELECT * FROM {AREA_RECORD_TABLE} WHERE {in_areas})"
    write(AREA_LINK_TABLE, f"""
        WITH area_root AS (
            SELECT DISTINCT a.area_code, c.root FROM {records} a JOIN {SCHEMA}.exact_cluster c USING (record_id)
        )
        SELECT area_root.area_code, e.{', e.'.join(LINK_COLUMNS)}
        FROM {SCHEMA}.exact_link e JOIN {SCHEMA}.exact_cluster c ON c.record_id = e.left_record
        JOIN area_root USING (root)
        ORDER BY area_root.area_code, e.left_record, e.right_record, e.method, e.evidence
    """)
    for name, fact in FACTS.items():
        write(f"{HELD}.{name}", f"""
            SELECT k.area_code, {', '.join('t.' + c for c in fact.columns)} FROM (
                SELECT DISTINCT s.area_code, {fact.record_key} AS _key FROM {records} s WHERE {fact.has_key}
            ) k JOIN {fact.table} t ON t.{fact.key} = k._key
            ORDER BY k.area_code, t.rowid
        """)
    write(HELD_AREAS, f"SELECT unnest([{', '.join(sql_literal(a) for a in areas)}]) AS area_code")
    con.execute(f"CHECKPOINT {HELD}")  # compresses what it holds


def area_records(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Each held area's source records (its rows of build_area.source_record); {} when none are held."""
    if not held_areas(con):
        return {}
    return dict(con.execute(f"SELECT area_code, count(*) FROM {AREA_RECORD_TABLE} GROUP BY area_code").fetchall())


def held_area_exact_links(con: duckdb.DuckDBPyConnection, area_code: str) -> pd.DataFrame:
    """The exact links among a held area's members."""
    return con.execute(f"""
        SELECT {', '.join(LINK_COLUMNS)} FROM {AREA_LINK_TABLE} WHERE area_code = ?
        ORDER BY left_record, right_record, method, evidence
    """, [area_code]).df()[LINK_COLUMNS]


def write_area_order(con: duckdb.DuckDBPyConnection, area_codes: list[str]) -> None:
    """(Re)create WRITE_AREAS: the areas being written (area_code, n: build order), which the area SQL joins to."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {WRITE_AREAS} AS SELECT area_code, n FROM (SELECT "
                "unnest(?::VARCHAR[]) AS area_code, generate_subscripts(?::VARCHAR[], 1) AS n)",
                [list(area_codes), list(area_codes)])


def rows_by_area(con: duckdb.DuckDBPyConnection, tables: dict[str, str], area_codes: list[str]) -> dict[str, dict]:
    """Each area's rows of each table (`tables`: name in the answer -> register table), for the areas of WRITE_AREAS
    (`area_codes`, which are those); 0 where an area has none. One GROUP BY a table."""
    counts = {area: dict.fromkeys(tables, 0) for area in area_codes}
    for key, table in tables.items():
        for area, count in con.execute(f"SELECT area_code, count(*) FROM {table} WHERE area_code IN "
                                       f"(SELECT area_code FROM {WRITE_AREAS}) GROUP BY area_code").fetchall():
            counts[area][key] = count
    return counts


def select_area_facts(con: duckdb.DuckDBPyConnection, area_codes: list[str], held: bool) -> None:
    """(Re)create the `_area_<fact>` temp views (area_code + the fact's columns) of the areas `area_codes` whose
    source_record rows are (or are being) written: over the build_area.<fact> tables when they hold the areas
    (`held`: hold_area_tables), else over staging. Views, not copies: the SQL reading them reads the areas' row
    groups once. One statement list, one round trip."""
    for area_code in area_codes:
        operation_codes(area_code)  # GSS codes (checked), so safe as literals in the views
    areas = ", ".join(sql_literal(a) for a in area_codes)
    views = []
    for name, fact in FACTS.items():
        columns = ", ".join(fact.columns)
        if held:
            body = f"SELECT area_code, {columns} FROM {HELD}.{name} WHERE area_code IN ({areas})"
        else:
            body = (f"SELECT k.area_code, {', '.join('t.' + c for c in fact.columns)} FROM (SELECT DISTINCT "
                    f"s.area_code, {fact.record_key} AS _key FROM source_record s WHERE s.area_code IN ({areas}) "
                    f"AND {fact.has_key}) k JOIN {fact.table} t ON t.{fact.key} = k._key")
        views.append(f"CREATE OR REPLACE TEMP VIEW _area_{name} AS {body};")
    views.append(f"CREATE OR REPLACE TEMP VIEW {FACTS_AREA} AS SELECT unnest([{areas}]) AS area_code;")
    con.execute("\n".join(views))


def ensure_area_facts(con: duckdb.DuckDBPyConnection, area_codes: list[str]) -> None:
    """select_area_facts unless the views already select exactly `area_codes` (build_areas made them)."""
    try:
        selected = {r[0] for r in con.execute(f"SELECT area_code FROM {FACTS_AREA}").fetchall()}
    except duckdb.CatalogException:
        selected = None
    if selected != set(area_codes):
        held = hold_area_tables(con, area_codes)
        select_area_facts(con, area_codes, held == set(area_codes))
