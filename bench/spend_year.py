"""Benchmark: a year of a large council's payments (150,000 lines) through `vcse spend` against a national company
table, beside a bare DuckDB baseline producing the same district share.

    .venv/bin/python bench/spend_year.py                          # 150,000 lines, 5.5 million companies
    .venv/bin/python bench/spend_year.py --lines 20000 --companies 500000

Set-up (not timed): `vcse demo` at scale 0.3 in a scratch folder (register, staging), then the demo's
companies_house staging gets a national-size all_company table (a generator: the demo's companies plus synthetic
ones with varied names, categories and postcodes), and 12 monthly payment files in the LGA layout are written:
suppliers drawn from the national table (most by name only, some with their company number), the register, public
bodies and redactions, as a council's file has them.

Timed, each in its own process (wall time and peak RSS):
  (a) baseline: bare DuckDB reads the 12 CSVs, parses amounts, keys names, joins every supplier to all_company by
      the same name key and sums the share of £ with companies whose postcode is in the district: the measure
      without overrides, redactions, numbers, the register's fuzzy match or the views;
  (b) spend: vcse_pipeline.spend.run.run_spend on the same files (load, resolve, measures, opportunities).
Results: a table on stdout and bench/out/spend_year.json (the ratio b/a and both shares).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
WORDS = ("ACORN", "BRIDGE", "CASTLE", "DELTA", "EAGLE", "FOREST", "GRANITE", "HARBOUR", "IRIS", "JUNCTION", "KESTREL",
         "LANTERN", "MERIDIAN", "NORTHERN", "ORCHARD", "PHOENIX", "QUARRY", "RIVERSIDE", "SUMMIT", "TIMBER", "UNITY",
         "VALLEY", "WILLOW", "YEOMAN", "ZENITH", "MERSEY", "WIRRAL", "DEE", "PENNINE", "ATLAS")
TRADES = ("BUILDERS", "CONSULTING", "CARE", "ELECTRICAL", "CLEANING", "CATERING", "TRANSPORT", "SOLUTIONS", "SERVICES",
          "SUPPLIES", "ROOFING", "PLUMBING", "SECURITY", "TRAINING", "LANDSCAPES", "MOTORS", "PRINT", "DIGITAL")


def setup(work: Path, companies: int, lines: int) -> dict:
    import duckdb
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app
    from vcse_pipeline.demo.spend import HEADER

    data = work / "data"
    if not (data / "register" / "vcse_register.duckdb").exists():
        result = CliRunner().invoke(app, ["demo", "--data-dir", str(data), "--scale", "0.3"],
                                    env={"VCSE__DOWNLOAD__PROGRESS": "false"})
        assert result.exit_code == 0, result.output
    staging = data / "staging" / "companies_house.duckdb"
    con = duckdb.connect(str(staging))
    words, trades = list(WORDS), list(TRADES)
    postcodes = [r[0] for r in duckdb.connect(str(data / "staging" / "postcodes.duckdb"), read_only=True).execute(
        "SELECT postcode FROM postcode WHERE NOT is_terminated").fetchall()]
    con.execute("CREATE OR REPLACE TABLE _pc AS SELECT unnest(?) AS postcode, generate_subscripts(?, 1) - 1 AS j",
                [postcodes, postcodes])
    con.execute("DELETE FROM all_company WHERE company_number LIKE 'B%'")
    con.execute(f"""
        INSERT INTO all_company
        SELECT 'B' || lpad(CAST(i AS VARCHAR), 7, '0'),
               {words!r}[1 + i % {len(words)}] || ' ' || {words!r}[1 + (i // {len(words)}) % {len(words)}] || ' '
                 || {trades!r}[1 + (i // {len(words) ** 2}) % {len(trades)}] || ' ' || CAST(i // 16200 AS VARCHAR)
                 || ' LIMITED',
               p.postcode, CASE WHEN i % 50 = 0 THEN 'Community Interest Company' ELSE 'Private Limited Company' END,
               CASE WHEN i % 12 = 0 THEN 'Dissolved' ELSE 'Active' END,
               CASE WHEN i % 40 = 0 THEN 'FULL' ELSE 'MICRO ENTITY' END, '82990'
        FROM range({companies}) r(i) JOIN _pc p ON p.j = r.i % {len(postcodes)}""")
    con.execute("DROP TABLE _pc")
    rng = random.Random(17)
    suppliers = [(name, number) for name, number in con.execute(
        "SELECT company_name, company_number FROM all_company USING SAMPLE 7000 ROWS (reservoir, 7)").fetchall()]
    con.close()
    reg = duckdb.connect(str(data / "register" / "vcse_register.duckdb"), read_only=True)
    suppliers += [(name, None) for (name,) in reg.execute("SELECT DISTINCT name FROM organisation ORDER BY name "
                                                          "LIMIT 400").fetchall()]
    reg.close()
    suppliers += [("Liverpool City Council", None), ("REDACTED PERSONAL DATA", None), ("Merseyside Police", None)]
    folder = work / "files"
    folder.mkdir(exist_ok=True)
    import csv
    import io

    per_month = lines // 12
    for month in range(12):
        buffer = io.StringIO()
        buffer.write("Payments over £500\r\n")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(HEADER)
        y, m = (2025, month + 4) if month < 9 else (2026, month - 8)
        for n in range(per_month):
            index = min(int(rng.paretovariate(0.9)) - 1, len(suppliers) - 1) if rng.random() < 0.5 else \
                rng.randrange(len(suppliers))
            name, number = suppliers[index]
            amount = rng.lognormvariate(7.5, 1.2) * (-1 if rng.random() < 0.01 else 1)
            row = ["x", "Council", f"{rng.randint(1, 28):02d}/{m:02d}/{y}", str(n), "", f"£{amount:,.2f}", "0",
                   name.title() if rng.random() < 0.5 else name, number if number and rng.random() < 0.2 else "", "",
                   f"V{index:06d}", "", rng.choice(["Adult Social Care", "Highways", "Public Health", "Housing"]),
                   "", "", "", "", "", "", "", "", "", ""]
            writer.writerow(row)
        (folder / f"spend-{y}-{m:02d}.csv").write_bytes(buffer.getvalue().encode("cp1252", errors="replace"))
    return {"data": str(data), "files": str(folder)}


BASELINE = """
CREATE MACRO name_key(t) AS nullif(trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    ' ' || upper(strip_accents(replace(coalesce(t, ''), '&', ' AND '))) || ' ', '[^A-Z0-9]+', ' ', 'g'),
    ' CO ', ' COMPANY ', 'g'), '( (LIMITED|LTD|PLC|LLP|CIC|CIO|COMMUNITY INTEREST COMPANY|INCORPORATED|INC))+ $', ' '),
    '^ THE ', ' ')), '');
