"""A postcode the ONS has terminated still places an organisation by its last geography (based in the area, in its
ward), flagged and listed for chasing; a postcode the directory has never heard of places nothing."""

import pytest
from register_fixtures import LIVERPOOL, WIRRAL, area_of_operation, charity, company, config, register_db

from vcse_pipeline.db import run_sql_dir
from vcse_pipeline.register.build import build_area
from vcse_pipeline.register.reference_copy import copy_area_reference

CIC = "Community Interest Company"
TERMINATED = "CH41 9ZZ"  # register_fixtures.POSTCODES: Wirral, Birkenhead and Tranmere, LSOA rank 120, ended 202003
UNKNOWN = "CH49 9XX"     # shaped like a Wirral postcode, absent from the directory


def scenario() -> dict[str, list[dict]]:
    return {
        "charity_commission.charity": [
            # terminated postcode, no area of operation: only the postcode can put it in Wirral
            charity(1200001, "Tranmere Pensioners Forum", TERMINATED),
            # unknown postcode, in Wirral by area of operation only
            charity(1200002, "Prenton Link Club", UNKNOWN),
            # charitable company: the charity's contact postcode is terminated (Wirral), the company's office is
            # at a Liverpool accountant (live): the organisation is placed where it is in the area
            charity(1200003, "Rock Ferry Community Larder", TERMINATED, charity_type="Charitable company",
                    company_number="12000003"),
            # charitable company: live Wirral postcode on the charity, terminated one on the company
            charity(1200004, "Heswall Walking Group", "CH60 0AB", charity_type="Charitable company",
                    company_number="12000004", address=("Telegraph Road", "Heswall")),
            # linked charity with no address of its own: run from its main charity's (terminated) address
            charity(5200001, "Tranmere Pensioners Forum Hardship Fund", None, charity_number=1200001, linked=1),
        ],
        "charity_commission.charity_area_of_operation": [area_of_operation(1200002, "Wirral")],
        "companies_house.company": [
            company("12000010", "BIRKENHEAD REPAIR CAFE CIC", TERMINATED, CIC),
            company("12000011", "UPTON TOOL LIBRARY CIC", UNKNOWN, CIC, town="Wirral"),
            company("12000003", "ROCK FERRY COMMUNITY LARDER LIMITED", "L1 4DQ", town="Liverpool"),
            company("12000004", "HESWALL WALKING GROUP LIMITED", TERMINATED),
        ],
    }


@pytest.fixture(scope="module")
def con():
    con = register_db(scenario())
    build_area(con, config(), WIRRAL)
    copy_area_reference(con, WIRRAL)
    run_sql_dir(con, "views")
    yield con
    con.close()


def org(con, org_id, columns):
    rows = con.execute(f"SELECT {columns} FROM organisation WHERE area_code = ? AND org_id = ?",
                       [WIRRAL, org_id]).fetchall()
    return rows[0] if rows else None


def directory(con, org_id, columns):
    rows = con.execute(f"SELECT {columns} FROM provider_directory WHERE area_code = ? AND org_id = ?",
                       [WIRRAL, org_id]).fetchall()
    return rows[0] if rows else None


@pytest.mark.parametrize("org_id", ["GB-CHC-1200001", "GB-COH-12000010"])
def test_terminated_postcode_places_the_organisation_in_its_last_ward(con, org_id):
    assert org(con, org_id, "in_area_by_postcode, area_basis, lad_code, ward_code, ward_name, lsoa_code, "
                            "imd_decile, postcode_status") == (
        True, "postcode", WIRRAL, "E05000957", "Birkenhead and Tranmere", "E01007122", 1, "terminated")
    assert directory(con, org_id, "based_in_area, ward_name, postcode, postcode_terminated") == (
        True, "Birkenhead and Tranmere", TERMINATED, True)


def test_terminated_postcode_is_still_reported_for_chasing(con):
    rows = con.execute("SELECT record_id, postcode, reason FROM unmapped_postcode WHERE area_code = ? "
                       "AND reason = 'terminated' ORDER BY record_id", [WIRRAL]).fetchall()
    assert rows == [("charity_commission:1200001", TERMINATED, "terminated"),
                    ("charity_commission:1200003", TERMINATED, "terminated"),
                    ("companies_house:12000004", TERMINATED, "terminated"),
                    ("companies_house:12000010", TERMINATED, "terminated")]


def test_postcode_absent_from_the_directory_still_places_nothing(con):
    assert org(con, "GB-CHC-1200002", "in_area_by_postcode, area_basis, lad_code, ward_code, postcode_status") == (
        False, "area of operation", None, None, "not in postcode directory")
    assert directory(con, "GB-CHC-1200002", "based_in_area, postcode_terminated") == (False, False)
    # a company at an unknown postcode has nothing else to put it in Wirral
    assert org(con, "GB-COH-12000011", "org_id") is None
    assert con.execute("SELECT reason FROM unmapped_postcode WHERE record_id = 'charity_commission:1200002'"
                       ).fetchall() == [("not in postcode directory",)]


def test_terminated_postcode_in_the_area_beats_a_live_one_outside_it(con):
    assert org(con, "GB-CHC-1200003", "source_count, postcode, lad_code, ward_name, postcode_status") == (
        2, TERMINATED, WIRRAL, "Birkenhead and Tranmere", "terminated")
    assert directory(con, "GB-CHC-1200003", "based_in_area")[0] is True
    assert con.execute("SELECT lad_code FROM source_record WHERE record_id = 'companies_house:12000003'"
                       ).fetchall() == [(LIVERPOOL,)]


def test_live_postcode_in_the_area_beats_a_terminated_one(con):
    assert org(con, "GB-CHC-1200004", "source_count, postcode, ward_name, postcode_status") == (
        2, "CH60 0AB", "Heswall", "mapped")
    assert directory(con, "GB-CHC-1200004", "based_in_area, postcode_terminated") == (True, False)


def test_linked_charity_inherits_the_terminated_flag_with_the_address(con):
    assert org(con, "GB-CHC-1200001-1", "parent_org_id, postcode, ward_name, postcode_status") == (
        "GB-CHC-1200001", TERMINATED, "Birkenhead and Tranmere", "terminated")


def test_terminated_postcode_has_coordinates_for_near_searches(con):
    assert con.execute("SELECT lad_code, ward_code FROM postcode_location WHERE postcode = ?",
                       [TERMINATED]).fetchall() == [(WIRRAL, "E05000957")]
