"""The web explorer on a register of every English area: does the app load it within its memory, and does a search
of one area cost what it costs in a register of that area alone?

    .venv/bin/python bench/web_national_register.py REGISTER.duckdb
    .venv/bin/python bench/web_national_register.py REGISTER.duckdb --area E08000015 --repeats 5 --json out.json

REGISTER is a published register, for example the one `bench/national_build.py --counts all` publishes.

1. Loading a version, each way in a fresh process (peak memory is that process's ru_maxrss): the app's reader
   (web/register.py: the file copied into a working copy, its views made tables a range of areas at a time) under
   `[web] duckdb_memory_limit` (default 1 GB); the views made tables in one statement each, as before, under the
   same limit; and in one statement under --one-statement-memory (default 2 GB), whose tables are compared with
   the ranged ones (EXCEPT ALL both ways: the same rows).
2. Searches of one area (`vcse find`'s find_providers, as the pages and API run it: keywords, a service, both, a
   distance) on the national working copy and on a working copy of that area alone (the register's schema with
   only the area's rows, its views made tables the same way). Each search must give the same rows in both; the
   figure is the ratio of their median CPU time over --repeats runs. A search that grew with the other areas'
   rows would show here: before the keyword search was set-wise, "youth" in Wirral took 11.6 s in the national
   register.

Results: a table on stdout, and --json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcse_pipeline.config import Config  # noqa: E402
from vcse_pipeline.procurement.find import FindQuery, find_providers  # noqa: E402
from vcse_pipeline.web.register import (  # noqa: E402
    SOURCE,
    RegisterReader,
    copy_database,
    materialise_views,
)

WIRRAL = "E08000015"
ONE_STATEMENT = 10**12   # organisations to a range no register reaches: every view in one statement


def load(register: Path, memory: str, way: str) -> dict:
    """Load `register` as the web app does (RegisterReader: copy, views made tables, checkpoint, open read-only),
    its views a range of areas at a time ("ranges") or each in one statement ("one statement"); wall seconds and
    this process's peak memory, or the error."""
    from functools import partial

    from vcse_pipeline.web import register as reader_module

    if way == "one statement":
        reader_module.materialise_views = partial(materialise_views, organisations=ONE_STATEMENT)
    started = time.perf_counter()
    try:
        reader = RegisterReader(register, memory_limit=memory)
        with reader.view() as view:
            providers = view.cursor.execute("SELECT count(*) FROM provider_directory").fetchone()[0]
        reader.close()
        outcome = {"loaded": True, "providers": providers}
    except Exception as exc:  # noqa: BLE001  (the figure is whether it loads, and why not)
        outcome = {"loaded": False, "error": str(exc).splitlines()[0]}
    return {"way": way, "memory_limit": memory, "wall_s": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **outcome}


