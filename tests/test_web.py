"""The officers' web explorer (vcse_pipeline.web) in-process: pages, forgiving search, exports, uploads, errors,
headers, and the register reader switching versions. Over the hand-made procurement register (30 providers in
known wards), so every count is known. The browser tests (test_web_browser.py) drive a real server."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from procurement_fixtures import ORGS, org_id_for, spread_over_areas

from vcse_pipeline.config import Config
from vcse_pipeline.versions import switch_register
from vcse_pipeline.web import register as reader_module
from vcse_pipeline.web.app import create_app
from vcse_pipeline.web.register import (
    RegisterReader,
    RegisterUnavailable,
    area_ranges,
    copy_database,
    materialise_views,
)

ROOT = Path(__file__).resolve().parent.parent
NOTICES = ROOT / "tests" / "fixtures" / "ocds" / "contracts-finder-sample.json"
DOMESTIC_ABUSE_NOTICE = "d88b957b-bbf3-4fbe-b9cb-e9c2350bb8e9-819910"
PROVIDERS = len(ORGS)   # every organisation of the fixture is active (the closed one is not in the directory)


def config(data_dir: Path, **web) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}, "web": web})


@pytest.fixture(scope="module")
def edited_register(register, tmp_path_factory) -> Path:
    """A copy of the procurement register with a formula for a name and one Liscard provider's work unclassified."""
    path = tmp_path_factory.mktemp("web") / "edited.duckdb"
    shutil.copyfile(register, path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE organisation SET name = '=HYPERLINK(\"http://evil.example\",\"Wirral Foodbank\")' "
                "WHERE org_id = ?", [org_id_for("C3")])
    con.execute("DELETE FROM organisation_service_area WHERE org_id = ?", [org_id_for("C22")])
    con.close()
    return path


@pytest.fixture(scope="module")
def client(register, tmp_path_factory):
    app = create_app(config(tmp_path_factory.mktemp("web-data"), page_size=5), register_path=register)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def main_text(response) -> str:
    """The page's <main> as words: what an officer reads."""
    main = re.search(r"<main.*?</main>", response.text, re.S).group(0)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).replace("&#39;", "'").replace("&amp;", "&")


def error_summary(response) -> list[tuple[str, str]]:
    """(field id, message) of each link in the GOV.UK error summary."""
    summary = re.search(r'govuk-error-summary__list">(.*?)</ul>', response.text, re.S)
    return [(href, re.sub(r"\s+", " ", text).replace("&#39;", "'"))
            for href, text in re.findall(r'<a href="#([^"]+)">(.*?)</a>', summary.group(1), re.S)] if summary else []


# ---------------------------------------------------------------------------------------------- find providers

def test_find_mental_health_providers_in_a_ward(client):
    response = client.get("/providers", params={"service": "mental health", "ward": "Birkenhead and Tranmere"})
    assert response.status_code == 200
    text = main_text(response)
    assert f"2 of {PROVIDERS} providers" in text
    for key in ("C1", "C4"):   # Wirral Mind and Tomorrow's Women Wirral: the two based in the ward
        assert f'href="/organisations/E08000015/{org_id_for(key)}"' in response.text
    assert "Mental health and wellbeing" in text and "in ward Birkenhead and Tranmere" in text
    assert 'href="/providers/export.xlsx?service=mental+health&amp;ward=Birkenhead+and+Tranmere"' in response.text


def test_forgiving_values_are_read_and_said(client):
    response = client.get("/providers", params={"service": "mental helth", "ward": "birkenhead & tranmere"})
    assert response.status_code == 200
    text = main_text(response)
    assert f"2 of {PROVIDERS} providers" in text
    assert "Read service area 'mental helth' as Mental health and wellbeing (mental_health)" in text


def test_a_mistyped_ward_is_an_error_beside_its_field_with_did_you_mean(client):
    response = client.get("/providers", params={"service": "mental health", "ward": "Birkenhed and Tranmere"})
    assert response.status_code == 400
    assert response.text.count("<title>Error: Find providers") == 1
    [(field, message)] = error_summary(response)
    assert field == "ward"
    assert message.startswith("Unknown ward 'Birkenhed and Tranmere' (did you mean Birkenhead and Tranmere")
    assert "vcse find" not in message   # the CLI's hint is not shown to officers
    assert 'id="ward-error"' in response.text and 'class="govuk-input govuk-input--error"' in response.text
    assert "providers</h2>" not in response.text   # no results under an error


