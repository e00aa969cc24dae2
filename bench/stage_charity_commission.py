"""Benchmark: staging a full-size CCEW extract table against a bare DuckDB scan of the same text.

    .venv/bin/python bench/stage_charity_commission.py                 # 4 million rows (~1 GB of text)
    .venv/bin/python bench/stage_charity_commission.py --rows 500000

Builds `publicextract.charity.zip` in the real layout by repeating the real sample rows with new
organisation numbers (every 1000th record gets a line break inside charity_activities, and quotes appear
in the text, as in the real extract), then runs in separate processes (a) a bare read_csv count of the
.txt and (b) charity_commission.stage on the zip, recording wall time and peak RSS of each.
Results: a table on stdout and bench/out/stage_charity_commission.json.
Target: peak memory that does not grow with the file (the loader streams), time within a few times the scan.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "ccew" / "publicextract.charity.zip"
OUT = ROOT / "bench" / "out"


def generate(rows: int, work: Path) -> tuple[Path, Path]:
    with zipfile.ZipFile(SAMPLE) as zf:
        lines = zf.read("publicextract.charity.txt").split(b"\r\n")[:-1]
    header, body = lines[0], [line.split(b"\t") for line in lines[1:]]
    activities = header.split(b"\t").index(b"charity_activities")
    txt = work / "publicextract.charity.txt"
    with txt.open("wb", buffering=8 << 20) as out:
        out.write(header + b"\r\n")
        for i in range(rows):
            fields = list(body[i % len(body)])
            fields[1] = b"%d" % (10_000_000 + i)
            if i % 1000 == 0:
                fields[activities] = b'We run the "Friends" club.\r\nSecond line of activities.'
            out.write(b"\t".join(fields) + b"\r\n")
    zip_path = work / "publicextract.charity.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.write(txt, "publicextract.charity.txt")
    return txt, zip_path


SCAN = """
import duckdb, sys
con = duckdb.connect()
print(con.execute(f"SELECT count(*) FROM read_csv('{sys.argv[1]}', delim='\\t', quote='', header=true, "
                  "all_varchar=true, null_padding=true, strict_mode=false)").fetchone()[0])
"""

STAGE = """
import duckdb, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from vcse_pipeline.config import Config
from vcse_pipeline.sources import charity_commission as cc
cfg = Config.load(environ={}, overrides={"sources": {"charity_commission": {"tables": ["charity"]}}})
path = Path(sys.argv[1])
cc.verify([path])
con = duckdb.connect(str(path.parent / "staging.duckdb"))
print(cc.stage(con, [path], cfg)["charity"])
"""


def run(code: str, *args: str) -> dict:
    wrapper = (code + "\nimport resource\n"
               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    seconds = time.monotonic() - start
    out = done.stdout.split()[-2:]  # DuckDB may print a progress bar first
    return {"rows": int(out[0]), "seconds": round(seconds, 2), "peak_rss_mb": round(int(out[1]) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="records in the generated charity table")
    parser.add_argument("--work", type=Path, default=OUT / "ccew-work", help="scratch folder (deleted after)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        txt, zip_path = generate(args.rows, args.work)
        result = {
            "rows": args.rows, "txt_mb": round(txt.stat().st_size / 2**20, 1),
            "zip_mb": round(zip_path.stat().st_size / 2**20, 1),
            "bare_scan": run(SCAN, str(txt)),
            "stage": run(STAGE, str(zip_path), str(ROOT)),
            "python": platform.python_version(), "machine": platform.machine(),
            "parent_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "stage_charity_commission.json").write_text(json.dumps(result, indent=2))
    print(f"{result['rows']:,} rows, {result['txt_mb']} MB text, {result['zip_mb']} MB zip")
    for name in ("bare_scan", "stage"):
        r = result[name]
        print(f"{name:10s} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:8.1f} MB  rows {r['rows']:,}")


if __name__ == "__main__":
    main()
