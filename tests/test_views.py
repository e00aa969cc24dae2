"""The procurement views (sql/views) on a realistic Wirral register: directory, readiness, ward coverage, CPV macro."""

import duckdb
import pytest
from procurement_fixtures import AREA, ORGS, copy_register, org_id_for


@pytest.fixture(scope="module")
def con(register_master, tmp_path_factory):
    path = copy_register(register_master, tmp_path_factory.mktemp("views") / "register.duckdb")
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def one(con, sql, params=()):
    return con.execute(sql, list(params)).fetchone()


def test_directory_has_one_row_per_active_organisation(con):
    assert one(con, "SELECT count(*), count(DISTINCT org_id) FROM provider_directory") == (len(ORGS), len(ORGS))
    assert one(con, "SELECT count(*) FROM provider_directory WHERE name = 'Egremont Youth Club'")[0] == 0


def test_directory_lists_identifiers_names_services_and_register_links(con):
    row = one(con, """SELECT identifiers, other_names, service_areas, employees, volunteers, charity_commission_url,
                             companies_house_url, fca_mutuals_url, ward_name, postcode_district
                      FROM provider_directory WHERE org_id = ?""", [org_id_for("C1")])
    identifiers, other_names, services, employees, volunteers, ccew, ch, fca, ward, district = row
    assert identifiers == [org_id_for("C1"), "GB-COH-02967368"]
    assert other_names == ["Mind in Wirral"]
    assert services == ["advice_advocacy", "mental_health"]
    assert (employees, volunteers) == (64, 80)
    assert ccew == ("https://register-of-charities.charitycommission.gov.uk/charity-search/-/charity-details/"
                    + org_id_for("C1").removeprefix("GB-CHC-"))
    assert ch == "https://find-and-update.company-information.service.gov.uk/company/02967368"
    assert fca is None and ward == "Birkenhead and Tranmere" and district == "CH41"
    society = one(con, "SELECT fca_mutuals_url, charity_commission_url FROM provider_directory WHERE org_id = ?",
                  [org_id_for("S1")])
    assert society == ("https://mutuals.fca.org.uk/Search/Society/31234", None)


@pytest.mark.parametrize("key,level,reason", [
    ("C12", "not ready", "Charity Commission: insolvent"),
    ("X3", "not ready", "Companies House status: Active - Proposal to Strike off"),
    ("C5", "caution", "income falling"),
    ("C8", "caution", "latest annual return filed late"),
    ("C17", "caution", "Charity Commission: submission overdue"),
    ("X2", "caution", "Companies House accounts overdue"),
    ("G2", "caution", "Companies House confirmation statement overdue"),
    ("X4", "caution", "operating for less than 2 years"),
    ("S1", "unknown", "no filing or finance data in the public registers"),
    ("C1", "ready", "no regulator flags"),
])
def test_readiness_level_and_reasons(con, key, level, reason):
    got_level, reasons = one(con, "SELECT readiness_level, readiness_reasons FROM provider_readiness WHERE org_id = ?",
                             [org_id_for(key)])
    assert got_level == level
    assert reason in reasons


def test_income_band_and_trend_from_the_annual_return_history(con):
    rows = dict((r[0], r[1:]) for r in con.execute(
        "SELECT org_id, income_band, income_trend, trend_base_income FROM provider_readiness").fetchall())
    assert rows[org_id_for("C1")] == ("over £1m", "growing", 2_100_000)      # 2.1m -> 2.4m
    assert rows[org_id_for("C2")] == ("over £1m", "stable", 1_450_000)       # +4.8%
    assert rows[org_id_for("C5")] == ("£10k-£100k", "falling", 95_000)       # 95k -> 41k
    assert rows[org_id_for("C16")][0] == "under £10k"
    assert rows[org_id_for("C15")][:2] == ("unknown", "unknown")             # no returns yet


def test_ward_coverage_counts_based_and_area_wide_providers_apart(con):
    based, area_wide = one(con, """SELECT providers_based, providers_area_wide FROM ward_service_coverage
                                   WHERE ward_name = 'Birkenhead and Tranmere' AND service_area = 'domestic_abuse'""")
    assert based == 1          # Tomorrow's Women Wirral
    assert area_wide == 1      # Merseyside Domestic Abuse Refuges, based in Liverpool
    wards = one(con, "SELECT count(DISTINCT ward_code) FROM ward_service_coverage WHERE area_code = ?", [AREA])[0]
    assert wards == 11         # every ward in area_ward: the 9 with providers and 2 without