def test_several_errors_in_the_form_order(client):
    response = client.get("/providers", params={"max_income": "lots", "min_income": "-5", "district": "ZZ99",
                                                "within_km": "3"})
    assert response.status_code == 400
    fields = [f for f, _m in error_summary(response)]
    assert fields == ["district", "near", "min_income", "max_income"]


def test_an_income_band_and_another_range_together_is_an_error_on_the_band(client):
    """Neither is applied silently over the other: the officer is asked to choose, both values shown back."""
    response = client.get("/providers", params={"income": "over-1m", "max_income": "50000"})
    assert response.status_code == 400
    assert error_summary(response) == [("income", "Choose an income band or enter another income range, not both")]
    assert 'id="income-error"' in response.text and "providers</h2>" not in response.text
    assert '<option value="over-1m" selected>' in response.text and 'value="50000"' in response.text
    alone = client.get("/providers", params={"max_income": "50000"})   # the range alone is searched
    assert alone.status_code == 200 and "income up to £50,000" in main_text(alone).lower()


def test_an_income_on_a_band_boundary_is_in_one_band(fresh_register, tmp_path):
    """£100,000 and £1 million exactly are each in one band, the higher one (as provider_readiness bands them)."""
    con = duckdb.connect(str(fresh_register))
    for key, income in (("C1", 100_000), ("C3", 1_000_000), ("C4", 9_999.99), ("C8", 10_000)):
        con.execute("UPDATE organisation SET latest_income = ? WHERE org_id = ?", [income, org_id_for(key)])
    con.close()
    app = create_app(config(tmp_path / "data", page_size=100), register_path=fresh_register)
    with TestClient(app) as boundary_client:
        found = {band: set(re.findall(r'href="/organisations/E08000015/([^"]+)"',
                                      boundary_client.get("/providers", params={"income": band}).text))
                 for band in ("under-10k", "10k-100k", "100k-1m", "over-1m")}
        described = main_text(boundary_client.get("/providers", params={"income": "10k-100k"}))
    bands = {key: [band for band, ids in found.items() if org_id_for(key) in ids] for key in ("C1", "C3", "C4", "C8")}
    assert bands == {"C1": ["100k-1m"], "C3": ["over-1m"], "C4": ["under-10k"], "C8": ["10k-100k"]}
    assert "Income £10,000 to £99,999." in described


def test_a_wrong_value_in_a_repeated_field_is_an_error_on_its_own_box(client):
    """Two service areas, the second wrong: the error is on the second box only (one id each), the summary links it."""
    response = client.get("/providers", params=[("service", "mental health"), ("service", "knitting"),
                                                ("legal_form", "nonsense form"), ("legal_form", "CIO")])
    assert response.status_code == 400
    assert [field for field, _message in error_summary(response)] == ["service-2", "legal_form"]
    ids = re.findall(r' id="([^"]+)"', response.text)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert 'id="service-2-error"' in response.text and 'id="service-error"' not in response.text
    assert re.search(r'id="service-2" name="service"[^>]*aria-describedby=" service-2-error"', response.text)


def test_values_reach_the_database_as_parameters(client, register):
    injected = "x' OR 1=1; DROP TABLE organisation; --"
    response = client.get("/providers", params={"keywords": injected})
    assert response.status_code == 200 and f"0 of {PROVIDERS} providers" in main_text(response)
    response = client.get("/providers", params={"ward": injected})
    assert response.status_code == 400
    con = duckdb.connect(str(register), read_only=True)
    assert con.execute("SELECT count(*) FROM organisation").fetchone()[0] == PROVIDERS + 1
    con.close()


