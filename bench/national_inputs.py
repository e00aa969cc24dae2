"""National-size inputs for the benches: all five sources in the registers' real file formats, made set-wise by DuckDB.

    .venv/bin/python bench/national_inputs.py /tmp/natgen_025 --scale 0.25
    .venv/bin/python bench/national_inputs.py /tmp/natgen_025r --scale 0.25 --perturb 0.01   # ~1% changed

At scale 1: an ONS Postcode Directory of 2.7 million postcodes (a third terminated) over the 295 English local
authorities and Wales's 22, a Companies House BasicCompanyDataAsOneFile of 5.5 million companies (about 8% in the
VCSE-relevant categories), a Charity Commission extract of 390,000 charities (the eight tables the pipeline stages;
about a million area-of-operation rows) and 12,000 FCA societies; UKCAT is the project's copy. Most organisations are
outside any one area. Cross-register links are as in the real registers: charitable companies give their company
number (the company row has the charity's name, upper case, often with LIMITED, usually at the same postcode), half
the CIOs' Companies House rows are named only (linked by name and postcode), societies are at Companies House under
their IP/RS numbers; linked charities share their main charity's number and name it.

The files are laid out as `vcse demo` lays them out (vcse_pipeline/demo/generate.py), so
`demo_source_overrides(out_dir)` points every source at them; the column lists are the loaders' and the demo's
(vcse_pipeline/demo/formats.py), names and text come from the demo's purposes (vcse_pipeline/demo/purposes.toml),
so the tagging rules find their themes. Real facts: the local authority codes of Wales and the English unitary,
metropolitan and London areas (the Charity Commission area lookup shipped in vcse_pipeline/reference/) and the
classification, SIC and area-of-operation vocabularies; the 162 English district codes (E07) are in the real format
and range but not checked against the ONS list, and every name, address and number is synthetic.

Every value is a hash of the row number, a salt and the seed, so a scale and seed always give the same files;
`--perturb F` re-draws the name, postcode, income and text of about a fraction F of the organisations (the same ones
at every F), for a refresh bench. Writes through DuckDB COPY and zips with deflate level 1: about a minute per 0.25x
on a 2-core machine. Output: the data files, manifest.json (row counts, seconds) under OUT_DIR.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from vcse_pipeline.db import sql_literal  # noqa: E402
from vcse_pipeline.demo.formats import (  # noqa: E402
    CCEW_HEADERS,
    COMPANIES_HOUSE_HEADER,
    FCA_SOCIETY_HEADER,
    ONSPD_2025_HEADER,
)
from vcse_pipeline.demo.generate import (  # noqa: E402
    CCEW_TABLES,
    CLASSIFICATION_FILE,
    COMPANIES_FILE,
    LA_LOOKUP,
    ONSPD_FILE,
    UKCAT_FILE,
    WARD_LOOKUP,
    demo_source_overrides,
)
from vcse_pipeline.demo.vocabulary import SIC_TEXT, STREET_STEM_ENDINGS, STREET_STEMS, STREET_SUFFIXES, SURNAMES  # noqa: E402
from vcse_pipeline.register.area import AREA_OF_OPERATION_FILE  # noqa: E402

# Rows at scale 1 (issue 15's national sizes).
POSTCODES, COMPANIES, CHARITIES, SOCIETIES = 2_700_000, 5_500_000, 390_000, 12_000
ENGLISH_AREAS = 295
WARDS_PER_AREA = 24
DEFAULT_SEED = 20261203
EXTRACT = "2026-11-20 00:00:00.0000000"
INWARD = "ABDEFGHJLNPQRSTUWXYZ"  # Royal Mail's inward-code letters
AREA_LETTERS = "ABCDEFGHJKLMNOPRSTUW"  # two of these start each area's postcodes ("ZZ" is never in the directory)
PLACE_ENDINGS = (*STREET_STEM_ENDINGS, "ton", "ham", "by", "ley", "worth", "bury", "ford", "combe")
TRADES = ("CONSULTING", "PROPERTIES", "HOLDINGS", "TRADING", "SERVICES", "DEVELOPMENTS", "SOLUTIONS", "DESIGN",
          "BUILDERS", "LOGISTICS", "VENTURES", "TECHNOLOGY", "INVESTMENTS", "MEDIA", "ENGINEERING", "RETAIL")
ORDINARY_CATEGORIES = (("Private Limited Company", 9300), ("Limited Liability Partnership", 300),
                       ("Public Limited Company", 60), ("Limited Partnership", 200), ("Private Unlimited Company", 40),
                       ("Overseas Entity", 100))
VCSE_CATEGORIES = (("PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)", 60),
                   ("Community Interest Company", 28),
                   ("PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of 'Limited' exemption)", 9),
                   ("Royal Charter Company", 1), ("Scottish Charitable Incorporated Organisation", 2))
VCSE_SHARE = 0.08  # of Companies House rows in the VCSE-relevant categories (about 440,000 at scale 1)
SUBSIDIARY_NAMES = ("Endowment Fund", "Restricted Fund", "Building Fund", "Educational Foundation", "Relief in Need",
                    "Poor's Land", "Memorial Fund", "Church Lands")
OTHER_NAME_PREFIXES = ("Friends of", "The", "Our", "Team")


class Seeded:
    """A DuckDB connection whose every hash() also takes the seed: the same seed, the same files."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seed: int):
        self.con, self.seed = con, int(seed)

    def execute(self, sql: str, params=None):
        return self.con.execute(sql.replace("hash(", f"hash({self.seed}, "), params or [])

    def executemany(self, sql: str, rows):
        return self.con.executemany(sql, rows)


def live_postcode(alias: str, salt: str, n_live: int) -> str:
    """The index of a live postcode (every third one is terminated) drawn for row `alias`."""
    draw = f"hash({alias}.i, '{salt}', {alias}.v)"
    return f"({draw} % {n_live} // 2) * 3 + {draw} % 2"


def perturbed(column: str, salt: str, perturb: float) -> str:
    """1 for the rows a refresh changes (about `perturb` of them, the same rows at every fraction), else 0."""
    return f"CAST(hash({column}, '{salt}') % 1000000 < {round(perturb * 1_000_000)} AS INT)"


