"""Repeated keys in a register's file: reported, and resolved by a documented rule, never a constraint error.

The registers repeat rows now and then (the Charity Commission extract has whole rows twice; a Companies House
snapshot or the FCA list can carry a number twice). A register build keys its source records by organisation,
company or registration number, so each staged table keeps one row per key:

- identical rows collapse into one;
- otherwise the row with the latest of the table's dates is kept (`newest_first`), then the later row in the
  file (`line`, where the loader knows it), then the row that sorts last, so the choice is the same every run.

Every row of a repeated key is written to the staging file's `duplicate_row` table (which table, the key,
the file's line, kept or dropped, and the whole row as JSON) and counted in a warning in the stage's log.
See docs/downloads.md ("Repeated rows").
"""

from __future__ import annotations

import logging

import duckdb

from ..db import sql_literal
from ._csv import ident

log = logging.getLogger(__name__)

DUPLICATE_TABLE = "duplicate_row"


def ensure_duplicate_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {DUPLICATE_TABLE} (
        table_name VARCHAR, key VARCHAR, line BIGINT, kept BOOLEAN, identical_to_kept BOOLEAN, row_json VARCHAR)""")


def _row_json(con: duckdb.DuckDBPyConnection, table: str, helpers: list[str]) -> str:
    """SQL for a row of `table` as JSON text, without the loader's helper columns (a line number, a raw row id)."""
    columns = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                                         "AND schema_name = 'main' ORDER BY column_index", [table]).fetchall()
               if c not in helpers]
    fields = ", ".join(f"{sql_literal(c)}: {ident(c)}" for c in columns)
    return f"CAST(to_json({{{fields}}}) AS VARCHAR)"


def resolve_duplicates(con: duckdb.DuckDBPyConnection, source: str, table: str, key: str,
                       newest_first: list[str], line: str | None = None, helpers: tuple[str, ...] = ()) -> int:
    """Keep one row per `key` in `table` by the rule above; returns how many rows were dropped.

    `line` names a column holding the row's line in the file; `helpers` are other loader columns that are not
    part of the row (both are left out of the JSON and of the identical-row test)."""
    ensure_duplicate_table(con)
    t, k = ident(table), ident(key)
    extra = con.execute(f"SELECT count({k}) - count(DISTINCT {k}) FROM {t}").fetchone()[0]
    if not extra:
        return 0
    row_json = _row_json(con, table, [*([line] if line else []), *helpers])
    order = [f"{ident(c)} DESC NULLS LAST" for c in newest_first]
    if line:
        order.append(f"{ident(line)} DESC NULLS LAST")
    order.append(f"{row_json} DESC")  # the rest of the row, for a choice that never varies
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ranked AS
        SELECT rowid AS _rowid, {k} AS _key, {ident(line) if line else 'NULL'} AS _line, {row_json} AS _json,
               row_number() OVER (PARTITION BY {k} ORDER BY {', '.join(order)}) AS _rank
        FROM {t}
        WHERE {k} IN (SELECT {k} FROM {t} WHERE {k} IS NOT NULL GROUP BY ALL HAVING count(*) > 1)""")
    con.execute(f"""
        INSERT INTO {DUPLICATE_TABLE}
        SELECT ?, CAST(r._key AS VARCHAR), CAST(r._line AS BIGINT), r._rank = 1, r._json = kept._json, r._json
        FROM _ranked r JOIN (SELECT _key, _json FROM _ranked WHERE _rank = 1) kept USING (_key)
        ORDER BY r._key, r._rank""", [table])
    dropped = con.execute(f"DELETE FROM {t} WHERE rowid IN (SELECT _rowid FROM _ranked WHERE _rank > 1)").fetchone()[0]
    keys, identical = con.execute(f"""SELECT count(DISTINCT key), count(*) FILTER (WHERE NOT kept AND identical_to_kept)
        FROM {DUPLICATE_TABLE} WHERE table_name = ?""", [table]).fetchone()
    con.execute("DROP TABLE _ranked")
    log.warning("%s: %s has %d %s(s) more than once: %d repeated row(s) dropped (%d identical to the row kept; "
                "otherwise the row with the latest %s was kept); every such row is in the staging table %s",
                source, table, keys, key, dropped, identical, " / ".join(newest_first) or "line", DUPLICATE_TABLE)
    return dropped
