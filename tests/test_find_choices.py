"""vcse find reads what officers type forgivingly, and says so when it cannot: wards, areas, service areas,
legal forms, keywords, limits and the values no search can use."""

import re

import pytest
from procurement_fixtures import ORGS
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.procurement.choices import (
    list_choices,
    resolve_area,
    resolve_legal_forms,
    resolve_service_area,
    resolve_ward,
)
from vcse_pipeline.procurement.find import FindQuery, find_providers

runner = CliRunner()
BIRKENHEAD = "E05000952"




def names(con, **kw):
    return [r["name"] for r in find_providers(con, FindQuery(**kw)).as_dicts()]


@pytest.mark.parametrize("typed", ["Birkenhead and Tranmere", "birkenhead & tranmere", "BIRKENHEAD AND TRANMERE",
                                   "Birkenhead, Tranmere", "e05000952"])
def test_ward_names_any_case_and_punctuation_or_code(con, typed):
    assert resolve_ward(con, typed) == [BIRKENHEAD]


@pytest.mark.parametrize("typed,suggestion", [("Birkenhed and Tranmere", "Birkenhead and Tranmere"),
                                              ("Birkenhead", "Birkenhead and Tranmere"),
                                              ("Liscard and Wallasey", "Liscard")])
def test_unknown_ward_suggests_close_ones(con, typed, suggestion):
    with pytest.raises(PipelineError, match=rf"unknown ward '{typed}' \(did you mean {suggestion}"):
        names(con, ward=typed)


def test_unknown_ward_with_nothing_close_lists_the_wards(con):
    with pytest.raises(PipelineError) as err:
        names(con, ward="Atlantis")
    message = str(err.value)
    assert message.startswith("unknown ward 'Atlantis'; choose from: ") and "did you mean" not in message
    assert message.endswith(" (`vcse find --list wards` lists them)")
    # the area's wards, those without providers too (area_ward)
    assert "Pensby and Thingwall" in message and "Birkenhead and Tranmere" in message


def test_area_by_code_or_name_and_areas_not_in_the_register(con):
    assert resolve_area(con, "E08000015") == resolve_area(con, "wirral") == resolve_area(con, " Wirral ") == "E08000015"
    assert len(names(con, area_code="wirral")) == len(ORGS)
    with pytest.raises(PipelineError,
                       match=r"does not cover Liverpool \(E08000012\); choose from: Wirral \(E08000015\)"):
        names(con, area_code="E08000012")
    with pytest.raises(PipelineError, match=r"unknown area 'Wirrall' \(did you mean Wirral \(E08000015\)\?\); "
                                            r"choose from: Wirral \(E08000015\)"):
        names(con, area_code="Wirrall")


@pytest.mark.parametrize("typed", ["mental_health", "Mental health and wellbeing", "mental health", "MentalHealth",
                                   "mental-health", "Mental Helth"])
def test_service_area_forgiving(con, typed):
    assert set(names(con, service_areas=[typed])) == set(names(con, service_areas=["mental_health"]))


def test_service_area_misspelling_is_noted_and_unclear_ones_are_errors(con):
    read = find_providers(con, FindQuery(service_areas=["Mental Helth"]))
    assert read.notes == ["read service area 'Mental Helth' as Mental health and wellbeing (mental_health)"]
    assert find_providers(con, FindQuery(service_areas=["mental health"])).notes == []
    # words several labels share: say which it could be (the real register's labels)
    both = {"mental_health": "Mental health and emotional wellbeing", "health_wellbeing": "Health and wellbeing"}
    with pytest.raises(PipelineError, match=r"'health' could mean any of: Mental health and emotional wellbeing "
                                            r"\(mental_health\), Health and wellbeing \(health_wellbeing\)"):
        resolve_service_area(both, "health")
    assert resolve_service_area(both, "health & wellbeing") == "health_wellbeing"
    with pytest.raises(PipelineError) as err:
        names(con, service_areas=["knitting"])
    # every label beside its code, so the officer can copy either
    assert "Mental health and wellbeing (mental_health)" in str(err.value)
    assert "Food and poverty relief (food_poverty)" in str(err.value)


@pytest.mark.parametrize("typed,forms", [
    ("CIC", {"Community interest company"}),
    ("cio", {"Charitable incorporated organisation"}),
    ("charity", {"Charity", "Charitable company", "Charitable incorporated organisation"}),
    ("community interest", {"Community interest company"}),
    ("co-op", set()),                      # no co-operative in this register: an error, below
])
def test_legal_form_short_forms(con, typed, forms):
    if not forms:
        with pytest.raises(PipelineError, match=f"unknown legal form '{typed}'.*Registered society"):
            resolve_legal_forms(con, [typed])
        return
    assert set(resolve_legal_forms(con, [typed])) == forms
    found = find_providers(con, FindQuery(legal_forms=[typed])).as_dicts()
    assert found and {r["legal_form"] for r in found} == forms


