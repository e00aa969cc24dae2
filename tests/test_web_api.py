"""The JSON API (/api/...) on the demo register: the same answers as `vcse find` and the pages, documented by the
OpenAPI page; and the app (API and /reconcile) answering every request while a new register version is published,
switching to it without a restart (`vcse serve` in a process of its own, tests/web_server.py)."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient
from web_server import running_server

from vcse_pipeline.config import Config
from vcse_pipeline.procurement.find import FindQuery, find_providers
from vcse_pipeline.versions import switch_register
from vcse_pipeline.web import api
from vcse_pipeline.web.app import create_app


@pytest.fixture(scope="module")
def client(demo_register):
    with TestClient(create_app(demo_register.cfg)) as client:
        yield client


@pytest.fixture(scope="module")
def register_con(demo_register):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    yield con
    con.close()


def busiest_ward_and_service(con) -> tuple[str, str]:
    return con.execute("""
        SELECT ward_name, service, count(*) AS n
        FROM (SELECT ward_name, unnest(service_areas) AS service FROM provider_directory WHERE ward_name IS NOT NULL)
        GROUP BY ALL ORDER BY n DESC, ward_name, service LIMIT 1""").fetchone()[:2]


def test_provider_search_finds_what_vcse_find_finds(client, register_con):
    ward, service = busiest_ward_and_service(register_con)
    expected = find_providers(register_con, FindQuery(service_areas=[service], ward=ward.upper())).as_dicts()
    assert len(expected) >= 3
    response = client.get("/api/providers", params={"service": service, "ward": ward.upper(), "limit": 100})
    assert response.status_code == 200
    answer = response.json()
    assert answer["total"] == len(expected)
    assert [p["org_id"] for p in answer["providers"]] == [p["org_id"] for p in expected]
    first = answer["providers"][0]
    assert first["ward_name"] == ward and first["latest_income"] == expected[0]["latest_income"]
    assert answer["register_version"]["version"].startswith("register-")


def test_pages_of_a_search_add_up_to_the_whole_list(client, register_con):
    everything = client.get("/api/providers", params={"keyword": "community", "limit": api.MAX_PAGE}).json()
    assert everything["total"] > 10
    pages = [client.get("/api/providers", params={"keyword": "community", "offset": offset, "limit": 4}).json()
             for offset in range(0, everything["total"], 4)]
    assert {p["total"] for p in pages} == {everything["total"]}
    assert [p["org_id"] for page in pages for p in page["providers"]] == \
        [p["org_id"] for p in everything["providers"]]
    assert all(p["relevance"] > 0 for p in everything["providers"])


def test_near_a_postcode_sorts_by_distance(client, register_con):
    postcode = register_con.execute("SELECT postcode FROM provider_directory d JOIN postcode_location l "
                                    "USING (postcode) ORDER BY org_id LIMIT 1").fetchone()[0]
    answer = client.get("/api/providers", params={"near": postcode, "within_km": 3, "limit": 50}).json()
    distances = [p["distance_km"] for p in answer["providers"]]
    assert distances and distances == sorted(distances) and distances[0] == 0 and distances[-1] <= 3


@pytest.mark.parametrize("params, status, message", [
    ({"ward": "Birkenhed and Tranmere"}, 400, "did you mean Birkenhead and Tranmere"),
    ({"within_km": 2}, 400, "within_km needs near"),
    ({"service": "underwater basket weaving"}, 400, "unknown service area"),
    ({"min_income": 5000, "max_income": 10}, 400, "no provider can match both"),
    ({"keyword": "x" * (api.MAX_TEXT + 1)}, 400, "longer than"),
    ({"limit": api.MAX_PAGE + 1}, 422, "limit"),
    ({"min_income": -1}, 422, "min_income"),
])
def test_values_no_search_can_use_are_errors_that_say_what_to_give(client, params, status, message):
    response = client.get("/api/providers", params=params)
    assert response.status_code == status
    assert message in json.dumps(response.json())
    assert "vcse find" not in response.text and "Traceback" not in response.text


def test_organisation_profile_by_any_of_its_ids(client, register_con):
    org_id, other_id = register_con.execute("""
        SELECT org_id, identifier FROM organisation_identifier WHERE NOT is_canonical ORDER BY org_id LIMIT 1
        """).fetchone()
    names = {r[0] for r in register_con.execute("SELECT name FROM organisation_name WHERE org_id = ?",
                                                 [org_id]).fetchall()}
    incomes = register_con.execute("SELECT count(*) FROM organisation_finance WHERE org_id = ?", [org_id]).fetchone()
    for asked in (org_id, other_id):
        response = client.get(f"/api/organisations/{asked}")
        assert response.status_code == 200
        profile = response.json()
        assert profile["org_id"] == org_id
        assert {n["name"] for n in profile["names"]} == names
        assert {i["identifier"] for i in profile["identifiers"]} >= {org_id, other_id}
        assert all(i["register_url"].startswith("https://") for i in profile["identifiers"] if i["register_url"])
        assert len(profile["finances"]) == incomes[0]
        assert profile["links"] and all(link["method"] for link in profile["links"])
        assert all(s["evidence"] for s in profile["service_areas"])
    missing = client.get("/api/organisations/GB-CHC-0")
    assert missing.status_code == 404 and "GB-CHC-0" in missing.json()["detail"]


def test_service_area_evidence_names_its_tags_and_classifications(client, register_con):
    """Stored evidence ("model 0.40; ukcat:EC101 (name+activities+objects)") is shown with the tag's and the
    classification's names, the code in brackets and where it was found, and the model's score in words."""
    org_id, evidence = register_con.execute("""
        SELECT org_id, evidence FROM organisation_service_area
        WHERE evidence LIKE 'model %ukcat:%(%)%' AND evidence LIKE '%ccew_classification:%' ORDER BY org_id LIMIT 1
        """).fetchone()
    ukcat_code = re.search(r"ukcat:([A-Z]{2}[0-9]*) \(", evidence).group(1)
    ccew_code = re.search(r"ccew_classification:([0-9]+)", evidence).group(1)
    tag = register_con.execute("SELECT tag FROM ukcat_tag WHERE code = ?", [ukcat_code]).fetchone()[0]
    description = register_con.execute("SELECT any_value(description) FROM organisation_classification WHERE "
                                       "org_id = ? AND code = ? AND scheme LIKE 'ccew%'", [org_id, ccew_code])
    shown = [e for s in client.get(f"/api/organisations/{org_id}").json()["service_areas"] for e in s["evidence"]]
    assert any(e.startswith(f"UKCAT tag {tag} ({ukcat_code})") for e in shown), shown
    assert f"Charity Commission classification {description.fetchone()[0]} ({ccew_code})" in shown
    assert any(re.fullmatch(r"Tagging model: [0-9]{1,3} out of 100 for what it says it does", e) for e in shown)
    assert not [e for e in shown if re.search(r"\bmodel 0\.|ukcat:|_classification|\(name\+", e)], shown


def test_wards_and_a_ward(client, register_con):
    wards = client.get("/api/wards").json()["wards"]
    assert len(wards) == register_con.execute("SELECT count(*) FROM area_ward").fetchone()[0]
    ward = max(wards, key=lambda w: w["providers"])
    detail = client.get(f"/api/wards/{ward['ward_code']}").json()
    based = register_con.execute("SELECT org_id FROM provider_directory WHERE ward_code = ? AND based_in_area "
                                 "ORDER BY name", [ward["ward_code"]]).fetchall()
    assert [p["org_id"] for p in detail["providers"]] == [r[0] for r in based]
    assert len(detail["providers"]) == ward["providers"]
    assert {c["status"] for c in detail["coverage"]} <= {"covered", "gap", "cannot tell", "not commissioned by ward"}
    assert detail["gaps"] == sum(c["status"] == "gap" for c in detail["coverage"])
    for listed in wards:   # the list counts as each ward's own answer does
        one = client.get(f"/api/wards/{listed['ward_code']}").json()
        assert listed["gaps"] == one["gaps"], listed["ward_code"]
        assert listed["cannot_tell"] == one["cannot_tell"], listed["ward_code"]
    assert client.get("/api/wards/E05999999").status_code == 404


def test_the_openapi_page_documents_each_search_and_its_fields(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/providers", "/api/organisations/{org_id}", "/api/wards", "/api/wards/{ward_code}",
                 "/reconcile"):
        assert path in schema["paths"], path
    provider = schema["components"]["schemas"]["Provider"]["properties"]
    assert "org-id" in provider["org_id"]["description"]
    assert all(field.get("description") for field in provider.values())
    parameters = {p["name"]: p for p in schema["paths"]["/api/providers"]["get"]["parameters"]}
    assert {"service", "keyword", "ward", "postcode_district", "near", "within_km", "legal_form", "min_income",
            "max_income", "readiness", "area", "offset", "limit"} <= set(parameters)
    assert client.get("/api/docs").status_code == 200


# ---------------------------------------------------------------------------------------------- publishing

NEW_NAME = "Zebra Crossing Community Trust"


def new_version(published: Path, folder: Path) -> tuple[Path, str]:
    """A copy of the register in which one organisation has a new name and a run of its own, as a publish would
    bring: (the version file, that organisation's org_id)."""
    version = folder / "register-20991231T000000Z-newrun.duckdb"
    shutil.copy2(published, version)
    con = duckdb.connect(str(version))
    try:
        org_id = con.execute("SELECT org_id FROM provider_directory ORDER BY org_id LIMIT 1").fetchone()[0]
        con.execute("UPDATE organisation SET name = ? WHERE org_id = ?", [NEW_NAME, org_id])
        con.execute("UPDATE organisation_name SET name = ?, normalised_name = lower(?) "
                    "WHERE org_id = ? AND name_type = 'registered'", [NEW_NAME, NEW_NAME, org_id])
        con.execute("INSERT INTO run_history (run_id, status, version_file, finished_at) "
                    "VALUES ('newrun', 'published', ?, now())", [version.name])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return version, org_id


def test_reads_go_on_during_a_publish_and_switch_to_the_new_version(demo_register, tmp_path):
    data_dir = tmp_path / "data"
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}})
    cfg.register_path.parent.mkdir(parents=True)
    shutil.copy2(demo_register.path, cfg.register_path)
    version, org_id = new_version(demo_register.path, tmp_path)
    queries = json.dumps({"q0": {"query": NEW_NAME}})
    errors: list[str] = []
    seen: list[list[tuple[str, bool]]] = []   # per thread: (version, whether the answer shows the new name)

    def hammer(base: str) -> None:
        mine: list[tuple[str, bool]] = []
        seen.append(mine)
        with httpx.Client(base_url=base, timeout=60) as http:
            # Keep going until two rounds have answered from the new version. While one request loads it (a copy
            # and its views: seconds on a busy machine) the others go on reading the old one, so how many rounds
            # that takes depends on the machine's speed, not on the server's behaviour.
            on_new, deadline = 0, time.monotonic() + 240
            while on_new < 2:
                if time.monotonic() > deadline:
                    errors.append("the new version was not served within 240 s of the switch")
                    return
                try:
                    profile = http.get(f"/api/organisations/{org_id}")
                    search = http.get("/api/providers", params={"keyword": "zebra crossing"})
                    batch = http.post("/reconcile", data={"queries": queries})
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return
                for response in (profile, search, batch):
                    if response.status_code != 200:
                        errors.append(f"{response.request.url.path}: {response.status_code} {response.text[:200]}")
                        return
                renamed = profile.json()["name"] == NEW_NAME
                # the three answers of a round may straddle the switch, but each is one version or the other
                matched = [c["id"] for c in batch.json()["q0"]["result"] if c["match"]]
                if search.json()["total"] not in (0, 1) or matched not in ([], [org_id]):
                    errors.append(f"neither version's answer: {search.json()['total']} found, matched {matched}")
                    return
                mine.append((profile.json()["register_version"]["version"], renamed))
                on_new += mine[-1][0] == version.name

    with running_server(data_dir) as base:   # `vcse serve`, for real, on 127.0.0.1
        threads = [threading.Thread(target=hammer, args=(base,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        while sum(len(s) for s in seen) < 8 and not errors:   # every thread busy on the old version first
            time.sleep(0.05)
        switch_register(cfg, version)   # the atomic rename every publish ends with
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors
        with httpx.Client(base_url=base) as http:
            batch = http.post("/reconcile", data={"queries": queries}).json()
            search = http.get("/api/providers", params={"keyword": "zebra crossing"}).json()
    assert len(seen) == 4
    for rounds in seen:
        versions = [v for v, _ in rounds]
        assert versions[0] != version.name and versions[-1] == version.name
        # once a thread has seen the new version it never goes back to the old one
        assert versions == sorted(versions, key=lambda v: v == version.name)
        assert all(renamed == (v == version.name) for v, renamed in rounds)
    assert [c["id"] for c in batch["q0"]["result"] if c["match"]] == [org_id]
    assert search["total"] == 1 and search["providers"][0]["name"] == NEW_NAME
