"""The web explorer in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium, no browser download)
against `vcse serve` running for real on the session's demo register.

An officer finds mental-health providers in a ward, opens a profile, downloads the list as Excel and opens it,
uploads a contract notice and gets a shortlist; the demo register is served with an opportunity feed published beside
it, and local spend figures from the demo's year of payments; every page (the feed's notices, a notice's shortlist
and the Local spend page too) passes axe-core with no serious or critical violation;
the search form works from the keyboard alone; the pages work with JavaScript off; the map keeps its points when
the tile server cannot be reached. One browser for the session; a fresh context (cookies, settings) per test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from ocds_replay import OcdsReplay
from openpyxl import load_workbook
from playwright.sync_api import sync_playwright  # pinned in the dev dependencies: never skipped for want of it
from procurement_fixtures import copy_register
from test_feed_harvest import RELEASES, UNTIL
from test_spend_demo import demo_files
from web_server import running_server

from vcse_pipeline.config import Config
from vcse_pipeline.procurement.feed import run, store
from vcse_pipeline.spend.run import run_spend

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
NOTICES = ROOT / "tests" / "fixtures" / "ocds" / "contracts-finder-sample.json"
DOMESTIC_ABUSE_NOTICE = "d88b957b-bbf3-4fbe-b9cb-e9c2350bb8e9-819910"
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="session")
def demo_feed(demo_register, tmp_path_factory) -> Config:
    """A copy of the demo register with an opportunity feed published beside it: the feed's run over the recorded
    Contracts Finder releases (so the Opportunities page lists notices, and notice pages have shortlists)."""
    data_dir = tmp_path_factory.mktemp("demo-feed") / "data"
    with OcdsReplay(RELEASES) as api:
        cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)},
                                                 "feed": api.feed_settings(window_hours=24 * 7, lookback_days=50)})
        copy_register(demo_register.path, cfg.register_path)
        run.run_feed(cfg, UNTIL, wait=lambda s: None)
    return cfg


@pytest.fixture(scope="session")
def demo_spend(demo_register, demo_feed) -> Path:
    """Local spend figures where the served data folder's [spend] database is: `vcse spend` on the demo's year of
    payments, resolved with the demo's staging (the served folder holds only the published files)."""
    database = demo_feed.data_dir / "spend" / "spend.duckdb"
    cfg = demo_register.cfg.with_overrides({"spend": {"database": str(database),
                                                      "overrides_file": str(database.parent / "overrides.csv")},
                                            "download": {"progress": False}})
    run_spend(cfg, [str(demo_files(demo_register))])
    return database