def list_sql(values) -> str:
    return "[" + ", ".join(sql_literal(str(v)) for v in values) + "]"


def weighted_sql(expr: str, choices) -> str:
    """A CASE picking among (value, weight) by `expr`, a number in [0, total weight)."""
    total, parts = 0, []
    for value, weight in choices:
        total += weight
        parts.append(f"WHEN {expr} % {sum(w for _, w in choices)} < {total} THEN {sql_literal(value)}")
    return f"CASE {' '.join(parts)} END"


# ---------------------------------------------------------------------------------------------------- geography
def local_authorities() -> list[dict]:
    """295 English local authorities and Wales's 22: code, name, the Charity Commission's (type, description) for
    the area itself (E07 districts: their county), and a size weight."""
    with AREA_OF_OPERATION_FILE.open(encoding="utf-8-sig", newline="") as fh:
        lookup = [(r["geographic_area_type"].strip(), r["geographic_area_description"].strip(), r["GSS"].strip())
                  for r in csv.DictReader(fh) if r["geographic_area_type"].strip() == "Local Authority"]
    real = sorted({gss: desc for kind, desc, gss in lookup if gss[:3] in ("E06", "E08", "E09", "W06")}.items())
    counties = sorted(desc for kind, desc, gss in lookup if gss.startswith("E10"))
    areas = [{"code": gss, "name": desc, "aoo": desc} for gss, desc in real]
    english = sum(a["code"].startswith("E") for a in areas)
    stems = [s + e for s in STREET_STEMS for e in PLACE_ENDINGS if e]
    for k in range(ENGLISH_AREAS - english):
        areas.append({"code": f"E07{8 + k:06d}", "name": stems[(k * 37) % len(stems)],
                      "aoo": counties[k % len(counties)]})
    areas.sort(key=lambda a: a["code"])
    for idx, area in enumerate(areas):
        area["idx"] = idx
        area["letters"] = AREA_LETTERS[idx // 20 % 20] + AREA_LETTERS[idx % 20]
        area["weight"] = 0.4 + ((idx * 7919 + 13) % 97) / 60  # 0.4-2.0: areas differ in size, like councils
    return areas


def create_geography(con: duckdb.DuckDBPyConnection, n_postcodes: int) -> None:
    areas = local_authorities()
    total = sum(a["weight"] for a in areas)
    first = 0
    for area in areas:
        area["n_pc"] = max(WARDS_PER_AREA * 3, round(n_postcodes * area["weight"] / total))
        area["first_pc"], first = first, first + area["n_pc"]
    con.execute("CREATE TABLE lad (idx INT, code VARCHAR, name VARCHAR, aoo VARCHAR, letters VARCHAR, n_pc BIGINT, "
                "first_pc BIGINT)")
    con.executemany("INSERT INTO lad VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [[a["idx"], a["code"], a["name"], a["aoo"], a["letters"], a["n_pc"], a["first_pc"]]
                     for a in areas])
    places = [s + e for s in STREET_STEMS for e in PLACE_ENDINGS]
    # Global index i; every third postcode is terminated; a ward is a run of an area's postcodes.
    con.execute(f"""
        CREATE TABLE pc AS
        WITH g AS (SELECT idx, code, name, letters, n_pc, first_pc, unnest(range(n_pc)) AS local FROM lad)
        SELECT first_pc + local AS pc_i, idx AS lad_idx, code AS lad_code, name AS lad_name,
               letters || CAST(local // 4000 + 1 AS VARCHAR) || ' ' || CAST(local % 4000 // 400 AS VARCHAR)
                   || substr('{INWARD}', CAST(local % 400 // 20 + 1 AS INT), 1)
                   || substr('{INWARD}', CAST(local % 20 + 1 AS INT), 1) AS pcds,
               (first_pc + local) % 3 = 2 AS terminated,
               CAST(local * {WARDS_PER_AREA} // n_pc AS INT) AS ward_n,
               left(code, 1) || '05' || lpad(CAST(idx * {WARDS_PER_AREA} + local * {WARDS_PER_AREA} // n_pc + 100
                                                  AS VARCHAR), 6, '0') AS ward_code,
               left(code, 1) || '01' || lpad(CAST(idx * 120 + local * 120 // n_pc AS VARCHAR), 6, '0') AS lsoa,
               1 + hash(idx * 120 + local * 120 // n_pc, 'imd') % 32844 AS imd,
               50.6 + (hash(idx, 'lat') % 2800) / 1000 + (local % 500) / 20000 AS lat,
               -4.4 + (hash(idx, 'long') % 5000) / 1000 + (local % 700) / 20000 AS long,
               one_of({list_sql(places)}, hash(idx, local * {WARDS_PER_AREA} // n_pc, 'ward'))
                   AS ward_name
        FROM g
    """)