def test_a_ward_without_providers_is_a_gap_for_every_service(con):
    upton = con.execute("SELECT service_area, providers_based, providers_area_wide FROM ward_service_gaps "
                        "WHERE ward_name = 'Upton'").fetchall()
    services = one(con, "SELECT count(*) FROM service_area")[0]
    assert len(upton) == services and all(based == 0 for _, based, _ in upton)
    assert ("domestic_abuse", 0, 1) in upton   # Merseyside Domestic Abuse Refuges operates area-wide


def test_ward_gaps_use_providers_based_in_the_ward(con):
    gaps = con.execute("SELECT ward_name, service_area, providers_based FROM ward_service_gaps").fetchall()
    assert all(n < 2 for _, _, n in gaps)
    assert ("Heswall", "domestic_abuse", 0) in gaps
    assert all(s != "food_poverty" or w != "Birkenhead and Tranmere" for w, s, _ in gaps)  # 2 food providers there
    wider = one(con, "SELECT count(*) FROM ward_service_gaps_below(3)")[0]
    assert wider > len(gaps)


def test_providers_for_cpv_matches_by_prefix(con):
    rows = con.execute("SELECT org_id, service_area, how FROM providers_for_cpv('85312320-8')").fetchall()
    assert (org_id_for("C4"), "domestic_abuse", "within") in rows
    assert all(how == "within" for *_, how in rows)
    broad = con.execute("SELECT DISTINCT how FROM providers_for_cpv('85000000')").fetchall()
    assert broad == [("broader",)]
    assert one(con, "SELECT count(*) FROM providers_for_cpv('45000000')")[0] == 0
    assert one(con, "SELECT cpv_stem('85300000-2'), cpv_stem('80000000'), cpv_stem('none')") == ("853", "80", None)


def test_gaps_are_called_only_where_the_service_area_is_reliably_tagged(con):
    """A ward without a provider is 'no provider' only when 5+ of the area's providers carry the service area;
    else the register cannot tell a service gap from a tagging gap, and says how many organisations it cannot place."""
    in_area = dict(con.execute("""SELECT service_area, count(DISTINCT org_id) FROM organisation_service_area
                                  JOIN organisation USING (area_code, org_id) WHERE is_active GROUP BY 1""").fetchall())
    rows = con.execute("SELECT service_area, providers_based, gap FROM ward_service_gaps").fetchall()
    assert {gap for _, _, gap in rows} <= {"no provider", "too few providers", "cannot tell"}
    for service_area, based, gap in rows:
        if in_area.get(service_area, 0) < 5:
            assert gap == "cannot tell", service_area
        else:
            assert gap == ("no provider" if based == 0 else "too few providers"), service_area
    assert any(gap == "cannot tell" for *_, gap in rows) and any(gap == "no provider" for *_, gap in rows)
    untagged = one(con, """SELECT count(*) FROM organisation o WHERE is_active AND in_area_by_postcode
                           AND lad_code = area_code AND ward_name = 'Birkenhead and Tranmere' AND NOT EXISTS
                           (SELECT 1 FROM organisation_service_area s WHERE s.org_id = o.org_id)""")[0]
    shown = one(con, """SELECT DISTINCT organisations_without_service_area FROM ward_service_gaps
                        WHERE ward_name = 'Birkenhead and Tranmere'""")[0]
    assert shown == untagged


