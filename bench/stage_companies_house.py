"""Benchmark: staging the Companies House zip against bare DuckDB making the same four tables from the same zip.

    .venv/bin/python bench/stage_companies_house.py                 # 5.5 million rows (~2.6 GB CSV, ~0.4 GB zip)
    .venv/bin/python bench/stage_companies_house.py --rows 500000   # a quick run
    .venv/bin/python bench/stage_companies_house.py --zip BasicCompanyDataAsOneFile-2026-11-01.zip  # a real file

Generates `BasicCompanyDataAsOneFile-2026-11-01.zip` in the real layout (one CSV member with the real 55-column
header, every field quoted; names, addresses, postcodes, dates, SIC codes and previous names varied by hash over
DuckDB's range(), 8% of rows in the VCSE categories as in the real product) under /tmp/stagebench_ch/, then runs,
each in its own process and interleaved --repeat times:

- bare: a DuckDB script with no pipeline code that extracts the zip's CSV and writes company, company_sic,
  company_previous_name and all_company, with the same names, columns, types and rows as staging;
- stage: pipeline.stage_source(cfg, "companies_house", [zip]), exactly as `vcse stage companies_house`.

It then checks that the two made the same four tables (schemas equal, rows equal as multisets: EXCEPT ALL both
ways) and reports wall time, CPU time and peak RSS of each. Results: a table on stdout and
bench/out/stage_companies_house.json. Target: the stage's CPU at most 1x the bare script's.
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
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "tests" / "fixtures" / "companies_house" / "companies-house-BasicCompanyData-sample.csv"
OUT = ROOT / "bench" / "out"
WORK = Path("/tmp/stagebench_ch")
RELEASE = "BasicCompanyDataAsOneFile-2026-11-01"
TABLES = ("company", "company_sic", "company_previous_name", "all_company")


# ------------------------------------------------------------------------------------------------ the input file

def _pick(values: list[str], key: int) -> str:
    """SQL choosing one of `values` by the row's hash under `key` (the same row always gets the same one)."""
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"([{listed}])[1 + CAST(hash(r.i, {key}) % {len(values)} AS INTEGER)]"


def _date(key: int, spread_days: int = 20_000, start: str = "1960-01-01") -> str:
    return f"strftime(DATE '{start}' + CAST(hash(r.i, {key}) % {spread_days} AS INTEGER), '%d/%m/%Y')"


def _sometimes(percent: float, key: int, expr: str) -> str:
    return f"CASE WHEN hash(r.i, {key}) % 10000 < {int(percent * 100)} THEN {expr} ELSE '' END"


# CompanyCategory by a row's hash modulo 1000: 80 in 1000 (8%) in the VCSE categories, as in the real product.
CATEGORY_SHARES = [
    ("PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)", 35),
    ("PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of 'Limited' exemption)", 10),
    ("Community Interest Company", 12),
    ("Charitable Incorporated Organisation", 12),
    ("Registered Society", 4),
    ("Industrial and Provident Society", 2),
    ("Royal Charter Company", 2),
    ("Scottish Charitable Incorporated Organisation", 3),
    ("Limited Liability Partnership", 15),
    ("Limited Partnership", 10),
    ("Public Limited Company", 3),
    ("Private Unlimited Company", 2),
]
NAME_WORDS = ["GREEN", "VALLEY", "NORTH", "WEST", "COMMUNITY", "OAK", "RIVER", "BRIGHT", "FUTURE", "HOPE", "CITY",
              "MERSEY", "PENNINE", "COASTAL", "HERITAGE", "FRIENDS", "YOUTH", "FAMILY", "ARTS", "SPORTS", "CARE",
              "HOME", "SOLUTIONS", "DIGITAL", "CONSULTING", "PROPERTY", "HOLDINGS", "SERVICES", "TRADING", "FOOD"]
