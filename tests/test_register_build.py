"""Area selection, VCSE rule, survivorship, enrichment, idempotence and multi-area builds of the register."""

from datetime import date

import pytest
from register_fixtures import LIVERPOOL, WIRRAL, config, register_db

from vcse_pipeline.errors import PipelineError
from vcse_pipeline.register.area import operation_codes
from vcse_pipeline.register.build import AREA_TABLES, build_area


def org(con, org_id, columns, area=WIRRAL):
    rows = con.execute(f"SELECT {columns} FROM organisation WHERE area_code = ? AND org_id = ?",
                       [area, org_id]).fetchall()
    return rows[0] if rows else None


def test_in_area_by_postcode_keeps_ward_lsoa_and_imd_decile(wirral_build):
    con, _ = wirral_build
    assert org(con, "GB-CHC-1190007", "area_basis, postcode, ward_name, lsoa_code, imd_decile, lad_code") == (
        "postcode", "CH60 0AB", "Heswall", "E01007176", 10, WIRRAL)
    # rank 25000 of 32,844 LSOAs -> decile ceil(7.6) = 8
    assert org(con, "GB-CHC-1050002", "imd_decile") == (8,)


def test_area_of_operation_parent_counts_but_england_does_not(wirral_build):
    con, _ = wirral_build
    assert org(con, "GB-CHC-1170005", "area_basis, in_area_by_postcode, in_area_by_operation, lad_code") == (
        "area of operation", False, True, LIVERPOOL)
    assert con.execute("SELECT operation_areas FROM source_record WHERE record_id = 'charity_commission:1170005'"
                       ).fetchall() == [("Merseyside",)]
    assert org(con, "GB-CHC-1080006", "org_id") is None
    assert org(con, "GB-CHC-1100001", "area_basis") == ("both",)


def test_national_area_of_operation_is_configurable():
    con = register_db()
    build_area(con, config(vcse={"count_national_area_of_operation": True}), WIRRAL)
    assert org(con, "GB-CHC-1080006", "area_basis") == ("area of operation",)
    assert operation_codes(WIRRAL) == [WIRRAL, "E11000002"]
    with pytest.raises(PipelineError, match="not a GSS"):
        operation_codes("Wirral")


def test_unmapped_postcodes_are_reported_with_reason(wirral_build):
    con, summary = wirral_build
    rows = con.execute("SELECT record_id, postcode, reason FROM unmapped_postcode WHERE area_code = ? "
                       "ORDER BY record_id", [WIRRAL]).fetchall()
    assert rows == [("charity_commission:1130011", None, "missing"),
                    ("charity_commission:1130012", "CH41 9ZZ", "terminated"),
                    ("charity_commission:1130013", "NOT KNOWN", "malformed"),
                    ("charity_commission:1130014", "CH49 9XX", "not in postcode directory"),
                    # the food hub's linked charity gives no address of its own
                    ("charity_commission:5000001", None, "missing")]
    assert summary["unmapped_postcodes"] == 5
    # a terminated postcode is reported but still places the charity by its last ward (test_terminated_postcodes)
    assert org(con, "GB-CHC-1130012", "ward_code, area_basis") == ("E05000957", "both")


def test_vcse_rule_excludes_private_company_and_keeps_removed_charity(wirral_build):
    con, summary = wirral_build
    assert con.execute("SELECT count(*) FROM source_record WHERE record_id = 'companies_house:09876543'"
                       ).fetchall()[0][0] == 0
    assert org(con, "GB-CHC-502004", "is_active, status, date_removed::VARCHAR, legal_form") == (
        False, "Removed", "2019-08-30", "Unincorporated charity / Trust")
    assert org(con, "GB-COH-11223344", "legal_form") == ("Community interest company",)
    assert summary["by_legal_form"]["Community interest company"] == 1


def test_switching_off_a_legal_form_removes_it():
    con = register_db()
    summary = build_area(con, config(vcse={"include_community_interest_companies": False}), WIRRAL)
    assert "Community interest company" not in summary["by_legal_form"]
    assert org(con, "GB-COH-11223344", "org_id") is None


def test_linked_charity_is_a_child_of_its_main_charity(wirral_build):
    con, _ = wirral_build
    assert org(con, "GB-CHC-1100001-1", "parent_org_id, legal_form, area_basis") == (
        "GB-CHC-1100001", "Linked charity (subsidiary or group member)", "both")