CREATE TABLE lines AS
    SELECT name_key("Supplier(Beneficiary) Name") AS k,
           CAST(regexp_replace("Net Amount", '[£,]', '', 'g') AS DECIMAL(18, 2)) AS amount
    FROM read_csv(?, header = true, skip = 1, all_varchar = true, encoding = 'latin-1');
CREATE TABLE located AS
    SELECT k, any_value(p.lad_code) AS lad_code
    FROM (SELECT DISTINCT k FROM lines) s
    JOIN ch.all_company c ON name_key(c.company_name) = s.k
    LEFT JOIN pc.postcode p ON p.postcode = c.postcode
    GROUP BY k;
"""


def run_baseline(data: Path, files: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{data / 'staging' / 'companies_house.duckdb'}' AS ch (READ_ONLY)")
    con.execute(f"ATTACH '{data / 'staging' / 'postcodes.duckdb'}' AS pc (READ_ONLY)")
    statements = [s for s in BASELINE.split(";\n") if s.strip()]
    for statement in statements:
        con.execute(statement, [str(files / "*.csv")] if "read_csv" in statement else [])
    share = con.execute("SELECT sum(amount) FILTER (WHERE lad_code = 'E08000015') / sum(amount) "
                        "FROM lines LEFT JOIN located USING (k)").fetchone()[0]
    return {"district_share": float(share), "lines": con.execute("SELECT count(*) FROM lines").fetchone()[0]}


def run_spend_step(data: Path, files: Path, database: Path) -> dict:
    from vcse_pipeline.config import Config
    from vcse_pipeline.spend.run import run_spend

    database.unlink(missing_ok=True)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data)}, "download": {"progress": False},
                                             "spend": {"database": str(database),
                                                       "excluded_kinds": []}})  # the baseline excludes nothing
    run = run_spend(cfg, [str(files)])
    shares = {s["definition"]: s["local_share"] for s in run.shares}
    return {"district_share": shares["district"], "lines": sum(f["lines"] for f in run.files),
            "resolution": run.resolution}


def child(step: str, data: str, files: str, database: str) -> None:
    start = time.perf_counter()
    result = run_baseline(Path(data), Path(files)) if step == "baseline" else \
        run_spend_step(Path(data), Path(files), Path(database))
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument("--companies", type=int, default=5_500_000)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (kept; default: a temporary one)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="vcse-bench-spend-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"setting up in {work} ({args.lines:,} lines, {args.companies:,} companies)", flush=True)
    paths = setup(work, args.companies, args.lines)
    results = {}
    for step in ("baseline", "spend"):
        out = subprocess.run([sys.executable, __file__, "--child", step, paths["data"], paths["files"],
                              str(work / "spend.duckdb")], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            sys.exit(f"{step} failed:\n{out.stderr[-3000:]}")
        results[step] = json.loads(out.stdout.strip().splitlines()[-1])
        print(step, results[step], flush=True)
    summary = {"lines": args.lines, "companies": args.companies, "machine": platform.platform(),
               "cpus": os.cpu_count(), **results,
               "time_ratio": round(results["spend"]["seconds"] / results["baseline"]["seconds"], 2),
               "memory_ratio": round(results["spend"]["peak_rss_mb"] / results["baseline"]["peak_rss_mb"], 2)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "spend_year.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    print(f"\n{'step':10} {'seconds':>8} {'peak MB':>8} {'district share':>15}")
    for step in ("baseline", "spend"):
        r = results[step]
        print(f"{step:10} {r['seconds']:>8} {r['peak_rss_mb']:>8} {100 * r['district_share']:>14.2f}%")
    print(f"spend / baseline: {summary['time_ratio']}x time, {summary['memory_ratio']}x memory")


if __name__ == "__main__":
    main()