NAME_ENDINGS = ["LIMITED", "LTD", "LTD.", "C.I.C.", "CIC", "TRUST", "FOUNDATION", "ASSOCIATION", "CIO", "LLP"]
STREETS = ["HIGH", "CHURCH", "STATION", "PARK", "VICTORIA", "GREEN", "MANOR", "KING", "QUEEN", "MILL", "NEW",
           "SCHOOL", "WOODLAND", "MARKET", "BRIDGE", "CASTLE"]
TOWNS = ["LONDON", "BIRKENHEAD", "WALLASEY", "LIVERPOOL", "MANCHESTER", "LEEDS", "BIRMINGHAM", "BRISTOL", "CARDIFF",
         "NEWCASTLE UPON TYNE", "SHEFFIELD", "NOTTINGHAM", "NORWICH", "OXFORD", "EDINBURGH", "GLASGOW", "BELFAST",
         "ST HELENS", "WIRRAL", "CHESTER", ""]
COUNTIES = ["", "", "", "MERSEYSIDE", "GREATER MANCHESTER", "WEST MIDLANDS", "ESSEX", "KENT", "LANCASHIRE",
            "CHESHIRE", "WEST YORKSHIRE", "HERTFORDSHIRE"]
POSTCODE_AREAS = ["CH", "L", "M", "B", "LS", "S", "NE", "SW", "E", "N", "BS", "CF", "EH", "G", "BT", "OX", "CB",
                  "WA", "PR", "BD", "NG", "LE", "CV", "DN", "HU", "YO", "TS", "PL", "EX", "BN"]
INWARD_LETTERS = list("ABDEFGHJLNPQRSTUWXYZ")
ACCOUNT_CATEGORIES = ["TOTAL EXEMPTION FULL", "MICRO ENTITY", "NO ACCOUNTS FILED", "DORMANT", "UNAUDITED ABRIDGED",
                      "SMALL", "FULL", "GROUP", "TOTAL EXEMPTION SMALL", "ACCOUNTS TYPE NOT AVAILABLE"]
SIC_TEXTS = [
    "82990 - Other business support service activities n.e.c.", "68209 - Other letting and operating of own or "
    "leased real estate", "70229 - Management consultancy activities other than financial management",
    "62020 - Information technology consultancy activities", "96090 - Other service activities n.e.c.",
    "98000 - Residents property management", "85590 - Other education n.e.c.",
    "88990 - Other social work activities without accommodation n.e.c.", "94910 - Activities of religious "
    "organizations", "93120 - Activities of sport clubs", "56102 - Unlicensed restaurants and cafes",
    "47190 - Other retail sale in non-specialised stores", "41100 - Development of building projects",
    "99999 - Dormant Company", "74909 - Other professional, scientific and technical activities n.e.c.",
    "90030 - Artistic creation", "87900 - Other residential care activities n.e.c.", "None Supplied",
]


def _postcode() -> str:
    """Mostly well-formed ('CH41 1AA'), some without the space or in lower case, a few blank or junk."""
    tidy = (f"{_pick(POSTCODE_AREAS, 20)} || CAST(1 + hash(r.i, 21) % 30 AS VARCHAR) || ' ' || "
            f"CAST(hash(r.i, 22) % 10 AS VARCHAR) || {_pick(INWARD_LETTERS, 23)} || {_pick(INWARD_LETTERS, 24)}")
    return f"""CASE hash(r.i, 25) % 200 WHEN 0 THEN '' WHEN 1 THEN '' WHEN 2 THEN 'UNKNOWN'
                   WHEN 3 THEN lower(replace({tidy}, ' ', '')) WHEN 4 THEN replace({tidy}, ' ', '')
                   ELSE {tidy} END"""


