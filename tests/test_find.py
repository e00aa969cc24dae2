"""vcse find: every filter, sorting, distance, and hostile input on a realistic Wirral register."""

import duckdb
import pytest
from procurement_fixtures import ORGS, org_id_for
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.procurement.find import FindQuery, find_providers

runner = CliRunner()




def names(con, **kw):
    return [r["name"] for r in find_providers(con, FindQuery(**kw)).as_dicts()]


def test_service_area_by_code_or_label_based_first_then_income(con):
    by_code = names(con, service_areas=["domestic_abuse"])
    # based in Wirral first (by income), then the larger Liverpool charity that only operates in Wirral
    assert by_code == ["Wirral Women and Children's Aid", "Tomorrow's Women Wirral",
                       "Merseyside Domestic Abuse Refuges"]
    where = {r["name"]: r["based"] for r in find_providers(con, FindQuery(service_areas=["domestic_abuse"])).as_dicts()}
    assert where["Tomorrow's Women Wirral"] == "based in Wirral (Birkenhead and Tranmere)"
    assert where["Merseyside Domestic Abuse Refuges"] == "operates in Wirral from Liverpool (L3)"
    assert names(con, service_areas=["Domestic abuse and violence"]) == by_code
    with pytest.raises(PipelineError, match="unknown service area 'knitting'"):
        names(con, service_areas=["knitting"])


def test_keyword_ranks_name_matches_before_other_names_and_services(con):
    found = find_providers(con, FindQuery(keyword="mind")).as_dicts()
    assert found[0]["name"] == "Wirral Mind" and found[0]["relevance"] == 60
    other = names(con, keyword="Mind in Wirral")           # a working name only
    assert other == ["Wirral Mind"]
    advice = find_providers(con, FindQuery(keyword="advice")).as_dicts()
    assert [r["relevance"] for r in advice] == sorted([r["relevance"] for r in advice], reverse=True)
    assert {"Bromborough Debt Advice Service", "Wirral Carers Centre"} <= {r["name"] for r in advice}


def test_keyword_searches_what_charities_say_they_do(con):
    found = find_providers(con, FindQuery(keyword="dementia")).as_dicts()   # only in organisation_text
    assert [(r["name"], r["relevance"]) for r in found] == [("Heswall Day Centre for Older People", 15)]
    asylum = names(con, keyword="asylum seekers")
    assert asylum == ["Wirral Refugee Advice Network"]


def test_keyword_searches_classifications_and_only_the_area_searched(fresh_register):
    """Texts and classifications are matched as sets keyed by area and organisation: a classification alone
    ranks 10, and a search of one area finds nothing through another area's texts or classifications."""
    con = duckdb.connect(str(fresh_register))
    wirral_mind = org_id_for("C1")
    con.execute("INSERT INTO organisation_classification VALUES ('E08000015', ?, 'ccew_what', '999', "
                "'Heritage railways')", [wirral_mind])
    # the same organisation in a second area's register, under another name, with texts of its own
    for table in ("organisation", "organisation_identifier", "organisation_service_area"):
        con.execute(f"INSERT INTO {table} SELECT * REPLACE ('E08000012' AS area_code) FROM {table} "
                    "WHERE area_code = 'E08000015' AND org_id = ?", [wirral_mind])
    con.execute("UPDATE organisation SET name = 'Liverpool Mind' WHERE area_code = 'E08000012'")
    con.execute("INSERT INTO organisation_text VALUES ('E08000012', ?, 'GB-CHC-1', 'Railway preservation', NULL)",
                [wirral_mind])
    con.execute("INSERT INTO organisation_classification VALUES ('E08000012', ?, 'ccew_what', '998', "
                "'Steam preservation')", [wirral_mind])

    def found(keyword, area=None):
        return [(r["name"], r["relevance"])
                for r in find_providers(con, FindQuery(keyword=keyword, area_code=area)).as_dicts()]

    assert found("railways") == [("Liverpool Mind", 15), ("Wirral Mind", 10)]   # plural or not
    assert found("railway", "E08000015") == [("Wirral Mind", 10)]         # its classification, not the text
    assert found("railway", "E08000012") == [("Liverpool Mind", 15)]      # its text, not Wirral's classification
    assert found("preservation", "E08000015") == [] and found("steam", "E08000015") == []
    assert found("steam", "E08000012") == [("Liverpool Mind", 10)]
    assert found(["steam", "railways"]) == [("Liverpool Mind", 15), ("Wirral Mind", 10)]   # the best fit of either
    con.close()


