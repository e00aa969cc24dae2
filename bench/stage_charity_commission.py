"""Benchmark: staging the CCEW charity table from its zip against bare DuckDB making the same table from that zip.

    .venv/bin/python bench/stage_charity_commission.py                 # 390,000 charities, as the real register
    .venv/bin/python bench/stage_charity_commission.py --rows 50000    # a quick run

Builds `publicextract.charity.zip` in the real layout (one tab-separated .txt, CRLF line ends, never quoted) by
repeating the real sample rows with new organisation numbers; every 1000th record has a line break inside
charity_activities and quotes in its text, as in the real extract. Then, each in its own process and interleaved
--repeat times:

- bare: a DuckDB script with no pipeline code that extracts the .txt from the zip, puts the records split over
  two lines back together and types the columns, making a `charity` table with the stage's columns and rows;
- stage: pipeline.stage_source(cfg, "charity_commission", [zip]), exactly as `vcse stage charity_commission`
  (with tables = ["charity"]).

It checks the two tables are equal (columns, types, rows as multisets) and reports wall time, CPU time and peak
RSS. Results: a table on stdout and bench/out/stage_charity_commission.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "tests" / "fixtures" / "ccew" / "publicextract.charity.zip"
OUT = ROOT / "bench" / "out"
WORK = Path("/tmp/stagebench_ccew")
MEMBER = "publicextract.charity.txt"

# The same process reports, table check and summary as the Companies House bench.
from bench.stage_companies_house import compare, measure, report_child, sql_text, summarise  # noqa: E402


def generate(rows: int, zip_path: Path) -> None:
    with zipfile.ZipFile(SAMPLE) as zf:
        lines = zf.read(MEMBER).split(b"\r\n")[:-1]
    header, body = lines[0], [line.split(b"\t") for line in lines[1:]]
    activities = header.split(b"\t").index(b"charity_activities")
    txt = zip_path.with_suffix(".txt")
    with txt.open("wb", buffering=8 << 20) as out:
        out.write(header + b"\r\n")
        for i in range(rows):
            fields = list(body[i % len(body)])
            fields[1] = b"%d" % (10_000_000 + i)
            if i % 1000 == 0:
                fields[activities] = b'We run the "Friends" club.\r\nSecond line of activities.'
            out.write(b"\t".join(fields) + b"\r\n")
    partial = zip_path.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.write(txt, MEMBER)
    txt.unlink()
    partial.replace(zip_path)


# The bare script's own reading of the extract's column names (written for this bench, not the loader's).
def _bare_type(column: str) -> str:
    if "date" in column.split("_"):
        return "date"
    if column.startswith(("charity_is_", "charity_in", "charity_previously", "charity_gift", "charity_has",
                          "cio_is_")):
        return "bool"
    if column.endswith(("organisation_number", "charity_number")):
        return "int"
    if column in ("latest_income", "latest_expenditure"):
        return "money"
    return "text"


BARE_EXPR = {
    "date": "CAST(TRY_CAST(nullif(trim({v}), '') AS TIMESTAMP) AS DATE)",
    "bool": "CASE trim({v}) WHEN 'True' THEN TRUE WHEN 'False' THEN FALSE END",
    "int": "CAST(nullif(trim({v}), '') AS BIGINT)",
    "money": "CAST(nullif(trim({v}), '') AS DOUBLE)",
    "text": "nullif(trim({v}), '')",
}


def run_bare(zip_path: Path, out_db: Path, work: Path) -> dict:
    """Extract the .txt (Python's zipfile, as the loader reads it), then DuckDB: number the physical lines, glue
    each line that does not start with a date onto the record before it, split on tabs and type the fields."""
    import duckdb

    txt = work / "bare-extract.txt"
    with zipfile.ZipFile(zip_path) as zf, zf.open(MEMBER) as src, txt.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
    with txt.open("rb") as fh:
        header = fh.readline().decode("utf-8").rstrip("\r\n").split("\t")
    fields = ", ".join(f"{BARE_EXPR[_bare_type(c)].format(v=f'f[{i}]')} AS {c}" for i, c in enumerate(header, 1))
    out_db.unlink(missing_ok=True)
    con = duckdb.connect(str(out_db))
    try:
        con.execute(f"""
            CREATE TABLE charity AS
            WITH lines AS (
                SELECT row_number() OVER () AS n, line
                FROM read_csv({sql_text(txt)}, columns = {{'line': 'VARCHAR'}}, header = false, skip = 1,
                              delim = '\x01', quote = '', escape = '', auto_detect = false)),
            numbered AS (
                SELECT n, line, sum(CASE WHEN regexp_matches(line, '^\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN 1 ELSE 0 END)
                                OVER (ORDER BY n ROWS UNBOUNDED PRECEDING) AS record
                FROM lines),
            records AS (
                SELECT record, CASE WHEN count(*) = 1 THEN string_split(any_value(line), '\t')
                                    ELSE list_transform(string_split(string_agg(line, '\n' ORDER BY n), '\t'),
                                                        lambda x: trim(x, '\r\n')) END AS f
                FROM numbered GROUP BY record)
            SELECT {fields} FROM records ORDER BY record""")
        return {"charity": con.execute("SELECT count(*) FROM charity").fetchone()[0]}
    finally:
        con.close()
        txt.unlink(missing_ok=True)


def run_stage(zip_path: Path, work: Path) -> dict:
    from vcse_pipeline.config import Config
    from vcse_pipeline.pipeline import stage_source

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(work / "data")},
                                             "sources": {"charity_commission": {"tables": ["charity"]}}})
    return stage_source(cfg, "charity_commission", [zip_path])


def child(kind: str, zip_path: Path, work: Path) -> None:
    started = time.monotonic()
    report_child(started, run_bare(zip_path, work / "bare.duckdb", work) if kind == "bare"
                 else run_stage(zip_path, work))


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=390_000, help="charities in the generated table (390,000)")
    parser.add_argument("--zip", type=Path, help="benchmark this publicextract.charity.zip instead of generating one")
    parser.add_argument("--work", type=Path, default=WORK, help=f"scratch folder, generated zip kept ({WORK})")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, interleaved; the lowest CPU counts")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the generated zip even if present")
    parser.add_argument("--child", choices=["bare", "stage"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.zip, args.work)
        return

    work = args.work / ("given" if args.zip else str(args.rows))
    work.mkdir(parents=True, exist_ok=True)
    zip_path = args.zip or work / "publicextract.charity.zip"
    if args.zip is None and (args.regenerate or not zip_path.exists()):
        generate(args.rows, zip_path)
    trials: dict[str, list[dict]] = {"bare": [], "stage": []}
    for _ in range(args.repeat):
        for kind in trials:
            trials[kind].append(measure(Path(__file__), kind, ["--zip", str(zip_path), "--work", str(work)]))
    same = compare(work / "data" / "staging" / "charity_commission.duckdb", work / "bare.duckdb", ("charity",))
    with zipfile.ZipFile(zip_path) as zf:
        text_bytes = zf.getinfo(MEMBER).file_size
    summarise(trials, same, {"zip": str(zip_path), "rows": args.rows if args.zip is None else None,
                             "zip_mb": round(zip_path.stat().st_size / 2**20, 1),
                             "txt_mb": round(text_bytes / 2**20, 1)},
              OUT / "stage_charity_commission.json")


if __name__ == "__main__":
    main()