def _column_sql() -> dict[str, str]:
    """SQL for each source column (header name without its leading space) of generated row r.i."""
    category_cases = []
    upto = 0
    for category, share in CATEGORY_SHARES:
        upto += share
        category_cases.append(f"WHEN hash(r.i, 1) % 1000 < {upto} THEN '{category.replace(chr(39), chr(39) * 2)}'")
    number = "lpad(CAST(r.i + 1 AS VARCHAR), 8, '0')"
    name = (f"{_pick(NAME_WORDS, 2)} || ' ' || {_pick(NAME_WORDS, 3)} || ' ' || CAST(r.i + 1 AS VARCHAR) || ' ' "
            f"|| {_pick(NAME_ENDINGS, 4)}")
    cols = {
        # Every 400th name quotes a word and has a comma, as real names do ('THE "OLD" SCHOOL, TRUST').
        "CompanyName": f"CASE WHEN r.i % 400 = 7 THEN 'THE \"' || {name} || '\", TRUST' ELSE {name} END",
        "CompanyNumber": number,
        "RegAddress.CareOf": _sometimes(1, 5, "'C/O ' || " + _pick(NAME_WORDS, 6) + " || ' ACCOUNTANTS'"),
        "RegAddress.POBox": _sometimes(0.5, 7, "CAST(hash(r.i, 8) % 900 AS VARCHAR)"),
        "RegAddress.AddressLine1": (f"CAST(1 + hash(r.i, 9) % 300 AS VARCHAR) || ' ' || {_pick(STREETS, 10)} || "
                                    f"{_pick([' STREET', ' ROAD', ' LANE', ' AVENUE', ' WAY'], 11)}"),
        "RegAddress.AddressLine2": _sometimes(35, 12, _pick(STREETS, 13) + " || ' ESTATE'"),
        "RegAddress.PostTown": _pick(TOWNS, 14),
        "RegAddress.County": _pick(COUNTIES, 15),
        "RegAddress.Country": _pick(["ENGLAND", "UNITED KINGDOM", "WALES", "SCOTLAND", "", "ENGLAND"], 16),
        "RegAddress.PostCode": _postcode(),
        "CompanyCategory": f"CASE {' '.join(category_cases)} ELSE 'Private Limited Company' END",
        "CompanyStatus": ("CASE WHEN hash(r.i, 17) % 100 < 93 THEN 'Active' WHEN hash(r.i, 17) % 100 < 97 "
                          "THEN 'Active - Proposal to Strike off' ELSE 'Liquidation' END"),
        "CountryOfOrigin": "'United Kingdom'",
        "DissolutionDate": "''",
        "IncorporationDate": _date(30, 22_000),
        "Accounts.AccountRefDay": "CAST(1 + hash(r.i, 31) % 31 AS VARCHAR)",
        "Accounts.AccountRefMonth": "CAST(1 + hash(r.i, 32) % 12 AS VARCHAR)",
        "Accounts.NextDueDate": _date(33, 700, "2026-01-01"),
        "Accounts.LastMadeUpDate": _sometimes(80, 34, _date(35, 700, "2024-01-01")),
        "Accounts.AccountCategory": _pick(ACCOUNT_CATEGORIES, 36),
        "Returns.NextDueDate": _sometimes(30, 37, _date(38, 700, "2015-01-01")),
        "Returns.LastMadeUpDate": _sometimes(30, 39, _date(40, 700, "2014-01-01")),
        "Mortgages.NumMortCharges": "CAST(hash(r.i, 41) % 10 // 8 AS VARCHAR)",
        "Mortgages.NumMortOutstanding": "CAST(hash(r.i, 42) % 10 // 9 AS VARCHAR)",
        "Mortgages.NumMortPartSatisfied": "'0'",
        "Mortgages.NumMortSatisfied": "CAST(hash(r.i, 43) % 20 // 19 AS VARCHAR)",
        "SICCode.SicText_1": _pick(SIC_TEXTS, 44),
        "SICCode.SicText_2": _sometimes(20, 45, _pick(SIC_TEXTS[:-1], 46)),
        "SICCode.SicText_3": _sometimes(5, 47, _pick(SIC_TEXTS[:-1], 48)),
        "SICCode.SicText_4": _sometimes(2, 49, _pick(SIC_TEXTS[:-1], 50)),
        "LimitedPartnerships.NumGenPartners": "'0'",
        "LimitedPartnerships.NumLimPartners": "'0'",
        "URI": f"'http://business.data.gov.uk/id/company/' || {number}",
        "ConfStmtNextDueDate": _date(51, 400, "2026-01-01"),
        "ConfStmtLastMadeUpDate": _sometimes(85, 52, _date(53, 400, "2025-01-01")),
    }
    for n, share in zip(range(1, 11), [12, 3, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.01], strict=True):
        # Previous names are filled in order: the n-th only where the (n-1)-th is.
        present = f"hash(r.i, 60) % 10000 < {int(share * 100)}"
        cols[f"PreviousName_{n}.CONDATE"] = f"CASE WHEN {present} THEN {_date(60 + n, 9_000, '1995-01-01')} ELSE '' END"
        cols[f"PreviousName_{n}.CompanyName"] = (f"CASE WHEN {present} THEN {_pick(NAME_WORDS, 70 + n)} || ' ' || "
                                                 f"{_pick(NAME_WORDS, 80 + n)} || ' LIMITED' ELSE '' END")
    return cols


