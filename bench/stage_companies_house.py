"""Benchmark: staging Companies House against a bare DuckDB scan of the same full-size file.

    .venv/bin/python bench/stage_companies_house.py               # 5.5 million rows (~2.4 GB)
    .venv/bin/python bench/stage_companies_house.py --rows 500000

Generates a CSV in the real layout (the real header, every field quoted, rows varied from the 87 real
sample rows, ~8% in VCSE categories as in the real product), then runs in separate processes
(a) a bare read_csv scan counting the VCSE rows and (b) pipeline.stage_source on the same file, recording
wall time and peak RSS of each. Results: a table on stdout and bench/out/stage_companies_house.json.
Targets: staging within 2x the bare scan's time and under ~2 GB peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "tests" / "fixtures" / "companies_house" / "companies-house-BasicCompanyData-sample.csv"
OUT = ROOT / "bench" / "out"
VCSE_PER_HUNDRED = 8


def generate(rows: int, dest: Path) -> None:
    """Write `rows` rows in the real layout with DuckDB (minutes, not hours)."""
    import duckdb

    from vcse_pipeline.db import sql_literal
    from vcse_pipeline.sources._csv import ident

    header_line = SAMPLE.read_bytes().splitlines(keepends=True)[0]
    con = duckdb.connect()
    con.execute(f"CREATE TABLE s AS SELECT * FROM read_csv({sql_literal(SAMPLE)}, all_varchar = true)")
    names = [d[0] for d in con.execute("SELECT * FROM s LIMIT 0").description]
    con.execute("""CREATE TABLE pick AS
        SELECT row_number() OVER (ORDER BY vcse DESC, "CompanyNumber") - 1 AS key, * EXCLUDE (vcse)
        FROM (SELECT CompanyCategory <> 'Private Limited Company' AS vcse, * FROM s)""")
    n_vcse = con.execute("SELECT count(*) FROM s WHERE CompanyCategory <> 'Private Limited Company'").fetchone()[0]
    n_other = con.execute("SELECT count(*) FROM s").fetchone()[0] - n_vcse
    overrides = {
        "CompanyNumber": "lpad(CAST(r.i AS VARCHAR), 8, '0')",
        "CompanyName": "p.CompanyName || ' ' || CAST(r.i AS VARCHAR)",
        "URI": "'http://business.data.gov.uk/id/company/' || lpad(CAST(r.i AS VARCHAR), 8, '0')",
    }
    cols = ", ".join(f"coalesce({overrides.get(n, 'p.' + ident(n))}, '') AS {ident(n)}" for n in names)
    data = dest.with_suffix(".body.csv")
    con.execute(f"""
        COPY (
            SELECT {cols}
            FROM range({rows}) AS r(i)
            JOIN pick AS p ON p.key = CASE WHEN r.i % 100 < {VCSE_PER_HUNDRED} THEN r.i % {n_vcse}
                                           ELSE {n_vcse} + r.i % {n_other} END
        ) TO {sql_literal(data)} (FORMAT csv, HEADER false, FORCE_QUOTE *)""")
    con.close()
    # The real header is unquoted and has names with leading spaces, so write it verbatim.
    with dest.open("wb") as out, data.open("rb") as body:
        out.write(header_line)
        shutil.copyfileobj(body, out, length=1 << 24)
    data.unlink()


def run_scan(path: Path, threads: int | None) -> dict:
    import duckdb

    from vcse_pipeline.config import Config
    from vcse_pipeline.db import sql_literal

    categories = Config.load(environ={}).source("companies_house")["categories"]
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    wanted = ", ".join(sql_literal(c) for c in categories)
    count = con.execute(f"SELECT count(*) FROM read_csv({sql_literal(path)}, all_varchar = true) "
                        f"WHERE CompanyCategory IN ({wanted})").fetchone()[0]
    return {"vcse_rows": count}


def run_stage(path: Path, threads: int | None) -> dict:
    from vcse_pipeline.config import Config
    from vcse_pipeline.pipeline import stage_source

    overrides = {"paths": {"data_dir": str(OUT / "data")}}
    cfg = Config.load(environ={}, overrides=overrides)
    return stage_source(cfg, "companies_house", [path])


def child(kind: str, path: Path, threads: int | None) -> None:
    started = time.monotonic()
    result = (run_scan if kind == "scan" else run_stage)(path, threads)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds_in_process": round(time.monotonic() - started, 2),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "result": result}))


def measure(kind: str, path: Path, threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--file", str(path)]
    if threads:
        cmd += ["--threads", str(threads)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall_seconds"] = round(wall, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_500_000, help="rows to generate (default 5.5 million)")
    parser.add_argument("--file", type=Path, help="benchmark this CSV instead of generating one")
    parser.add_argument("--threads", type=int, help="DuckDB threads for the bare scan (default: DuckDB's)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each, interleaved; the fastest counts (the machine may be shared)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the generated CSV even if present")
    parser.add_argument("--child", choices=["scan", "stage"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.threads)
        return

    OUT.mkdir(parents=True, exist_ok=True)
    path = args.file or OUT / f"BasicCompanyData-bench-{args.rows}.csv"
    if args.file is None and (args.regenerate or not path.exists()):
        started = time.monotonic()
        generate(args.rows, path)
        print(f"generated {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.monotonic() - started:.1f}s")
    size_gb = path.stat().st_size / 1e9

    trials: dict[str, list[dict]] = {"scan": [], "stage": []}
    for _ in range(args.repeat):
        for kind in trials:
            trials[kind].append(measure(kind, path, args.threads))
    runs = {kind: min(reports, key=lambda r: r["wall_seconds"]) for kind, reports in trials.items()}
    ratio = runs["stage"]["wall_seconds"] / runs["scan"]["wall_seconds"]
    cpu_ratio = runs["stage"]["cpu_seconds"] / runs["scan"]["cpu_seconds"]
    print(f"\n{'run':<8}{'best wall s':>12}{'all wall s':>22}{'cpu s':>8}{'peak RSS MB':>13}  result")
    for kind, r in runs.items():
        walls = ", ".join(f"{t['wall_seconds']:.1f}" for t in trials[kind])
        print(f"{kind:<8}{r['wall_seconds']:>12.2f}{walls:>22}{r['cpu_seconds']:>8.1f}{r['peak_rss_mb']:>13.1f}"
              f"  {r['result']}")
    peak = max(t["peak_rss_mb"] for t in trials["stage"])
    print(f"\nstage / scan: wall {ratio:.2f}x, cpu {cpu_ratio:.2f}x (target <= 2x); "
          f"stage peak RSS {peak:.0f} MB (target < 2048 MB)")
    summary = {
        "file": str(path), "rows": args.rows if args.file is None else None, "size_gb": round(size_gb, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_after": os.getloadavg()},
        "trials": trials, "best": runs, "stage_over_scan_wall": round(ratio, 2),
        "stage_over_scan_cpu": round(cpu_ratio, 2), "stage_peak_rss_mb": peak,
        "meets_targets": ratio <= 2 and peak < 2048,
    }
    (OUT / "stage_companies_house.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