@pytest.fixture(scope="session")
def server(demo_feed, demo_spend):
    with running_server(demo_feed.data_dir) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, server):
    # bypass_csp: axe-core is injected as an inline script, which the app's Content-Security-Policy forbids
    context = browser.new_context(base_url=server, accept_downloads=True, bypass_csp=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def ward_with_mental_health(demo_register) -> tuple[str, str, int]:
    """(ward name, ward code, providers): the demo ward with most mental-health providers based in it."""
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        return con.execute("""
            SELECT ward_name, ward_code, count(*) FROM provider_directory
            WHERE based_in_area AND list_contains(service_areas, 'mental_health')
            GROUP BY ALL ORDER BY 3 DESC, 1 LIMIT 1""").fetchone()
    finally:
        con.close()


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.0-2.2 A and AA rules)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (package-lock.json pins axe-core)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})""")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in BLOCKING]


def check_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}: {json.dumps(violations, indent=1)}"


# ---------------------------------------------------------------------------------------------- the journey

def test_an_officer_finds_providers_opens_a_profile_and_exports_excel(page, ward_with_mental_health, tmp_path):
    ward_name, ward_code, expected = ward_with_mental_health
    page.goto("/")
    check_accessible(page)
    page.get_by_role("button", name="Start now").click()
    page.get_by_label("Service area").fill("mental health")
    page.get_by_label("Ward", exact=True).fill(ward_name)
    page.get_by_role("button", name="Search").click()
    heading = page.locator("#results-heading")
    assert re.fullmatch(rf"{expected} of [0-9,]+ providers", heading.inner_text())
    check_accessible(page)

    first = page.locator("table.govuk-table tbody a").first
    name = first.inner_text()
    first.click()
    assert page.locator("h1").inner_text() == name
    assert "Mental health" in page.locator("#services + dl, #services + p").first.inner_text()
    check_accessible(page)

    page.go_back()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Excel")).click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    book = load_workbook(saved)
    rows = list(book["Providers"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == expected and name in {r[0] for r in rows}
    assert all(ward_name in r[1] for r in rows)   # "based in Wirral (<ward>)"
    about = {label: value for label, value in book["About this list"].iter_rows(values_only=True)}
    assert about["Register version"].startswith("register-") and about["Register published"]
    assert "Mental health" in about["Search"] and ward_name in about["Search"]


def test_an_officer_uploads_a_notice_and_gets_a_shortlist(page):
    page.goto("/opportunities")
    check_accessible(page)
    page.get_by_label("Upload a notice file").set_input_files(str(NOTICES))
    page.get_by_role("button", name="Find providers").click()
    assert page.locator("h1").inner_text() == "Which notice in contracts-finder-sample.json?"
    check_accessible(page)
    page.locator(f'input[value="{DOMESTIC_ABUSE_NOTICE}"]').check()
    page.get_by_role("button", name="Continue").click()
    assert "Domestic Abuse Independent Advocate" in page.locator("h1").inner_text()
    entries = page.locator("ol.app-shortlist > li")
    assert entries.count() > 0
    entries.first.locator("summary").click()   # "Why ... is on the list"
    assert entries.first.locator(".govuk-details__text li").count() >= 3
    check_accessible(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download shortlist (Excel)").click()
    assert download.value.suggested_filename.startswith("shortlist-")


def test_a_bad_notice_is_a_message_on_the_page(page, tmp_path):
    bad = tmp_path / "notice.json"
    bad.write_text("{this is not json", encoding="utf-8")
    page.goto("/opportunities")
    page.get_by_label("Upload a notice file").set_input_files(str(bad))
    page.get_by_role("button", name="Find providers").click()
    summary = page.locator(".govuk-error-summary")
    assert "The file notice.json is not valid JSON" in summary.inner_text()
    assert page.evaluate("document.activeElement.closest('.govuk-error-summary') !== null")  # focused for readers
    check_accessible(page)


def test_a_bad_pasted_notice_is_kept_and_its_error_links_to_it(page):
    pasted = '{"releases": [ {bad'
    page.goto("/opportunities")
    page.get_by_text("Paste the notice instead").click()
    page.get_by_label("The notice’s JSON").fill(pasted)
    page.get_by_role("button", name="Find providers").click()
    link = page.locator(".govuk-error-summary a")
    assert link.inner_text().startswith("The pasted notice is not valid JSON")
    link.click()   # GOV.UK Frontend moves the focus to the field in error
    assert page.evaluate("document.activeElement.id") == "notice_text"
    assert page.locator("#notice_text").input_value() == pasted and page.locator("#notice_text").is_visible()
    check_accessible(page)


# ---------------------------------------------------------------------------------------------- every page

def test_every_page_passes_axe(page, demo_register, demo_feed, ward_with_mental_health):
    con = duckdb.connect(str(demo_register.path), read_only=True)
    area, org = con.execute("SELECT area_code, org_id FROM provider_directory ORDER BY latest_income DESC NULLS LAST "
                            "LIMIT 1").fetchone()
    con.close()
    feed = duckdb.connect(str(store.published_path(demo_feed)), read_only=True)
    ocid, shortlisted_area, shortlisted = feed.execute(
        "SELECT ocid, area_code, org_id FROM provider_opportunity ORDER BY rank, ocid LIMIT 1").fetchone()
    feed.close()
    for url in ("/providers", "/providers?keywords=food&sort=income", "/providers?ward=Nowhere&within_km=x",
                "/providers?service=mental+health&service=knitting",
                f"/organisations/{area}/{org}", "/wards", f"/wards/{ward_with_mental_health[1]}", "/about",
                "/opportunities?page=2", f"/opportunities/notices/{ocid}",
                f"/organisations/{shortlisted_area}/{shortlisted}", "/spend", "/no-such-page"):
        page.goto(url)
        check_accessible(page)
    page.goto(f"/opportunities/notices/{ocid}")
    assert page.locator("ol.app-shortlist > li").count() > 0   # the stored shortlist, shown


def test_the_search_form_works_from_the_keyboard_alone(page, ward_with_mental_health):
    ward_name, _code, expected = ward_with_mental_health
    page.goto("/providers")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className").startswith("govuk-skip-link")
    page.keyboard.press("Enter")   # skip to main content
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order[:6] == ["keywords", "service", "ward", "district", "near", "within_km"]
    page.locator("#service").focus()
    page.keyboard.type("mental health")
    page.keyboard.press("Tab")
    page.keyboard.type(ward_name)
    page.keyboard.press("Enter")   # submits the form
    page.wait_for_url(re.compile(r"service=mental"))
    assert page.locator("#results-heading").inner_text().startswith(f"{expected} of ")
    # the focus is visible: GOV.UK's yellow focus state on a focused input
    page.locator("#keywords").focus()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_pages_work_with_javascript_off(browser, server, ward_with_mental_health):
    context = browser.new_context(base_url=server, java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    try:
        ward_name, ward_code, expected = ward_with_mental_health
        page.goto("/providers")
        page.fill("#service", "mental health")
        page.fill("#ward", ward_name)
        page.click("button:has-text('Search')")
        assert page.locator("#results-heading").inner_text().startswith(f"{expected} of ")
        page.goto(f"/wards/{ward_code}")
        assert page.locator("#map svg circle").count() > 0   # the server-drawn map
        page.goto("/opportunities")
        page.set_input_files("#notice_file", str(NOTICES))
        page.click("button:has-text('Find providers')")
        page.check(f'input[value="{DOMESTIC_ABUSE_NOTICE}"]')
        page.click("button:has-text('Continue')")
        assert page.locator("ol.app-shortlist > li").count() > 0
    finally:
        context.close()


def test_the_map_keeps_its_points_when_tiles_cannot_load(browser, server, ward_with_mental_health):
    context = browser.new_context(base_url=server)
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1).*"), lambda route: route.abort())  # no tile server
    page = context.new_page()
    try:
        page.goto(f"/wards/{ward_with_mental_health[1]}")
        points = json.loads(page.get_attribute("#map", "data-points"))
        page.wait_for_selector("#map.app-map--ready")
        assert page.locator("#map path.leaflet-interactive").count() == len(points) > 0
        assert page.locator("#map svg circle").count() == 0   # Leaflet replaced the server's drawing
    finally:
        context.close()
