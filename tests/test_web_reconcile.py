"""The /reconcile service (W3C Reconciliation Service API 0.2) on the demo register: every answer validates against
the official 0.2 JSON Schemas (tests/fixtures/reconciliation-api-0.2), OpenRefine's request forms work, `match`
agrees with `vcse match`, and every answer (errors too) carries CORS headers."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import duckdb
import jsonschema
import pytest
from fastapi.testclient import TestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from typer.testing import CliRunner

from vcse_pipeline.web import reconcile
from vcse_pipeline.web.app import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "reconciliation-api-0.2"


# ---------------------------------------------------------------------------------------------- schemas

def _registry() -> Registry:
    """Every schema under its $id, so the schemas' references (type.json, the Swagger schema) resolve offline."""
    resources = []
    for path in (FIXTURES / "schemas").glob("*.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        resources.append((contents["$id"].rstrip("#"), resource))
        resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(document, schema: str) -> None:
    """Raise jsonschema.ValidationError unless `document` is valid against the 0.2 schema `schema` (file stem)."""
    contents = json.loads((FIXTURES / "schemas" / f"{schema}.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(contents, registry=REGISTRY).validate(document)


def example(path: str):
    return json.loads((FIXTURES / "examples" / path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("schema, valid, invalid", [
    ("manifest", "manifest/valid/findthatcharity.json", "manifest/invalid/missing-version.json"),
    ("reconciliation-result-batch", "reconciliation-result-batch/valid/example-full.json",
     "reconciliation-result-batch/invalid/missing-id.json"),
    ("data-extension-response", "data-extension-response/valid/example-full.json",
     "data-extension-response/invalid/wrong-properties.json"),
])
def test_the_schemas_accept_the_official_valid_examples_and_reject_the_invalid(schema, valid, invalid):
    # the validation below is only worth something if these schemas load and bite
    validate(example(valid), schema)
    with pytest.raises(jsonschema.ValidationError):
        validate(example(invalid), schema)


# ---------------------------------------------------------------------------------------------- the app

@pytest.fixture(scope="module")
def client(demo_register):
    with TestClient(create_app(demo_register.cfg)) as client:
        yield client


@pytest.fixture(scope="module")
def orgs(demo_register) -> list[dict]:
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        cur = con.execute("""
            SELECT o.org_id, o.name, o.postcode, o.latest_income, o.ward_name, o.is_active,
                   list(DISTINCT i.scheme) AS schemes
            FROM organisation o JOIN organisation_identifier i USING (area_code, org_id)
            GROUP BY ALL ORDER BY o.org_id""")
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def post_queries(client, queries: dict) -> dict:
    response = client.post("/reconcile", data={"queries": json.dumps(queries)})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    validate(queries, "reconciliation-query-batch")   # what we sent is a valid 0.2 batch too
    validate(response.json(), "reconciliation-result-batch")
    return response.json()


def test_manifest_is_valid_and_points_at_this_app(client):
    response = client.get("/reconcile")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    manifest = response.json()
    validate(manifest, "manifest")
    assert manifest["versions"] == ["0.2"]
    assert manifest["identifierSpace"] == "http://org-id.guide"
    assert [t["id"] for t in manifest["defaultTypes"]] == ["charity", "company", "society"]
    assert manifest["view"]["url"] == "http://testserver/reconcile/view/{{id}}"
    assert manifest["preview"]["url"] == "http://testserver/reconcile/preview?id={{id}}"
    for service in ("entity", "type", "property"):
        suggest = manifest["suggest"][service]
        assert client.get(suggest["service_url"] + suggest["service_path"], params={"prefix": "a"}).status_code == 200
    propose = manifest["extend"]["propose_properties"]
    assert client.get(propose["service_url"] + propose["service_path"],
                      params={"type": "charity"}).status_code == 200


def vcse_match_statuses(tmp_path: Path, register: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    """What `vcse match` says of each name: (status, org_id)."""
    from vcse_pipeline.cli import app

    source, out = tmp_path / "names.csv", tmp_path / "matched.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["name"], *[[n] for n in names]])
    result = CliRunner().invoke(app, ["match", str(source), "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig") as fh:   # the CSV starts with a byte-order mark, for Excel
        return {row["name"]: (row["status"], row["org_id"]) for row in csv.DictReader(fh)}


def test_a_batch_of_matched_review_and_unmatched_names_agrees_with_vcse_match(client, orgs, demo_register, tmp_path):
    # registered names as written, the same names cut down or misspelt, and names of no organisation
    names = [o["name"] for o in orgs[:40:4]]
    names += [" ".join(o["name"].split()[:2]) for o in orgs[1:60:3] if len(o["name"].split()) > 3]
    names += [o["name"][:-3] + o["name"][-2:] + "s" for o in orgs[2:40:5]]
    names += ["Zyxwvut Quantum Basket Weavers", "Ffestiniog Railway Heritage Trust"]
    names = list(dict.fromkeys(names))[:reconcile.MAX_BATCH]
    expected = vcse_match_statuses(tmp_path, demo_register.path, names)
    statuses = {status for status, _ in expected.values()}
    assert statuses == {"matched", "review", "no match"}, "the batch must mix all three outcomes"

    answer = post_queries(client, {f"q{i}": {"query": name, "limit": 3} for i, name in enumerate(names)})
    assert list(answer) == [f"q{i}" for i in range(len(names))]
    for i, name in enumerate(names):
        result = answer[f"q{i}"]["result"]
        status, org_id = expected[name]
        matched = [c["id"] for c in result if c["match"]]
        if status == "matched":
            assert matched == [org_id] and result[0]["id"] == org_id, name
        else:
            assert matched == [], name
        assert len(result) <= 3
        assert [c["score"] for c in result[1:]] == sorted((c["score"] for c in result[1:]), reverse=True)
        for candidate in result:
            features = {f["id"]: f["value"] for f in candidate["features"]}
            assert 0 <= candidate["score"] <= 100 and 0 <= features["name_score"] <= 100


def test_each_answer_is_what_scoring_every_organisation_answers(demo_register, orgs):
    # reconcile.candidates scores only the organisations that can change its answer (MatchIndex.leading): the
    # answer must be the one scoring every organisation the name blocks with gives, for any type and limit
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        index = reconcile.ReconcileIndex.build(con, (90.0, 75.0))
    finally:
        con.close()
    matcher = index.matcher
    names = [o["name"] for o in orgs[::7]] + [" ".join(o["name"].split()[:2]) for o in orgs[1::9]]
    names += [o["name"].split()[0] for o in orgs[2::11]]
    checked = set()
    for number, name in enumerate(names):
        types = [frozenset(), frozenset({"charity"}), frozenset({"company", "society"})][number % 3]
        query = reconcile.NameQuery(name, orgs[number]["postcode"] if number % 2 else None, types, 1 + number % 7)
        every = matcher.candidates(query.name, query.postcode, limit=None)
        decision = matcher.match(query.name, query.postcode, link_threshold=90.0, review_threshold=75.0,
                                 margin=reconcile.DEFAULT_MARGIN, found=every)
        matched = decision.org_id if decision.status == "matched" else None
        shown = [c for c in every if not types or index.entities[c.org_id].types & types]
        shown.sort(key=lambda c: c.org_id != matched)
        expected = [reconcile.candidate_json(index, c, c.org_id == matched) for c in shown[:query.limit]]
        assert reconcile.candidates(index, query) == expected, query
        checked.add((bool(matched), bool(types), len(every) > query.limit))
    assert {(True, False, True), (False, False, True), (False, True, True)} <= checked


def test_entities_share_their_strings_and_types_with_the_index(demo_register):
    # a register of every English area has 604,373 organisations: an entity holds no copy of what the matcher or
    # another entity holds already (its org_id, its name when the same, its set of types)
    with duckdb.connect(str(demo_register.path), read_only=True) as con:
        index = reconcile.ReconcileIndex.build(con, (90.0, 75.0))
        described = dict(con.execute("SELECT org_id, count(*) FROM organisation GROUP BY org_id").fetchall())
    entities, table = index.entities, index.matcher.table
    assert len(entities) == len(described) == len(table.org_ids) > 400
    assert all(entities[org_id].org_id is org_id for org_id in table.org_ids)
    same_name = [org_id for org_id in table.org_ids if entities[org_id].name == index.matcher.org_name[org_id]]
    assert len(same_name) > 0.9 * len(entities)
    assert all(entities[org_id].name is index.matcher.org_name[org_id] for org_id in same_name)
    types = {entity.types for entity in entities.values()}
    assert 3 <= len(types) == len({id(entity.types) for entity in entities.values()})


def test_an_organisation_in_several_areas_is_described_by_the_row_it_is_matched_on(tmp_path):
    # rows in three areas: two give Liverpool's postcode, Wirral's row its own; the matcher takes the postcode most
    # rows give, and the description, the preview card and a suggestion show that row's postcode and ward, not
    # whichever row DuckDB meets first (nor the first area's)
    from test_publish import BASE_ORGS, make_register

    path = make_register(tmp_path / "register.duckdb", BASE_ORGS)
    with duckdb.connect(str(path)) as con:
        for area in ("E08000016", "E08000017"):   # after Wirral (E08000015) in order: not the first area's row
            con.execute("INSERT INTO organisation SELECT * REPLACE (? AS area_code, 'L1 8JQ' AS postcode, "
                        "'Central' AS ward_name) FROM organisation "
                        "WHERE org_id = 'GB-CHC-1090301' AND area_code = 'E08000015'", [area])
        con.execute("INSERT INTO organisation_name VALUES ('E08000015', 'GB-CHC-1090301', 'Birkenhead Foodbank', "
                    "'registered', 'charity_commission', 'birkenhead foodbank')")
    with duckdb.connect(str(path), read_only=True) as con:
        index = reconcile.ReconcileIndex.build(con, (90.0, 75.0))
        card = reconcile.preview(con, "GB-CHC-1090301")
        [suggested] = [s for s in reconcile.suggest_entities(con, "Birkenhead Food")["result"]
                       if s["id"] == "GB-CHC-1090301"]
        extended = reconcile.extend(con, {"ids": ["GB-CHC-1090301"], "properties": [{"id": "postcode"},
                                                                                    {"id": "ward"}]})
    assert index.matcher.org_postcode["GB-CHC-1090301"] == "L1 8JQ"
    description = index.entities["GB-CHC-1090301"].description
    assert "L1 8JQ" in description and "Central" in description and "CH41 5EF" not in description
    assert (card["postcode"], card["ward_name"]) == ("L1 8JQ", "Central")   # the preview card shows the same row
    assert "L1 8JQ" in suggested["description"]                               # and so does a suggestion
    assert extended["rows"]["GB-CHC-1090301"] == {"postcode": [{"str": "L1 8JQ"}],  # and data extension
                                                  "ward": [{"str": "Central"}]}


def test_get_post_and_query_string_forms_give_the_same_answer(client, orgs):
    queries = {"q0": {"query": orgs[3]["name"]}, "q1": {"query": orgs[7]["name"], "type": "charity"}}
    text = json.dumps(queries)
    by_post = post_queries(client, queries)
    by_get = client.get("/reconcile", params={"queries": text})
    by_post_query_string = client.post("/reconcile", params={"queries": text})
    for response in (by_get, by_post_query_string):
        assert response.status_code == 200
        assert response.json() == by_post
    assert by_post["q0"]["result"][0]["id"] == orgs[3]["org_id"]


def test_a_json_body_is_refused_saying_to_send_the_form(client, orgs):
    # not the manifest and a 200, as if nothing had been asked: the client is told how to send its queries
    queries = {"q0": {"query": orgs[3]["name"]}}
    for body in ({"queries": queries}, queries, {"extend": {"ids": [orgs[3]["org_id"]], "properties": []}}):
        response = client.post("/reconcile", json=body)
        assert response.status_code == 400
        assert response.headers["access-control-allow-origin"] == "*"
        assert "send queries= (or extend=) form-encoded" in response.json()["detail"]
    assert post_queries(client, queries)["q0"]["result"][0]["id"] == orgs[3]["org_id"]   # the form still works
    for empty in ({}, {"headers": {"content-type": "application/json"}}):   # no body at all: the manifest
        manifest = client.post("/reconcile", **empty)
        assert manifest.status_code == 200 and manifest.json()["versions"] == ["0.2"]


def test_the_official_minimal_query_example_is_answered(client):
    answer = post_queries(client, example("reconciliation-query-batch/valid/example-min.json"))
    assert set(answer) == {"q1", "q2"}
    assert not any(c["match"] for q in answer.values() for c in q["result"])


def test_a_type_narrows_the_candidates_and_never_adds_a_match(client, orgs):
    charity = next(o for o in orgs if o["schemes"] == ["GB-CHC"])
    answer = post_queries(client, {"any": {"query": charity["name"]},
                                   "charity": {"query": charity["name"], "type": "charity"},
                                   "society": {"query": charity["name"], "type": ["society"]}})
    assert answer["any"]["result"][0]["id"] == charity["org_id"]
    assert answer["charity"]["result"][0]["id"] == charity["org_id"]
    assert charity["org_id"] not in [c["id"] for c in answer["society"]["result"]]
    assert all(any(t["id"] == "society" for t in c["type"]) for c in answer["society"]["result"])
    assert not any(c["match"] for c in answer["society"]["result"])


def test_a_name_with_its_article_last_is_matched_as_written_first(client, orgs):
    # catalogues and some registers file "The X" as "X, The" or "X (THE)": all three are the same name
    named = [o for o in orgs if not o["name"].lower().startswith("the ")][:30:3]
    forms = {"first": "The {}", "comma": "{}, The", "aside": "{} (THE)"}
    answer = post_queries(client, {f"{key}{i}": {"query": form.format(o["name"]), "limit": 1}
                                   for i, o in enumerate(named) for key, form in forms.items()})
    for i, org in enumerate(named):
        first, comma, aside = (answer[f"{key}{i}"]["result"][0] for key in forms)
        assert first["id"] == comma["id"] == aside["id"] == org["org_id"], org["name"]
        assert first["score"] == comma["score"] == aside["score"], org["name"]
        assert first["match"] == comma["match"] == aside["match"], org["name"]
    assert any(answer[f"comma{i}"]["result"][0]["match"] for i in range(len(named)))


def test_the_postcode_property_raises_the_score(client, orgs):
    org = next(o for o in orgs if o["postcode"] and len(o["name"].split()) >= 3)
    cut = " ".join(org["name"].split()[:-1])   # a name a little off, so the postcode has room to count
    answer = post_queries(client, {
        "none": {"query": cut},
        "same": {"query": cut, "properties": [{"pid": "postcode", "v": org["postcode"]}]},
        "far": {"query": cut, "properties": [{"pid": "postcode", "v": ["TR1 1AA"]}]}})

    def candidate(key):
        return next(c for c in answer[key]["result"] if c["id"] == org["org_id"])
    features = {f["id"]: f["value"] for f in candidate("same")["features"]}
    assert features["postcode_points"] == 8.0
    assert candidate("far")["score"] <= candidate("none")["score"] <= candidate("same")["score"]
    assert candidate("far")["score"] < candidate("same")["score"]


def test_preview_is_a_small_page_any_site_may_frame(client, orgs):
    org = next(o for o in orgs if o["ward_name"] and o["latest_income"])
    response = client.get("/reconcile/preview", params={"id": org["org_id"]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    # X-Frame-Options has no "any site": DENY, which older browsers obey over frame-ancestors, would blank the card
    assert "x-frame-options" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"   # the other security headers stay
    assert client.get("/reconcile/suggest/type").headers["x-frame-options"] == "DENY"   # and the app's pages keep it
    assert client.get("/").headers["x-frame-options"] == "DENY"
    assert response.headers["access-control-allow-origin"] == "*"
    page = response.text
    for text in (org["org_id"], org["ward_name"], f"£{org['latest_income']:,.0f}"):
        assert text in page
    assert "<script" not in page
    missing = client.get("/reconcile/preview", params={"id": "GB-CHC-<b>0</b>"})
    assert missing.status_code == 404 and "&lt;b&gt;0&lt;/b&gt;" in missing.text and "<b>0" not in missing.text


def test_suggest_entities_pages_through_names_starting_with_the_prefix(client, demo_register):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        names = con.execute("SELECT org_id, lower(name) FROM organisation_name").fetchall()
    finally:
        con.close()
    prefix = "wir"
    starts = {org_id for org_id, name in names if name.startswith(prefix)}
    word_starts = {org_id for org_id, name in names
                   if any(w.startswith(prefix) for w in re.split(r"[^a-z0-9]+", name))}
    assert len(starts) > reconcile.SUGGEST_LIMIT and word_starts - starts, "the demo needs both kinds of hit"
    pages = []
    for cursor in range(0, len(starts | word_starts) + reconcile.SUGGEST_LIMIT, reconcile.SUGGEST_LIMIT):
        response = client.get("/reconcile/suggest/entity", params={"prefix": prefix.upper(), "cursor": cursor})
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"
        validate(response.json(), "suggest-entities-response")
        pages.append([r["id"] for r in response.json()["result"]])
    found = [org_id for page in pages for org_id in page]
    assert pages[-1] == []
    assert len(found) == len(set(found)) == len(starts | word_starts)   # pages go on where the last stopped
    assert set(found[:len(starts)]) == starts                            # whole names starting so come first
    assert client.get("/reconcile/suggest/entity", params={"prefix": "zzzzqqq"}).json() == {"result": []}


def test_suggest_words_joined_by_punctuation_and_never_punctuation_alone(client, demo_register):
    """A prefix's words match names whose words start so whatever joins them ("men's s" finds "Wirral Men's
    Shed"); punctuation alone is no word, so only names starting with it are suggested (it suggested every
    organisation). Each suggestion's types are its identifiers' schemes."""
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        names = con.execute("SELECT org_id, lower(name) FROM organisation_name").fetchall()
        schemes = dict(con.execute("SELECT org_id, list(DISTINCT scheme) FROM organisation_identifier "
                                   "GROUP BY ALL").fetchall())
    finally:
        con.close()

    def expected(prefix: str) -> set[str]:
        words = re.sub(r"[^a-z0-9]+", " ", prefix).strip()
        return {org_id for org_id, name in names if name.startswith(prefix)
                or (words and f" {words}" in " " + re.sub(r"[^a-z0-9]+", " ", name))}

    for prefix in ("men's s", "c.i.c", "&", "'", "st mary's"):
        found = []
        for cursor in range(0, 200, reconcile.SUGGEST_LIMIT):
            page = client.get("/reconcile/suggest/entity", params={"prefix": prefix, "cursor": cursor}).json()
            found += page["result"]
        assert {r["id"] for r in found} == expected(prefix), prefix
        for r in found:
            assert [t["id"] for t in r["notable"]] == sorted(
                {reconcile.TYPE_BY_SCHEME[s] for s in schemes[r["id"]] if s in reconcile.TYPE_BY_SCHEME}), r
    assert expected("men's s") and expected("c.i.c") and not expected("&")


def test_a_register_too_big_to_index_is_refused_reconciliation_and_nothing_else(demo_register):
    """Reconciliation holds every name in the app's memory: a register with more organisations than
    [web] reconcile_max_organisations is refused it (503, saying why and what to change), while suggest, preview,
    data extension and the officers' pages go on; under the limit the same batch is answered."""
    from vcse_pipeline.config import Config

    con = duckdb.connect(str(demo_register.path), read_only=True)
    organisations, org_id, name = con.execute(
        "SELECT (SELECT count(DISTINCT org_id) FROM organisation), org_id, name FROM organisation "
        "ORDER BY org_id LIMIT 1").fetchone()
    con.close()
    queries = json.dumps({"q0": {"query": name}})
    for limit, answered in ((organisations - 1, False), (organisations, True)):
        cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(demo_register.cfg.data_dir)},
                                                 "web": {"reconcile_max_organisations": limit}})
        with TestClient(create_app(cfg)) as limited:
            response = limited.post("/reconcile", data={"queries": queries})
            if answered:
                assert response.status_code == 200 and response.json()["q0"]["result"][0]["id"] == org_id
                continue
            assert response.status_code == 503 and response.headers["access-control-allow-origin"] == "*"
            assert response.json() == {
                "error": "reconciliation is not available for this register",
                "detail": f"this register has {organisations:,} organisations, more than the {limit:,} this service "
                          "indexes for reconciliation (about 2.1 KB of memory each while the index is built, "
                          "1.1 KB after); an administrator can raise "
                          "[web] reconcile_max_organisations where the machine has the memory, or serve a register "
                          "of fewer areas. Suggest, preview and data extension work as before"}
            assert limited.get("/reconcile/suggest/entity", params={"prefix": name[:4]}).status_code == 200
            assert limited.get("/reconcile/preview", params={"id": org_id}).status_code == 200
            extend = json.dumps({"ids": [org_id], "properties": [{"id": "postcode"}]})
            assert limited.post("/reconcile", data={"extend": extend}).status_code == 200
            assert limited.get("/providers", params={"keywords": name.split()[0]}).status_code == 200


def test_suggest_types_and_properties(client):
    types = client.get("/reconcile/suggest/type", params={"prefix": "char"}).json()
    validate(types, "suggest-types-response")
    assert [t["id"] for t in types["result"]] == ["charity"]
    properties = client.get("/reconcile/suggest/property", params={"prefix": "inc"}).json()
    validate(properties, "suggest-properties-response")
    assert [p["id"] for p in properties["result"]] == ["income"]
    every = client.get("/reconcile/suggest/property").json()["result"]
    assert {"postcode", "ward", "legal_form", "income", "service_areas", "status"} <= {p["id"] for p in every}


def test_propose_properties_and_data_extension(client, orgs):
    proposed = client.get("/reconcile/propose_properties", params={"type": "company", "limit": 4}).json()
    validate(proposed, "data-extension-property-proposal")
    assert proposed["type"] == "company" and len(proposed["properties"]) == 4

    org = next(o for o in orgs if o["postcode"] and o["latest_income"] and o["ward_name"])
    request = {"ids": [org["org_id"], "GB-CHC-0"],
               "properties": [{"id": p} for p in ("postcode", "ward", "legal_form", "income", "service_areas",
                                                   "status", "financial_year_end", "imd_decile")]}
    validate(request, "data-extension-query")
    for response in (client.post("/reconcile", data={"extend": json.dumps(request)}),
                     client.get("/reconcile", params={"extend": json.dumps(request)})):
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"
        answer = response.json()
        validate(answer, "data-extension-response")
        assert [m["id"] for m in answer["meta"]] == [p["id"] for p in request["properties"]]
        row = answer["rows"][org["org_id"]]
        assert row["postcode"] == [{"str": org["postcode"]}]
        assert row["ward"] == [{"str": org["ward_name"]}]
        assert row["income"] == [{"float": org["latest_income"]}]
        assert row["status"] and row["legal_form"]
        assert answer["rows"]["GB-CHC-0"] == {p["id"]: [] for p in request["properties"]}


def test_propose_properties_without_a_type_offers_every_types_properties(client):
    # OpenRefine asks `?type=` (an empty type id) for a column reconciled against no particular type: every type has
    # the same properties, so it is offered them all rather than a 400 and no columns to add
    typed = client.get("/reconcile/propose_properties", params={"type": "charity"}).json()["properties"]
    for params in ({"type": ""}, {}, {"type": "", "limit": 3}):
        response = client.get("/reconcile/propose_properties", params=params)
        assert response.status_code == 200, params
        assert response.headers["access-control-allow-origin"] == "*"
        proposed = response.json()
        validate(proposed, "data-extension-property-proposal")
        assert "type" not in proposed
        assert proposed["properties"] == typed[:params.get("limit", len(typed))]
    assert {"postcode", "ward", "income"} <= {p["id"] for p in typed}


def test_preview_and_data_extension_take_any_of_an_organisations_org_ids(client, demo_register):
    # a charitable company reconciled elsewhere by its company number: the preview card and data extension answer
    # for its organisation, as /reconcile/view and /api do, keyed by the id asked for
    with duckdb.connect(str(demo_register.path), read_only=True) as con:
        others = con.execute("SELECT identifier, org_id FROM organisation_identifier WHERE NOT is_canonical "
                             "ORDER BY identifier").fetchall()
    assert len(others) > 20, "the demo register needs organisations known by more than one org-id"
    properties = [{"id": p} for p in ("postcode", "ward", "legal_form", "income", "service_areas", "company_number")]
    ids = [identifier for identifier, _ in others] + sorted({org_id for _, org_id in others})
    answer = client.post("/reconcile", data={"extend": json.dumps({"ids": ids, "properties": properties})}).json()
    validate(answer, "data-extension-response")
    assert list(answer["rows"]) == ids
    for identifier, org_id in others:
        assert answer["rows"][identifier] == answer["rows"][org_id], identifier
        assert any(answer["rows"][identifier].values()), identifier
    for identifier, org_id in others[:5]:
        card = client.get("/reconcile/preview", params={"id": identifier})
        assert card.status_code == 200, identifier
        assert card.text == client.get("/reconcile/preview", params={"id": org_id}).text.replace(
            f"/reconcile/view/{org_id}", f"/reconcile/view/{identifier}")
        assert client.get(f"/reconcile/view/{identifier}", follow_redirects=False).headers["location"].endswith(
            f"/{org_id}")


def test_view_api_preview_and_extension_read_an_id_by_one_rule(tmp_path, demo_register):
    # A charity's company number, an id linked into the charity in Wirral (E08000015), is a company of its own in
    # E08000016, where the charity is not there to link it into. The id names the company in every part of the
    # service: the view and /api took the first area's row and sent the user to the charity, whose card the preview
    # did not show.
    path = tmp_path / "register.duckdb"
    shutil.copyfile(demo_register.path, path)
    with duckdb.connect(str(path)) as con:
        company, charity = con.execute(
            "SELECT identifier, org_id FROM organisation_identifier WHERE area_code = 'E08000015' AND NOT is_canonical "
            "AND scheme = 'GB-COH' ORDER BY identifier LIMIT 1").fetchone()
        con.execute("INSERT INTO organisation SELECT * REPLACE ('E08000016' AS area_code, ? AS org_id, "
                    "'A COMPANY OF ITS OWN' AS name, 'S1 2HH' AS postcode) FROM organisation "
                    "WHERE area_code = 'E08000015' AND org_id = ?", [company, charity])
        con.execute("INSERT INTO organisation_identifier SELECT * REPLACE ('E08000016' AS area_code, identifier AS "
                    "org_id, TRUE AS is_canonical) FROM organisation_identifier "
                    "WHERE area_code = 'E08000015' AND identifier = ?", [company])
        con.execute("CHECKPOINT")
    with TestClient(create_app(demo_register.cfg, register_path=path)) as client:
        view = client.get(f"/reconcile/view/{company}", follow_redirects=False)
        profile = client.get(f"/api/organisations/{company}").json()
        card = client.get("/reconcile/preview", params={"id": company})
        extended = client.post("/reconcile", data={"extend": json.dumps(
            {"ids": [company], "properties": [{"id": "postcode"}]})}).json()
        in_wirral = client.get(f"/api/organisations/{company}", params={"area": "E08000015"}).json()
    assert view.status_code == 303 and view.headers["location"].endswith(f"/organisations/E08000016/{company}")
    assert (profile["area_code"], profile["org_id"], profile["name"]) == ("E08000016", company,
                                                                          "A COMPANY OF ITS OWN")
    assert card.status_code == 200 and "A COMPANY OF ITS OWN" in card.text and "S1 2HH" in card.text
    assert extended["rows"][company] == {"postcode": [{"str": "S1 2HH"}]}
    # an area asked for: the id as that area links it
    assert (in_wirral["area_code"], in_wirral["org_id"]) == ("E08000015", charity)


def test_jsonp_wraps_get_answers_and_refuses_a_callback_that_is_not_a_name(client):
    response = client.get("/reconcile/suggest/type", params={"prefix": "", "callback": "jQuery123_456"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    body = response.text
    assert body.startswith("/**/jQuery123_456(") and body.endswith(");")
    validate(json.loads(body[len("/**/jQuery123_456("):-2]), "suggest-types-response")
    bad = client.get("/reconcile", params={"callback": "alert(1)//"})
    assert bad.status_code == 400 and "alert" not in bad.text


@pytest.mark.parametrize("request_args, message", [
    ({"queries": "{not json"}, "not valid JSON"),
    ({"queries": json.dumps({f"q{i}": {"query": "x"} for i in range(reconcile.MAX_BATCH + 1)})}, "in one batch"),
    ({"queries": json.dumps({"q0": {"query": "x" * (reconcile.MAX_QUERY_CHARS + 1)}})}, "longer than"),
    ({"queries": json.dumps({"q0": {"query": "Age UK", "type": "person"}})}, "unknown type 'person'"),
    ({"queries": json.dumps({"q0": {"query": "Age UK", "properties": [{"pid": "colour", "v": "red"}]}})},
     "unknown property 'colour'"),
    ({"queries": json.dumps(["Age UK"])}, "JSON object of queries"),
    ({"queries": '{"q0": {"query": "Age UK", "limit": 1e400}}'}, "'limit' must be a positive number"),
    ({"queries": '{"q0": {"query": "Age UK", "limit": NaN}}'}, "'limit' must be a positive number"),
    ({"queries": '{"q0": {"query": "Age UK", "limit": 1' + "0" * 5000 + "}}"}, "not JSON this service can read"),
    ({"extend": json.dumps({"ids": ["GB-CHC-1"], "properties": [{"id": "shoe_size"}]})}, "unknown property"),
    ({"extend": json.dumps({"ids": ["x"] * (reconcile.MAX_EXTEND_IDS + 1), "properties": []})}, "at once"),
])
def test_requests_out_of_bounds_are_400_with_the_reason_and_cors(client, request_args, message):
    for response in (client.post("/reconcile", data=request_args), client.get("/reconcile", params=request_args)):
        assert response.status_code == 400
        assert response.headers["access-control-allow-origin"] == "*"
        assert message in response.json()["detail"]
        assert "Traceback" not in response.text


@pytest.mark.parametrize("field", ["queries", "extend"])
def test_json_nested_too_deeply_to_read_is_a_400(client, field):
    # within the request's size bound, but deeper than Python's JSON reader goes (too long for a GET's address)
    response = client.post("/reconcile", data={field: "[" * 100_000})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["detail"] == f"{field} is nested too deeply to read"


def test_a_body_too_big_to_read_is_refused_before_it_is_parsed(client):
    big = json.dumps({"q0": {"query": "x" * (reconcile.MAX_BODY_BYTES + 10)}})
    response = client.post("/reconcile", data={"queries": big})
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "*"
    assert "send smaller batches" in response.json()["detail"]


def test_every_endpoint_answers_cors_preflight_and_errors_with_cors(client):
    for path in ("/reconcile", "/reconcile/preview", "/reconcile/suggest/entity", "/reconcile/propose_properties"):
        preflight = client.options(path, headers={"Origin": "http://localhost:3333",
                                                  "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
    for path, params in (("/reconcile/propose_properties", {"type": "person"}),
                         ("/reconcile/suggest/entity", {"cursor": "many"}), ("/reconcile/preview", {})):
        response = client.get(path, params=params)
        assert response.status_code == 400, path
        assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("method, path, status, allow", [
    ("GET", "/reconcile/nope", 404, None),
    ("POST", "/reconcile/suggest/entitys", 404, None),
    ("POST", "/reconcile/preview?id=GB-CHC-1", 405, "GET, OPTIONS"),
    ("DELETE", "/reconcile/view/GB-CHC-1", 405, "GET, OPTIONS"),
    ("PUT", "/reconcile", 405, "GET, POST, OPTIONS"),
])
def test_a_path_or_method_the_service_does_not_answer_is_refused_with_cors(client, method, path, status, allow):
    # the CORS preflight answers every path, but only OPTIONS: anything else is a 404 (no such path) or a 405 (a
    # path of the service, another method), JSON with CORS headers as every answer of the service has
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers.get("allow") == allow
    assert response.json()["detail"] and "Traceback" not in response.text


def test_without_a_register_the_manifest_still_answers_and_queries_say_503(tmp_path, demo_register):
    app = create_app(demo_register.cfg, register_path=tmp_path / "none.duckdb")
    with TestClient(app) as client:
        assert client.get("/reconcile").status_code == 200
        response = client.post("/reconcile", data={"queries": json.dumps({"q0": {"query": "Age UK"}})})
        assert response.status_code == 503
        assert response.headers["access-control-allow-origin"] == "*"
        assert "not available" in response.json()["error"]


def test_the_index_build_hands_back_the_memory_its_queries_freed(demo_register, monkeypatch):
    # the app's connection stays open, so without the release DuckDB would keep the queries' freed memory (about
    # 0.5 GB for a register of every English area) beside the index for as long as the version is served
    released = []
    monkeypatch.setattr(reconcile, "release_freed_memory", lambda: released.append(True))
    with duckdb.connect(str(demo_register.path), read_only=True) as con:
        index = reconcile.ReconcileIndex.build(con, (90.0, 75.0))
    assert released == [True] and len(index.entities) > 400
