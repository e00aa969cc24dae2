"""A small, realistic Wirral register for the procurement tests: 30 organisations across wards and services.

Built with the project's own DDL (sql/core, sql/publish) and views (sql/views). Tables whose DDL another
engineer has not landed yet (tagging's service areas and tags, a postcode coordinate table) are created here
with the columns their briefs name, only when the real DDL does not already define them.
Wirral's ward codes and names are real; organisations, postcodes within wards and figures are made up.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.db import connect, run_sql_dir, sql_files, table_exists

AREA = "E08000015"

# Created only when the tagging / register build DDL has not landed (the columns their briefs define).
FALLBACK_DDL = {
    "service_area": "CREATE TABLE service_area (service_area VARCHAR, label VARCHAR, description VARCHAR)",
    "service_area_cpv": "CREATE TABLE service_area_cpv (service_area VARCHAR, cpv_code VARCHAR, cpv_label VARCHAR)",
    "organisation_service_area": "CREATE TABLE organisation_service_area (area_code VARCHAR, org_id VARCHAR, "
                                 "service_area VARCHAR, evidence VARCHAR, strength DOUBLE)",
    "organisation_tag": "CREATE TABLE organisation_tag (area_code VARCHAR, org_id VARCHAR, code VARCHAR, "
                        "tag_scheme VARCHAR, source_field VARCHAR, evidence VARCHAR, method VARCHAR)",
}

SERVICE_AREAS = [
    ("adult_social_care", "Adult social care", "Care and support for adults, day opportunities, carers"),
    ("children_young_people", "Children and young people", "Youth work, early years, short breaks, families"),
    ("mental_health", "Mental health and wellbeing", "Mental health support, counselling, peer support"),
    ("domestic_abuse", "Domestic abuse and violence", "Support for victims of domestic and sexual abuse"),
    ("housing_homelessness", "Housing and homelessness", "Supported housing, homelessness prevention"),
    ("food_poverty", "Food and poverty relief", "Food banks, community pantries, hardship support"),
    ("advice_advocacy", "Advice and advocacy", "Welfare rights, debt advice, independent advocacy"),
    ("employment_skills", "Employment, education and skills", "Training, adult learning, employability"),
    ("sport_leisure", "Sport and physical activity", "Sports clubs, leisure, physical activity"),
    ("arts_culture", "Arts, culture and heritage", "Arts, events, heritage"),
    ("environment", "Environment and green spaces", "Parks, gardens, conservation, recycling"),
]

SERVICE_AREA_CPV = [
    ("adult_social_care", "85300000", "Social work and related services"),
    ("adult_social_care", "85311000", "Social work services with accommodation"),
    ("adult_social_care", "85312000", "Social work services without accommodation"),
    ("children_young_people", "85312110", "Childcare services"),
    ("children_young_people", "85312120", "Daycare services for handicapped children and young people"),
    ("children_young_people", "92331210", "Children's animation services"),
    ("mental_health", "85323000", "Community health services"),
    ("mental_health", "85121270", "Psychiatrist or psychologist services"),
    ("domestic_abuse", "85312320", "Counselling services"),
    ("domestic_abuse", "85311000", "Social work services with accommodation"),
    ("domestic_abuse", "98000000", "Other community, social and personal services"),
    ("housing_homelessness", "85311000", "Social work services with accommodation"),
    ("housing_homelessness", "70333000", "Housing services"),
    ("food_poverty", "85320000", "Social services"),
    ("food_poverty", "55520000", "Catering services"),
    ("advice_advocacy", "85312300", "Guidance and counselling services"),
    ("advice_advocacy", "79100000", "Legal services"),
    ("employment_skills", "80000000", "Education and training services"),
    ("sport_leisure", "92600000", "Sporting services"),
    ("arts_culture", "92300000", "Entertainment services"),
    ("arts_culture", "92500000", "Library, archives, museums and other cultural services"),
    ("environment", "77310000", "Planting and maintenance services of green areas"),
    ("environment", "90500000", "Refuse and waste related services"),
]

# (code, name, centre lat, long, postcode district)
WARDS = {
    "BT": ("E05000952", "Birkenhead and Tranmere", 53.388, -3.020, "CH41"),
    "BS": ("E05000951", "Bidston and St James", 53.400, -3.050, "CH43"),
    "LI": ("E05000961", "Liscard", 53.420, -3.045, "CH44"),
    "SE": ("E05000968", "Seacombe", 53.410, -3.030, "CH44"),
    "RF": ("E05000967", "Rock Ferry", 53.370, -3.005, "CH42"),
    "HE": ("E05000958", "Heswall", 53.328, -3.100, "CH60"),
    "WK": ("E05000971", "West Kirby and Thurstaston", 53.372, -3.180, "CH48"),
    "BR": ("E05000953", "Bromborough", 53.330, -2.985, "CH62"),
    "LM": ("E05000960", "Leasowe and Moreton East", 53.410, -3.100, "CH46"),
}

# Wards of Wirral with no organisation in this register: area_ward lists them, so they show as gaps.
EMPTY_WARDS = [("E05000965", "Pensby and Thingwall"), ("E05000969", "Upton")]

# What some charities say they do (organisation_text), in the Charity Commission's words and style.
ACTIVITIES = {
    "C4": ("Women's centre offering counselling, domestic abuse support and training for women in Birkenhead.",
           "To relieve the needs of women, in particular victims of domestic abuse."),
    "C12": ("Refuge accommodation and outreach for women and children escaping domestic abuse.", None),
    "C18": ("Safe accommodation, IDVA and outreach services for victims of domestic abuse across Merseyside.",
            "The relief of persons who are victims of domestic violence and abuse."),
    "C9": ("Day centre with lunches, activities and personal care for older people and people living with dementia.",
           None),
    "C14": ("Information, breaks and peer support for unpaid carers.", None),
    "C19": ("Short breaks, play schemes and family support for autistic children and adults.", None),
    "C22": ("Advice for refugees and asylum seekers; bereavement counselling volunteers.", None),
}

CCEW = "https://register-of-charities.charitycommission.gov.uk"

# key, name, legal form, ward key (None = based outside Wirral, operating in it), postcode inward code,
# incomes oldest->newest (None = no annual returns), service areas, extra: filing flags / ids / other names
ORGS = [
    ("C1", "Wirral Mind", "Charitable company", "BT", "4AA", [2_100_000, 2_250_000, 2_400_000],
     ["mental_health", "advice_advocacy"], {"company": "02967368", "other": ["Mind in Wirral"], "emp": 64, "vol": 80,
                                            "gov_contracts": 1_200_000, "gov_grants": 300_000}),
    ("C2", "Involve Northwest", "Charitable company", "BS", "1BB", [1_450_000, 1_500_000, 1_520_000],
     ["adult_social_care", "children_young_people", "mental_health"], {"company": "03517346", "emp": 41, "vol": 25}),
    ("C3", "Wirral Foodbank", "Charitable incorporated organisation", "BT", "6DF", [180_000, 240_000, 310_000],
     ["food_poverty"], {"vol": 140}),
    ("C4", "Tomorrow's Women Wirral", "Charitable company", "BT", "5GH", [420_000, 455_000, 470_000],
     ["domestic_abuse", "mental_health", "employment_skills"], {"company": "07044215", "emp": 14, "vol": 20}),
    ("C5", "Leasowe Community Homes Trust", "Charity", "LM", "2JL", [95_000, 60_000, 41_000],
     ["housing_homelessness"], {}),  # falling income
    ("C6", "Liscard Community Pantry", "Charitable incorporated organisation", "LI", "5NP", [22_000, 24_000, 26_000],
     ["food_poverty"], {"vol": 35}),
    ("C7", "Seacombe Youth Project", "Charity", "SE", "3QR", [64_000, 66_000, 63_000],
     ["children_young_people", "sport_leisure"], {"vol": 18}),
    ("C8", "Rock Ferry Sure Start Families", "Charity", "RF", "2ST", [110_000, 112_000, 115_000],
     ["children_young_people"], {"late": True}),  # latest return late
    ("C9", "Heswall Day Centre for Older People", "Charity", "HE", "0UW", [150_000, 148_000, 152_000],
     ["adult_social_care"], {"vol": 60}),
    ("C10", "West Kirby Arts Centre", "Charitable incorporated organisation", "WK", "4XY", [88_000, 91_000, 97_000],
     ["arts_culture"], {}),
    ("C11", "Bromborough Debt Advice Service", "Charity", "BR", "5AB", [48_000, 52_000, 55_000],
     ["advice_advocacy"], {}),
    ("C12", "Wirral Women and Children's Aid", "Charitable company", "BS", "7DE", [900_000, 880_000, 910_000],
     ["domestic_abuse", "housing_homelessness"], {"company": "02553431", "emp": 28, "insolvent": True}),
    ("C13", "Birkenhead Park Rugby Youth Section", "Charity", "BS", "4FG", [9_000, 8_500, 7_800],
     ["sport_leisure", "children_young_people"], {}),
    ("C14", "Wirral Carers Centre", "Charitable company", "BT", "8HJ", [610_000, 640_000, 700_000],
     ["adult_social_care", "advice_advocacy"], {"company": "05104399", "emp": 19, "vol": 12, "gov_grants": 410_000}),
    ("C15", "Moreton Tenants and Residents Association", "Charity", "LM", "9LN", None,
     ["housing_homelessness"], {}),  # newly registered, no returns yet
    ("C16", "Heswall Hills Conservation Volunteers", "Charity", "HE", "6PQ", [4_000, 3_900, 4_200],
     ["environment"], {"vol": 22}),
    ("C17", "Tranmere Advocacy Partnership", "Charitable incorporated organisation", "RF", "8RS",
     [130_000, 125_000, 140_000], ["advice_advocacy", "mental_health"], {"reporting": "Submission Overdue"}),
    ("C18", "Merseyside Domestic Abuse Refuges", "Charitable company", None, "L3 5TU",
     [3_200_000, 3_300_000, 3_450_000], ["domestic_abuse", "housing_homelessness"],
     {"company": "01916120", "emp": 85, "vol": 40, "gov_contracts": 2_100_000}),
    ("C19", "Liverpool and Wirral Autism Support", "Charity", None, "L15 7WX", [260_000, 270_000, 265_000],
     ["children_young_people", "adult_social_care"], {}),
    ("C20", "New Ferry Community Garden", "Charitable incorporated organisation", "RF", "9YZ", [12_000, 15_000, 18_000],
     ["environment", "food_poverty"], {}),
    ("X1", "Wirral Community Transport CIC", "Community interest company", "BR", "3BD", None,
     ["adult_social_care"], {"company": "09876543", "ch_status": "Active"}),
    ("X2", "Birkenhead Skills Hub CIC", "Community interest company", "BT", "9EF", None,
     ["employment_skills"], {"company": "11223344", "ch_status": "Active", "accounts_overdue": True}),
    ("X3", "Seacombe Play and Learn CIC", "Community interest company", "SE", "4GH", None,
     ["children_young_people"], {"company": "12345670", "ch_status": "Active - Proposal to Strike off"}),
    ("X4", "Wallasey Wellbeing Walks CIC", "Community interest company", "LI", "7JK", None,
     ["sport_leisure", "mental_health"], {"company": "13579246", "ch_status": "Active", "years": 1}),
    ("G1", "Oxton Village Society Limited", "Company limited by guarantee", "BS", "5LM", None,
     ["arts_culture"], {"company": "04445566", "ch_status": "Active"}),
    ("G2", "Hoylake Lifeboat Museum Trust Limited", "Company limited by guarantee", "WK", "3NP", None,
     ["arts_culture"], {"company": "06667788", "ch_status": "Active", "conf_overdue": True}),
    ("S1", "Wirral Food Co-operative Limited", "Registered society", "BT", "2QR", None,
     ["food_poverty"], {"society": "31234R"}),
    ("S2", "Birkenhead Community Energy Limited", "Registered society", "BR", "6ST", None,
     ["environment"], {"society": "7890"}),
    ("C21", "Claughton Lunch Club", "Charity", "BS", "6UW", [6_500, 6_800, 7_000],
     ["adult_social_care", "food_poverty"], {"vol": 15}),
    ("C22", "Wirral Refugee Advice Network", "Charitable incorporated organisation", "LI", "2XY",
     [72_000, 81_000, 95_000], ["advice_advocacy"], {"vol": 30}),
]

# A closed organisation: in the register but inactive, so never in the directory.
CLOSED = ("C99", "Egremont Youth Club", "Charity", "LI", "1ZZ")


def _postcode(ward_key, inward):
    if ward_key is None:
        return inward
    return f"{WARDS[ward_key][4]} {inward}"


def _ensure_fallback_tables(con):
    for table, ddl in FALLBACK_DDL.items():
        if not table_exists(con, table):
            con.execute(ddl)


def build_register(path: Path, *, with_views: bool = True, previous_refresh: bool = True) -> Path:
    """Write the test register to `path` and return it."""
    con = connect(path)
    try:
        run_sql_dir(con, "core")
        for sql in sql_files("publish"):
            con.execute(sql.read_text(encoding="utf-8"))
        _ensure_fallback_tables(con)
        con.executemany("INSERT INTO service_area VALUES (?, ?, ?)", SERVICE_AREAS)
        con.executemany("INSERT INTO service_area_cpv VALUES (?, ?, ?)", SERVICE_AREA_CPV)
        for i, (key, name, form, ward_key, inward, incomes, services, extra) in enumerate(ORGS):
            _insert_org(con, i, key, name, form, ward_key, inward, incomes, services, extra)
        _insert_closed(con)
        _insert_postcode_locations(con)
        _insert_area_wards(con)
        _insert_organisation_text(con)
        _insert_history(con, previous_refresh)
        if with_views:
            run_sql_dir(con, "views")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def copy_register(master: Path, path: Path) -> Path:
    """A private copy of a built test register at `path` (closed after its CHECKPOINT, so the file is all of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(master, path)
    return path


def spread_over_areas(path: Path, areas: list[str]) -> None:
    """Put each organisation of the register at `path`, and every row about it, into one of `areas` (by a hash of
    its org_id): a register of several areas. The wards and other rows without an org_id stay where they are."""
    con = duckdb.connect(str(path))
    keyed = con.execute("""SELECT table_name FROM duckdb_columns() WHERE column_name = 'area_code'
                           AND table_name IN (SELECT table_name FROM duckdb_tables())
                           INTERSECT SELECT table_name FROM duckdb_columns() WHERE column_name = 'org_id'""").fetchall()
    for (table,) in keyed:
        con.execute(f"UPDATE {table} SET area_code = ?[(hash(org_id) % ?)::INTEGER + 1]", [areas, len(areas)])
    con.close()


@pytest.fixture(scope="session")
def register_master(tmp_path_factory) -> Path:
    """The test register (build_register's defaults), built once per session and never opened: the fixtures below
    and tests that change their register take copies of it (copy_register)."""
    return build_register(tmp_path_factory.mktemp("procurement-master") / "register.duckdb")


@pytest.fixture(scope="module")
def register(register_master, tmp_path_factory) -> Path:
    """The test register, one copy per test module that asks for it (the modules only read it)."""
    return copy_register(register_master, tmp_path_factory.mktemp("procurement") / "register.duckdb")


@pytest.fixture()
def fresh_register(register_master, tmp_path) -> Path:
    """The test register for a test that changes it: its own copy in tmp_path."""
    return copy_register(register_master, tmp_path / "register.duckdb")


@pytest.fixture()
def con(register):
    """A read-only connection to the test register, closed after the test."""
    con = duckdb.connect(str(register), read_only=True)
    yield con
    con.close()


def org_id_for(key: str) -> str:
    i, row = next((i, r) for i, r in enumerate(ORGS) if r[0] == key)
    extra = row[7]
    if key.startswith("C"):
        return f"GB-CHC-{1100000 + i}"
    if "society" in extra:
        return f"GB-MPR-{extra['society']}"
    return f"GB-COH-{extra['company']}"


def _insert_org(con, i, key, name, form, ward_key, inward, incomes, services, extra):
    org_id = org_id_for(key)
    charity_number = str(1100000 + i) if key.startswith("C") else None
    company = extra.get("company")
    society = extra.get("society")
    based = ward_key is not None
    ward_code, ward_name, lat, long, district = WARDS[ward_key] if based else (None, None, None, None, None)
    postcode = _postcode(ward_key, inward)
    latest_income = incomes[-1] if incomes else None
    registered = date(2025 - (extra.get("years", 8 + i % 20)), 4, 1 + i % 27)
    slug = name.lower().replace(" ", "").replace("'", "")[:20]
    con.execute(
        """INSERT INTO organisation (area_code, org_id, name, legal_form, is_active, status, address, postcode,
               lad_code, ward_code, ward_name, imd_decile, in_area_by_postcode, in_area_by_operation, area_basis,
               website, email, phone, latest_income, latest_expenditure, latest_financial_year_end,
               date_registered, charity_number, company_number, society_number, source_count)
           VALUES (?, ?, ?, ?, TRUE, 'Registered', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [AREA, org_id, name, form, f"{10 + i} Market Street, {ward_name or 'Liverpool'}", postcode,
         AREA if based else "E08000012", ward_code, ward_name, 1 + i % 10, based, not based or i % 3 == 0,
         "postcode" if based and i % 3 else ("both" if based else "area of operation"),
         f"https://www.{slug}.org.uk", f"info@{slug}.org.uk" if i % 4 else None, f"0151 {600 + i} {1000 + i}",
         latest_income, latest_income * 0.96 if latest_income else None,
         date(2025, 3, 31) if incomes else None, registered, charity_number, company, society,
         1 + (company is not None and charity_number is not None)])
    ids = [(org_id, org_id.split("-")[0] + "-" + org_id.split("-")[1], True)]
    if company and charity_number:
        ids.append((f"GB-COH-{company}", "GB-COH", False))
    for identifier, scheme, canonical in ids:
        source = {"GB-CHC": "charity_commission", "GB-COH": "companies_house", "GB-MPR": "fca_mutuals"}[scheme]
        con.execute("INSERT INTO organisation_identifier VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [AREA, org_id, identifier, scheme, source, f"{source}:{identifier.split('-')[-1]}", canonical])
    con.execute("INSERT INTO organisation_name VALUES (?, ?, ?, 'registered', 'charity_commission', ?)",
                [AREA, org_id, name, name.lower()])
    for other in extra.get("other", []):
        con.execute("INSERT INTO organisation_name VALUES (?, ?, ?, 'working', 'charity_commission', ?)",
                    [AREA, org_id, other, other.lower()])
    for service in services:
        con.execute("INSERT INTO organisation_service_area VALUES (?, ?, ?, ?, 0.8)",
                    [AREA, org_id, service, f"tagged from activities of {name}"])
    if incomes:
        for year_offset, income in enumerate(incomes):
            year = 2025 - (len(incomes) - 1 - year_offset)
            latest = year_offset == len(incomes) - 1
            con.execute(
                "INSERT INTO organisation_finance VALUES (?, ?, 'charity_commission', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [AREA, org_id, date(year, 3, 31), income, income * 0.96,
                 extra.get("gov_contracts") if latest else None, extra.get("gov_grants") if latest else None,
                 extra.get("emp"), extra.get("vol"), date(year + 1, 1, 31),
                 date(year + 1, 3, 2) if latest and extra.get("late") else date(year + 1, 1, 10),
                 bool(latest and extra.get("late"))])
    if charity_number or company:
        con.execute(
            "INSERT INTO organisation_filing VALUES (?, ?, ?, FALSE, ?, ?, ?, ?, ?, ?, ?)",
            [AREA, org_id, bool(extra.get("insolvent")) if charity_number else None,
             extra.get("reporting", "Submission Received") if charity_number else None,
             extra.get("ch_status", "Active") if company else None,
             date(2026, 12, 31) if company else None, bool(extra.get("accounts_overdue")) if company else None,
             date(2026, 6, 1) if company else None, bool(extra.get("conf_overdue")) if company else None,
             extra.get("years", 8 + ORGS.index(next(o for o in ORGS if o[0] == key)) % 20)])
    for code, description in [("105", "Education/training")] if "employment_skills" in services else []:
        con.execute("INSERT INTO organisation_classification VALUES (?, ?, 'ccew_what', ?, ?)",
                    [AREA, org_id, code, description])


def _insert_closed(con):
    key, name, form, ward_key, inward = CLOSED
    ward_code, ward_name, *_ = WARDS[ward_key]
    con.execute(
        """INSERT INTO organisation (area_code, org_id, name, legal_form, is_active, status, postcode, lad_code,
               ward_code, ward_name, in_area_by_postcode, in_area_by_operation, area_basis, date_removed,
               source_count)
           VALUES (?, 'GB-CHC-1199999', ?, ?, FALSE, 'Removed', ?, ?, ?, ?, TRUE, FALSE, 'postcode', ?, 1)""",
        [AREA, name, form, _postcode(ward_key, inward), AREA, ward_code, ward_name, date(2025, 6, 1)])


def _insert_postcode_locations(con):
    # Points spread a few hundred metres around each ward centre; Liverpool postcodes across the river.
    rows = []
    for i, (_key, _name, _form, ward_key, inward, *_rest) in enumerate(ORGS):
        if ward_key is None:
            rows.append((inward, "E08000012", None, 53.40 + (i % 3) * 0.005, -2.95))
        else:
            code, _n, lat, long, _d = WARDS[ward_key]
            rows.append((_postcode(ward_key, inward), AREA, code, lat + (i % 5 - 2) * 0.002,
                         long + (i % 3 - 1) * 0.002))
    seen: set[str] = set()
    for code, _name, lat, long, district in WARDS.values():
        # a reference postcode at each ward centre (9ZZ; 9ZY for a second ward in the same district)
        rows.append((f"{district} 9Z{'Y' if district in seen else 'Z'}", AREA, code, lat, long))
        seen.add(district)
    con.executemany("INSERT INTO postcode_location VALUES (?, ?, ?, ?, ?)", rows)


def _insert_area_wards(con):
    wards = [(code, name) for code, name, *_ in WARDS.values()] + EMPTY_WARDS
    con.executemany("INSERT INTO area_ward VALUES (?, ?, ?, ?)",
                    [(AREA, code, name, 200 + i) for i, (code, name) in enumerate(wards)])


def _insert_organisation_text(con):
    for key, (activities, objects) in ACTIVITIES.items():
        org_id = org_id_for(key)
        con.execute("INSERT INTO organisation_text VALUES (?, ?, ?, ?, ?)",
                    [AREA, org_id, "charity_commission:" + org_id.removeprefix("GB-CHC-"), activities, objects])


def _insert_history(con, previous_refresh):
    con.execute("INSERT INTO run_history (run_id, finished_at, status, areas) VALUES "
                "('20260101T000000Z-aaaaaa', TIMESTAMPTZ '2026-01-01 06:00:00+00', 'published', '[\"E08000015\"]')")
    con.execute("INSERT INTO register_change SELECT '20260101T000000Z-aaaaaa', area_code, org_id, 'new', NULL, "
                "NULL, NULL FROM organisation")
    if not previous_refresh:
        return
    run = "20260201T000000Z-bbbbbb"
    con.execute("INSERT INTO run_history (run_id, finished_at, status, areas) VALUES "
                f"('{run}', TIMESTAMPTZ '2026-02-01 06:00:00+00', 'published', '[\"E08000015\"]')")
    changes = [
        (org_id_for("C22"), "new", None, None, None),
        (org_id_for("X4"), "new", None, None, None),
        ("GB-CHC-1199999", "closed", "is_active", "true", "false"),
        (org_id_for("C3"), "changed", "latest_income", "240000.0", "310000.0"),
        (org_id_for("C4"), "changed", "postcode", "CH41 5GG", "CH41 5GH"),
    ]
    con.executemany("INSERT INTO register_change VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(run, AREA, *c) for c in changes])