def test_survivorship_of_a_charity_and_its_company(wirral_build):
    con, _ = wirral_build
    row = org(con, "GB-CHC-1100001", "name, legal_form, postcode, website, phone, latest_income, "
              "latest_financial_year_end::VARCHAR, company_number, charity_number, source_count")
    # charity name; the charity's Wirral postcode over the company's Liverpool registered office
    assert row == ("Birkenhead Community Food Hub", "Charitable company", "CH41 5LH",
                   "https://www.birkenheadfoodhub.org.uk/", "0151 647 0000", 182000.0, "2025-03-31", "05034432",
                   "1100001", 2)
    names = con.execute("SELECT name_type, name, normalised_name FROM organisation_name "
                        "WHERE org_id = 'GB-CHC-1100001' ORDER BY name_type, name").fetchall()
    assert ("previous", "BIRKENHEAD FOOD BANK LIMITED", "birkenhead food bank") in names
    assert ("working", "The Food Hub Birkenhead", "food hub birkenhead") in names
    assert {n for t, n, _ in names if t == "registered"} == {"Birkenhead Community Food Hub",
                                                              "BIRKENHEAD COMMUNITY FOOD HUB LIMITED"}


def test_enrichment_copies_finance_filing_and_classification(wirral_build):
    con, _ = wirral_build
    finance = con.execute("""SELECT financial_year_end::VARCHAR, income, income_government_contracts,
                                    income_government_grants, employees, volunteers, received_late
                             FROM organisation_finance WHERE org_id = 'GB-CHC-1100001' ORDER BY 1""").fetchall()
    assert finance == [("2024-03-31", 160000.0, None, None, None, None, True),
                       ("2025-03-31", 182000.0, 45000.0, 12000.0, 6, 35, False)]
    filing = con.execute("""SELECT charity_reporting_status, ch_company_status, ch_accounts_overdue
                            FROM organisation_filing WHERE org_id = 'GB-COH-11223344'""").fetchall()
    assert filing == [(None, "Active", True)]
    classes = con.execute("""SELECT scheme, code FROM organisation_classification
                             WHERE area_code = ? ORDER BY scheme, code""", [WIRRAL]).fetchall()
    assert ("ccew_what", "105") in classes and ("ccew_who", "204") in classes and ("ccew_how", "302") in classes
    assert ("sic", "88990") in classes and ("fca_sic", "47110") in classes


def test_rerun_is_idempotent():
    con = register_db()
    first = build_area(con, config(), WIRRAL)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in AREA_TABLES}
    second = build_area(con, config(), WIRRAL)
    assert counts == {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in AREA_TABLES}
    for key in ("organisations", "by_legal_form", "by_area_basis", "links_by_method", "review_count"):
        assert first[key] == second[key]


def test_two_areas_in_one_build_are_keyed_by_area_code():
    con = register_db()
    wirral = build_area(con, config(), WIRRAL)
    liverpool = build_area(con, config(), LIVERPOOL)
    assert wirral["organisations"] == con.execute("SELECT count(*) FROM organisation WHERE area_code = ?",
                                                  [WIRRAL]).fetchall()[0][0]
    # Merseyside is a parent of both areas: by postcode and operation in Liverpool, by operation in Wirral
    assert org(con, "GB-CHC-1170005", "area_basis", LIVERPOOL) == ("both",)
    assert org(con, "GB-CHC-1170005", "area_basis", WIRRAL) == ("area of operation",)
    assert org(con, "GB-CHC-1140016", "area_basis", LIVERPOOL) == ("both",)
    assert org(con, "GB-CHC-1140016", "area_basis", WIRRAL) == ("area of operation",)
    # the food hub's company has its registered office in Liverpool: the organisation is in both areas, with
    # the in-area address in each
    assert org(con, "GB-CHC-1100001", "postcode", LIVERPOOL) == ("L1 4DQ",)
    assert org(con, "GB-CHC-1100001", "postcode", WIRRAL) == ("CH41 5LH",)
    assert liverpool["organisations"] < wirral["organisations"]
    # rebuilding Wirral leaves Liverpool untouched
    before = con.execute("SELECT count(*) FROM organisation WHERE area_code = ?", [LIVERPOOL]).fetchall()[0][0]
    build_area(con, config(), WIRRAL)
    assert con.execute("SELECT count(*) FROM organisation WHERE area_code = ?", [LIVERPOOL]).fetchall()[0][0] == before