def test_paging_and_sorting(client):
    first = client.get("/providers", params={"based": "based", "sort": "name"})
    text = main_text(first)
    based_in_wirral = sum(1 for row in ORGS if row[3] is not None)
    assert f"{based_in_wirral} of {PROVIDERS} providers" in text
    names = re.findall(r'href="/organisations/E08000015/[^"]+">([^<]+)</a>', first.text)
    assert len(names) == 5 and names == sorted(names, key=str.lower)   # page_size 5, by name
    second = client.get("/providers", params={"based": "based", "sort": "name", "page": "2"})
    later = re.findall(r'href="/organisations/E08000015/[^"]+">([^<]+)</a>', second.text)
    assert len(later) == 5 and later[0].lower() > names[-1].lower()
    assert 'aria-current="page"' in second.text and 'rel="prev"' in second.text
    pages = -(-based_in_wirral // 5)
    assert f"<title>Find providers (page 1 of {pages}) " in first.text   # which page, in the title (GOV.UK)
    assert f"<title>Find providers (page 2 of {pages}) " in second.text
    beyond = client.get("/providers", params={"based": "based", "sort": "name", "page": "999"})
    assert f"page {pages} of {pages}" in beyond.text   # a page past the end shows the last one
    by_income = client.get("/providers", params={"based": "operates", "sort": "income"})
    assert re.findall(r'href="/organisations/E08000015/[^"]+">([^<]+)</a>', by_income.text) == [
        "Merseyside Domestic Abuse Refuges", "Liverpool and Wirral Autism Support"]


@pytest.mark.parametrize("page", ["²", "٣", "x", "-2", ""])
def test_a_page_that_is_not_a_number_shows_the_first(client, page):
    response = client.get("/providers", params={"based": "based", "sort": "name", "page": page})
    assert response.status_code == 200
    assert re.findall(r'aria-label="Page (\d+)" aria-current="page"', response.text) == ["1"]


def test_distance_search(client):
    response = client.get("/providers", params={"near": "CH41 4AA", "within_km": "3", "sort": "distance"})
    assert response.status_code == 200
    distances = [float(d) for d in re.findall(r"([0-9.]+) km</td>", response.text)]
    assert distances and distances == sorted(distances) and max(distances) <= 3


# ---------------------------------------------------------------------------------------------- exports

@pytest.fixture(scope="module")
def edited_client(edited_register, tmp_path_factory):
    app = create_app(config(tmp_path_factory.mktemp("web-edited")), register_path=edited_register)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_excel_export_is_stamped_and_formula_safe(edited_client):
    response = edited_client.get("/providers/export.xlsx", params={"service": "food", "based": "based"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert re.fullmatch(r'attachment; filename="providers-edited-duckdb\.xlsx"',
                        response.headers["content-disposition"])
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["Providers"]
    headings = [c.value for c in sheet[1]]
    assert headings[:3] == ["Provider", "Where", "Legal form"]
    names = [row[0].value for row in sheet.iter_rows(min_row=2)]
    formula = next(c for c in sheet["A"][1:] if "HYPERLINK" in str(c.value))
    assert formula.value.startswith("'=HYPERLINK") and formula.data_type == "s"
    assert "Liscard Community Pantry" in names
    about = {row[0].value: row[1].value for row in book["About this list"].iter_rows()}
    assert about["Register version"] == "edited.duckdb"
    assert about["Search"] == "Food and poverty relief; based in the area"
    assert about["Rows"] == str(len(names))


def test_csv_export_carries_every_match_and_the_stamp(edited_client):
    response = edited_client.get("/providers/export.csv", params={"based": "based"})
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    import csv

    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == sum(1 for row in ORGS if row[3] is not None)   # every page, not one
    assert {r["register_version"] for r in rows} == {"edited.duckdb"}
    assert {r["search"] for r in rows} == {"based in the area"}
    assert any(r["name"].startswith("'=HYPERLINK") for r in rows)


# ---------------------------------------------------------------------------------------------- profile

def test_organisation_profile(client):
    response = client.get(f"/organisations/E08000015/{org_id_for('C1')}")
    assert response.status_code == 200
    text = main_text(response)
    assert "Wirral Mind" in text and "Mind in Wirral" in text
    assert 'href="https://find-and-update.company-information.service.gov.uk/company/02967368"' in response.text
    assert "Based in Wirral (Birkenhead and Tranmere)" in text
    assert "Mental health and wellbeing" in text and "£2,400,000" in text
    assert "Readiness to deliver" in text
    assert re.search(r"Recent changes .*added to the register", text)


def test_an_unknown_organisation_is_a_404_page(client):
    response = client.get("/organisations/E08000015/GB-CHC-0")
    assert response.status_code == 404 and "There is no organisation with that identifier" in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize("org_id,said", [
    ("GB-CHC-1199999", "no annual return from the Charity Commission for this charity, which is no longer registered"),
    (org_id_for("C15"), "no annual return from the Charity Commission for this charity yet"),
    (org_id_for("X1"), "companies and societies file no income figures the register reads"),
])
def test_no_accounts_is_explained_for_what_the_organisation_is(client, org_id, said):
    """A removed charity, a new one and a CIC, none with accounts: each is told why in its own terms."""
    text = main_text(client.get(f"/organisations/E08000015/{org_id}"))
    assert f"No accounts on record: the register holds {said}" in text or f"No accounts on record: {said}" in text
    assert text.count("No accounts on record") == 1


# ---------------------------------------------------------------------------------------------- wards

def test_wards_list_every_ward_even_empty_ones(client):
    response = client.get("/wards")
    assert response.status_code == 200
    assert 'href="/wards/E05000969">Upton</a>' in response.text   # no providers at all, still listed


def test_gaps_and_cannot_tell(edited_client):
    """Liscard: one of its three providers lost its service areas, so a service with one provider based there
    might have two (cannot tell) while one with none stays a gap."""
    response = edited_client.get("/wards/E05000961")
    assert response.status_code == 200
    rows = dict(re.findall(r'<th scope="row" class="govuk-table__header">([^<]+)</th>.*?'
                           r'<strong class="govuk-tag govuk-tag--[a-z]+">([^<]+)</strong>', response.text, re.S))
    assert rows["Food and poverty relief"] == "Cannot tell"   # Liscard Community Pantry, and maybe the unknown one
    assert rows["Adult social care"] == "Gap"
    assert "1 provider based here does work the register could not classify" in main_text(response)


def test_the_wards_list_counts_gaps_as_each_ward_page_does(edited_client):
    """The list and the ward pages say the same: gaps where the register can tell, and apart the services it cannot
    tell about (thinly tagged in the area, or closable by the ward's providers of unknown work)."""
    listed = re.findall(r'<a class="govuk-link" href="/wards/(E05\d+)">[^<]+</a></th>\s*'
                        r'<td[^>]*>([\d,]+)</td>\s*<td[^>]*>([\d,]+)</td>\s*<td[^>]*>([\d,]+)</td>',
                        edited_client.get("/wards").text)
    assert len(listed) > 10
    totals = [0, 0]
    for ward_code, _providers, gaps, cannot_tell in listed:
        tags = re.findall(r'<strong class="govuk-tag govuk-tag--[a-z]+">([^<]+)</strong>',
                          edited_client.get(f"/wards/{ward_code}").text)
        assert (int(gaps), int(cannot_tell)) == (tags.count("Gap"), tags.count("Cannot tell")), ward_code
        totals = [totals[0] + int(gaps), totals[1] + int(cannot_tell)]
    assert min(totals) > 0   # both kinds in the list, or the test proves little
    liscard = edited_client.get("/api/wards").json()["wards"]
    liscard = next(w for w in liscard if w["ward_code"] == "E05000961")
    detail = edited_client.get("/api/wards/E05000961").json()
    assert (liscard["gaps"], liscard["cannot_tell"]) == (detail["gaps"], detail["cannot_tell"])
    assert detail["cannot_tell"] > 0   # Food and poverty relief: the unclassified provider might do it


def test_a_gap_in_a_service_area_the_register_cannot_tag_reliably_is_cannot_tell(client, register):
    """Upton has no providers at all, so no unclassified one could close a gap there: each gap's status comes from
    the view alone: 'cannot tell' where the service area is not reliably tagged in the area, else a gap."""
    con = duckdb.connect(str(register), read_only=True)
    try:
        expected = dict(con.execute("SELECT service_area_label, gap FROM ward_service_gaps "
                                    "WHERE ward_code = 'E05000969'").fetchall())
    finally:
        con.close()
    assert {"cannot tell", "no provider"} <= set(expected.values())   # both kinds, or the test proves nothing
    response = client.get("/wards/E05000969")
    rows = dict(re.findall(r'<th scope="row" class="govuk-table__header">([^<]+)</th>.*?'
                           r'<strong class="govuk-tag govuk-tag--[a-z]+">([^<]+)</strong>', response.text, re.S))
    for label, gap in expected.items():
        assert rows[label] == ("Cannot tell" if gap == "cannot tell" else "Gap"), label


def test_a_ward_code_in_lower_case_finds_the_ward(client):
    upper, lower = client.get("/wards/E05000952"), client.get("/wards/e05000952")
    assert lower.status_code == 200 and main_text(lower) == main_text(upper)
    assert "Birkenhead and Tranmere" in main_text(lower)
    assert client.get("/api/wards/e05000952").json()["ward_code"] == "E05000952"


def test_the_ward_map_shows_points_without_javascript(client):
    response = client.get("/wards/E05000951")   # Bidston and St James: five providers with postcodes
    points = json.loads(html.unescape(re.search(r'data-points="([^"]*)"', response.text).group(1)))
    circles = [html.unescape(t) for t in re.findall(r"<circle [^>]*><title>([^<]+)</title>", response.text)]
    assert len(points) == len(circles) >= 4
    assert {p["name"] for p in points} == set(circles)
    assert 'data-tile-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in response.text


# ---------------------------------------------------------------------------------------------- opportunities

def upload(client, content: bytes, name: str = "notice.json", **data):
    return client.post("/opportunities", files={"notice_file": (name, content, "application/json")}, data=data)


def test_a_notice_gives_a_ranked_shortlist_with_reasons(client):
    response = upload(client, NOTICES.read_bytes(), release_id=DOMESTIC_ABUSE_NOTICE)
    assert response.status_code == 200
    text = main_text(response)
    assert "Domestic Abuse Independent Advocate (IDVA)" in text
    assert "the contract has been let" in text   # an award: said, as the CLI says it
    ranked = re.findall(r'<h3 class="govuk-heading-s[^"]*">\s*(\d+)\. <a', response.text)
    assert ranked[:3] == ["1", "2", "3"]
    assert "Why Merseyside Domestic Abuse Refuges is on the list" in text


def test_a_package_of_notices_asks_which(client):
    response = upload(client, NOTICES.read_bytes())
    assert response.status_code == 200 and "It holds 11 notices" in main_text(response)
    assert response.text.count('name="release_id"') == 11


def test_a_notice_chosen_from_a_file_keeps_the_file_name(client):
    """The choose form carries the notice and where it came from: the shortlist names the uploaded file."""
    choose = upload(client, NOTICES.read_bytes(), name="contracts-finder-sample.json")
    hidden = {name: html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', choose.text)}
    assert set(hidden) == {"notice_text", "notice_source"}
    response = client.post("/opportunities", files={name: (None, value) for name, value in hidden.items()},
                           data={"release_id": DOMESTIC_ABUSE_NOTICE})
    assert response.status_code == 200
    assert f"{DOMESTIC_ABUSE_NOTICE} (from the file contracts-finder-sample.json)" in main_text(response)
    forged = client.post("/opportunities", files={"notice_text": (None, hidden["notice_text"]),
                                                  "notice_source": (None, "<b>anything</b>")},
                         data={"release_id": DOMESTIC_ABUSE_NOTICE})   # only a file's name is taken
    assert f"{DOMESTIC_ABUSE_NOTICE} (from the pasted notice)" in main_text(forged)


def test_the_shortlist_exports(client):
    response = client.post("/opportunities/export.xlsx", files={"notice_text": (None, NOTICES.read_text())},
                           data={"release_id": DOMESTIC_ABUSE_NOTICE})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book["Shortlist"].max_row > 1 and "shortlist for notice" in book["About this list"]["B2"].value


@pytest.mark.parametrize("content,message", [
    (b"{not json", "The file notice.json is not valid JSON"),
    (b"[1, 2, 3]", "neither an OCDS release nor a release package"),
    (b"\xff\xfe\x00garbage", "must be an OCDS JSON file (it is not text)"),
    (b"   ", "The selected file is empty"),
    (b'{"releases": []}', "holds no releases"),
])
def test_a_bad_notice_gets_a_message_not_a_500(client, content, message):
    response = upload(client, content)
    assert response.status_code == 400
    assert message in " ".join(m for _f, m in error_summary(response))
    assert "Traceback" not in response.text


def test_a_bad_pasted_notice_is_given_back_with_its_error_on_the_text(client):
    """The error is on the pasted notice's field (the summary links to it), and the text is in it again, open."""
    pasted = '{"releases": [ {bad'
    response = client.post("/opportunities", files={"notice_text": (None, pasted)})
    assert response.status_code == 400
    [(field, message)] = error_summary(response)
    assert field == "notice_text" and message.startswith("The pasted notice is not valid JSON")
    assert 'id="notice_text-error"' in response.text and 'id="notice_file-error"' not in response.text
    textarea = re.search(r'<textarea class="govuk-textarea govuk-textarea--error" id="notice_text"[^>]*'
                         r'aria-describedby="notice_text-error">([^<]*)</textarea>', response.text)
    assert textarea and html.unescape(textarea.group(1)) == pasted
    assert '<details class="govuk-details" open>' in response.text
    uploaded = upload(client, pasted.encode())   # the same notice as a file: the error stays on the file input
    assert [f for f, _m in error_summary(uploaded)] == ["notice_file"]
    assert "govuk-textarea--error" not in uploaded.text and "></textarea>" in uploaded.text


@pytest.mark.parametrize("release", [
    {"ocid": "ocds-1", "tender": "not an object"},
    {"ocid": "ocds-2", "tender": {"items": "x", "classification": 5, "value": {"amount": "lots"}}},
    {"ocid": ["a"], "id": {"x": 1}, "tender": {"title": 7, "tenderPeriod": {"endDate": "soon"}}, "buyer": "me"},
])
def test_a_notice_of_an_odd_shape_gets_a_page_not_a_500(client, release):
    response = upload(client, json.dumps(release).encode())
    assert response.status_code in (200, 400) and "Traceback" not in response.text


def test_uploads_are_size_limited(register, tmp_path):
    app = create_app(config(tmp_path, max_upload_kb=1), register_path=register)
    with TestClient(app) as small:
        response = upload(small, b"{" + b" " * 4000 + b"}")
    assert response.status_code == 413 and "The notice must be smaller than 1 KB" in response.text


# ---------------------------------------------------------------------------------------------- safety

def test_security_headers_on_pages_assets_and_errors(client):
    for url in ("/providers", "/static/app.css", "/no-such-page"):
        headers = client.get(url).headers
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "img-src 'self' data: https://tile.openstreetmap.org" in headers["content-security-policy"]


def test_an_unexpected_error_shows_no_stack_trace(register, tmp_path):
    app = create_app(config(tmp_path), register_path=register)
    broken = APIRouter()

    @broken.get("/broken")
    def boom():
        raise RuntimeError("secret detail /srv/vcse/data")

    app.include_router(broken)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/broken")
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.text
    assert "secret detail" not in response.text and "Traceback" not in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_no_register_yet_is_a_503_until_one_is_published(register, tmp_path):
    cfg = config(tmp_path / "data")
    app = create_app(cfg)
    with TestClient(app) as test_client:
        missing = test_client.get("/providers")
        assert missing.status_code == 503 and "not been published yet" in missing.text
        version = cfg.versions_dir / "register-20260101T000000000000Z-test.duckdb"
        version.parent.mkdir(parents=True)
        shutil.copyfile(register, version)
        switch_register(cfg, version)
        assert test_client.get("/providers").status_code == 200   # no restart


# ---------------------------------------------------------------------------------------------- the reader

def test_the_reader_switches_versions_and_finishes_requests_on_the_old_one(register, tmp_path):
    cfg = config(tmp_path / "data")
    versions = []
    for n, name in enumerate(("Version One", "Version Two")):
        version = cfg.versions_dir / f"register-2026010{n + 1}T000000000000Z-v{n + 1}.duckdb"
        version.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(register, version)
        con = duckdb.connect(str(version))
        con.execute("UPDATE organisation SET name = ? WHERE org_id = ?", [name, org_id_for("C1")])
        con.execute("UPDATE run_history SET version_file = ? WHERE run_id = '20260201T000000Z-bbbbbb'",
                    [version.name])
        con.close()
        versions.append(version)
    switch_register(cfg, versions[0])
    reader = RegisterReader(cfg.register_path)
    query = "SELECT name FROM provider_directory WHERE org_id = ?"
    with reader.view() as old:
        assert old.cursor.execute(query, [org_id_for("C1")]).fetchone() == ("Version One",)
        assert old.info.version == versions[0].name
        switch_register(cfg, versions[1])   # a publish while a request is reading
        with reader.view() as new:
            assert new.cursor.execute(query, [org_id_for("C1")]).fetchone() == ("Version Two",)
            assert new.info.version == versions[1].name
        # the request that started on version one finishes on it
        assert old.cursor.execute(query, [org_id_for("C1")]).fetchone() == ("Version One",)
    with reader.view() as later:
        assert later.info.version == versions[1].name
    with pytest.raises(duckdb.Error):   # read-only
        with reader.view() as view:
            view.cursor.execute("DELETE FROM organisation")
    with pytest.raises(duckdb.Error):   # and no other file can be read through it
        with reader.view() as view:
            view.cursor.execute("SELECT * FROM read_csv(?)", [str(versions[0])])
    # version one's working copy went when its last request finished; version two's stays while it is served
    assert [p.name for p in reader._scratch.glob("*.duckdb")] == ["version-2.duckdb"]
    reader.close()
    assert list(reader._scratch.glob("*.duckdb")) == []


def test_the_reader_refuses_a_file_that_is_not_a_register(tmp_path):
    path = tmp_path / "staging.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE company (n INTEGER)")
    con.close()
    with pytest.raises(RegisterUnavailable, match="has no provider_directory view"):
        with RegisterReader(path).view():
            pass


def test_a_file_that_fails_to_load_is_tried_again_after_a_wait_not_on_every_request(register, tmp_path, monkeypatch):
    """Loading a register of every English area takes about 30 s: a version that cannot be loaded is not tried
    again by every request (each would wait that long), but after 30 s, then 60, ...; a new publish at once."""
    clock = [1000.0]
    monkeypatch.setattr(reader_module, "monotonic", lambda: clock[0])
    builds = []
    build = RegisterReader._build
    monkeypatch.setattr(RegisterReader, "_build", lambda self, builder: (builds.append(1), build(self, builder)))
    cfg = config(tmp_path / "data")
    cfg.versions_dir.mkdir(parents=True)
    cut = cfg.versions_dir / "register-20260101T000000000000Z-cut.duckdb"
    cut.write_bytes(register.read_bytes()[:12288])   # the file's header and no more: cut short
    good = cfg.versions_dir / "register-20260102T000000000000Z-good.duckdb"
    shutil.copyfile(register, good)
    reader = RegisterReader(cfg.register_path)

    def served() -> str:
        with reader.view() as view:
            return view.cursor.execute("SELECT count(*) FROM provider_directory").fetchone()[0]

    switch_register(cfg, cut)
    for wait, tried in ((0, 1), (10, 1), (21, 2), (59, 2), (2, 3)):   # tried at 0 s, after 30 s, after 60 more
        clock[0] += wait
        with pytest.raises(RegisterUnavailable, match="cannot open register"):
            served()
        assert len(builds) == tried, f"{wait} s later"
    switch_register(cfg, good)   # a new file is loaded at once
    assert served() == PROVIDERS and len(builds) == 4
    switch_register(cfg, cut)   # a bad publish: the good version is served on, and the bad one tried once
    assert [served(), served(), served()] == [PROVIDERS] * 3 and len(builds) == 5
    clock[0] += 30
    assert served() == PROVIDERS and len(builds) == 6
    reader.close()


@pytest.mark.parametrize("memory_limit,organisations", [("1GB", 156_250), ("512MB", 80_000), ("100MB", 15_625)])
def test_a_range_holds_what_the_memory_limit_allows(memory_limit, organisations):
    con = duckdb.connect(config={"memory_limit": memory_limit})
    assert reader_module.range_organisations(con) == pytest.approx(organisations, rel=0.05)
    con.close()


def test_the_views_are_materialised_a_range_of_areas_at_a_time_with_every_row(register, tmp_path):
    """A register of every English area is too big for its views to become tables in one statement within the
    app's memory: they are read a range of areas at a time, and give the same rows, each once."""
    areas = ["E08000012", "E08000014", "E08000015"]
    three_areas = tmp_path / "three-areas.duckdb"
    shutil.copyfile(register, three_areas)
    spread_over_areas(three_areas, areas)
    con = duckdb.connect(str(three_areas))
    first, second = (con.execute("SELECT count(*) FROM organisation WHERE area_code = ?", [a]).fetchone()[0]
                     for a in areas[:2])
    assert area_ranges(con, 1) == areas and area_ranges(con, 10**6) == []
    assert area_ranges(con, first + 1) == areas[1:]   # an area is never split: a range ends after the area
    assert area_ranges(con, first + second) == [areas[1]]   # the third area is the rest
    con.close()

    copies = {}
    # one statement; one area at a time; the first two areas, then the rest
    for name, organisations in (("whole", 10**6), ("ranged", 1), ("two_ranges", first + second)):
        copies[name] = tmp_path / f"{name}.duckdb"
        builder = duckdb.connect(str(copies[name]))
        copy_database(builder, three_areas)
        materialise_views(builder, organisations)
        builder.close()
    con = duckdb.connect()
    for name, path in copies.items():
        con.execute(f"ATTACH '{path}' AS {name} (READ_ONLY)")
    views = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'ranged' "
                                       "AND table_name IN ('provider_directory', 'provider_readiness', "
                                       "'organisation_finance_year', 'ward_service_coverage')").fetchall()]
    assert len(views) == 4, "the views are tables in the working copy"
    for view in views:
        rows = con.execute(f"SELECT count(*), count(DISTINCT area_code) FROM ranged.{view}").fetchone()
        # the wards are the reference geography of the register's own area
        assert rows[0] > 0 and rows[1] == (1 if view.startswith("ward_") else 3), view
        assert con.execute(f"SELECT count(*) FROM whole.{view}").fetchone()[0] == rows[0], view
        for a, b in (("whole", "ranged"), ("ranged", "whole"), ("whole", "two_ranges"), ("two_ranges", "whole")):
            assert con.execute(f"SELECT count(*) FROM (FROM {a}.{view} EXCEPT ALL FROM {b}.{view})").fetchone() == (0,)
    providers = con.execute("SELECT count(*) FROM ranged.provider_directory").fetchone()[0]
    assert providers == PROVIDERS


# ---------------------------------------------------------------------------------------------- assets

STATIC = ROOT / "vcse_pipeline" / "web" / "static"
COPIED = {"govuk/govuk-frontend.min.js": "govuk-frontend/dist/govuk/govuk-frontend.min.js",
          "govuk/assets/images/favicon.ico": "govuk-frontend/dist/govuk/assets/images/favicon.ico",
          "leaflet/leaflet.js": "leaflet/dist/leaflet.js", "leaflet/leaflet.css": "leaflet/dist/leaflet.css"}


def test_the_committed_assets_are_the_pinned_packages():
    """`make assets` copies from node_modules (installed by `npm ci` from package-lock.json, as .ci/run does)."""
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    package = json.loads((ROOT / "package.json").read_text())
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert lock[f"node_modules/{name}"]["version"] == version, name   # pinned exactly, lock agrees
    modules = ROOT / "node_modules"
    if not (modules / "govuk-frontend").is_dir():
        pytest.skip("node_modules not installed (npm ci): the copies cannot be compared")
    for ours, theirs in COPIED.items():
        assert (STATIC / ours).read_bytes() == (modules / theirs).read_bytes(), f"{ours}: run make assets"
    css = (STATIC / "app.css").read_text()
    assert ".govuk-generic-header" in css and "GDS Transport" not in css


def test_the_committed_stylesheet_is_built_from_its_source(tmp_path):
    """app.css is `make assets`'s sass build of web/assets/app.scss with the pinned GOV.UK Frontend."""
    import subprocess

    sass = ROOT / "node_modules" / ".bin" / "sass"
    if not sass.exists():
        pytest.skip("node_modules not installed (npm ci): sass cannot rebuild the stylesheet")
    built = tmp_path / "app.css"
    subprocess.run([str(sass), "--style=compressed", "--no-source-map", "--load-path=node_modules", "--quiet-deps",
                    "vcse_pipeline/web/assets/app.scss", str(built)], cwd=ROOT, check=True, capture_output=True)
    assert built.read_text() == (STATIC / "app.css").read_text(), "run make assets"


def test_serve_is_a_command():
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--register" in result.output


def test_a_running_server_keeps_answering_across_publishes(register, tmp_path):
    """`vcse serve` for real, readers in threads, and three publishes (real switch_register) while they read: no
    request fails, and the server ends on the last version without a restart."""
    import threading

    import httpx
    from web_server import running_server

    cfg = config(tmp_path / "data")
    versions = []
    for n in range(3):
        version = cfg.versions_dir / f"register-2026010{n + 1}T000000000000Z-v{n}.duckdb"
        version.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(register, version)
        con = duckdb.connect(str(version))
        con.execute("UPDATE run_history SET version_file = ? WHERE run_id = '20260201T000000Z-bbbbbb'",
                    [version.name])
        con.close()
        versions.append(version)
    switch_register(cfg, versions[0])
    failures: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()
    with running_server(cfg.data_dir) as url:
        def read() -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                while not stop.is_set():
                    for path in ("/providers?service=mental+health", "/healthz"):
                        response = http.get(path)
                        if response.status_code != 200:
                            failures.append(f"{path}: {response.status_code}")
                        elif path == "/healthz":
                            seen.add(response.json()["version"])
        readers = [threading.Thread(target=read) for _ in range(4)]
        for thread in readers:
            thread.start()
        for n, version in enumerate(versions):
            if n:
                switch_register(cfg, version)   # a publish while the readers read
            waited = 0.0
            while version.name not in seen and not failures and waited < 60:   # until the readers see it
                stop.wait(0.05)
                waited += 0.05
        stop.set()
        for thread in readers:
            thread.join()
        final = httpx.get(f"{url}/healthz").json()["version"]
    assert failures == []
    assert seen == {v.name for v in versions} and final == versions[-1].name