def test_keyword_words_not_a_phrase_and_whole_words(con):
    # C4's activities: "Women's centre ... domestic abuse support"; C12's: "Refuge accommodation ... women"
    for typed in ["women refuge", "womens refuge", "women's refuge", "Women’s Refuges"]:
        assert names(con, keyword=typed) == ["Wirral Women and Children's Aid"], typed
    # "refuge" is not "refugee": the refugee advice network is not a refuge, Merseyside's refuges are
    refuge = names(con, keyword="refuge")
    assert "Merseyside Domestic Abuse Refuges" in refuge and "Wirral Refugee Advice Network" not in refuge
    assert names(con, keyword="refugees") == ["Wirral Refugee Advice Network"]


def test_repeated_keywords_match_any_and_rank_name_matches_first(con):
    either = find_providers(con, FindQuery(keyword=["refuge", "foodbank"])).as_dicts()
    found = [r["name"] for r in either]
    assert set(found) == set(names(con, keyword="refuge")) | set(names(con, keyword="foodbank"))
    # names (fit 60) before activities (15)
    assert set(found[:2]) == {"Merseyside Domestic Abuse Refuges", "Wirral Foodbank"} and either[2]["relevance"] == 15
    assert [r["relevance"] for r in either] == sorted((r["relevance"] for r in either), reverse=True)


def test_limit_keeps_the_total(con):
    all_found = find_providers(con, FindQuery())
    three = find_providers(con, FindQuery(limit=3))
    assert len(three.rows) == 3 and three.matched == len(all_found.rows) == len(ORGS)
    assert three.rows == all_found.rows[:3]
    assert len(find_providers(con, FindQuery(limit=0)).rows) == len(ORGS)    # 0: every provider


@pytest.mark.parametrize("query,message", [
    ({"limit": -5}, "--limit -5: give a number of providers, 0 or more"),
    ({"near_postcode": "CH41 9ZZ", "within_km": -1}, "--within-km -1: a distance cannot be negative"),
    ({"min_income": 100_000, "max_income": 50_000}, "--min-income £100,000 is more than --max-income £50,000"),
    ({"min_income": -1}, "income cannot be negative"),
    ({"postcode_district": "zz"}, "not a postcode district"),
])
def test_values_no_search_can_use(con, query, message):
    with pytest.raises(PipelineError, match=message):
        find_providers(con, FindQuery(**query))


def test_postcode_district_takes_a_full_postcode(con):
    assert names(con, postcode_district="CH41 4AA") == names(con, postcode_district="ch41")
    assert names(con, postcode_district="ch414aa") == names(con, postcode_district="CH41") != []


def test_near_a_providers_own_postcode_elsewhere_and_plain_errors(con):
    # Merseyside Domestic Abuse Refuges is based in Liverpool (L3 5TU): the register holds where that is
    from_liverpool = find_providers(con, FindQuery(near_postcode="l3 5tu", within_km=1)).as_dicts()
    assert from_liverpool[0]["name"] == "Merseyside Domestic Abuse Refuges" and from_liverpool[0]["distance_km"] == 0
    with pytest.raises(PipelineError) as err:
        find_providers(con, FindQuery(near_postcode="L1 8JQ"))
    assert "does not know where L1 8JQ is" in str(err.value) and "postcode in Wirral" in str(err.value)
    assert "postcode_location" not in str(err.value)


def test_list_choices(con):
    title, columns, wards = list_choices(con, "wards")
    assert columns == ["ward", "code", "providers based there"]
    assert ("Birkenhead and Tranmere", BIRKENHEAD, 6) in wards and ("Upton", "E05000969", 0) in wards
    _, _, services = list_choices(con, "services")
    mental = sum("mental_health" in org[6] for org in ORGS)
    assert ("Mental health and wellbeing", "mental_health", mental) in services
    _, _, forms = list_choices(con, "legal-forms")
    cics, cios = (sum(org[2] == form for org in ORGS) for form in ("Community interest company",
                                                                   "Charitable incorporated organisation"))
    assert ("Community interest company", "cic", cics) in forms
    assert ("Charitable incorporated organisation", "cio, charity", cios) in forms
    assert list_choices(con, "areas")[2] == [("Wirral", "E08000015", len(ORGS))]
    # an empty --area is an error, as it is for a search (it listed every area's values)
    for empty in ("", "  "):
        with pytest.raises(PipelineError, match="--area is empty"):
            list_choices(con, "wards", empty)


