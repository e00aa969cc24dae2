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


def test_equalities_notice_matches_skills_providers_only(con):
    matches = match_notice(con, load_release(NOTICES, EQUALITIES))
    assert {m.org_id for m in matches} == {org_id_for("C4"), org_id_for("X2")}
    assert all(m.service_fit == "within" for m in matches)


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
