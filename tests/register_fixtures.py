"""Small staged registers for the register-build tests: in-memory databases attached under the source names,
with the tables the real staging code makes from the real sample files (docs/architecture.md) and a handful
of realistic rows around Wirral (E08000015) and Liverpool (E08000012)."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.db import run_sql_dir
from vcse_pipeline.postcode import register_macros
from vcse_pipeline.sources import get_source

FIXTURES = Path(__file__).parent / "fixtures"
# The real register samples (tests/fixtures/*/README.md): each source's own stage() makes the staging tables from
# them, so these fixtures always have the staging contract's tables, columns and types, never a typed copy.
SAMPLES = {
    "charity_commission": sorted((FIXTURES / "ccew").glob("publicextract.*.zip")),
    "companies_house": [FIXTURES / "companies_house" / "companies-house-BasicCompanyData-sample.csv"],
    "postcodes": [FIXTURES / "postcodes" / "onspd-2025-columns-sample.csv"],
    "fca_mutuals": [FIXTURES / "fca_mutuals" / "SocietyList.csv"],
    "ukcat": [FIXTURES / "tagging" / "ukcat.csv"],
}


@functools.cache
def staging_ddl() -> dict[str, list[str]]:
    """source -> the CREATE TABLE statements of its staging, as staging the real samples made them (once)."""
    cfg = Config.load(path=None, environ={})
    ddl = {}
    for source, paths in SAMPLES.items():
        con = duckdb.connect()
        register_macros(con)
        get_source(source).stage(con, paths, cfg)
        ddl[source] = [sql for (sql,) in con.execute(  # not the macros' TEMP tables: they are not staging
            "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary "
            "ORDER BY table_name").fetchall()]
        con.close()
    return ddl


WIRRAL, LIVERPOOL, MERSEYSIDE = "E08000015", "E08000012", "E11000002"
EXTRACT = date(2025, 11, 3)

# Postcode directory rows: postcode, lad, ward, ward name, lsoa, imd rank, terminated (yyyymm or None)
POSTCODES = [
    ("CH41 5LH", WIRRAL, "E05000957", "Birkenhead and Tranmere", "E01007122", 120, None),
    ("CH47 2AA", WIRRAL, "E05000960", "Hoylake and Meols", "E01007190", 25000, None),
    ("CH46 4TP", WIRRAL, "E05000966", "Moreton West and Saughall Massie", "E01007250", 9000, None),
    ("CH43 7QT", WIRRAL, "E05000958", "Bidston and St James", "E01007135", 800, None),
    ("CH60 0AB", WIRRAL, "E05000962", "Heswall", "E01007176", 32000, None),
    ("CH41 9ZZ", WIRRAL, "E05000957", "Birkenhead and Tranmere", "E01007122", 120, "202003"),
    ("L1 4DQ", LIVERPOOL, "E05015300", "City Centre South", "E01033755", 5000, None),
    ("L8 0RP", LIVERPOOL, "E05015320", "Princes Park", "E01006512", 300, None),
    ("CH64 1TA", "E06000050", "E05012170", "Neston", "E01018500", 20000, None),
    ("SE1 7TP", "E09000022", "E05014140", "Waterloo and South Bank", "E01003000", 15000, None),
]


def charity(organisation_number, name, postcode, *, charity_number=None, linked=0, charity_type="Other",
            status="Registered", removed=None, registered=date(2005, 4, 1), company_number=None, web=None,
            email=None, phone=None, income=None, fye=None, is_cio=False, address=("1 Church Road", "Birkenhead")):
    lines = list(address) + [None] * (5 - len(address))
    return {
        "date_of_extract": EXTRACT, "organisation_number": organisation_number,
        "registered_charity_number": charity_number or organisation_number, "linked_charity_number": linked,
        "charity_name": name, "charity_type": None if linked else charity_type,
        "charity_registration_status": status, "date_of_registration": registered, "date_of_removal": removed,
        "charity_reporting_status": "Removed" if removed else "Submission Received",
        "latest_acc_fin_period_end_date": fye, "latest_income": income, "latest_expenditure": income,
        **{f"charity_contact_address{i + 1}": v for i, v in enumerate(lines)},
        "charity_contact_postcode": postcode, "charity_contact_phone": phone, "charity_contact_email": email,
        "charity_contact_web": web, "charity_company_registration_number": company_number,
        "charity_insolvent": False, "charity_in_administration": False, "charity_is_cio": is_cio,
    }


GUARANTEE = "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)"


def company(number, name, postcode, category=GUARANTEE, *, status="Active", town="Birkenhead",
            incorporated=date(2004, 6, 1), dissolved=None, accounts_due=date(2026, 3, 31),
            conf_due=date(2026, 6, 14)):
    return {"company_number": number, "company_name": name, "address_line1": "2 Hamilton Square",
            "post_town": town, "postcode": postcode, "company_category": category, "company_status": status,
            "country_of_origin": "United Kingdom", "incorporation_date": incorporated, "dissolution_date": dissolved,
            "accounts_next_due_date": accounts_due, "conf_stmt_next_due_date": conf_due,
            "uri": f"http://business.data.gov.uk/id/company/{number}"}


def society(number, suffix, name, address, postcode, *, registered_as="Registered Society", status="Registered",
            deregistered=None, sic="47110"):
    return {"society_number": number, "society_suffix": suffix, "registration_number": f"{number}{suffix or ''}",
            "society_name": name, "registered_as": registered_as, "society_address": address, "postcode": postcode,
            "registration_date": date(1998, 5, 1), "deregistration_date": deregistered,
            "registration_act": "Co-operative and Community Benefit Societies Act 2014", "sic_code": sic,
            "society_status": status}


def area_of_operation(organisation_number, description, area_type="Local Authority"):
    return {"date_of_extract": EXTRACT, "organisation_number": organisation_number,
            "registered_charity_number": organisation_number, "linked_charity_number": 0,
            "geographic_area_type": area_type, "geographic_area_description": description, "welsh_ind": False}


def scenario() -> dict[str, list[dict]]:
    """The standard test registers. Keys are 'schema.table'."""
    return {
        "charity_commission.charity": [
            # charitable company whose registered office (Companies House) is at a Liverpool accountant
            charity(1100001, "Birkenhead Community Food Hub", "CH41 5LH", charity_type="Charitable company",
                    company_number="5034432", web="https://www.birkenheadfoodhub.org.uk/", phone="0151 647 0000",
                    email="hello@birkenheadfoodhub.org.uk", income=182000.0, fye=date(2025, 3, 31)),
            charity(5000001, "Birkenhead Community Food Hub Pantry Fund", None, charity_number=1100001, linked=1),
            # charity that is also a registered society (three registers)
            charity(1050002, "Hoylake Village Store", "CH47 2AA", company_number="IP28116R",
                    address=("The Old Bank", "Market Street", "Hoylake")),
            # placeholder company number must not link
            charity(1160003, "Wallasey Youth Club", "CH41 5LH", company_number="01234567"),
            # removed, kept inactive
            charity(502004, "Rock Ferry Old People's Welfare Trust", "CH41 5LH", charity_type="Trust",
                    status="Removed", removed=date(2019, 8, 30), registered=date(1965, 1, 1)),
            # in Liverpool by postcode, in Wirral by area of operation (Merseyside)
            charity(1170005, "Merseyside Refugee Support Network", "L8 0RP", address=("Princes Road", "Liverpool")),
            # national charity: 'Throughout England' is not local
            charity(1080006, "National Kindness Trust", "SE1 7TP", address=("Westminster Bridge Road", "London")),
            # CIO converted from an unincorporated charity: same website
            charity(1190007, "Heswall Day Centre", "CH60 0AB", charity_type="CIO", is_cio=True,
                    web="https://www.heswalldaycentre.org.uk/", registered=date(2020, 4, 1),
                    address=("Telegraph Road", "Heswall")),
            charity(515008, "Heswall Day Centre", "CH60 0AB", status="Removed", removed=date(2020, 9, 1),
                    web="http://heswalldaycentre.org.uk", registered=date(1984, 2, 1), income=41000.0,
                    fye=date(2020, 3, 31), address=("Telegraph Road", "Heswall")),
            # generic email shared by two unrelated clubs must not link
            charity(1120009, "Moreton Bowling Club", "CH46 4TP", email="wirralclubs.secretary@gmail.com"),
            charity(1120010, "Moreton Allotment Society", "CH46 4TP", email="wirralclubs.secretary@gmail.com"),
            # unmapped postcodes, in the area by operation
            charity(1130011, "Wirral Deaf Children's Society", None),
            charity(1130012, "Tranmere Pensioners Forum", "CH41 9ZZ"),
            charity(1130013, "Bebington Carers Circle", "NOT KNOWN"),
            charity(1130014, "Prenton Link Club", "CH49 9XX"),
            # fuzzy: the same organisation in two registers with no shared identifier
            charity(1140015, "Leasowe Adventure Playground", "CH46 4TP", address=("Twickenham Drive", "Moreton")),
            # false friend: same name, different town (Liverpool; in Wirral's list by Merseyside)
            charity(1140016, "St Mary's Community Centre", "L8 0RP", address=("Lodge Lane", "Liverpool")),
        ],
        "charity_commission.charity_area_of_operation": [
            area_of_operation(1170005, "Merseyside", "Metropolitan Counties"),
            area_of_operation(1080006, "Throughout England", "Region"),
            area_of_operation(1100001, "Wirral"),
            area_of_operation(1130011, "Wirral"), area_of_operation(1130012, "Wirral"),
            area_of_operation(1130013, "Wirral"), area_of_operation(1130014, "Wirral"),
            area_of_operation(1140016, "Liverpool City"), area_of_operation(1140016, "Merseyside"),
        ],
        "charity_commission.charity_other_names": [
            {"date_of_extract": EXTRACT, "organisation_number": 1100001, "registered_charity_number": 1100001,
             "linked_charity_number": 0, "charity_name_id": 77001, "charity_name_type": "Working name",
             "charity_name": "The Food Hub Birkenhead"},
        ],
        "charity_commission.charity_classification": [
            {"organisation_number": 1100001, "registered_charity_number": 1100001, "linked_charity_number": 0,
             "classification_code": 105, "classification_type": "What",
             "classification_description": "The Prevention Or Relief Of Poverty"},
            {"organisation_number": 1100001, "registered_charity_number": 1100001, "linked_charity_number": 0,
             "classification_code": 204, "classification_type": "Who",
             "classification_description": "Elderly/old People"},
            {"organisation_number": 1100001, "registered_charity_number": 1100001, "linked_charity_number": 0,
             "classification_code": 302, "classification_type": "How",
             "classification_description": "Provides Buildings/facilities/open Space"},
        ],
        "charity_commission.charity_annual_return_history": [
            {"organisation_number": 1100001, "registered_charity_number": 1100001,
             "fin_period_start_date": date(2023, 4, 1), "fin_period_end_date": date(2024, 3, 31),
             "ar_cycle_reference": "AR24", "reporting_due_date": date(2025, 1, 31),
             "date_annual_return_received": date(2025, 3, 2), "total_gross_income": 160000.0,
             "total_gross_expenditure": 150000.0},
            {"organisation_number": 1100001, "registered_charity_number": 1100001,
             "fin_period_start_date": date(2024, 4, 1), "fin_period_end_date": date(2025, 3, 31),
             "ar_cycle_reference": "AR25", "reporting_due_date": date(2026, 1, 31),
             "date_annual_return_received": date(2025, 10, 20), "total_gross_income": 182000.0,
             "total_gross_expenditure": 171000.0},
        ],
        "charity_commission.charity_annual_return_parta": [
            {"organisation_number": 1100001, "registered_charity_number": 1100001,
             "latest_fin_period_submitted_ind": True, "fin_period_order_number": 1, "ar_cycle_reference": "AR25",
             "fin_period_end_date": date(2025, 3, 31), "income_from_government_contracts": 45000.0,
             "income_from_government_grants": 12000.0, "count_volunteers": 35},
        ],
        "charity_commission.charity_annual_return_partb": [
            {"organisation_number": 1100001, "registered_charity_number": 1100001,
             "fin_period_end_date": date(2025, 3, 31), "count_employees": 6},
        ],
        "companies_house.company": [
            company("05034432", "BIRKENHEAD COMMUNITY FOOD HUB LIMITED", "L1 4DQ", town="Liverpool"),
            company("IP28116R", "HOYLAKE VILLAGE STORE ASSOCIATION LIMITED", "CH47 2AA", "Registered Society",
                    town="Wirral"),
            company("01234567", "WALLASEY HOLDINGS MANAGEMENT COMPANY LIMITED", "CH64 1TA", town="Neston"),
            company("09876543", "TRANMERE TYRES LTD", "CH41 5LH", "Private Limited Company"),
            company("11223344", "BIDSTON HILL COMMUNITY INTEREST COMPANY", "CH43 7QT", "Community Interest Company",
                    accounts_due=date(2024, 9, 30)),
            company("RS008053", "WIRRAL COMMUNITY ENERGY SOCIETY LIMITED", "CH41 5LH", "Registered Society"),
            company("12000015", "LEASOWE ADVENTURE PLAYGROUND LIMITED", "CH46 4TP", town="Wirral"),
            company("12000016", "ST MARYS COMMUNITY CENTRE LIMITED", "CH41 5LH", town="Birkenhead"),
        ],
        "companies_house.company_sic": [
            {"company_number": "11223344", "position": 1, "sic_code": "88990",
             "sic_description": "Other social work activities without accommodation n.e.c."},
        ],
        "companies_house.company_previous_name": [
            {"company_number": "05034432", "position": 1, "change_date": date(2012, 5, 1),
             "previous_name": "BIRKENHEAD FOOD BANK LIMITED"},
        ],
        "fca_mutuals.society": [
            society(28116, "R", "Hoylake Village Store Association Limited",
                    "The Old Bank, Market Street, Hoylake, Wirral, CH47 2AA", "CH47 2AA"),
            society(8053, None, "Wirral Community Energy Society Limited",
                    "Hamilton House, Birkenhead, CH41 5LH", "CH41 5LH", registered_as="Community Benefit Society"),
            society(21926, "R", "Birkenhead Tenants Co-operative Limited", "Park Road, Birkenhead, CH41 5LH",
                    "CH41 5LH", status="Deregistered", deregistered=date(2016, 3, 1)),
            society(4321, "F", "Wirral Loyal Oddfellows Lodge", "Church Street, Birkenhead, CH41 5LH", "CH41 5LH",
                    registered_as="Friendly Society"),
        ],
    }


def postcode_rows() -> dict[str, list[dict]]:
    rows, wards = [], {}
    for pc, lad, ward, ward_name, lsoa, rank, terminated in POSTCODES:
        rows.append({"postcode": pc, "postcode_key": pc.replace(" ", ""), "lad_code": lad, "ward_code": ward,
                     "lsoa_code": lsoa, "imd_rank": rank, "lat": 53.39, "long": -3.02, "date_introduced": "198001",
                     "date_terminated": terminated, "is_terminated": terminated is not None})
        wards[ward] = ward_name
    return {"postcodes.postcode": rows,
            "postcodes.ward": [{"ward_code": k, "ward_name": v} for k, v in wards.items()],
            "postcodes.local_authority": [{"lad_code": WIRRAL, "lad_name": "Wirral"},
                                          {"lad_code": LIVERPOOL, "lad_name": "Liverpool"}]}


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = list(row)
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [row[c] for c in cols])


def register_db(data: dict[str, list[dict]] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory register build connection: staging attached under the source names, register DDL run."""
    con = duckdb.connect()
    register_macros(con)
    for source, statements in staging_ddl().items():
        con.execute(f"ATTACH ':memory:' AS {source}")
        for statement in statements:
            con.execute(statement.replace("CREATE TABLE ", f"CREATE TABLE {source}.", 1))
    data = scenario() if data is None else data
    for table, rows in {**postcode_rows(), **data}.items():
        insert_rows(con, table, rows)
    run_sql_dir(con, "core")
    return con


def config(**overrides) -> Config:
    return Config.load(path=None, environ={}, overrides=overrides)


@pytest.fixture(scope="session")
def wirral_build():
    """(connection, summary) of `scenario()` built for Wirral with the default configuration, once per session
    for test_register_build and test_register_links (tests/conftest.py imports it: a fixture imported into two
    test modules would be built once per module). Tests only read it; a test that builds differently makes
    its own register_db()."""
    from vcse_pipeline.register.build import build_area

    con = register_db()
    summary = build_area(con, config(), WIRRAL)
    yield con, summary
    con.close()

