"""What a published register file says about itself: the run that published it and its counts (`vcse status`,
`vcse changes`, and the summary `vcse run` and `vcse demo` print).

Every function reads an open connection to the register and never writes.
"""

from __future__ import annotations

import json

import duckdb

from .db import table_columns


def published_runs(con: duckdb.DuckDBPyConnection, most: int) -> list[dict]:
    """The runs that published this register, the latest first and `most` of them at the most: each
    {run_id, finished_at (text), version_file, sources (a dict), fingerprint (None when not recorded)}; [] when the
    file records none (no run_history table, or no published row). The one query for "the published run"."""
    columns = table_columns(con, "run_history")
    if not columns:
        return []
    # A register written before a column was added to run_history reads as that column being empty.
    sources = "sources" if "sources" in columns else "NULL"
    fingerprint = "fingerprint" if "fingerprint" in columns else "NULL"
    # Two runs can finish in one second: then the later row (this version's own run) is the one.
    rows = con.execute(f"SELECT run_id, CAST(finished_at AS VARCHAR), version_file, {sources}, {fingerprint} "
                       "FROM run_history WHERE status = 'published' ORDER BY finished_at DESC, rowid DESC LIMIT ?",
                       [most]).fetchall()
    return [{"run_id": run_id, "finished_at": finished_at, "version_file": version_file,
             "sources": run_sources(sources), "fingerprint": fingerprint}
            for run_id, finished_at, version_file, sources, fingerprint in rows]


def published_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The run that published this register (published_runs' fields); None when the file records none."""
    runs = published_runs(con, 1)
    return runs[0] if runs else None


def run_sources(value) -> dict:
    """A run record's `sources` (JSON text in the register's run_history, a dict in run_history.jsonl), anything
    unreadable as none."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


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