def write_postcodes(con, out: Path, work: Path) -> dict:
    constant = {"cty25cd": "E99999999", "ced25cd": "E99999999", "usrtypind": "0", "gridind": "1", "ssr95cd": "0",
                "wdstl05cd": "99ZZ00", "wdcas03cd": "99ZZ00", "npark16cd": "E65000001", "ruc01ind": "5",
                "oac01ind": "3C2", "ruc11ind": "A1", "oac11ind": "1C3", "lep21cd1": "E37000022", "lep21cd2": "",
                "pfa23cd": "E23000004", "cal24cd": "E56000001", "icb23cd": "E54000008", "ruc21ind": "UN1"}
    by_column = {
        "pcd7": "rpad(split_part(pcds, ' ', 1), 4, ' ') || split_part(pcds, ' ', 2)",
        "pcd8": "rpad(split_part(pcds, ' ', 1), 5, ' ') || split_part(pcds, ' ', 2)", "pcds": "pcds",
        "dointr": "CAST(198001 + 100 * (hash(pc_i, 'in') % 40) AS VARCHAR)",
        "doterm": "CASE WHEN terminated THEN CAST(200001 + 100 * (hash(pc_i, 'term') % 25) AS VARCHAR) ELSE '' END",
        "lad25cd": "lad_code", "wd25cd": "ward_code", "parncp25cd": "left(lad_code, 1) || '43' || right(lad_code, 6)",
        "east1m": "CAST(CAST(400000 + (long + 2) * 66600 AS INT) AS VARCHAR)",
        "north1m": "lpad(CAST(CAST((lat - 49.89) * 111200 AS INT) AS VARCHAR), 7, '0')",
        "hlth19cd": "'E38' || right(lad_code, 6)", "nhser24cd": "'E40000010'",
        "ctry25cd": "CASE WHEN lad_code LIKE 'E%' THEN 'E92000001' ELSE 'W92000004' END",
        "rgn25cd": "CASE WHEN lad_code LIKE 'E%' THEN 'E1200000' || CAST(1 + lad_idx % 9 AS VARCHAR) "
                   "ELSE 'W99999999' END",
        "pcon24cd": "left(lad_code, 1) || '14001' || lpad(CAST(lad_idx * 2 % 1000 AS VARCHAR), 3, '0')",
        "eer20cd": "'E15000002'", "educ23cd": "lad_code", "ttwa15cd": "'E30000' || right(lad_code, 3)",
        "pco19cd": "'E16' || right(lad_code, 6)", "itl25cd": "lad_code", "oa01cd": "'E00' || right(lsoa, 6)",
        "lsoa01cd": "lsoa", "msoa01cd": "'E02' || right(lsoa, 6)", "oa11cd": "'E00' || right(lsoa, 6)",
        "lsoa11cd": "lsoa", "msoa11cd": "'E02' || right(lsoa, 6)", "wz11cd": "'E33' || right(lsoa, 6)",
        "sicbl24cd": "'E38' || right(lad_code, 6)", "bua24cd": "'E63' || right(lad_code, 6)", "oa21cd":
        "'E00' || right(lsoa, 6)", "lsoa21cd": "lsoa", "msoa21cd": "'E02' || right(lsoa, 6)",
    }
    bare = {"lat": "printf('%.6f', lat)", "long": "printf('%.6f', long)", "imd20ind": "CAST(imd AS VARCHAR)"}
    parts = [bare[c] if c in bare else
             "'\"' || " + (by_column.get(c) or sql_literal(constant[c])) + " || '\"'" for c in ONSPD_2025_HEADER]
    data, wards, las = work / "onspd.csv", work / "wards.csv", work / "las.csv"
    copy_lines(con, f"SELECT concat_ws(',', {', '.join(parts)}) FROM pc ORDER BY pc_i", data)
    copy_lines(con, "SELECT DISTINCT ward_code || ',' || ward_name || ',' FROM pc ORDER BY 1", wards)
    copy_lines(con, "SELECT code || ',' || name || ',' FROM lad ORDER BY code", las)
    write_zip(out / "postcodes" / f"{ONSPD_FILE}.zip", [
        (f"Data/{ONSPD_FILE}.csv", ",".join(ONSPD_2025_HEADER) + "\n", data),
        (WARD_LOOKUP, "WD25CD,WD25NM,WD25NMW\n", wards), (LA_LOOKUP, "LAD25CD,LAD25NM,LAD25NMW\n", las)])
    return {"postcodes.postcode": count(con, "pc"), "postcodes.local_authority": count(con, "lad")}