def generate(rows: int, dest: Path) -> None:
    """Write `dest`, a zip like the published one: one CSV member, the real header, `rows` generated rows."""
    import duckdb

    from vcse_pipeline.db import sql_literal
    from vcse_pipeline.sources._csv import ident, parse_header

    header_line = SAMPLE.read_bytes().splitlines(keepends=True)[0]
    header = parse_header(header_line, "companies_house", SAMPLE.name)
    cols = _column_sql()
    body = dest.with_suffix(".body.csv")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT {', '.join(f'{cols[h]} AS {ident(h)}' for h in header)} FROM range({rows}) r(i))
                    TO {sql_literal(body)} (FORMAT csv, HEADER false, FORCE_QUOTE *)""")
    con.close()
    partial = dest.with_suffix(".zip.part")
    # The real header is unquoted and has names with leading spaces, so it is written verbatim.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf, \
            zf.open(f"{RELEASE}.csv", "w", force_zip64=True) as member, body.open("rb") as data:
        member.write(header_line)
        shutil.copyfileobj(data, member, length=1 << 24)
    body.unlink()
    partial.replace(dest)


# ------------------------------------------------------------------------------------------- the bare baseline

# The bare script: plain DuckDB SQL written for this bench, sharing nothing with the loader (its macros, column
# lists or helpers), so equal tables also cross-check the loader. run_bare fills in the {placeholders}.
BARE_MACROS = r"""
CREATE TEMP MACRO blank_null(v) AS nullif(trim(v), '');
CREATE TEMP MACRO dmy(v) AS CAST(strptime(nullif(trim(v), ''), '%d/%m/%Y') AS DATE);
CREATE TEMP MACRO whole(v) AS CAST(nullif(trim(v), '') AS INTEGER);
-- 'ch411ab' -> 'CH41 1AB'; NULL unless shaped like a UK postcode (the second branch matches anything else).
CREATE TEMP MACRO postcode(v) AS nullif(regexp_replace(upper(regexp_replace(coalesce(v, ''), '[^A-Za-z0-9]', '', 'g')),
    '^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$|^.*$', '\1 \2'), ' ');