def test_filing_flags_and_years_operating_count_from_the_runs_date():
    """A run passes its date (as_of) to every area: a build on another day, or across midnight, counts the same."""
    from datetime import date

    def filing(as_of):
        con = register_db()
        build_area(con, config(), WIRRAL, as_of)
        return {row[0]: row[1:] for row in con.execute(
            "SELECT org_id, ch_accounts_overdue, ch_conf_stmt_overdue, years_operating FROM organisation_filing "
            "WHERE area_code = ?", [WIRRAL]).fetchall()}, con

    before, con = filing(date(2025, 1, 1))
    # accounts due 2024-09-30 are overdue by 2025; those due 2026-03-31 and the statements due 2026-06-14 are not
    assert before["GB-COH-11223344"][:2] == (True, False)
    assert before["GB-COH-12000016"][:2] == (False, False)
    after, _ = filing(date(2026, 7, 1))
    assert after["GB-COH-12000016"][:2] == (True, True)

    # years operating: whole years since the earliest registration, one fewer the day before its anniversary
    (registered,) = con.execute("""SELECT min(s.date_registered) FROM organisation_identifier i
                                   JOIN source_record s USING (area_code, record_id)
                                   WHERE i.org_id = 'GB-CHC-1190007'""").fetchone()
    anniversary = registered.replace(year=registered.year + 40)
    on_the_day, _ = filing(anniversary)
    day_before, _ = filing(date.fromordinal(anniversary.toordinal() - 1))
    assert (on_the_day["GB-CHC-1190007"][2], day_before["GB-CHC-1190007"][2]) == (40, 39)


def test_areas_are_built_in_batches_of_source_records_in_build_order():
    from vcse_pipeline.pipeline import build_batches

    records = {"E08000015": 5, "E08000012": 10, "E08000014": 30, "E06000050": 1, "E08000011": 19}
    held = set(records)
    assert build_batches(list(records), held, records, 20) == [
        ["E08000015", "E08000012"], ["E08000014"], ["E06000050", "E08000011"]]
    assert build_batches(list(records), held, records, 1000) == [list(records)]
    # an area the build's tables do not hold reads staging by itself: it is a batch of its own, between the others
    assert build_batches(list(records), held - {"E08000014"}, records, 1000) == [
        ["E08000015", "E08000012"], ["E08000014"], ["E06000050", "E08000011"]]
    assert build_batches([], held, records, 20) == []


def test_areas_written_together_are_what_each_written_alone_gives(demo_register, tmp_path, monkeypatch):
    """build_register writes areas in batches (one INSERT per table and one statement per enrich and reference step
    for all of them): the register is the one area-by-area writing gives, every table row for row in stored order,
    and each area's summary the same but for its timings."""
    import duckdb

    from vcse_pipeline import pipeline
    from vcse_pipeline.register import national

    areas = [WIRRAL, LIVERPOOL, "E06000050", "E08000014"]
    state = national.ensure_national_state(demo_register.cfg, areas)

    def build(name: str, batch_records: int, named: list[str] = areas) -> tuple[dict, dict]:
        monkeypatch.setattr(pipeline, "BUILD_BATCH_RECORDS", batch_records)
        path = tmp_path / f"{name}.duckdb"
        summary = pipeline.build_register(demo_register.cfg, path, named, state, as_of=date(2026, 12, 4))
        with duckdb.connect(str(path), read_only=True) as con:
            tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
            stored = {t: con.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
        timings = ("seconds", "cluster_seconds")
        return stored, {a: {k: v for k, v in s.items() if k not in timings} for a, s in summary["areas"].items()}

    alone, alone_summary = build("alone", 1)
    together, together_summary = build("together", 10**9)
    assert together == alone and together_summary == alone_summary
    assert build("named twice", 10**9, [*areas, WIRRAL]) == (together, together_summary)  # built once
    assert {a for (a, *_) in together["organisation_finance"]} == set(areas)
    assert all(together[t] for t in ("organisation", "organisation_filing", "organisation_classification",
                                     "organisation_text", "area_ward", "unmapped_postcode"))
