"""Exact and fuzzy link rules of the register build, on the small staged registers in register_fixtures."""

import json
from datetime import date

from register_fixtures import WIRRAL, area_of_operation, charity, company, config, register_db, scenario, society

from vcse_pipeline.register.build import build_area


def links(con, method=None):
    sql = "SELECT left_record, right_record, method, score, evidence FROM organisation_link WHERE area_code = ?"
    rows = con.execute(sql, [WIRRAL]).fetchall()
    return [r for r in rows if method is None or r[2] == method]


def org_of(con, record_id):
    return con.execute("SELECT org_id FROM organisation_identifier WHERE area_code = ? AND record_id = ?",
                       [WIRRAL, record_id]).fetchall()[0][0]


def test_charity_company_number_is_zero_padded_and_linked(wirral_build):
    con, _ = wirral_build
    found = [r for r in links(con, "charity company number") if r[0] == "charity_commission:1100001"]
    assert len(found) == 1
    left, right, _, score, evidence = found[0]
    assert right == "companies_house:05034432" and score == 100
    assert json.loads(evidence) == {"charity_company_registration_number": "5034432", "company_number": "05034432"}
    assert org_of(con, "companies_house:05034432") == "GB-CHC-1100001"


def test_placeholder_company_number_never_links(wirral_build):
    con, _ = wirral_build
    assert not [r for r in links(con) if "charity_commission:1160003" in r[:2]]
    # the placeholder company is not even pulled into the area's records
    assert con.execute("SELECT count(*) FROM source_record WHERE record_id = 'companies_house:01234567'"
                       ).fetchall()[0][0] == 0


def test_malformed_company_number_is_dropped():
    data = scenario()
    data["charity_commission.charity"] = [
        charity(1111111, "Claughton Village Hall", "CH43 7QT", company_number="XX002802"),
        charity(1111112, "Oxton Society", "CH43 7QT", company_number="12345678"),
    ]
    data["companies_house.company"] = [company("12345678", "OXTON PROPERTIES LIMITED", "CH43 7QT")]
    con = register_db(data)
    build_area(con, config(), WIRRAL)
    assert con.execute("SELECT company_number FROM source_record WHERE source = 'charity_commission' "
                       "ORDER BY record_id").fetchall() == [(None,), (None,)]
    assert links(con, "charity company number") == []


def test_society_numbers_link_fca_to_companies_house(wirral_build):
    con, _ = wirral_build
    pairs = {(r[0], r[1]): json.loads(r[4]) for r in links(con, "society number")}
    assert pairs[("fca_mutuals:28116R", "companies_house:IP28116R")]["society_key"] == "28116/R"
    # post-2014 community benefit society: FCA 8053 (no suffix) is Companies House RS008053
    assert ("fca_mutuals:8053", "companies_house:RS008053") in pairs
    assert org_of(con, "companies_house:RS008053") == "GB-MPR-8053"


def test_cluster_across_three_registers_takes_the_charity_id(wirral_build):
    con, _ = wirral_build
    rows = con.execute("""SELECT identifier, source, is_canonical FROM organisation_identifier
                          WHERE area_code = ? AND org_id = 'GB-CHC-1050002' ORDER BY identifier""",
                       [WIRRAL]).fetchall()
    assert rows == [("GB-CHC-1050002", "charity_commission", True),
                    ("GB-COH-IP28116R", "companies_house", False),
                    ("GB-MPR-28116R", "fca_mutuals", False)]
    org = con.execute("SELECT name, legal_form, source_count FROM organisation WHERE org_id = 'GB-CHC-1050002'"
                      ).fetchall()[0]
    assert org == ("Hoylake Village Store", "Registered society (community benefit society / co-operative)", 3)


def test_shared_website_links_a_charity_to_its_cio_successor(wirral_build):
    con, _ = wirral_build
    (left, right, _, _, evidence), = links(con, "shared website")
    assert {left, right} == {"charity_commission:1190007", "charity_commission:515008"}
    assert json.loads(evidence)["normalised"] == "heswalldaycentre.org.uk"
    # the active CIO is canonical; the removed predecessor is an extra identifier
    org = con.execute("SELECT org_id, is_active, legal_form FROM organisation WHERE name = 'Heswall Day Centre'"
                      ).fetchall()
    assert org == [("GB-CHC-1190007", True, "Charitable incorporated organisation")]


def test_generic_email_domain_never_links(wirral_build):
    con, _ = wirral_build
    assert links(con, "shared email") == []
    assert org_of(con, "charity_commission:1120009") != org_of(con, "charity_commission:1120010")


def test_specific_shared_email_links_but_not_when_shared_by_three():
    data = scenario()
    email = "office@wirralcvs.org.uk"
    data["charity_commission.charity"] = [
        charity(1200001, "Wirral Toy Library", "CH43 7QT", email="info@wirraltoylibrary.org.uk"),
        charity(1200002, "Wirral Toy Library CIO", "CH43 7QT", email="Info@WirralToyLibrary.org.uk",
                charity_type="CIO", is_cio=True),
        *[charity(1200010 + i, f"Wirral Group {i}", "CH43 7QT", email=email) for i in range(3)],
    ]
    con = register_db(data)
    build_area(con, config(), WIRRAL)
    found = links(con, "shared email")
    assert [{r[0], r[1]} for r in found] == [{"charity_commission:1200001", "charity_commission:1200002"}]