"""
# Columns of every row (for all_company); the rest are kept for the VCSE rows only.
BARE_SLIM = ["CompanyNumber", "CompanyName", "RegAddress.PostCode", "CompanyCategory", "CompanyStatus",
             "Accounts.AccountCategory", "SICCode.SicText_1"]
BARE_SCAN = """
CREATE TEMP TABLE scan AS
SELECT {slim}, vcse, {kept}
FROM (SELECT *, CompanyCategory IN ({categories}) AS vcse
      FROM read_csv({csv}, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"'))
"""
BARE_TABLES = r"""
CREATE TABLE all_company AS
SELECT lpad(upper(trim(CompanyNumber)), 8, '0') AS company_number, blank_null(CompanyName) AS company_name,
       postcode("RegAddress.PostCode") AS postcode, blank_null(CompanyCategory) AS company_category,
       blank_null(CompanyStatus) AS company_status, blank_null("Accounts.AccountCategory") AS accounts_category,
       nullif(regexp_extract("SICCode.SicText_1", '^(\w+)\s*-', 1), '') AS sic_code
FROM scan;

CREATE TEMP TABLE vcse AS SELECT * FROM scan WHERE vcse;

CREATE TABLE company AS
SELECT lpad(upper(blank_null(CompanyNumber)), 8, '0') AS company_number, blank_null(CompanyName) AS company_name,
       blank_null("RegAddress.CareOf") AS care_of, blank_null("RegAddress.POBox") AS po_box,
       blank_null("RegAddress.AddressLine1") AS address_line1, blank_null("RegAddress.AddressLine2") AS address_line2,
       blank_null("RegAddress.PostTown") AS post_town, blank_null("RegAddress.County") AS county,
       blank_null("RegAddress.Country") AS country, postcode("RegAddress.PostCode") AS postcode,
       blank_null(CompanyCategory) AS company_category, blank_null(CompanyStatus) AS company_status,
       blank_null(CountryOfOrigin) AS country_of_origin, dmy(DissolutionDate) AS dissolution_date,
       dmy(IncorporationDate) AS incorporation_date, whole("Accounts.AccountRefDay") AS accounts_ref_day,
       whole("Accounts.AccountRefMonth") AS accounts_ref_month,
       dmy("Accounts.NextDueDate") AS accounts_next_due_date,
       dmy("Accounts.LastMadeUpDate") AS accounts_last_made_up_date,
       blank_null("Accounts.AccountCategory") AS accounts_category,
       dmy("Returns.NextDueDate") AS returns_next_due_date, dmy("Returns.LastMadeUpDate") AS returns_last_made_up_date,
       whole("Mortgages.NumMortCharges") AS num_mort_charges,
       whole("Mortgages.NumMortOutstanding") AS num_mort_outstanding,
       whole("Mortgages.NumMortPartSatisfied") AS num_mort_part_satisfied,
       whole("Mortgages.NumMortSatisfied") AS num_mort_satisfied, blank_null(URI) AS uri,
       dmy(ConfStmtNextDueDate) AS conf_stmt_next_due_date, dmy(ConfStmtLastMadeUpDate) AS conf_stmt_last_made_up_date
FROM vcse;

CREATE TABLE company_sic AS
SELECT company_number, position, regexp_extract(text, '^(\w+)\s*-', 1) AS sic_code,
       nullif(trim(regexp_replace(text, '^\w+\s*-\s*', '')), '') AS sic_description
FROM (UNPIVOT (SELECT lpad(upper(trim(CompanyNumber)), 8, '0') AS company_number,
                      COLUMNS('^SICCode\.SicText_[1-4]$')::VARCHAR FROM vcse)
      ON COLUMNS('^SICCode') INTO NAME col VALUE text)
     CROSS JOIN LATERAL (SELECT CAST(regexp_extract(col, '(\d)$') AS INTEGER) AS position)
WHERE regexp_matches(blank_null(text), '^\w+\s*-')
ORDER BY company_number, position;

CREATE TABLE company_previous_name AS
SELECT company_number, position, dmy(change_date) AS change_date, blank_null(previous_name) AS previous_name
FROM (SELECT lpad(upper(trim(CompanyNumber)), 8, '0') AS company_number,
             CAST(unnest(range(1, 11)) AS INTEGER) AS position,
             unnest([{previous_dates}]) AS change_date, unnest([{previous_names}]) AS previous_name FROM vcse)
WHERE blank_null(previous_name) IS NOT NULL
ORDER BY company_number, position;
"""


def sql_text(value: str | Path, mark: str = "'") -> str:
    """A SQL string literal (or, with mark '"', an identifier), its quote characters doubled."""
    return mark + str(value).replace(mark, mark * 2) + mark


def run_bare(zip_path: Path, out_db: Path, categories: list[str], work: Path) -> dict:
    """Extract the zip's CSV (Python's zipfile, streamed to disk as the loader does) and make the four tables."""
    import duckdb


    csv_path = work / "bare-extract.csv"
    with zipfile.ZipFile(zip_path) as zf, zf.open(zf.namelist()[0]) as src, csv_path.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
    header = [h.strip() for h in csv_path.open(encoding="utf-8").readline().rstrip("\n").split(",")]
    kept = [h for h in header if h not in BARE_SLIM and not h.startswith("LimitedPartnerships.")]
    out_db.unlink(missing_ok=True)
    con = duckdb.connect(str(out_db))
    try:
        con.execute(BARE_MACROS)
        con.execute(BARE_SCAN.format(
            slim=", ".join(sql_text(c, '"') for c in BARE_SLIM),
            kept=", ".join(f"CASE WHEN vcse THEN {sql_text(c, chr(34))} END AS {sql_text(c, chr(34))}" for c in kept),
            categories=", ".join(sql_text(c) for c in categories), csv=sql_text(csv_path)))
        con.execute(BARE_TABLES.format(
            previous_dates=", ".join(f'"PreviousName_{n}.CONDATE"' for n in range(1, 11)),
            previous_names=", ".join(f'"PreviousName_{n}.CompanyName"' for n in range(1, 11))))
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()
        csv_path.unlink(missing_ok=True)


def compare(stage_db: Path, bare_db: Path, tables: tuple[str, ...] = TABLES) -> dict[str, str]:
    """Per table: 'same' when both files hold it with equal columns and types and equal rows (as multisets),
    else what differs."""
    import duckdb

    con = duckdb.connect()
    for name, path in (("stage", stage_db), ("bare", bare_db)):
        con.execute(f"ATTACH {sql_text(path)} AS {name} (READ_ONLY)")
    verdicts = {}
    for table in tables:
        schemas = [con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                               "AND table_name = ? ORDER BY column_index", [db, table]).fetchall()
                   for db in ("stage", "bare")]
        if schemas[0] != schemas[1]:
            verdicts[table] = f"columns differ: stage {schemas[0]}, bare {schemas[1]}"
            continue
        only = [con.execute(f"SELECT count(*) FROM (FROM {a}.{table} EXCEPT ALL FROM {b}.{table})").fetchone()[0]
                for a, b in (("stage", "bare"), ("bare", "stage"))]
        verdicts[table] = "same" if only == [0, 0] else f"{only[0]} rows only in stage, {only[1]} only in bare"
    con.close()
    return verdicts


# ------------------------------------------------------------------------------------------------- measuring

def run_stage(zip_path: Path, work: Path) -> dict:
    from vcse_pipeline.config import Config
    from vcse_pipeline.pipeline import stage_source

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(work / "data")}})
    return stage_source(cfg, "companies_house", [zip_path])


def child(kind: str, zip_path: Path, work: Path, categories: list[str]) -> None:
    started = time.monotonic()
    if kind == "bare":
        result = run_bare(zip_path, work / "bare.duckdb", categories, work)
    else:
        result = run_stage(zip_path, work)
    report_child(started, result)


def report_child(started: float, rows: dict) -> None:
    """Print what this measured process used, as the last line of its output (read by measure)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds_in_process": round(time.monotonic() - started, 2),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
                      "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "rows": rows}))


def measure(script: Path, kind: str, args: list[str]) -> dict:
    """Run `script --child kind args...` in a new process: its report_child line, with the wall time around it."""
    cmd = [sys.executable, str(script), "--child", kind, *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall_seconds"] = round(wall, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_500_000, help="rows to generate (default 5.5 million)")
    parser.add_argument("--zip", type=Path, help="benchmark this Companies House zip instead of generating one")
    parser.add_argument("--work", type=Path, default=WORK,
                        help=f"scratch folder: the generated zip (kept for the next run), staging files ({WORK})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each, interleaved; the lowest CPU counts (the machine may be shared)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the generated zip even if present")
    parser.add_argument("--child", choices=["bare", "stage"], help=argparse.SUPPRESS)
    parser.add_argument("--categories", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.zip, args.work, args.categories)
        return

    work = args.work / (args.zip.stem if args.zip else str(args.rows))
    work.mkdir(parents=True, exist_ok=True)
    zip_path = args.zip or work / f"{RELEASE}.zip"
    if args.zip is None and (args.regenerate or not zip_path.exists()):
        started = time.monotonic()
        generate(args.rows, zip_path)
        print(f"generated {zip_path} ({zip_path.stat().st_size / 1e9:.2f} GB) in {time.monotonic() - started:.0f}s")
    with zipfile.ZipFile(zip_path) as zf:
        csv_bytes = zf.infolist()[0].file_size

    # The bare script gets the VCSE categories from the settings staging uses, and nothing else of the pipeline.
    from vcse_pipeline.config import Config

    categories = list(Config.load(environ={}).source("companies_house")["categories"])
    trials: dict[str, list[dict]] = {"bare": [], "stage": []}
    for _ in range(args.repeat):
        for kind in trials:
            trials[kind].append(measure(Path(__file__), kind, ["--zip", str(zip_path), "--work", str(work),
                                                              "--categories", json.dumps(categories)]))
    same = compare(work / "data" / "staging" / "companies_house.duckdb", work / "bare.duckdb")
    summarise(trials, same, {"zip": str(zip_path), "rows": args.rows if args.zip is None else None,
                             "zip_gb": round(zip_path.stat().st_size / 1e9, 3), "csv_gb": round(csv_bytes / 1e9, 3)},
              OUT / "stage_companies_house.json")


def summarise(trials: dict[str, list[dict]], same: dict[str, str], about: dict, out: Path) -> None:
    """Print the runs and the stage / bare ratios, write them to `out`; fail when the tables differ."""
    best = {kind: min(reports, key=lambda r: r["cpu_seconds"]) for kind, reports in trials.items()}
    cpu_ratio = best["stage"]["cpu_seconds"] / best["bare"]["cpu_seconds"]
    wall_ratio = min(r["wall_seconds"] for r in trials["stage"]) / min(r["wall_seconds"] for r in trials["bare"])
    print(f"\n{'run':<7}{'best cpu s':>11}{'all cpu s':>24}{'best wall s':>12}{'all wall s':>24}{'peak MB':>9}")
    for kind, reports in trials.items():
        cpus = ", ".join(f"{r['cpu_seconds']:.1f}" for r in reports)
        walls = ", ".join(f"{r['wall_seconds']:.1f}" for r in reports)
        print(f"{kind:<7}{best[kind]['cpu_seconds']:>11.1f}{cpus:>24}{min(r['wall_seconds'] for r in reports):>12.1f}"
              f"{walls:>24}{max(r['peak_rss_mb'] for r in reports):>9.0f}")
    print(f"\nrows: {best['stage']['rows']}")
    print(f"tables equal: {same}")
    print(f"stage / bare: cpu {cpu_ratio:.2f}x (target <= 1x), wall {wall_ratio:.2f}x")
    equal = all(v == "same" for v in same.values())
    summary = {
        **about,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_after": os.getloadavg()},
        "trials": trials, "best_by_cpu": best, "tables_equal": same,
        "stage_over_bare_cpu": round(cpu_ratio, 2), "stage_over_bare_wall": round(wall_ratio, 2),
        "stage_peak_rss_mb": max(r["peak_rss_mb"] for r in trials["stage"]),
        "bare_peak_rss_mb": max(r["peak_rss_mb"] for r in trials["bare"]),
        "meets_target": cpu_ratio <= 1 and equal,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    if not equal:
        raise SystemExit("the stage and the bare script made different tables: see above")


if __name__ == "__main__":
    main()