def test_a_year_two_charities_of_one_organisation_report_counts_once_whatever_the_row_order(register_master,
                                                                                          tmp_path):
    """An organisation of two charities (a main and a linked charity, or a charity and its successor) has a return
    from each for a year: the larger stands for the year (organisation_finance_year), so the readiness and the
    directory are the same whichever order the rows were written in, and years are counted once."""
    path = copy_register(register_master, tmp_path / "register.duckdb")
    con = duckdb.connect(str(path))
    try:
        c1 = org_id_for("C1")
        own = con.execute("SELECT * FROM organisation_finance WHERE org_id = ? ORDER BY financial_year_end",
                          [c1]).fetchall()
        assert len(own) >= 3
        # the linked charity's returns: the same years, a tenth of the income, more staff than the main charity
        con.execute("""CREATE TEMP TABLE linked AS SELECT * REPLACE (income / 10 AS income,
                       expenditure / 10 AS expenditure, employees + 100 AS employees)
                       FROM organisation_finance WHERE org_id = ?""", [c1])
        con.execute("CREATE TEMP TABLE main_rows AS SELECT * FROM organisation_finance WHERE org_id = ?", [c1])
        seen = []
        for first, second in (("main_rows", "linked"), ("linked", "main_rows")):
            con.execute("DELETE FROM organisation_finance WHERE org_id = ?", [c1])
            con.execute(f"INSERT INTO organisation_finance SELECT * FROM {first}")
            con.execute(f"INSERT INTO organisation_finance SELECT * FROM {second}")
            seen.append((con.execute("SELECT * FROM provider_readiness WHERE org_id = ?", [c1]).fetchall(),
                         con.execute("SELECT * FROM provider_directory WHERE org_id = ?", [c1]).fetchall()))
        assert seen[0] == seen[1]
        years, latest, trend, base, employees = one(con, """SELECT years_reported, latest_income, income_trend,
            trend_base_income, employees FROM provider_readiness WHERE org_id = ?""", [c1])
        assert years == len(own)                                   # each year once, not once a charity
        assert (trend, base) == ("growing", 2_100_000)             # the main charity's years compared
        assert employees == 64 and one(con, "SELECT employees FROM provider_directory WHERE org_id = ?", [c1]) == (64,)
        assert one(con, "SELECT count(*) FROM organisation_finance_year WHERE org_id = ?", [c1]) == (len(own),)
        assert latest == one(con, "SELECT latest_income FROM provider_directory WHERE org_id = ?", [c1])[0]
    finally:
        con.close()


def test_an_organisation_with_only_its_age_on_record_is_unknown_not_ready(register_master, tmp_path):
    """The build writes an organisation_filing row for every organisation, if only for its years operating
    (sql/enrich/20_organisation_filing.sql). A registered society with no returns, income, Charity Commission or
    Companies House record is still `unknown`: its age is not filing data. Too young is still an amber flag."""
    path = copy_register(register_master, tmp_path / "register.duckdb")
    con = duckdb.connect(str(path))
    try:
        s1, s2 = org_id_for("S1"), org_id_for("S2")
        con.execute("INSERT INTO organisation_filing (area_code, org_id, years_operating) VALUES (?, ?, 15), "
                    "(?, ?, 1)", [AREA, s1, AREA, s2])
        rows = dict((r[0], r[1:]) for r in con.execute(
            "SELECT org_id, readiness_level, readiness_rank, readiness_reasons, years_operating "
            "FROM provider_readiness WHERE org_id IN (?, ?)", [s1, s2]).fetchall())
        assert rows[s1] == ("unknown", 3, ["no filing or finance data in the public registers"], 15)
        assert rows[s2] == ("caution", 2, ["operating for less than 2 years"], 1)
        # a record at a regulator is filing data, even with no annual return yet
        level, reasons, years = one(con, "SELECT readiness_level, readiness_reasons, years_operating "
                                         "FROM provider_readiness WHERE org_id = ?", [org_id_for("C15")])
        assert (level, reasons) == ("ready", ["no regulator flags", f"{years} years operating"])
        assert one(con, "SELECT readiness_level FROM provider_readiness WHERE org_id = ?", [org_id_for("X1")]) \
            == ("ready",)
    finally:
        con.close()


def test_one_late_return_in_three_years_is_not_called_on_time(register_master, tmp_path):
    """One late return in the last three, the latest on time, is no amber flag (docs/procurement.md: the latest
    late, or two or more, is), so the provider stays ready; but its reasons no longer say "on time"."""
    path = copy_register(register_master, tmp_path / "register.duckdb")
    con = duckdb.connect(str(path))
    try:
        c1 = org_id_for("C1")
        sql = "SELECT readiness_level, late_returns_last_3_years, readiness_reasons FROM provider_readiness " \
              "WHERE org_id = ?"
        assert one(con, sql, [c1])[:2] == ("ready", 0) and "annual returns on time" in one(con, sql, [c1])[2]
        con.execute("""UPDATE organisation_finance SET received_late = TRUE, date_received = date_due + 40
                       WHERE org_id = ? AND financial_year_end = (SELECT min(financial_year_end)
                                                              FROM organisation_finance WHERE org_id = ?)""", [c1, c1])
        level, late, reasons = one(con, sql, [c1])
        assert (level, late) == ("ready", 1)
        assert "annual returns on time" not in reasons
        assert "latest annual return on time, but 1 of the last 3 late" in reasons
    finally:
        con.close()