def test_keywords_match_with_or_without_accents(fresh_register):
    """A keyword is read without its accents and so is every text it is matched against: "café" finds a "Cafe"
    and a "Café" alike, and the whole accented name ranks as the exact name."""
    con = duckdb.connect(str(fresh_register))
    con.execute("UPDATE organisation SET name = 'Côte Café Community Kitchen' WHERE org_id = ?", [org_id_for("C1")])
    con.execute("INSERT INTO organisation_text VALUES ('E08000015', ?, 'GB-CHC-1', 'Runs a community cafe', NULL)",
                [org_id_for("C3")])

    def found(keyword):
        return [(r["org_id"], r["relevance"]) for r in find_providers(con, FindQuery(keyword=keyword)).as_dicts()]

    expected = [(org_id_for("C1"), 60), (org_id_for("C3"), 15)]
    assert found("café") == found("cafe") == found("CAFÉ") == expected
    assert found("Côte Café Community Kitchen") == found("cote cafe community kitchen") == [(org_id_for("C1"), 100)]
    con.close()


def test_a_name_with_an_ampersand_typed_in_full_is_the_exact_name(fresh_register):
    """"&" is read as "and" in the keyword and in the name alike, so the whole name ranks 100 however it is typed."""
    con = duckdb.connect(str(fresh_register))
    con.execute("UPDATE organisation SET name = 'Wirral & District Advice Centre' WHERE org_id = ?",
                [org_id_for("C1")])
    for typed, relevance in (("Wirral & District Advice Centre", 100), ("wirral and district advice centre", 100),
                             ("Wirral &District Advice", 80)):
        found = find_providers(con, FindQuery(keyword=typed)).as_dicts()
        assert (found[0]["org_id"], found[0]["relevance"]) == (org_id_for("C1"), relevance), typed
    con.close()


def test_providers_of_one_name_and_income_come_in_one_order(fresh_register):
    """Ties on every sort key are broken by area and identifier, so a page of results never changes between asks."""
    con = duckdb.connect(str(fresh_register))
    wirral_mind = org_id_for("C1")
    for org_id in ("GB-CHC-9000002", "GB-CHC-9000001", "GB-CHC-9000003"):   # written out of order
        con.execute("INSERT INTO organisation SELECT * REPLACE (? AS org_id, 'Wirral Twin Club' AS name, "
                    "NULL AS latest_income, FALSE AS in_area_by_postcode) FROM organisation WHERE org_id = ?",
                    [org_id, wirral_mind])
    for _ in range(3):
        found = find_providers(con, FindQuery(keyword="twin club")).as_dicts()
        assert [(r["name"], r["org_id"]) for r in found] == [
            ("Wirral Twin Club", f"GB-CHC-900000{n}") for n in (1, 2, 3)]
    con.close()


def test_compact_service_areas_put_the_searched_ones_first():
    from vcse_pipeline.cli.find import compact_list

    assert compact_list(["Advice", "Food", "Mental health"], ["Mental health"]) == "Mental health, Advice +1 more"
    assert compact_list(["Advice"]) == "Advice"


@pytest.mark.parametrize("address,postcode,town", [
    ("108 Windsor Close, Ancoats, Manchester, Greater Manchester", "M4 8NA", "Manchester"),
    ("Flat 8, 42 Fernfield Drive, Norris Green, Liverpool, Merseyside", "L11 2SS", "Liverpool"),
    ("75 WINDSORCROFT STREET, BROADGREEN, LIVERPOOL, MERSEYSIDE", "L16 5EG", "Liverpool"),
    ("12 High Street, Chester, CH1 1AA", "CH1 1AA", "Chester"),
    (None, None, None),
])
def test_base_town_from_register_addresses(address, postcode, town):
    from vcse_pipeline.procurement.find import base_town

    assert base_town(address, postcode) == town


def test_hostile_keyword_is_only_text(con, register):
    hostile = "x'; DROP TABLE organisation; --"
    assert names(con, keyword=hostile) == []
    # other filters check the value against the register's own choices first: an error, never SQL
    for option in ({"ward": hostile}, {"postcode_district": hostile}, {"legal_forms": [hostile]},
                   {"area_code": hostile}, {"service_areas": [hostile]}):
        with pytest.raises(PipelineError, match="unknown|not a postcode district"):
            names(con, **option)
    con.close()
    check = duckdb.connect(str(register), read_only=True)
    assert check.execute("SELECT count(*) FROM organisation").fetchone()[0] == len(ORGS) + 1
    check.close()


