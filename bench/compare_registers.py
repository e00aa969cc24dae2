"""Compare two published registers row by row: every table and view, and the macros, of a baseline register file
against a candidate built from the same inputs (a refactor must publish the same register).

    .venv/bin/python bench/compare_registers.py BASELINE.duckdb CANDIDATE.duckdb
    .venv/bin/python bench/compare_registers.py base.duckdb new.duckdb --ignore organisation.website

For example, after `vcse demo --data-dir /tmp/a` on main and on a branch (the demo is seeded, so both stage the
same registers): compare /tmp/a/register/vcse_register.duckdb with /tmp/b/register/vcse_register.duckdb.

Rows are compared as multisets (EXCEPT ALL both ways), so row order does not count and duplicates do. Columns that
name a run or a moment differ on every build and are left out (IGNORED_COLUMNS): run ids, start and finish times,
the version file name, timings, and the run's fingerprint and inputs (which digest the code, so a refactor changes
them) and sources (staging times and the data folder's paths). Exit status 0 when the registers are the same,
1 when any table, view, column or macro differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

# column -> why it is not compared; applies in every table (run_id is in run_history, register_change, quality_gate).
IGNORED_COLUMNS = {
    "run_id": "new on every run",
    "started_at": "when the run started",
    "finished_at": "when the run finished",
    "version_file": "named after the run id and time",
    "timings": "seconds each step took",
    "fingerprint": "digests the code, which a refactor changes",
    "inputs": "holds the code digest",
    "sources": "staging times, seconds and the data folder's paths",
}


def _relations(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, str]:
    rows = con.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = ? "
                       "AND table_schema = 'main'", [db]).fetchall()
    return dict(rows)


def _columns(con: duckdb.DuckDBPyConnection, db: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_schema = 'main' "
        "AND table_name = ? ORDER BY ordinal_position", [db, table]).fetchall()]


def _macros(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, str]:
    rows = con.execute("SELECT function_name, string_agg(macro_definition, ' | ' ORDER BY macro_definition) "
                       "FROM duckdb_functions() WHERE database_name = ? AND NOT internal "
                       "AND function_type IN ('macro', 'table_macro') GROUP BY 1", [db]).fetchall()
    return dict(rows)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compare(baseline: Path, candidate: Path, ignore: set[str] = frozenset()) -> list[str]:
    """The differences between two register files, one line each; empty when they hold the same rows."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS base (READ_ONLY)", [str(baseline)])
    con.execute("ATTACH ? AS cand (READ_ONLY)", [str(candidate)])
    problems: list[str] = []
    base_rel, cand_rel = _relations(con, "base"), _relations(con, "cand")
    for name in sorted(base_rel.keys() - cand_rel.keys()):
        problems.append(f"{name}: only in the baseline")
    for name in sorted(cand_rel.keys() - base_rel.keys()):
        problems.append(f"{name}: only in the candidate")
    for name in sorted(base_rel.keys() & cand_rel.keys()):
        base_cols, cand_cols = _columns(con, "base", name), _columns(con, "cand", name)
        if base_cols != cand_cols:
            problems.append(f"{name}: columns differ: baseline {base_cols}, candidate {cand_cols}")
        cols = [c for c in base_cols if c in cand_cols and c not in IGNORED_COLUMNS
                and f"{name}.{c}" not in ignore]
        select = ", ".join(_quoted(c) for c in cols)
        base_q = f"SELECT {select} FROM base.main.{_quoted(name)}"
        cand_q = f"SELECT {select} FROM cand.main.{_quoted(name)}"
        counts = con.execute(f"SELECT (SELECT count(*) FROM ({base_q})), (SELECT count(*) FROM ({cand_q})), "
                             f"(SELECT count(*) FROM ({base_q} EXCEPT ALL {cand_q})), "
                             f"(SELECT count(*) FROM ({cand_q} EXCEPT ALL {base_q}))").fetchone()
        if counts[2] or counts[3]:
            problems.append(f"{name} ({base_rel[name].lower()}): {counts[0]} rows in the baseline, {counts[1]} in the "
                            f"candidate; {counts[2]} only in the baseline, {counts[3]} only in the candidate")
    base_mac, cand_mac = _macros(con, "base"), _macros(con, "cand")
    for name in sorted(base_mac.keys() | cand_mac.keys()):
        if base_mac.get(name) != cand_mac.get(name):
            problems.append(f"macro {name}: definition differs (or is missing on one side)")
    con.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--ignore", action="append", default=[], metavar="TABLE.COLUMN",
                        help="another column not to compare (repeatable)")
    args = parser.parse_args(argv)
    for path in (args.baseline, args.candidate):
        if not path.is_file():
            parser.error(f"{path}: no such register file")
    problems = compare(args.baseline, args.candidate, set(args.ignore))
    base = duckdb.connect(str(args.baseline), read_only=True)
    tables = base.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'").fetchone()[0]
    base.close()
    for line in problems:
        print(line)
    ignored = ", ".join(sorted(IGNORED_COLUMNS) + sorted(args.ignore))
    print(f"{'DIFFERENT' if problems else 'SAME'}: {tables} tables and views compared row by row "
          f"(not compared: {ignored})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
