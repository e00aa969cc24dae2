"""vcse opportunities match: real Contracts Finder notices (tests/fixtures/ocds) against a Wirral register."""

import json
from pathlib import Path

import duckdb
import pytest
from procurement_fixtures import build_register, org_id_for
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.procurement.opportunities import (
    contract_value,
    cpv_codes,
    describe_notice,
    load_release,
    match_notice,
)

runner = CliRunner()
NOTICES = Path(__file__).parent / "fixtures" / "ocds" / "contracts-finder-sample.json"
LANCASHIRE_DA = "59b57e42-dcd2-49f9-9485-57da53b562eb-819866"   # North West, CPV 85000000, £8m over 5 years
IDVA = "d88b957b-bbf3-4fbe-b9cb-e9c2350bb8e9-819910"            # East of England, item CPVs
BIRKENHEAD_MARKET = "3ab2696f-487e-430f-8281-1d71213b4b5f-833008"  # Wirral, construction (CPV 45000000)
EQUALITIES = "15700454-17eb-442d-ae86-0f600cd15871-832962"      # England, CPV 80000000
DAY_OPPORTUNITIES = "53216327-668e-4a7b-a645-f8855a2a5412-832992"  # Warwickshire, CPV 85323000
SHORT_BREAKS = "3dee8a58-0bbb-44f8-8248-b3dff0d7071b-832949"    # CPV 85000000
CHILDREN_DA = "43fda075-f559-47d2-96de-038f2d1633c4-819870"     # Dudley, CPV 85000000
LIGHT_TRAIL = "4bff9fae-9ab0-490c-99b0-da71e14146bc-833039"     # Manchester, event services


@pytest.fixture(scope="module")
def register(tmp_path_factory):
    return build_register(tmp_path_factory.mktemp("opps") / "register.duckdb")


@pytest.fixture()
def con(register):
    con = duckdb.connect(str(register), read_only=True)
    yield con
    con.close()


def test_real_notice_shortlists_local_domestic_abuse_providers_with_reasons(con):
    release = load_release(NOTICES, LANCASHIRE_DA)
    matches = match_notice(con, release, limit=5)
    assert len(matches) == 5
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    top = matches[0]
    assert top.org_id == org_id_for("C18")                      # Merseyside Domestic Abuse Refuges
    assert "domestic_abuse" in top.service_areas and top.size_fit == "fits"
    assert any("85312320" in r for r in top.reasons)
    assert "delivery region North West includes Wirral" in top.reasons
    assert "operates in Wirral (based outside it)" in top.reasons
    assert "buyer marks the notice suitable for VCSEs" in top.reasons
    assert any(r.startswith("readiness ready") for r in top.reasons)
    everyone = match_notice(con, release, limit=0)
    insolvent = next(m for m in everyone if m.org_id == org_id_for("C12"))
    assert insolvent.readiness_level == "not ready" and insolvent.score < top.score
    small = next(m for m in everyone if m.org_id == org_id_for("C4"))  # £470k income, £1.6m a year
    assert small.size_fit == "too small"


def test_notice_facts_value_cpv_and_location(con):
    release = load_release(NOTICES, LANCASHIRE_DA)
    assert contract_value(release) == (8_000_000.0, 1_600_000.0, 5.0)
    idva = load_release(NOTICES, IDVA)
    assert cpv_codes(idva)[:2] == ["98000000", "85323000"] and "85312320" in cpv_codes(idva)
    summary = describe_notice(con, idva, "E08000015")
    assert summary.location == "elsewhere" and "East of England" in summary.location_reason
    market = describe_notice(con, load_release(NOTICES, BIRKENHEAD_MARKET), "E08000015")
    assert market.location == "local" and market.service_areas == []
    assert match_notice(con, load_release(NOTICES, BIRKENHEAD_MARKET)) == []


def test_notice_text_outranks_a_broad_cpv_code(con):
    # CPV 85000000 (a division) sits above every social-care service area; the title names domestic abuse
    matches = match_notice(con, load_release(NOTICES, LANCASHIRE_DA), limit=0)
    top3 = matches[:3]
    assert all("domestic_abuse" in m.service_areas and m.service_fit == "text and CPV" for m in top3)
    assert "Domestic abuse and violence: notice title mentions 'Domestic Abuse'" in top3[0].reasons
    assert "its activities mention 'domestic abuse'" in top3[0].reasons      # organisation_text
    cpv_only = [m for m in matches if m.service_fit == "CPV"]
    assert cpv_only and max(m.score for m in cpv_only) < top3[0].score - 30
    assert any("shared division level" in r for r in cpv_only[0].reasons)


