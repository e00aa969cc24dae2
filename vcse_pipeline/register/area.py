"""Area selection: is a record in the area by its postcode, by the Charity Commission's area of operation, or both.

By postcode means the postcode directory's local authority for it, live or terminated: ONSPD keeps a terminated
postcode with its last geography, so an organisation still writing one is placed there (and listed in
unmapped_postcode as 'terminated' so its address can be chased). A postcode absent from the directory places nothing.
Area of operation matches the area itself or a parent area from `reference/area_parents.csv` (Wirral ->
Merseyside). Nation-wide entries ("Throughout England") count only when
[vcse].count_national_area_of_operation is on: otherwise every national charity would join every area.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from ..db import run_sql_file, sql_file
from ..errors import PipelineError

REFERENCE = Path(__file__).resolve().parent.parent / "reference"
AREA_OF_OPERATION_FILE = REFERENCE / "ccew-area-of-operation-gss.csv"
AREA_PARENTS_FILE = REFERENCE / "area_parents.csv"
NATIONAL_CODES = {"E": ("E92000001", "K04000001"), "W": ("W92000004", "K04000001")}
# Types in the lookup that name places below a nation (countries and continents are never local).
LOCAL_TYPES = ("Local Authority", "Metropolitan Counties", "Region")
AREA_TABLE = "_area_membership"  # one area's rows, made by build_area_membership
MEMBERSHIP_TABLE = "area_membership"  # every area's, in the national state (register/national.py)


@cache
def area_of_operation_lookup() -> pd.DataFrame:
    """CCEW (area type, area description) -> GSS code, for the types that can name a local area."""
    with AREA_OF_OPERATION_FILE.open(encoding="utf-8-sig", newline="") as fh:
        rows = [(r["geographic_area_type"].strip(), r["geographic_area_description"].strip(), r["GSS"].strip())
                for r in csv.DictReader(fh) if r["GSS"].strip() and r["geographic_area_type"].strip() in LOCAL_TYPES]
    return pd.DataFrame(rows, columns=["area_type", "description", "gss"])


@cache
def area_parents() -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {}
    with AREA_PARENTS_FILE.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["parent_code"].strip():
                parents.setdefault(row["lad_code"].strip(), []).append(row["parent_code"].strip())
    return parents


def operation_codes(area_code: str, count_national: bool = False) -> list[str]:
    """GSS codes whose listing in charity_area_of_operation puts a charity in `area_code`."""
    if not area_code or len(area_code) != 9:
        raise PipelineError(f"area code {area_code!r} is not a GSS local authority code such as E08000015")
    codes = [area_code, *area_parents().get(area_code, [])]
    if count_national:
        codes += NATIONAL_CODES.get(area_code[0], ())
    return codes


def write_membership(con: duckdb.DuckDBPyConnection, area_codes: list[str], count_national: bool) -> None:
    """(Re)create `_areas_membership` (area_code, record_id, in_area_by_postcode, in_area_by_operation,
    operation_areas) for every area of `area_codes` at once: one pass over the records and the areas of operation
    (sql/area/area_membership.sql), however many areas."""
    codes = pd.DataFrame([(area, gss) for area in dict.fromkeys(area_codes)
                          for gss in operation_codes(area, count_national)], columns=["area_code", "gss"])
    con.register("_aoo_lookup_df", area_of_operation_lookup())
    con.register("_operation_codes_df", codes)
    try:
        run_sql_file(con, sql_file("area/area_membership.sql"))
    finally:
        con.unregister("_aoo_lookup_df")
        con.unregister("_operation_codes_df")


def write_national_membership(con: duckdb.DuckDBPyConnection, database: str, count_national: bool,
                              areas: list[str] | None = None) -> None:
    """The membership of `areas` (None: every local authority a record's postcode is in, and every one with a parent
    area) into the national state (`database`): area_membership, sorted by area so one area's rows are a few row
    groups, and membership_area, the areas it covers."""
    if areas is None:
        areas = [r[0] for r in con.execute("SELECT DISTINCT lad_code FROM _register_records "
                                           "WHERE lad_code IS NOT NULL ORDER BY 1").fetchall()]
        areas += sorted(set(area_parents()) - set(areas))
        areas = [a for a in areas if len(a) == 9]  # a malformed code in a directory places nothing
    else:
        areas = sorted(set(areas))
    write_membership(con, areas, count_national)
    con.execute(f"CREATE TABLE {database}.{MEMBERSHIP_TABLE} AS SELECT * FROM _areas_membership "
                "ORDER BY area_code, record_id")
    con.register("_membership_areas_df", pd.DataFrame({"area_code": areas}, dtype=object))
    try:
        con.execute(f"CREATE TABLE {database}.membership_area AS SELECT area_code FROM _membership_areas_df")
    finally:
        con.unregister("_membership_areas_df")
    con.execute("DROP TABLE _areas_membership")


def national_covers(con: duckdb.DuckDBPyConnection, area_code: str) -> bool:
    """Whether the attached national state holds `area_code`'s membership."""
    return area_code in national_coverage(con, [area_code])


def national_coverage(con: duckdb.DuckDBPyConnection, area_codes: list[str]) -> set[str]:
    """Those of `area_codes` whose membership the attached national state holds (none when none is attached)."""
    from .national import SCHEMA

    # fetchall, not fetchone: an unfinished result would refuse the con.register() that may follow
    if not area_codes or not con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND "
                                         "table_name = 'membership_area'", [SCHEMA]).fetchall()[0][0]:
        return set()
    return {r[0] for r in con.execute(f"SELECT area_code FROM {SCHEMA}.membership_area WHERE area_code IN "
                                      "(SELECT unnest(?::VARCHAR[]))", [list(area_codes)]).fetchall()}


def build_area_membership(con: duckdb.DuckDBPyConnection, area_code: str, count_national: bool) -> None:
    """(Re)create `_area_membership`: record_id, in_area_by_postcode, in_area_by_operation, operation_areas; the
    area's rows of the national state's area_membership when it covers the area, else computed for this area."""
    from .national import SCHEMA

    operation_codes(area_code, count_national)  # a malformed code fails here, whichever way it is answered
    columns = "record_id, in_area_by_postcode, in_area_by_operation, operation_areas"
    if national_covers(con, area_code):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {AREA_TABLE} AS SELECT {columns} "
                    f"FROM {SCHEMA}.{MEMBERSHIP_TABLE} WHERE area_code = ?", [area_code])
        return
    require_records_for(con, area_code)
    write_membership(con, [area_code], count_national)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {AREA_TABLE} AS SELECT {columns} FROM _areas_membership")
    con.execute("DROP TABLE _areas_membership")


def require_records_for(con: duckdb.DuckDBPyConnection, area_code: str) -> None:
    """Refuse to select an area from an attached national state built for other areas: it holds only the records
    those need, so this area's membership computed from it would silently miss records."""
    from .national import SCHEMA, state_is_complete

    attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    if SCHEMA in attached and not state_is_complete(con):
        covered = [r[0] for r in con.execute(f"SELECT area_code FROM {SCHEMA}.membership_area ORDER BY 1").fetchall()]
        raise PipelineError(f"the national state attached was built for {len(covered)} other area(s) "
                            f"({', '.join(covered[:5])}{', ...' if len(covered) > 5 else ''}), not {area_code}: it "
                            "holds only the records those need. Build it for this area "
                            "(register.national.ensure_national_state(cfg, areas))")


def area_basis(by_postcode: bool, by_operation: bool) -> str:
    if by_postcode and by_operation:
        return "both"
    return "postcode" if by_postcode else "area of operation"
