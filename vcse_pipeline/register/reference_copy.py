"""Copy the staged facts the published register needs into it, so it works with staging detached: sql/reference."""

from __future__ import annotations

import duckdb

from ..db import run_sql_dir, run_sql_file, sql_file
from .area_facts import ensure_area_facts, rows_by_area, write_area_order

POSTCODE_LOCATION_DDL = "core/30_register_reference.sql"  # with area_ward and organisation_text, made if missing


COUNTED = ("area_ward", "organisation_text")


def copy_reference(con: duckdb.DuckDBPyConnection, area_codes: list[str]) -> dict[str, dict[str, int]]:
    """Fill postcode_location, area_ward and organisation_text for a batch of built areas at once (idempotent);
    returns each area's rows of area_ward and organisation_text."""
    write_area_order(con, area_codes)
    ensure_area_facts(con, area_codes)  # the areas' build selected them
    run_sql_dir(con, "reference")
    return rows_by_area(con, {table: table for table in COUNTED}, area_codes)


def copy_area_reference(con: duckdb.DuckDBPyConnection, area_code: str) -> dict[str, int]:
    """Fill postcode_location, area_ward and organisation_text for one area (idempotent)."""
    return copy_reference(con, [area_code])[area_code]


def order_postcode_location(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite postcode_location in postcode order, once per build. Each area adds the postcodes it lacks with INSERT
    OR IGNORE, which in DuckDB 2.0 does not keep its SELECT's ORDER BY, and a build in workers (parallel_build)
    adds each file's rows as a set: both end here, so the same staging writes the same rows in the same order
    however it was built.

    The table is dropped and made again from its DDL (sql/core), not emptied: emptying it removes every postcode
    from its primary key's index one by one, 11 of 11.6 s for a national register's 865,000 postcodes, where
    dropping it and filling a new one takes 0.7 s."""
    con.execute("CREATE OR REPLACE TEMP TABLE _postcode_location_ordered AS "
                "SELECT * FROM postcode_location ORDER BY postcode")
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DROP TABLE postcode_location")
            run_sql_file(con, sql_file(POSTCODE_LOCATION_DDL))
            con.execute("INSERT INTO postcode_location SELECT * FROM _postcode_location_ordered")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DROP TABLE IF EXISTS _postcode_location_ordered")