# ---------------------------------------------------------------------------------------------------- organisations
def create_vocabulary(con) -> None:
    purposes = tomllib.loads((ROOT / "vcse_pipeline" / "demo" / "purposes.toml").read_text(encoding="utf-8"))
    rows = [[p, row["key"], row["names"], row["activities"], row["objects"], [*row["what"], *row["who"], *row["how"]],
             f"{row['sic']} - {SIC_TEXT[row['sic']]}", row["income"]]
            for p, row in enumerate(purposes["purpose"])]
    con.execute("CREATE TABLE purpose (p INT, key VARCHAR, names VARCHAR[], activities VARCHAR[], objects VARCHAR, "
                "codes INT[], sic_text VARCHAR, income BIGINT)")
    con.executemany("INSERT INTO purpose VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"CREATE TABLE classification AS SELECT * FROM read_csv({sql_literal(CLASSIFICATION_FILE)}, "
                "all_varchar = true)")
    with AREA_OF_OPERATION_FILE.open(encoding="utf-8-sig", newline="") as fh:
        lookup = [r for r in csv.DictReader(fh)]
    local = [(r["geographic_area_type"], r["geographic_area_description"]) for r in lookup
             if r["geographic_area_type"] in ("Local Authority", "Metropolitan Counties") and r["GSS"].startswith("E")]
    countries = [r["geographic_area_description"] for r in lookup if r["geographic_area_type"] == "Country"
                 and r["GSS"] == ""]
    con.execute("CREATE TABLE aoo_local AS SELECT unnest(?) AS kind, unnest(?) AS description",
                [[k for k, _ in local], [d for _, d in local]])
    con.execute(f"CREATE MACRO aoo_local_n() AS {len(local)}")
    con.execute("CREATE MACRO area(kind, description, pick := NULL) AS "
                "{'kind': CAST(kind AS VARCHAR), 'description': CAST(description AS VARCHAR), "
                "'pick': CAST(pick AS BIGINT)}")
    con.execute(f"CREATE MACRO countries() AS {list_sql(countries)}")
    con.execute(f"CREATE MACRO streets() AS {list_sql([s + e for s in STREET_STEMS for e in STREET_STEM_ENDINGS])}")
    con.execute(f"CREATE MACRO street_kinds() AS {list_sql(STREET_SUFFIXES)}")
    con.execute(f"CREATE MACRO surnames() AS {list_sql(s.upper() for s in SURNAMES)}")
    con.execute(f"CREATE MACRO trades() AS {list_sql(TRADES)}")
    with (ROOT / "vcse_pipeline" / "reference" / "sic2007.csv").open(encoding="cp1252", newline="") as fh:
        sic = list(csv.DictReader(fh))  # the file is Windows-1252
    con.execute(f"CREATE MACRO sic_texts() AS {list_sql(r['code'] + ' - ' + r['subclass_name'] for r in sic)}")


def create_charities(con, n: int, perturb: float) -> None:
    """charity: every charity, main (linked_charity_number 0) and linked; `v` is 1 for a perturbed one."""
    mains = round(n * 0.93)
    n_live = con.execute("SELECT count(*) FROM pc WHERE NOT terminated").fetchone()[0]
    con.execute(f"""
        CREATE TABLE charity_base AS
        WITH r AS (SELECT range AS i, {perturbed('range', 'perturb', perturb)} AS v FROM range({mains}))
        SELECT i, v, CAST(hash(i, 'purpose') % (SELECT count(*) FROM purpose) AS INT) AS p,
               -- a live postcode mostly; some terminated, some missing or not in the directory
               CASE WHEN hash(i, 'nopc', v) % 1000 < 15 THEN -1
                    WHEN hash(i, 'nopc', v) % 1000 < 20 THEN -2
                    WHEN hash(i, 'nopc', v) % 1000 < 50 THEN (hash(i, 'pc', v) % {n_live // 2}) * 3 + 2
                    ELSE {live_postcode('r', 'pc', n_live)} END AS pc_i,
               hash(i, 'status') % 100 < 45 AS registered,
               DATE '1962-01-01' + CAST(hash(i, 'reg') % 23000 AS INT) AS registered_on,
               hash(i, 'company') % 100 < 20 AS charitable_company,
               hash(i, 'cio') % 100 < 40 AS cio_if_recent
        FROM r
    """)
    con.execute("""
        CREATE TABLE charity AS
        SELECT b.*, 200000 + b.i AS charity_number, 0 AS linked_number, 1000000 + b.i AS organisation_number,
               b.registered AND b.cio_if_recent AND b.registered_on >= DATE '2013-01-01'
                   AND NOT b.charitable_company AS is_cio,
               CASE WHEN hash(b.i, 'name', b.v) % 100 < 35
                    THEN one_of(streets(), hash(b.i, 'street')) || ' '
                         || one_of(street_kinds(), hash(b.i, 'kind')) || ' ' ELSE '' END
               || replace(one_of(u.names, hash(b.i, 'template', b.v)), '{place}',
                          coalesce(pc.ward_name, 'Hope')) AS name,
               replace(one_of(u.activities, hash(b.i, 'activity', b.v)), '{place}',
                       coalesce(pc.ward_name, 'the area')) AS activities,
               replace(u.objects, '{place}', coalesce(pc.lad_name, 'England')) AS objects,
               u.codes, u.sic_text,
               CAST(u.income * pow(10, ((hash(b.i, 'inc1', b.v) % 1000 + hash(b.i, 'inc2', b.v) % 1000) / 1000.0 - 1)
                                    * 1.3) AS BIGINT) AS income,
               CASE WHEN b.pc_i = -2 THEN 'ZZ' || CAST(1 + b.i % 90 AS VARCHAR) || ' 9ZZ' ELSE pc.pcds END AS postcode,
               pc.lad_idx, pc.lad_name, pc.ward_name, l.aoo AS own_aoo
        FROM charity_base b JOIN purpose u USING (p)
        LEFT JOIN pc ON pc.pc_i = b.pc_i LEFT JOIN lad l ON l.idx = pc.lad_idx
    """)
    con.execute(f"""
        INSERT INTO charity BY NAME
        SELECT {mains} + k AS i, m.v, m.p, m.pc_i, m.registered AND hash(k, 'lstatus') % 100 < 80 AS registered,
               m.registered_on, FALSE AS charitable_company, FALSE AS cio_if_recent, m.charity_number,
               row_number() OVER (PARTITION BY m.i ORDER BY k) AS linked_number,
               1000000 + {mains} + k AS organisation_number, FALSE AS is_cio,
               m.name || ' ' || one_of({list_sql(SUBSIDIARY_NAMES)}, hash(k, 'sub')) AS name,
               m.activities, m.objects, m.codes, m.sic_text, NULL AS income, NULL AS postcode, m.lad_idx, m.lad_name,
               m.ward_name, m.own_aoo
        FROM range({n - mains}) r(k) JOIN charity m ON m.i = hash(k, 'parent') % {mains}
    """)


def ccew_date(expr: str) -> str:
    return f"strftime({expr}, '%Y-%m-%d') || ' 00:00:00.0000000'"


def ccew_select(table: str, values: dict[str, str], source: str) -> str:
    """One tab-separated line per row of `source`: the table's columns in the extract's order, blank if unset."""
    keys = {"date_of_extract": sql_literal(EXTRACT), "organisation_number": "organisation_number",
            "registered_charity_number": "charity_number", "linked_charity_number": "linked_number"}
    columns = CCEW_HEADERS[table]
    unknown = set(values) - set(columns)
    if unknown:
        raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
    exprs = [f"coalesce(CAST({values.get(c) or keys.get(c) or 'NULL'} AS VARCHAR), '')" for c in columns]
    return f"SELECT concat_ws(chr(9), {', '.join(exprs)}) FROM {source}"


def write_charities(con, out: Path, work: Path) -> dict:
    main = "(SELECT * FROM charity WHERE linked_number = 0)"
    returns = f"""(SELECT c.*, y, make_date(y, 3, 31) AS fin_end,
                          CAST(c.income * (0.8 + (hash(c.i, y) % 400) / 1000.0) AS BIGINT) AS year_income
                   FROM {main} c, range(2023, 2026) t(y) WHERE c.registered AND c.registered_on < DATE '2022-01-01')"""
    latest = f"(SELECT * FROM {returns} WHERE y = 2025)"
    con.execute("""
        CREATE TABLE area_of_operation AS
        WITH k AS (SELECT *, hash(i, 'aoo', v) % 100 AS kind_pick FROM charity WHERE linked_number = 0),
        picks AS (
            SELECT organisation_number, charity_number, linked_number,
                CASE WHEN kind_pick < 35 THEN [area('Local Authority', own_aoo)]
                     -- its own area and some others, from the lookup (by row number: filled in below)
                     WHEN kind_pick < 60 THEN list_prepend(area('Local Authority', own_aoo),
                          list_transform(range(CAST(1 + hash(i, 'n') % 8 AS BIGINT)),
                                         lambda x: area(NULL, NULL, CAST(hash(i, x) % aoo_local_n() AS BIGINT))))
                     WHEN kind_pick < 72 THEN [area('Region', 'Throughout England')]
                     WHEN kind_pick < 80 THEN [area('Region', 'Throughout England And Wales')]
                     WHEN kind_pick < 94 THEN list_transform(range(CAST(1 + hash(i, 'n') % 10 AS BIGINT)),
                          lambda x: area('Country', one_of(countries(), hash(i, x))))
                     ELSE [area('Region', 'Throughout London')] END AS areas
            FROM k WHERE own_aoo IS NOT NULL OR kind_pick >= 60
        )
        SELECT organisation_number, charity_number, linked_number, a.kind, a.description, a.pick
        FROM (SELECT *, unnest(areas) AS a FROM picks)
    """)
    con.execute("""
        UPDATE area_of_operation SET kind = l.kind, description = l.description
        FROM (SELECT row_number() OVER () - 1 AS pick, kind, description FROM aoo_local) l
        WHERE area_of_operation.pick = l.pick
    """)
    # Wales's areas are in the lookup by the same names as a Local Authority; E07 districts name their county.
    con.execute("DELETE FROM area_of_operation WHERE description IS NULL")
    tables = {
        "charity": ccew_select("charity", {
            "charity_name": "name",
            "charity_type": "CASE WHEN linked_number > 0 THEN '' WHEN is_cio THEN 'CIO' WHEN charitable_company "
                            "THEN 'Charitable company' WHEN hash(i, 'type') % 3 = 0 THEN 'Trust' ELSE 'Other' END",
            "charity_registration_status": "CASE WHEN registered THEN 'Registered' ELSE 'Removed' END",
            "date_of_registration": ccew_date("registered_on"),
            "date_of_removal": "CASE WHEN NOT registered THEN " + ccew_date(
                "least(registered_on + CAST(hash(i, 'removed') % 9000 AS INT) + 30, DATE '2026-10-01')") + " END",
            "charity_reporting_status": "CASE WHEN linked_number > 0 THEN '' WHEN NOT registered THEN 'Removed' "
                                        "ELSE 'Submission Received' END",
            "latest_income": "CASE WHEN registered AND linked_number = 0 THEN income END",
            "latest_expenditure": "CASE WHEN registered AND linked_number = 0 THEN income * 9 // 10 END",
            "latest_acc_fin_period_start_date": "CASE WHEN registered AND linked_number = 0 THEN "
                                                "'2024-04-01 00:00:00.0000000' END",
            "latest_acc_fin_period_end_date": "CASE WHEN registered AND linked_number = 0 THEN "
                                              "'2025-03-31 00:00:00.0000000' END",
            "charity_contact_address1": "CASE WHEN registered AND linked_number = 0 THEN "
                                        "CAST(1 + hash(i, 'no') % 200 AS VARCHAR) || ' ' "
                                        "|| one_of(streets(), hash(i, 'addr', v)) || ' Road' END",
            "charity_contact_address2": "CASE WHEN registered AND linked_number = 0 THEN ward_name END",
            "charity_contact_address3": "CASE WHEN registered AND linked_number = 0 THEN lad_name END",
            "charity_contact_postcode": "CASE WHEN registered AND linked_number = 0 THEN postcode END",
            "charity_contact_phone": "CASE WHEN registered AND linked_number = 0 THEN "
                                     "'01' || lpad(CAST(hash(i, 'tel') % 1000000000 AS VARCHAR), 9, '0') END",
            "charity_contact_email": "CASE WHEN registered AND linked_number = 0 AND hash(i, 'mail') % 100 < 45 THEN "
                                     "CASE WHEN hash(i, 'mail') % 100 < 12 THEN 'charity' || CAST(i AS VARCHAR) "
                                     "|| '@gmail.com' ELSE 'info@c' || CAST(i AS VARCHAR) || '.org.uk' END END",
            "charity_contact_web": "CASE WHEN registered AND linked_number = 0 AND hash(i, 'web') % 100 < 40 THEN "
                                   "'www.c' || CAST(i AS VARCHAR) || '.org.uk' END",
            "charity_company_registration_number": "company_number",
            "charity_insolvent": "'False'", "charity_in_administration": "'False'",
            "charity_previously_excepted": "CASE WHEN linked_number = 0 THEN 'False' END",
            "charity_is_cdf_or_cif": "''",
            "charity_is_cio": "CASE WHEN linked_number = 0 THEN CASE WHEN is_cio THEN 'True' ELSE 'False' END END",
            "cio_is_dissolved": "CASE WHEN linked_number = 0 THEN 'False' END",
            "charity_activities": "CASE WHEN linked_number = 0 THEN activities END",
            "charity_gift_aid": "CASE WHEN linked_number = 0 THEN 'True' END",
            "charity_has_land": "CASE WHEN linked_number = 0 THEN 'False' END",
        }, "(SELECT c.*, n.company_number FROM charity c LEFT JOIN charity_company n USING (i) ORDER BY i)"),
        "charity_classification": ccew_select("charity_classification", {
            "classification_code": "code", "classification_type": "t.classification_type",
            "classification_description": "t.classification_description"},
            f"(SELECT c.*, unnest(c.codes) AS code FROM {main} c ORDER BY i) x "
            "JOIN classification t ON t.classification_code = CAST(x.code AS VARCHAR)"),
        "charity_area_of_operation": ccew_select("charity_area_of_operation", {
            "geographic_area_type": "kind", "geographic_area_description": "description",
            "parent_geographic_area_type": "''", "parent_geographic_area_description": "''",
            "welsh_ind": "'False'"}, "area_of_operation"),
        "charity_other_names": ccew_select("charity_other_names", {
            "charity_name_id": "i * 7 + 1000", "charity_name_type": "'Working Name'",
            "charity_name": f"one_of({list_sql(OTHER_NAME_PREFIXES)}, hash(i, 'on')) "
                            "|| ' ' || name"},
            f"(SELECT * FROM {main} WHERE hash(i, 'other') % 100 < 8 ORDER BY i)"),
        "charity_governing_document": ccew_select("charity_governing_document", {
            "governing_document_description": "CASE WHEN is_cio THEN 'Constitution adopted ' ELSE 'Trust deed ' END "
                                              "|| strftime(registered_on, '%d %B %Y')",
            "charitable_objects": "objects", "area_of_benefit": "coalesce(lad_name, 'England')"},
            "(SELECT * FROM charity ORDER BY i)"),
        "charity_annual_return_history": ccew_select("charity_annual_return_history", {
            "fin_period_start_date": ccew_date("make_date(y - 1, 4, 1)"),
            "fin_period_end_date": ccew_date("fin_end"), "ar_cycle_reference": "'AR' || CAST(y % 100 AS VARCHAR)",
            "reporting_due_date": ccew_date("fin_end + INTERVAL 10 MONTH"),
            "date_annual_return_received": ccew_date("fin_end + INTERVAL 6 MONTH"),
            "total_gross_income": "year_income", "total_gross_expenditure": "year_income * 9 // 10",
            "suppression_ind": "'False'"}, f"(SELECT * FROM {returns} ORDER BY i, y)"),
        "charity_annual_return_parta": ccew_select("charity_annual_return_parta", {
            **part_keys(), "total_gross_income": "year_income", "total_gross_expenditure": "year_income * 9 // 10",
            "charity_raises_funds_from_public": "CASE WHEN hash(i, 'pub') % 10 < 6 THEN 'True' ELSE 'False' END",
            "charity_receives_govt_funding_contracts": "CASE WHEN hash(i, 'gc') % 4 = 0 THEN 'True' ELSE 'False' END",
            "charity_receives_govt_funding_grants": "CASE WHEN hash(i, 'gg') % 2 = 0 THEN 'True' ELSE 'False' END",
            "count_volunteers": "hash(i, 'vol') % 120"},
            f"(SELECT * FROM {latest} WHERE year_income > 10000 ORDER BY i)"),
        "charity_annual_return_partb": ccew_select("charity_annual_return_partb", {
            **part_keys(), "income_total_income_and_endowments": "year_income",
            "income_donations_and_legacies": "year_income // 4", "income_charitable_activities": "year_income // 2",
            "expenditure_total": "year_income * 9 // 10", "funds_total": "year_income // 3",
            "count_employees": "greatest(1, year_income // 32000)", "charity_only_accounts": "'True'"},
            f"(SELECT * FROM {latest} WHERE year_income > 500000 ORDER BY i)"),
    }
    rows = {}
    for table in CCEW_TABLES:
        body = work / f"{table}.txt"
        rows[f"charity_commission.{table}"] = copy_lines(con, tables[table], body, crlf=True)
        write_zip(out / "charity_commission" / f"publicextract.{table}.zip",
                  [(f"publicextract.{table}.txt", "\t".join(CCEW_HEADERS[table]) + "\r\n", body)])
    return rows


def part_keys() -> dict[str, str]:
    return {"latest_fin_period_submitted_ind": "'True'", "fin_period_order_number": "1",
            "ar_cycle_reference": "'AR25'", "fin_period_start_date": ccew_date("make_date(y - 1, 4, 1)"),
            "fin_period_end_date": ccew_date("fin_end"), "ar_due_date": ccew_date("fin_end + INTERVAL 10 MONTH"),
            "ar_received_date": ccew_date("fin_end + INTERVAL 6 MONTH")}


def create_societies(con, n: int, perturb: float) -> None:
    n_live = con.execute("SELECT count(*) FROM pc WHERE NOT terminated").fetchone()[0]
    con.execute(f"""
        CREATE TABLE society AS
        WITH r AS (SELECT range AS i, {perturbed('range', 'sperturb', perturb)} AS v FROM range({n})),
        k AS (SELECT *, hash(i, 'skind') % 100 AS kind_pick, {live_postcode('r', 'spc', n_live)} AS pc_i FROM r)
        SELECT k.i, k.v,
               CASE WHEN kind_pick < 55 THEN 10000 + i * 2 WHEN kind_pick < 95 THEN 7000 + i ELSE 100 + i END
                   AS number,
               CASE WHEN kind_pick < 55 THEN 'R' WHEN kind_pick < 95 THEN '' ELSE 'C' END AS suffix,
               CASE WHEN kind_pick < 55 THEN 'Registered Society' WHEN kind_pick < 75 THEN 'Co-operative Society'
                    WHEN kind_pick < 95 THEN 'Community Benefit Society' ELSE 'Credit Union' END AS registered_as,
               replace(one_of(u.names, hash(i, 'stemplate', v)), '{{place}}', pc.ward_name)
                   || CASE WHEN kind_pick >= 95 THEN ' Credit Union Limited' ELSE ' Limited' END AS name,
               CAST(1 + hash(i, 'sno') % 90 AS VARCHAR) || ' ' || one_of(streets(), hash(i, 'saddr', v))
                   || ' Street, ' || pc.ward_name || ', ' || pc.lad_name || ', ' || pc.pcds AS address,
               pc.pcds AS postcode, pc.lad_name AS town,
               DATE '1975-01-01' + CAST(hash(i, 'sreg') % 18000 AS INT) AS registered_on,
               hash(i, 'sstatus') % 100 < 60 AS registered,
               hash(i, 'sch') % 100 < 60 AS at_companies_house, u.sic_text
        FROM k JOIN pc ON pc.pc_i = k.pc_i
        JOIN purpose u ON u.p = hash(k.i, 'spurpose') % (SELECT count(*) FROM purpose)
    """)


def write_societies(con, out: Path, work: Path) -> dict:
    body = work / "societies.csv"
    n = copy_lines(con, """
        SELECT CAST(number AS VARCHAR) AS a, nullif(suffix, ''), CAST(number AS VARCHAR) || suffix, name, registered_as,
               address,
               strftime(registered_on, '%d/%m/%Y'),
               CASE WHEN NOT registered THEN strftime(least(registered_on + 4000, DATE '2026-06-30'), '%d/%m/%Y')
                    END,  -- NULL: DuckDB writes an empty field unquoted, as the register does
               'Co-operative and Community Benefit Societies Act 2014', left(sic_text, 5),
               CASE WHEN registered_as = 'Credit Union' THEN 'Credit Union' ELSE registered_as END,
               CASE WHEN registered THEN 'Registered' ELSE 'Deregistered' END
        FROM society ORDER BY number, suffix""", body, crlf=True, csv_columns=True)
    path = out / "fca_mutuals" / "SocietyList.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write((",".join(FCA_SOCIETY_HEADER) + "\r\n").encode())
        with body.open("rb") as src:
            shutil.copyfileobj(src, fh, 1 << 22)
    return {"fca_mutuals.society": n}


def create_companies(con, n: int, perturb: float) -> None:
    """company: every Companies House row. Charitable companies and half the CIOs mirror their charity; most
    registered societies mirror their FCA entry; the rest of the VCSE share are CICs and guarantee companies with
    purpose names; everything else is an ordinary company."""
    n_live = con.execute("SELECT count(*) FROM pc WHERE NOT terminated").fetchone()[0]
    con.execute("""
        CREATE TABLE charity_company AS
        SELECT i, CASE WHEN is_cio THEN 'CE' || lpad(CAST(row_number() OVER (ORDER BY i) AS VARCHAR), 6, '0')
                       ELSE lpad(CAST(7000000 + row_number() OVER (ORDER BY i) AS VARCHAR), 8, '0') END
                   AS company_number
        FROM charity WHERE linked_number = 0 AND (charitable_company OR (is_cio AND hash(i, 'cioch') % 2 = 0))
    """)
    mirrored = con.execute("SELECT count(*) FROM charity_company").fetchone()[0]
    societies = con.execute("SELECT count(*) FROM society WHERE at_companies_house").fetchone()[0]
    vcse_other = max(0, round(n * VCSE_SHARE) - mirrored - societies)
    ordinary = max(0, n - mirrored - societies - vcse_other)
    con.execute(f"""
        CREATE TABLE company AS
        -- charitable companies and CIOs: the charity's name in capitals, usually its postcode
        SELECT 0 AS block, c.i, c.v, n.company_number, upper(c.name) || CASE WHEN c.is_cio THEN ''
                   WHEN hash(c.i, 'ltd') % 2 = 0 THEN ' LIMITED' ELSE '' END AS name,
               CASE WHEN c.is_cio THEN 'Charitable Incorporated Organisation'
                    WHEN hash(c.i, 'lbg') % 5 = 0
                    THEN 'PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of ''Limited'' exemption)'
                    ELSE 'PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)' END AS category,
               CASE WHEN hash(c.i, 'samepc') % 100 < 85 THEN c.postcode ELSE pc.pcds END AS postcode,
               c.registered_on AS incorporated, c.sic_text, coalesce(pc.lad_name, c.lad_name) AS town
        FROM charity c JOIN charity_company n USING (i)
        LEFT JOIN pc ON pc.pc_i = {live_postcode('c', 'cpc', n_live)}
        UNION ALL
        SELECT 1, s.i, s.v,
               CASE WHEN s.suffix = 'R' THEN 'IP' || lpad(CAST(s.number AS VARCHAR), 5, '0') || 'R'
                    WHEN s.suffix = 'C' THEN 'IP' || lpad(CAST(s.number AS VARCHAR), 5, '0') || 'C'
                    ELSE 'RS' || lpad(CAST(s.number AS VARCHAR), 6, '0') END,
               upper(s.name), CASE WHEN s.suffix = '' THEN 'Registered Society'
                                   ELSE 'Industrial and Provident Society' END, s.postcode, s.registered_on, s.sic_text,
               s.town
        FROM society s WHERE s.at_companies_house
        UNION ALL
        SELECT 2, r.i, r.v, lpad(CAST(8000000 + r.i AS VARCHAR), 8, '0'),
               upper(replace(one_of(u.names, hash(r.i, 'ctemplate', r.v)), '{{place}}', pc.ward_name)
                     || ' ' || one_of(streets(), hash(r.i, 'cstreet')))
                   || CASE WHEN cat = 'Community Interest Company' THEN ' CIC' ELSE ' LIMITED' END,
               cat, pc.pcds, DATE '1990-01-01' + CAST(hash(r.i, 'cinc') % 13000 AS INT), u.sic_text, pc.lad_name
        FROM (SELECT range AS i, {perturbed('range', 'cperturb', perturb)} AS v,
                     {weighted_sql("hash(range, 'ccat')", VCSE_CATEGORIES)} AS cat FROM range({vcse_other})) r
        JOIN purpose u ON u.p = hash(r.i, 'cpurpose') % (SELECT count(*) FROM purpose)
        JOIN pc ON pc.pc_i = {live_postcode('r', 'cpc', n_live)}
        UNION ALL
        SELECT 3, r.i, r.v, lpad(CAST(1000000 + r.i AS VARCHAR), 8, '0'),
               one_of(surnames(), hash(r.i, 'sur', r.v)) || ' '
               || one_of(trades(), hash(r.i, 'trade')) || ' '
               || CAST(1 + hash(r.i, 'nth') % 999 AS VARCHAR) || ' LIMITED',
               {weighted_sql("hash(r.i, 'ocat')", ORDINARY_CATEGORIES)}, pc.pcds,
               DATE '1980-01-01' + CAST(hash(r.i, 'oinc') % 16800 AS INT),
               one_of(sic_texts(), hash(r.i, 'osic')), pc.lad_name
        FROM (SELECT range AS i, {perturbed('range', 'cperturb', perturb)} AS v FROM range({ordinary})) r
        LEFT JOIN pc ON pc.pc_i = CASE WHEN hash(r.i, 'onopc') % 100 < 2 THEN -1 ELSE
                               {live_postcode('r', 'cpc', n_live)} END
    """)


def write_companies(con, out: Path, work: Path) -> dict:
    """BasicCompanyDataAsOneFile: every field quoted, dates dd/mm/yyyy, the header's leading spaces kept."""
    by_column = {
        "CompanyName": "name", "CompanyNumber": "company_number",
        "RegAddress.AddressLine1": "CASE WHEN postcode IS NOT NULL THEN CAST(1 + hash(i, block, 'no') % 300 AS VARCHAR)"
                                   " || ' ' || upper(one_of(streets(), hash(i, block, 'st'))) "
                                   "|| ' ROAD' END",
        "RegAddress.PostTown": "CASE WHEN postcode IS NOT NULL THEN upper(town) END", "RegAddress.Country": "'ENGLAND'",
        "RegAddress.PostCode": "postcode", "CompanyCategory": "category",
        "CompanyStatus": "CASE WHEN hash(i, block, 'status') % 100 < 94 THEN 'Active' "
                         "ELSE 'Active - Proposal to Strike off' END",
        "CountryOfOrigin": "'United Kingdom'", "IncorporationDate": "strftime(incorporated, '%d/%m/%Y')",
        "Accounts.AccountRefDay": "'31'", "Accounts.AccountRefMonth": "'3'",
        "Accounts.NextDueDate": "'31/12/2026'", "Accounts.LastMadeUpDate": "CASE WHEN incorporated < DATE '2024-03-01' "
                                                                          "THEN '31/03/2025' END",
        "Accounts.AccountCategory": "CASE WHEN incorporated < DATE '2024-03-01' THEN 'MICRO ENTITY' "
                                    "ELSE 'NO ACCOUNTS FILED' END",
        "Mortgages.NumMortCharges": "'0'", "Mortgages.NumMortOutstanding": "'0'",
        "Mortgages.NumMortPartSatisfied": "'0'", "Mortgages.NumMortSatisfied": "'0'",
        "SICCode.SicText_1": "sic_text", "LimitedPartnerships.NumGenPartners": "'0'",
        "LimitedPartnerships.NumLimPartners": "'0'",
        "URI": "'http://business.data.gov.uk/id/company/' || company_number",
        "ConfStmtNextDueDate": "'15/06/2027'", "ConfStmtLastMadeUpDate": "'01/06/2026'",
    }
    fields = [f"coalesce({by_column.get(h.strip(), 'NULL')}, '')" for h in COMPANIES_HOUSE_HEADER]
    body = work / "companies.csv"
    n = copy_lines(con, f"SELECT '\"' || concat_ws('\",\"', {', '.join(fields)}) || '\"' FROM company "
                        "ORDER BY block, i", body)
    write_zip(out / "companies_house" / f"{COMPANIES_FILE}.zip",
              [(f"{COMPANIES_FILE}.csv", ",".join(COMPANIES_HOUSE_HEADER) + "\n", body)])
    return {"companies_house.company": n}


# ---------------------------------------------------------------------------------------------------- files
def copy_lines(con, select: str, path: Path, crlf: bool = False, csv_columns: bool = False) -> int:
    """COPY a query to `path` with no header: one preformatted line per row (or, with csv_columns, DuckDB's CSV
    quoting of several columns); returns the rows written."""
    newline = sql_literal("\r\n" if crlf else "\n")
    options = "" if csv_columns else ", DELIMITER '\x01', QUOTE '\x02', ESCAPE '\x02'"
    con.execute(f"COPY ({select}) TO {sql_literal(path)} (FORMAT csv, HEADER false, NEW_LINE {newline}{options})")
    lines = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            lines += block.count(b"\n")
    return lines


def write_zip(path: Path, members: list[tuple[str, str, Path]]) -> None:
    """A zip of (member name, header line, body file): deflated (level 1: the format, not the ratio, matters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, header, body in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 20, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh, body.open("rb") as src:
                fh.write(header.encode("utf-8"))
                shutil.copyfileobj(src, fh, 1 << 22)
            body.unlink()
    tmp.replace(path)


def count(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def generate(out_dir: Path, scale: float = 1.0, perturb: float = 0.0, seed: int = DEFAULT_SEED,
             threads: int | None = None) -> dict:
    """Write every source under out_dir; returns the manifest (also written to out_dir/manifest.json)."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    work = out_dir / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    raw = duckdb.connect(str(work / "generate.duckdb"))
    con = Seeded(raw, seed)
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET memory_limit = '1500MB'")  # a shared machine; DuckDB spills the rest to the work folder
        con.execute("CREATE MACRO one_of(items, draw) AS items[CAST(1 + draw % len(items) AS BIGINT)]")
        create_geography(con, round(POSTCODES * scale))  # at least 72 postcodes (3 per ward) in every area
        create_vocabulary(con)
        rows = {}
        rows.update(write_postcodes(con, out_dir, work))
        create_charities(con, max(50, round(CHARITIES * scale)), perturb)
        create_societies(con, max(20, round(SOCIETIES * scale)), perturb)
        create_companies(con, max(200, round(COMPANIES * scale)), perturb)
        rows.update(write_charities(con, out_dir, work))
        rows.update(write_societies(con, out_dir, work))
        rows.update(write_companies(con, out_dir, work))
    finally:
        raw.close()
        shutil.rmtree(work, ignore_errors=True)
    ukcat = out_dir / "ukcat" / "ukcat.csv"
    ukcat.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(UKCAT_FILE, ukcat)
    manifest = {"scale": scale, "perturb": perturb, "seed": seed, "rows": rows,
                "seconds": round(time.monotonic() - started, 1),
                "sources": demo_source_overrides(out_dir)["sources"]}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = national size (default)")
    parser.add_argument("--perturb", type=float, default=0.0, help="fraction of organisations changed (e.g. 0.01)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.scale <= 0 or not 0 <= args.perturb < 1:
        parser.error("--scale must be > 0 and --perturb in [0, 1)")
    print(json.dumps(generate(args.out_dir, args.scale, args.perturb, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