def test_ward_by_name_or_code_and_postcode_district(con):
    assert names(con, ward="Liscard") == names(con, ward="E05000961") == [
        "Wirral Refugee Advice Network", "Liscard Community Pantry", "Wallasey Wellbeing Walks CIC"]
    assert set(names(con, postcode_district="ch44")) == {
        "Wirral Refugee Advice Network", "Seacombe Youth Project", "Liscard Community Pantry",
        "Seacombe Play and Learn CIC", "Wallasey Wellbeing Walks CIC"}


def test_distance_from_a_postcode(con):
    found = find_providers(con, FindQuery(near_postcode="ch41 9zz", within_km=1.0)).as_dicts()
    assert found and all(r["distance_km"] <= 1.0 for r in found)
    assert [r["distance_km"] for r in found] == sorted(r["distance_km"] for r in found)
    assert {r["ward_name"] for r in found} == {"Birkenhead and Tranmere"}
    far = find_providers(con, FindQuery(near_postcode="CH48 9ZZ")).as_dicts()
    assert far[0]["ward_name"] == "West Kirby and Thurstaston"
    with pytest.raises(PipelineError, match="does not know where CH99 9ZZ is.*current postcode in Wirral"):
        find_providers(con, FindQuery(near_postcode="CH99 9ZZ"))
    with pytest.raises(PipelineError, match="not a UK postcode"):
        find_providers(con, FindQuery(near_postcode="nowhere"))


def test_within_km_compares_the_distance_before_it_is_rounded(con):
    """A provider 3.003 km away is not within 3 km, though the table shows 3.00 km: the search keeps and orders by
    the distance itself, and rounds it to 2 decimals only to show it."""
    from math import asin, cos, radians, sin, sqrt

    def km(a, b):   # haversine between postcode centroids, on the mean Earth radius (docs/procurement.md)
        return 2 * 6371.0088 * asin(sqrt(sin(radians(b[0] - a[0]) / 2) ** 2 + cos(radians(a[0]))
                                         * cos(radians(b[0])) * sin(radians(b[1] - a[1]) / 2) ** 2))
    origin = con.execute("SELECT lat, long FROM postcode_location WHERE postcode = 'CH41 9ZZ'").fetchone()
    away = {name: km(origin, (lat, long)) for name, lat, long in con.execute(
        "SELECT d.name, l.lat, l.long FROM provider_directory d JOIN postcode_location l USING (postcode)").fetchall()}
    # a provider whose distance rounds down (x.xx3 km shows as x.xx), and a limit between the two
    name, exact = min(((n, d) for n, d in away.items() if d - round(d, 2) > 1e-4), key=lambda nd: nd[1])
    shown = round(exact, 2)
    found = find_providers(con, FindQuery(near_postcode="CH41 9ZZ", within_km=(shown + exact) / 2)).as_dicts()
    assert name not in [r["name"] for r in found]
    assert found == [r for r in find_providers(con, FindQuery(near_postcode="CH41 9ZZ")).as_dicts()
                     if away[r["name"]] <= (shown + exact) / 2]
    kept = find_providers(con, FindQuery(near_postcode="CH41 9ZZ", within_km=exact + 1e-6)).as_dicts()
    assert [r["distance_km"] for r in kept if r["name"] == name] == [shown]     # shown rounded
    assert [away[r["name"]] for r in kept] == sorted(away[r["name"]] for r in kept)


@pytest.mark.parametrize("area", ["", "  "])
def test_an_empty_area_is_an_error_as_an_empty_ward_is(con, register, area):
    """`--area ""` would search every area, as if it were left out: an error, worded as `--ward ""` is."""
    for query, option in ((FindQuery(area_code=area), "--area"), (FindQuery(ward=area), "--ward")):
        with pytest.raises(PipelineError) as err:
            find_providers(con, query)
        assert str(err.value) == f"{option} is empty: give a value, or leave the option out to search without it"
    result = runner.invoke(app, ["find", "--register", str(register), "--area", area])
    assert isinstance(result.exception, PipelineError), result.output
    assert str(result.exception).startswith("--area is empty")


