"""What a published register file says about itself: the run that published it and its counts (`vcse status`,
`vcse changes`, and the summary `vcse run` and `vcse demo` print).

Every function reads an open connection to the register and never writes.
"""

from __future__ import annotations

import json

import duckdb

from .db import table_columns


def published_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The run that published this register: {run_id, finished_at (text), version_file, sources (a dict)}; None
    when the file records none (no run_history table, or no published row)."""
    if not table_columns(con, "run_history"):
        return None
    # Two runs can finish in one second: then the later row (this version's own run) is the one.
    row = con.execute("SELECT run_id, CAST(finished_at AS VARCHAR), version_file, sources FROM run_history "
                      "WHERE status = 'published' ORDER BY finished_at DESC, rowid DESC LIMIT 1").fetchone()
    if row is None:
        return None
    run_id, finished_at, version_file, sources = row
    return {"run_id": run_id, "finished_at": finished_at, "version_file": version_file,
            "sources": _json_object(sources)}


def _json_object(value) -> dict:
    """run_history.sources as a dict: JSON text (or already a value) read, anything unreadable as none."""
    try:
        return json.loads(value) if isinstance(value, str) else (value or {})
    except json.JSONDecodeError:
        return {}


def organisation_totals(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(area_code, active organisations, all organisations) per area."""
    return con.execute("SELECT area_code, count(*) FILTER (is_active), count(*) FROM organisation "
                       "GROUP BY 1 ORDER BY 1").fetchall()


def register_summary(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Counts a newcomer wants to see: source records by register (area, source, records), and organisations by
    legal form and by how the area was established (area, value, active, all)."""
    return {
        "records_by_source": con.execute(
            "SELECT area_code, source, count(*) AS records FROM source_record GROUP BY ALL ORDER BY ALL").fetchall(),
        "by_legal_form": con.execute("""
            SELECT area_code, legal_form, count(*) FILTER (is_active) AS active, count(*) AS organisations
            FROM organisation GROUP BY ALL ORDER BY area_code, organisations DESC""").fetchall(),
        "by_area_basis": con.execute("""
            SELECT area_code, area_basis, count(*) FILTER (is_active) AS active, count(*) AS organisations
            FROM organisation GROUP BY ALL ORDER BY ALL""").fetchall(),
    }