def test_cli_list_limit_keywords_and_area(register, tmp_path, monkeypatch):
    listed = runner.invoke(app, ["find", "--register", str(register), "--list", "wards"], env={"COLUMNS": "100"})
    assert listed.exit_code == 0, listed.output
    assert "Birkenhead and Tranmere" in listed.output and "E05000952" in listed.output
    three = runner.invoke(app, ["find", "--register", str(register), "-n", "3"])
    assert three.exit_code == 0 and three.output.startswith(f"3 of {len(ORGS)} providers"), three.output
    assert f"Showing 3 of {len(ORGS)}" in three.output
    # the screen shows TABLE_LIMIT by default; a file gets every provider
    monkeypatch.setattr("vcse_pipeline.cli.find.TABLE_LIMIT", 5)
    screen = runner.invoke(app, ["find", "--register", str(register)])
    assert screen.output.startswith(f"5 of {len(ORGS)} providers"), screen.output
    out = tmp_path / "all.csv"
    exported = runner.invoke(app, ["find", "--register", str(register), "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text(encoding="utf-8-sig").strip().splitlines()) == len(ORGS) + 1
    both = runner.invoke(app, ["find", "--register", str(register), "-k", "refuge", "-k", "foodbank"],
                         env={"COLUMNS": "200"})
    assert both.output.startswith("3 providers") and "Wirral Foodbank" in both.output, both.output
    noted = runner.invoke(app, ["find", "--register", str(register), "-s", "Mental Helth"], env={"COLUMNS": "120"})
    assert noted.output.startswith("(read service area 'Mental Helth' as Mental health and wellbeing")
    for bad in (["--ward", "Atlantis"], ["--area", "E08000012"], ["-n", "-5"]):
        result = runner.invoke(app, ["find", "--register", str(register), *bad])
        assert result.exit_code != 0 and isinstance(result.exception, PipelineError), bad
    report = runner.invoke(app, ["report", "--register", str(register), "--area", "E08000012",
                                 "-o", str(tmp_path / "r.html")])
    assert isinstance(report.exception, PipelineError) and "does not cover Liverpool" in str(report.exception)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("query,what,typed", [
    ({"service_areas": ["xyz"]}, "service area", "xyz"),
    ({"service_areas": ["Mentl wellbeeing"]}, "service area", "Mentl wellbeeing"),
    ({"readiness": ["excelent"]}, "readiness level", "excelent"),
    ({"ward": "Atlantis"}, "ward", "Atlantis"),
    ({"area_code": "Narnia"}, "area", "Narnia"),
    ({"legal_forms": ["trust"]}, "legal form", "trust"),
])
def test_every_unknown_value_error_has_one_wording(con, query, what, typed):
    with pytest.raises(PipelineError) as err:
        find_providers(con, FindQuery(**query))
    message = str(err.value)
    # unknown <what> '<typed>'[ (did you mean A or B?)]; choose from: A, B, C[ (`vcse find --list ...` lists them)]
    suggestion = r"( \(did you mean [^)]+(\([^)]*\))?[^)]*\?\))?"     # a label's own "(code)" may sit inside
    assert re.fullmatch(rf"unknown {what} '{typed}'{suggestion}; choose from: .+", message, re.S), message
    assert "Choose" not in message and "The register has" not in message and ".." not in message


def test_service_area_choices_with_commas_are_separated_by_semicolons():
    known = {"arts_culture": "Arts, culture and heritage", "food_poverty": "Food and poverty"}
    with pytest.raises(PipelineError) as err:
        resolve_service_area(known, "knitting")
    assert str(err.value) == ("unknown service area 'knitting'; choose from: Arts, culture and heritage "
                              "(arts_culture); Food and poverty (food_poverty) "
                              "(`vcse find --list services` lists them)")


def test_a_postcode_district_the_register_lacks_is_an_error(con):
    with pytest.raises(PipelineError) as err:
        find_providers(con, FindQuery(postcode_district="ZZ99"))
    assert str(err.value).startswith("unknown postcode district 'ZZ99'; choose from: ")
    with pytest.raises(PipelineError, match=r"unknown postcode district 'CH4' \(did you mean CH4[0-9]"):
        find_providers(con, FindQuery(postcode_district="CH4"))
    # the districts offered are the register's own, CH41 among them
    assert "CH41" in str(err.value).split("choose from: ")[1].split(", ")


@pytest.mark.parametrize(("query", "option"), [
    ({"ward": ""}, "--ward"), ({"near_postcode": " "}, "--near"), ({"postcode_district": ""}, "--postcode-district"),
    ({"keyword": [""]}, "--keyword"), ({"keyword": ["refuge", "  "]}, "--keyword"),
])
def test_an_empty_value_is_an_error_not_every_provider(con, query, option):
    with pytest.raises(PipelineError) as err:
        find_providers(con, FindQuery(**query))
    assert str(err.value) == f"{option} is empty: give a value, or leave the option out to search without it"


@pytest.mark.parametrize(("args", "refused"), [
    (["-o", "services.csv"], "--output"), (["-f", "csv"], "--format"), (["--service", "Mental health"], "--service"),
    (["-n", "3"], "--limit"),
])
def test_cli_list_refuses_options_it_would_ignore(register, tmp_path, args, refused):
    args = [str(tmp_path / a) if a.endswith(".csv") else a for a in args]
    result = runner.invoke(app, ["find", "--register", str(register), "--list", "wards", *args])
    assert isinstance(result.exception, PipelineError), result.output
    assert str(result.exception).startswith(f"--list shows the choices on screen and takes only --area; leave out "
                                            f"{refused}")
    assert not (tmp_path / "services.csv").exists()
    scoped = runner.invoke(app, ["find", "--register", str(register), "--list", "wards", "--area", "Wirral"])
    assert scoped.exit_code == 0 and "Birkenhead and Tranmere" in scoped.output