def test_legal_form_income_readiness_and_area(con):
    assert set(names(con, legal_forms=["community interest"])) == {
        "Wirral Community Transport CIC", "Birkenhead Skills Hub CIC", "Seacombe Play and Learn CIC",
        "Wallasey Wellbeing Walks CIC"}
    mid = find_providers(con, FindQuery(min_income=100_000, max_income=500_000)).as_dicts()
    assert mid and all(100_000 <= r["latest_income"] <= 500_000 for r in mid)
    not_ready = names(con, readiness=["not ready"])
    assert set(not_ready) == {"Wirral Women and Children's Aid", "Seacombe Play and Learn CIC"}
    with pytest.raises(PipelineError, match="unknown readiness level 'excellent'; choose from: ready, caution, "
                                            "unknown, not ready$"):
        names(con, readiness=["excellent"])
    assert len(names(con, area_code="E08000015")) == len(ORGS)
    assert names(con, service_areas=["food_poverty"], ward="Birkenhead and Tranmere", limit=1) == ["Wirral Foodbank"]


def test_cli_prints_a_table_and_reports_errors(register):
    result = runner.invoke(app, ["find", "--register", str(register), "-s", "mental_health", "--ward", "Liscard"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 provider ")
    flat = " ".join(result.output.replace("│", " ").split())
    assert "Wallasey Wellbeing" in flat and "based in Wirral" in flat and "(Liscard)" in flat
    # a narrow terminal still gets a readable table: service areas shortened, no line wider than the terminal
    wide = runner.invoke(app, ["find", "--register", str(register), "-s", "mental_health"], env={"COLUMNS": "90"})
    assert wide.exit_code == 0, wide.output
    assert max(len(line) for line in wide.output.splitlines()) <= 90
    assert "+1 more" in wide.output                           # Involve Northwest has three service areas
    assert "service areas" in wide.output and "legal form" not in wide.output
    missing = runner.invoke(app, ["find", "--register", str(register.parent / "none.duckdb")])
    assert missing.exit_code != 0
    assert isinstance(missing.exception, PipelineError) and "no register" in str(missing.exception)


def test_based_wording_says_when_a_postcode_is_discontinued():
    from vcse_pipeline.procurement.find import based_where

    assert based_where("Wirral", True, "Liscard", "1 Mill Lane, Wallasey", "CH44 5UF") == "based in Wirral (Liscard)"
    assert based_where("Wirral", True, "New Brighton", "2 Rowson St, Wallasey", "CH45 2LX", True) == \
        "based in Wirral (New Brighton; postcode discontinued)"
    assert based_where("Wirral", True, None, None, "CH45 2LX", True) == "based in Wirral (postcode discontinued)"


def test_based_wording_says_plainly_when_the_postcode_is_not_in_the_directory():
    from vcse_pipeline.procurement.find import based_where

    # a mistyped Wirral postcode places the provider nowhere: say so, with the address's own town (not "Wirral")
    upton = "Suite 15, 35 Grosvenorcroft Grove, Upton, Wirral, Merseyside CH49 1ZZ"
    assert based_where("Wirral", False, None, upton, "CH49 1ZZ", postcode_not_found=True) == \
        "operates in Wirral (postcode CH49 1ZZ not found; address in Upton)"
    assert based_where("Wirral", False, None, None, "CH49 1ZZ", postcode_not_found=True) == \
        "operates in Wirral (postcode CH49 1ZZ not found)"
    # a known postcode elsewhere still reads "from" its town and district
    assert based_where("Wirral", False, None, "3 Dale St, Liverpool, Merseyside", "L3 5TU") == \
        "operates in Wirral from Liverpool (L3)"


def test_demo_providers_whose_postcode_is_not_in_the_directory_say_so(demo_register):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        rows = find_providers(con, FindQuery(limit=0)).as_dicts()
        unknown = {r[0] for r in con.execute("SELECT org_id FROM organisation WHERE is_active "
                                             "AND postcode_status = 'not in postcode directory'").fetchall()}
    finally:
        con.close()
    assert unknown, "the demo data has providers with a postcode the postcode directory does not know"
    for r in rows:
        if r["org_id"] in unknown:
            assert r["based"].startswith(f"operates in Wirral (postcode {r['postcode']} not found"), r
            assert "from Wirral" not in r["based"] and not r["based_in_area"], r
        else:
            assert "not found" not in r["based"], r


def test_demo_providers_with_a_discontinued_postcode_are_based_and_say_so(demo_register):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        rows = find_providers(con, FindQuery(limit=0)).as_dicts()
    finally:
        con.close()
    discontinued = [r for r in rows if r["postcode_terminated"]]
    assert discontinued, "the demo data has Wirral providers whose postcode the ONS terminated"
    for r in discontinued:
        if r["based_in_area"]:
            assert r["ward_name"] and r["based"].endswith("postcode discontinued)"), r
    assert not any("discontinued" in r["based"] for r in rows if not r["postcode_terminated"])


def test_distance_search_says_how_many_providers_it_leaves_out(demo_register):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        # a Wirral provider's own postcode (the scaled demo need not hold any one postcode)
        origin = con.execute("SELECT min(d.postcode) FROM provider_directory d JOIN postcode_location l "
                             "ON l.postcode = d.postcode AND l.lat IS NOT NULL WHERE d.based_in_area").fetchone()[0]
        everyone = find_providers(con, FindQuery(limit=0))
        near = find_providers(con, FindQuery(near_postcode=origin, limit=1))
        unlocated = con.execute("""SELECT count(*) FROM provider_directory d
            WHERE NOT EXISTS (SELECT 1 FROM postcode_location l WHERE l.postcode = d.postcode AND l.lat IS NOT NULL)
            """).fetchone()[0]
        ch49_unlocated = con.execute("""SELECT count(*) FROM provider_directory d WHERE postcode_district = 'CH49'
            AND NOT EXISTS (SELECT 1 FROM postcode_location l WHERE l.postcode = d.postcode AND l.lat IS NOT NULL)
            """).fetchone()[0]
        food = find_providers(con, FindQuery(service_areas=["food_poverty"], limit=0))
        food_near = find_providers(con, FindQuery(service_areas=["food_poverty"], near_postcode=origin))
        nowhere = find_providers(con, FindQuery(near_postcode=origin, within_km=0.0001,
                                                postcode_district="CH49"))
    finally:
        con.close()
    assert unlocated > 0
    assert near.matched == everyone.matched - unlocated and len(near.rows) == 1
    assert near.notes == [f"{unlocated:,} providers are left out of this distance search because the register "
                          "has no location for them: no postcode, or one the postcode directory does not know"]
    # the count is of those the other filters kept, even when the distance search keeps none
    food_unlocated = food.matched - food_near.matched
    assert all(n.startswith(f"{food_unlocated:,} provider") for n in food_near.notes)
    assert (food_unlocated > 0) == bool(food_near.notes)
    assert nowhere.matched == 0
    assert [n.split()[0] for n in nowhere.notes] == ([f"{ch49_unlocated:,}"] if ch49_unlocated else [])


def test_distance_search_with_every_provider_located_has_no_note(con):
    assert find_providers(con, FindQuery(near_postcode="CH41 9ZZ")).notes == []


def test_a_malformed_postcode_reads_not_found_in_find_and_the_report(fresh_register):
    """find and the report share one list of statuses meaning "postcode not found" (lookups.POSTCODE_NOT_FOUND)."""
    from vcse_pipeline.procurement.report import report_context

    con = duckdb.connect(str(fresh_register))
    try:
        org_id, postcode = con.execute("SELECT org_id, postcode FROM provider_directory WHERE NOT based_in_area "
                                       "AND postcode IS NOT NULL ORDER BY org_id LIMIT 1").fetchone()
        def not_found() -> int:
            wards = {w[0]: w[1] for w in report_context(con, "E08000015")["wards"]}
            return wards.get("(postcode not found: address needs checking)", 0)
        before = not_found()
        con.execute("UPDATE organisation SET postcode_status = 'malformed' WHERE org_id = ?", [org_id])
        row = next(r for r in find_providers(con, FindQuery(limit=0)).as_dicts() if r["org_id"] == org_id)
        after = not_found()
    finally:
        con.close()
    assert row["based"].startswith(f"operates in Wirral (postcode {postcode} not found"), row["based"]
    assert after == before + 1


def test_demo_find_carers_finds_the_carers_organisations(demo_register):
    """Every active provider calling itself a carers' organisation is found by --service carers (issue 13: 6 of
    13 were, their text too thin for the model; the name now places them)."""
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        named = {r[0] for r in con.execute("SELECT org_id FROM provider_directory WHERE name ILIKE '%carers%'")
                 .fetchall()}
        found = {row["org_id"] for row in find_providers(con, FindQuery(service_areas=["carers"], limit=0)).as_dicts()}
    finally:
        con.close()
    assert named and named <= found
