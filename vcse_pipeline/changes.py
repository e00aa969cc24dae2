"""What a new register version changes against the published one: new, closed, reopened and changed rows.

The previous register is ATTACHed read-only under the alias `prev`, so the comparison is one SQL pass in
the new version's own file and never writes to the published register.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from .db import sql_literal, table_columns
from .status import published_run

PREVIOUS_ALIAS = "prev"
CHANGE_TYPES = ("new", "closed", "reopened", "changed")
# Fields whose change is worth telling a commissioner about.
TRACKED_FIELDS = ("name", "legal_form", "status", "postcode", "address", "ward_code", "latest_income",
                  "latest_expenditure", "website", "parent_org_id", "area_basis", "charity_number",
                  "company_number", "society_number")


def attach_previous(con: duckdb.DuckDBPyConnection, previous: Path | None) -> str | None:
    """ATTACH the published register read-only as `prev`; None when there is none (the first publish)."""
    if previous is None or not Path(previous).exists():
        return None
    con.execute(f"ATTACH {sql_literal(str(previous))} AS {PREVIOUS_ALIAS} (READ_ONLY)")
    return PREVIOUS_ALIAS


def _in(areas: list[str]) -> str:
    return "(" + ", ".join("'" + a.replace("'", "''") + "'" for a in areas) + ")"


def record_changes(con: duckdb.DuckDBPyConnection, run_id: str, areas: list[str], previous: str | None) -> dict:
    """Fill register_change for the areas built by this run; returns counts by change type.

    Without a previous register every organisation is 'new'. Only the areas built this run are compared,
    so removing an area from the configuration does not report its organisations as closed.
    """
    con.execute("DELETE FROM register_change WHERE run_id = ?", [run_id])
    area_filter = _in(areas)
    if previous is None or not table_columns(con, "organisation", previous):
        con.execute(
            f"INSERT INTO register_change SELECT ?, area_code, org_id, 'new', NULL, NULL, NULL "
            f"FROM organisation WHERE area_code IN {area_filter}", [run_id])
        return _counts(con, run_id)
    old_cols = table_columns(con, "organisation", previous)
    new_cols = table_columns(con, "organisation")
    both = f"""FROM organisation n JOIN {previous}.organisation o USING (area_code, org_id)
               WHERE n.area_code IN {area_filter}"""
    statements = [
        f"""SELECT n.area_code, n.org_id, 'new', NULL, NULL, NULL FROM organisation n
            ANTI JOIN {previous}.organisation o USING (area_code, org_id) WHERE n.area_code IN {area_filter}""",
        f"""SELECT o.area_code, o.org_id, 'closed', NULL, NULL, NULL FROM {previous}.organisation o
            ANTI JOIN organisation n USING (area_code, org_id) WHERE o.area_code IN {area_filter}""",
        f"""SELECT n.area_code, n.org_id, 'closed', 'is_active', 'true', 'false' {both}
            AND o.is_active AND NOT n.is_active""",
        f"""SELECT n.area_code, n.org_id, 'reopened', 'is_active', 'false', 'true' {both}
            AND NOT o.is_active AND n.is_active""",
    ]
    for field in TRACKED_FIELDS:
        if field in old_cols and field in new_cols:
            statements.append(
                f"""SELECT n.area_code, n.org_id, 'changed', '{field}', CAST(o.{field} AS VARCHAR),
                    CAST(n.{field} AS VARCHAR) {both} AND n.{field} IS DISTINCT FROM o.{field}""")
    union = "\nUNION ALL\n".join(statements)
    con.execute(f"INSERT INTO register_change SELECT ?, * FROM ({union})", [run_id])
    return _counts(con, run_id)


def _counts(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    rows = con.execute(
        "SELECT change_type, count(DISTINCT (area_code, org_id)) FROM register_change WHERE run_id = ? "
        "GROUP BY 1 ORDER BY 1", [run_id]).fetchall()
    return dict(rows)


@dataclass
class PublishedChanges:
    run_id: str | None          # the run that published the register; None when the file records none
    rows: list[dict]            # area_code, org_id, name, change_type, field, old_value, new_value
    total: int                  # rows of the asked type before the limit
    by_type: dict[str, int]     # organisations per change type, whatever type was asked


def published_changes(con: duckdb.DuckDBPyConnection, change_type: str | None = None,
                      limit: int | None = None) -> PublishedChanges:
    """What the published register changed against the one before it (its publishing run's register_change rows),
    of one change type or all, ordered by type, org_id and field; `limit` None or 0 for every row."""
    run = published_run(con)
    if run is None:  # a register no run published (built, never switched) records no changes
        return PublishedChanges(None, [], 0, {})
    run_id = run["run_id"]
    cur = con.execute(
        """SELECT c.area_code, c.org_id, o.name, c.change_type, c.field, c.old_value, c.new_value
           FROM register_change c LEFT JOIN organisation o USING (area_code, org_id)
           WHERE c.run_id = $run_id AND ($change_type IS NULL OR c.change_type = $change_type)
           ORDER BY c.change_type, c.org_id, c.field LIMIT $limit""",
        {"run_id": run_id, "change_type": change_type, "limit": limit or None})  # LIMIT NULL: every row
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    total = con.execute("SELECT count(*) FROM register_change WHERE run_id = $run_id "
                        "AND ($change_type IS NULL OR change_type = $change_type)",
                        {"run_id": run_id, "change_type": change_type}).fetchone()[0]
    return PublishedChanges(run_id, rows, total, _counts(con, run_id))