def load_in_process(register: Path, memory: str, way: str) -> dict:
    cmd = [sys.executable, __file__, "--load", way, "--memory", memory, str(register)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"the load of {register} ({way}) failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def view_tables(register: Path, out: Path, memory: str, organisations: int | None) -> None:
    """The working copy the app makes (web/register.py's _build_copy), kept at `out`: its views made tables
    `organisations` to a range of areas (None: as the app does, by its memory limit)."""
    builder = duckdb.connect(str(out), config={"threads": 2, "memory_limit": memory})
    copy_database(builder, register)
    materialise_views(builder, organisations)
    builder.close()


def area_alone(register: Path, area: str, out: Path, memory: str) -> None:
    """A working copy of `register` holding only `area`'s rows: its schema, every table with an area_code column
    filtered to the area and the others whole, its views made tables as the app makes them."""
    con = duckdb.connect(str(out), config={"threads": 2, "memory_limit": memory})
    con.execute(f"ATTACH ? AS {SOURCE} (READ_ONLY)", [str(register)])
    con.execute(f'COPY FROM DATABASE {SOURCE} TO "{out.stem}" (SCHEMA)')
    tables = con.execute("SELECT table_name, list_contains(list(column_name), 'area_code') FROM duckdb_columns() "
                         "WHERE database_name = ? AND table_name IN (SELECT table_name FROM duckdb_tables() "
                         "WHERE database_name = ?) GROUP BY ALL ORDER BY ALL", [SOURCE, SOURCE]).fetchall()
    for table, by_area in tables:
        where = " WHERE area_code = ?" if by_area else ""
        con.execute(f'INSERT INTO "{table}" SELECT * FROM {SOURCE}."{table}"{where}', [area] if by_area else [])
    con.execute(f"DETACH {SOURCE}")
    materialise_views(con)
    con.close()


def same_tables(a: Path, b: Path) -> dict[str, int]:
    """Rows of each of a's view tables that b does not have, or has not as often, and the other way round."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS a (READ_ONLY)", [str(a)])
    con.execute("ATTACH ? AS b (READ_ONLY)", [str(b)])
    views = ("organisation_finance_year", "provider_directory", "provider_readiness", "ward_service_coverage",
             "ward_service_gaps")
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'a'").fetchall()}
    differ = {}
    for view in (v for v in views if v in present):
        differ[view] = sum(con.execute(f"SELECT count(*) FROM (FROM {x}.{view} EXCEPT ALL FROM {y}.{view})")
                           .fetchone()[0] for x, y in (("a", "b"), ("b", "a")))
    con.close()
    return differ


def searches(con: duckdb.DuckDBPyConnection, area: str) -> dict[str, FindQuery]:
    """The searches of one area: keywords, a service, both, and a distance from one of its providers."""
    service = con.execute("SELECT service_area FROM organisation_service_area WHERE area_code = ? "
                          "GROUP BY ALL ORDER BY count(*) DESC, service_area LIMIT 1", [area]).fetchone()[0]
    postcode = con.execute("SELECT postcode FROM provider_directory WHERE area_code = ? AND based_in_area "
                           "AND postcode IS NOT NULL ORDER BY org_id LIMIT 1", [area]).fetchone()[0]
    return {"keyword youth": FindQuery(keyword="youth", area_code=area),
            "keyword mental health": FindQuery(keyword="mental health", area_code=area),
            f"service {service}": FindQuery(service_areas=[service], area_code=area),
            f"keyword advice, service {service}": FindQuery(keyword="advice", service_areas=[service], area_code=area),
            f"within 3 km of {postcode}": FindQuery(near_postcode=postcode, within_km=3, area_code=area)}


def cpu_seconds(con: duckdb.DuckDBPyConnection, query: FindQuery, repeats: int) -> tuple[float, list]:
    """The median CPU seconds of the search over `repeats` runs (after one to warm up), and its rows."""
    rows = find_providers(con, query).rows
    spent = []
    for _ in range(repeats):
        started = time.process_time()
        find_providers(con, query)
        spent.append(time.process_time() - started)
    return statistics.median(spent), rows


def compare_searches(national: Path, alone: Path, area: str, repeats: int) -> list[dict]:
    config = {"threads": 2, "memory_limit": Config.load(environ={}).section("web")["duckdb_memory_limit"]}
    big = duckdb.connect(str(national), read_only=True, config=config)
    small = duckdb.connect(str(alone), read_only=True, config=config)
    results = []
    for name, query in searches(small, area).items():
        national_s, national_rows = cpu_seconds(big, query, repeats)
        alone_s, alone_rows = cpu_seconds(small, query, repeats)
        results.append({"search": name, "providers": len(alone_rows), "same_rows": national_rows == alone_rows,
                        "national_cpu_s": round(national_s, 4), "area_alone_cpu_s": round(alone_s, 4),
                        "ratio": round(national_s / alone_s, 2) if alone_s else None})
    big.close()
    small.close()
    return results


def run(register: Path, area: str, memory: str, one_statement_memory: str, repeats: int, work: Path) -> dict:
    loads = [load_in_process(register, memory, "ranges"), load_in_process(register, memory, "one statement"),
             load_in_process(register, one_statement_memory, "one statement")]
    ranged, whole = work / "ranged.duckdb", work / "one-statement.duckdb"
    view_tables(register, ranged, memory, None)
    view_tables(register, whole, one_statement_memory, ONE_STATEMENT)
    alone = work / "area-alone.duckdb"
    area_alone(register, area, alone, memory)
    return {"register": str(register), "register_mb": round(register.stat().st_size / 2**20),
            "area": area, "loads": loads, "tables_differ_from_one_statement": same_tables(ranged, whole),
            "searches": compare_searches(ranged, alone, area, repeats)}


def report(result: dict) -> str:
    lines = [f"{result['register']} ({result['register_mb']:,} MB)", "",
             "| load | memory limit | loaded | wall s | peak MB | note |", "|---|---|---|---|---|---|"]
    for case in result["loads"]:
        note = f"{case['providers']:,} providers" if case["loaded"] else case["error"][:90]
        lines.append(f"| {case['way']} | {case['memory_limit']} | {'yes' if case['loaded'] else 'no'} | "
                     f"{case['wall_s']} | {case['peak_rss_mb']:,} | {note} |")
    differ = result["tables_differ_from_one_statement"]
    lines += ["", "view tables, ranges against one statement: " + (
        "SAME" if not any(differ.values()) else f"DIFFER {differ}"), "",
        f"| search of {result['area']} | providers | same rows | national CPU s | area alone CPU s | ratio |",
        "|---|---|---|---|---|---|"]
    for s in result["searches"]:
        lines.append(f"| {s['search']} | {s['providers']:,} | {'yes' if s['same_rows'] else 'NO'} | "
                     f"{s['national_cpu_s']} | {s['area_alone_cpu_s']} | {s['ratio']}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("register", type=Path, help="a published register (.duckdb)")
    parser.add_argument("--area", default=WIRRAL, help="the area whose searches are compared (default Wirral)")
    parser.add_argument("--memory", default=None, help="DuckDB memory for the app (default: [web] "
                        "duckdb_memory_limit)")
    parser.add_argument("--one-statement-memory", default="2GB", help="memory for the one-statement tables that "
                        "the ranged ones are compared with (default 2GB)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each search (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--load", help=argparse.SUPPRESS)   # in a child process: one load, as JSON
    args = parser.parse_args(argv)
    if not args.register.is_file():
        parser.error(f"{args.register}: no such register file")
    memory = args.memory or Config.load(environ={}).section("web")["duckdb_memory_limit"]
    if args.load:
        print(json.dumps(load(args.register, memory, args.load)))
        return 0
    with tempfile.TemporaryDirectory(prefix="web-national-") as work:
        result = run(args.register, args.area, memory, args.one_statement_memory, args.repeats, Path(work))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
