"""Copy the staged facts the published register needs into it, so it works with staging detached: sql/reference."""

from __future__ import annotations

import duckdb

from ..db import run_sql_dir
from .area_facts import ensure_area_facts


def copy_area_reference(con: duckdb.DuckDBPyConnection, area_code: str) -> dict[str, int]:
    """Fill postcode_location, area_ward and organisation_text for one area (idempotent)."""
    ensure_area_facts(con, area_code)  # the area's build selected them
    run_sql_dir(con, "reference", {"area_code": area_code})
    return {
        table: con.execute(f"SELECT count(*) FROM {table} WHERE area_code = ?", [area_code]).fetchone()[0]
        for table in ("area_ward", "organisation_text")
    }