def test_fuzzy_link_for_records_no_identifier_links(wirral_build):
    con, summary = wirral_build
    (left, right, method, score, evidence), = links(con, "fuzzy name")
    assert {left, right} == {"charity_commission:1140015", "companies_house:12000015"}
    assert score >= 90 and json.loads(evidence)["postcode_agreement"] == "same postcode"
    assert summary["links_by_method"]["fuzzy name"] == 1


def test_false_friend_in_another_town_goes_to_review_not_link(wirral_build):
    con, _ = wirral_build
    assert org_of(con, "charity_commission:1140016") != org_of(con, "companies_house:12000016")
    review = con.execute("SELECT left_record, right_record, score FROM link_review WHERE area_code = ?",
                         [WIRRAL]).fetchall()
    assert [(a, b) for a, b, _ in review] == [("charity_commission:1140016", "companies_house:12000016")]
    assert 75 <= review[0][2] < 90


def test_thresholds_come_from_configuration():
    con = register_db()
    summary = build_area(con, config(linking={"link_threshold": 100.5, "review_threshold": 60}), WIRRAL)
    assert "fuzzy name" not in summary["links_by_method"]
    review = {frozenset(r) for r in con.execute("SELECT left_record, right_record FROM link_review").fetchall()}
    assert frozenset({"charity_commission:1140015", "companies_house:12000015"}) in review
    con2 = register_db()
    assert build_area(con2, config(linking={"review_threshold": 99.5}), WIRRAL)["review_count"] == 0


def test_deregistered_society_kept_inactive_and_friendly_society_excluded(wirral_build):
    con, _ = wirral_build
    assert con.execute("SELECT is_active, date_removed FROM organisation WHERE org_id = 'GB-MPR-21926R'"
                       ).fetchall()[0][0] is False
    assert con.execute("SELECT count(*) FROM source_record WHERE record_id = 'fca_mutuals:4321F'"
                       ).fetchall()[0][0] == 0


def test_society_type_switch_excludes_societies():
    data = scenario()
    data["fca_mutuals.society"] = [society(7001, None, "Birkenhead Community Pub Limited",
                                           "Market Street, Birkenhead, CH41 5LH", "CH41 5LH")]
    con = register_db(data)
    build_area(con, config(vcse={"society_types": ["Credit Union"]}), WIRRAL)
    assert con.execute("SELECT count(*) FROM source_record WHERE source = 'fca_mutuals'").fetchall()[0][0] == 0


def conversion_data(*cios, removed=date(2019, 3, 1), postcode=None, linked_old=False):
    """A charity removed on `removed` (the extract gives it no address) that operates in Wirral, and CIOs."""
    data = scenario()
    data["charity_commission.charity"] = [
        charity(1300001, "Wirral Toy Library", postcode, status="Removed", removed=removed,
                registered=date(1992, 5, 1), address=()),
        *cios,
    ]
    data["charity_commission.charity_area_of_operation"] = [area_of_operation(1300001, "Wirral")]
    return data


def cio(number, name, registered=date(2018, 11, 1), postcode="CH43 7QT"):
    return charity(number, name, postcode, charity_type="CIO", is_cio=True, registered=registered)


def test_removed_charity_links_to_the_cio_that_succeeded_it():
    con = register_db(conversion_data(cio(1180001, "Wirral Toy Library CIO")))
    summary = build_area(con, config(), WIRRAL)
    (left, right, _, score, evidence), = links(con, "successor registration")
    assert {left, right} == {"charity_commission:1300001", "charity_commission:1180001"} and score == 100
    evidence = json.loads(evidence)
    assert evidence["name_form"] == "wirral toy library" and evidence["days_removed_after_successor"] == 120
    # one organisation, active, named and identified by the live CIO
    assert org_of(con, "charity_commission:1300001") == org_of(con, "charity_commission:1180001") == "GB-CHC-1180001"
    assert con.execute("SELECT is_active FROM organisation WHERE org_id = 'GB-CHC-1180001'").fetchall() == [(True,)]
    assert summary["links_by_method"]["successor registration"] == 1


def test_successor_must_be_registered_around_the_removal():
    # removed 14 years before the CIO was registered: a namesake, not a conversion
    con = register_db(conversion_data(cio(1180001, "Wirral Toy Library CIO"), removed=date(2004, 6, 30)))
    build_area(con, config(), WIRRAL)
    assert links(con, "successor registration") == []
    # the window is configurable
    con = register_db(conversion_data(cio(1180001, "Wirral Toy Library CIO"), removed=date(2020, 1, 1)))
    build_area(con, config(linking={"successor_after_days": 30}), WIRRAL)
    assert links(con, "successor registration") == []


def test_successor_in_another_district_does_not_link():
    data = conversion_data(cio(1180001, "Wirral Toy Library CIO", postcode="L8 0RP"), postcode="CH43 7QT")
    con = register_db(data)
    build_area(con, config(), WIRRAL)
    assert links(con, "successor registration") == []


def test_two_possible_successors_go_to_review():
    con = register_db(conversion_data(cio(1180001, "Wirral Toy Library CIO"),
                                      cio(1180002, "The Wirral Toy Library", registered=date(2019, 1, 10))))
    build_area(con, config(), WIRRAL)
    assert links(con, "successor registration") == []
    review = con.execute("SELECT left_record, right_record, score FROM link_review WHERE area_code = ? "
                         "ORDER BY right_record", [WIRRAL]).fetchall()
    assert review == [("charity_commission:1180001", "charity_commission:1300001", 85.0),
                      ("charity_commission:1180002", "charity_commission:1300001", 85.0)]
