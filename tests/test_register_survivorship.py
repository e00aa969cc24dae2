"""register/survivorship.py: which record's value an organisation takes when its records are merged
(the rules of docs/linking.md)."""

from __future__ import annotations

from datetime import date

from vcse_pipeline.register import vcse_rule
from vcse_pipeline.register.survivorship import order_records, survive


def record(source: str, identifier: str, **fields) -> dict:
    """A source record as build.py hands it to survive(), with a Wirral postcode that maps."""
    number = identifier.rsplit("-", 1)[-1]
    base = {"record_id": f"{source}:{number}", "identifier": identifier, "source": source, "name": "WIRRAL FOODBANK",
            "legal_form": vcse_rule.UNINCORPORATED_CHARITY, "is_active": True, "status": "registered",
            "parent_identifier": None, "address": "1 Argyle Street, Birkenhead", "postcode": "CH41 6AB",
            "lad_code": "E08000015", "ward_code": "E05000956", "ward_name": "Birkenhead and Tranmere",
            "lsoa_code": "E01007120", "imd_decile": 1, "postcode_status": "mapped", "in_area_by_postcode": True,
            "in_area_by_operation": False, "website": None, "email": None, "phone": None, "latest_income": None,
            "latest_expenditure": None, "latest_financial_year_end": None, "date_registered": None,
            "date_removed": None, "charity_number": None, "company_number": None, "society_number": None}
    return {**base, **fields}


CHARITY = record("charity_commission", "GB-CHC-1123456", charity_number="1123456", name="Wirral Foodbank",
                 date_registered=date(2008, 5, 1), latest_income=250_000.0, latest_expenditure=240_000.0,
                 latest_financial_year_end=date(2025, 3, 31), website="https://wirralfoodbank.org.uk")
COMPANY = record("companies_house", "GB-COH-06543210", company_number="06543210", name="WIRRAL FOODBANK LIMITED",
                 legal_form=vcse_rule.CHARITABLE_COMPANY, date_registered=date(2008, 3, 14),
                 email="info@wirralfoodbank.org.uk", postcode="CH41 9XX", postcode_status="unmapped",
                 in_area_by_postcode=False, ward_code=None, ward_name=None)


def test_the_charity_record_is_canonical_and_names_the_organisation():
    org = survive([COMPANY, CHARITY])
    assert org["org_id"] == "GB-CHC-1123456" and org["canonical_record"] == "charity_commission:1123456"
    assert org["name"] == "Wirral Foodbank"  # the Charity Commission's spelling, not Companies House capitals
    assert org["charity_number"] == "1123456" and org["company_number"] == "06543210"
    assert org["source_count"] == 2


def test_a_charity_that_is_also_a_company_is_a_charitable_company():
    assert survive([CHARITY, COMPANY])["legal_form"] == vcse_rule.CHARITABLE_COMPANY
    society = record("fca_mutuals", "GB-MPR-31234R", society_number="31234R",
                     legal_form=vcse_rule.REGISTERED_SOCIETY)
    assert survive([CHARITY, society])["legal_form"] == vcse_rule.REGISTERED_SOCIETY
    assert survive([CHARITY])["legal_form"] == vcse_rule.UNINCORPORATED_CHARITY


def test_values_come_from_the_first_record_that_has_them():
    org = survive([CHARITY, COMPANY])
    assert org["website"] == "https://wirralfoodbank.org.uk"  # the charity's
    assert org["email"] == "info@wirralfoodbank.org.uk"       # only the company has one
    assert org["phone"] is None
    assert org["date_registered"] == date(2008, 3, 14)          # the earliest registration
    assert (org["latest_income"], org["latest_financial_year_end"]) == (250_000.0, date(2025, 3, 31))


def test_geography_comes_from_a_record_whose_postcode_places_it_in_the_area():
    org = survive([{**CHARITY, "postcode": "CH99 9ZZ", "postcode_status": "unmapped", "in_area_by_postcode": False,
                    "ward_code": None}, {**COMPANY, "postcode": "CH41 6AB", "postcode_status": "terminated",
                                         "in_area_by_postcode": True, "ward_code": "E05000956"}])
    assert (org["postcode"], org["postcode_status"], org["ward_code"]) == ("CH41 6AB", "terminated", "E05000956")
    assert org["in_area_by_postcode"] is True and org["area_basis"]


def test_an_organisation_is_active_while_any_register_says_so():
    removed = {**CHARITY, "is_active": False, "status": "removed", "date_removed": date(2020, 1, 31)}
    org = survive([removed, COMPANY])
    assert org["is_active"] is True and org["status"] == "registered" and org["date_removed"] is None
    closed = survive([removed, {**COMPANY, "is_active": False, "status": "Dissolved",
                                "date_removed": date(2021, 6, 30)}])
    assert closed["is_active"] is False and closed["date_removed"] == date(2021, 6, 30)


def test_canonical_order_prefers_active_main_records_and_is_stable():
    linked = record("charity_commission", "GB-CHC-1123456-1", parent_identifier="GB-CHC-1123456",
                    charity_number="1123456")
    removed = {**record("charity_commission", "GB-CHC-1000001"), "is_active": False}
    ordered = order_records([COMPANY, linked, removed, CHARITY])
    assert [r["identifier"] for r in ordered] == ["GB-CHC-1123456", "GB-CHC-1123456-1", "GB-CHC-1000001",
                                                  "GB-COH-06543210"]
    assert order_records(list(reversed(ordered))) == ordered
