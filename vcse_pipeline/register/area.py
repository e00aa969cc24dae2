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
AREA_TABLE = "_area_membership"  # made by sql/area/area_membership.sql


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


def build_area_membership(con: duckdb.DuckDBPyConnection, area_code: str, count_national: bool) -> None:
    """(Re)create `_area_membership`: record_id, in_area_by_postcode, in_area_by_operation, operation_areas
    (sql/area/area_membership.sql)."""
    codes = operation_codes(area_code, count_national)
    con.register("_aoo_lookup_df", area_of_operation_lookup())
    try:
        run_sql_file(con, sql_file("area/area_membership.sql"), {"area_code": area_code, "operation_codes": codes})
    finally:
        con.unregister("_aoo_lookup_df")


def area_basis(by_postcode: bool, by_operation: bool) -> str:
    if by_postcode and by_operation:
        return "both"
    return "postcode" if by_postcode else "area of operation"