def test_text_areas_of_real_notices(con):
    text = describe_notice(con, load_release(NOTICES, IDVA), "E08000015").text_service_areas
    first_area, in_title, words = text[0]
    assert (first_area, in_title) == ("domestic_abuse", True) and "IDVA" in words
    day = describe_notice(con, load_release(NOTICES, DAY_OPPORTUNITIES), "E08000015").text_service_areas
    assert ("adult_social_care", True, ["Day Opportunities", "personal care"]) in day
    top = match_notice(con, load_release(NOTICES, DAY_OPPORTUNITIES), limit=1)[0]
    assert top.org_id == org_id_for("C9")            # Heswall Day Centre for Older People
    assert "its activities mention 'personal care'" in top.reasons


def test_equalities_notice_with_an_education_cpv_code(con):
    # Its CPV code is 80000000 (education, a division): skills providers fit only weakly; the text names
    # children's social care, so social care and children's providers come first
    matches = match_notice(con, load_release(NOTICES, EQUALITIES), limit=0)
    skills = {m.org_id: m for m in matches if m.service_areas == ["employment_skills"]}
    assert org_id_for("X2") in skills and skills[org_id_for("X2")].service_fit == "CPV"
    assert matches[0].service_fit.startswith("text")


def test_every_fixture_release_reads(con):
    releases = json.loads(NOTICES.read_text(encoding="utf-8"))["releases"]
    for r in releases:
        summary = describe_notice(con, load_release(NOTICES, r["id"]), "E08000015")
        assert summary.release_id == r["id"]


def test_bad_notice_files_give_clear_errors(tmp_path):
    with pytest.raises(PipelineError, match="pick one with --release-id"):
        load_release(NOTICES)
    with pytest.raises(PipelineError, match="no release with id"):
        load_release(NOTICES, "nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(PipelineError, match="not valid JSON"):
        load_release(bad)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(PipelineError, match="neither an OCDS release"):
        load_release(other)


def test_cli_json_and_table(register, tmp_path):
    out = tmp_path / "match.json"
    result = runner.invoke(app, ["opportunities", "match", str(NOTICES), "--release-id", LANCASHIRE_DA,
                                 "--register", str(register), "-f", "json", "-o", str(out), "-n", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["notice"]["title"] == "Lancashire Victim Services - Domestic Abuse"
    assert len(data["matches"]) == 3 and data["matches"][0]["reasons"]
    table = runner.invoke(app, ["opportunities", "match", str(NOTICES), "--release-id", BIRKENHEAD_MARKET,
                                "--register", str(register)])
    assert table.exit_code == 0 and "No providers in the register match" in table.output


# ------------------------------------------------------------------ the real pipeline's register (vcse demo)

@pytest.fixture(scope="module")
def demo(demo_register):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    yield con
    con.close()


def _top(con, release_id, n=5):
    return match_notice(con, load_release(NOTICES, release_id), limit=n)


@pytest.mark.parametrize("release_id", [CHILDREN_DA, LANCASHIRE_DA, IDVA])
def test_demo_domestic_abuse_notices_put_domestic_abuse_services_first(demo, release_id):
    top = _top(demo, release_id)
    assert len(top) == 5
    assert all("domestic_abuse" in m.service_areas for m in top[:3]), [(m.name, m.service_areas) for m in top]
    assert any("notice title mentions 'Domestic Abuse'" in r for r in top[0].reasons)


def test_demo_day_opportunities_for_older_people(demo):
    top = _top(demo, DAY_OPPORTUNITIES)
    assert all({"adult_social_care", "older_people"} <= set(m.service_areas) for m in top[:3])
    assert all(m.service_fit == "text and CPV" or m.service_fit == "text" for m in top)


def test_demo_short_breaks_for_disabled_children(demo):
    top = _top(demo, SHORT_BREAKS)
    assert all("adult_social_care" in m.service_areas for m in top[:3])
    assert all(len({"children_young_people", "disability", "sport_leisure"} & set(m.service_areas)) >= 1
               for m in top[:3])


def test_demo_equalities_notice_finds_equality_providers(demo):
    top = _top(demo, EQUALITIES)
    assert all("equality_rights" in m.service_areas for m in top[:3])


def test_demo_construction_notice_finds_nobody(demo):
    assert _top(demo, BIRKENHEAD_MARKET) == []


def test_demo_light_trail_finds_only_weak_arts_fits(demo):
    everyone = _top(demo, LIGHT_TRAIL, n=0)
    da = _top(demo, LANCASHIRE_DA, n=1)[0]
    # an events contract: its CPV codes sit under recreation and culture (division 92); "Festival" in the text
    assert everyone and all(set(m.service_areas) <= {"arts_culture", "sport_leisure"} for m in everyone)
    arts = [m for m in everyone if "arts_culture" in m.service_areas]
    assert arts[0] is everyone[0] and "Arts, culture and heritage: notice text mentions 'Festival'" in arts[0].reasons
    assert max(m.score for m in everyone) < da.score - 40
