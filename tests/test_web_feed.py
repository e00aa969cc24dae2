"""The web app over the published opportunity feed (vcse_pipeline.web.feed): the Opportunities page's latest notices
with paging, a notice's stored shortlist and its exports, a provider's opportunities on its profile, the JSON API,
no feed yet, and a feed replaced while the app serves. The feed is made by the feed's own run (harvest, process,
deliver) from the recorded Contracts Finder releases served by OcdsReplay, against the hand-made Wirral register.
Awards and notices whose deadline has passed carry the warning the digest and `vcse opportunities feed` give them."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from fastapi.testclient import TestClient
from ocds_replay import OcdsReplay
from openpyxl import load_workbook
from procurement_fixtures import AREA, copy_register
from test_feed_delivery import by_ocid, lapsed_or_let
from test_feed_harvest import RELEASES, UNTIL
from test_web import NOTICES, main_text, upload

from vcse_pipeline.config import Config
from vcse_pipeline.procurement.feed import digest, run, store
from vcse_pipeline.web.app import create_app

PAGE_SIZE = 5


def web_config(data_dir: Path, api: OcdsReplay | None = None) -> Config:
    overrides = {"paths": {"data_dir": str(data_dir)}, "web": {"page_size": PAGE_SIZE}}
    if api is not None:
        overrides["feed"] = api.feed_settings(window_hours=24 * 7, lookback_days=50)
    return Config.load(environ={}, overrides=overrides)


@pytest.fixture(scope="module")
def fed(register_master, tmp_path_factory):
    """A feed run over the recorded releases, published beside a copy of the test register."""
    data_dir = tmp_path_factory.mktemp("web-feed") / "data"
    with OcdsReplay(RELEASES) as api:
        cfg = web_config(data_dir, api)
        copy_register(register_master, cfg.register_path)
        run.run_feed(cfg, UNTIL, wait=lambda s: None)
    return cfg


def published(cfg: Config) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(store.published_path(cfg)), read_only=True)


@pytest.fixture(scope="module")
def stored(fed):
    """What the published feed holds for the area: its kept notices latest first, and the shortlists."""
    con = published(fed)
    try:
        kept = [r[0] for r in con.execute(
            "SELECT n.ocid FROM feed_notice n JOIN feed_notice_area a USING (ocid) WHERE a.area_code = ? AND a.kept "
            "ORDER BY n.updated_at DESC, n.release_date DESC, n.ocid", [AREA]).fetchall()]
        shortlisted = con.execute(
            "SELECT ocid, count(*) FROM feed_shortlist WHERE area_code = ? GROUP BY ocid ORDER BY 2 DESC, 1 LIMIT 1",
            [AREA]).fetchone()
        provider = con.execute("SELECT org_id, count(*) FROM provider_opportunity WHERE area_code = ? "
                               "GROUP BY org_id ORDER BY 2 DESC, 1 LIMIT 1", [AREA]).fetchone()
    finally:
        con.close()
    return {"kept": kept, "ocid": shortlisted[0], "shortlisted": shortlisted[1], "provider": provider}


@pytest.fixture(scope="module")
def client(fed):
    with TestClient(create_app(fed), raise_server_exceptions=False) as test_client:
        yield test_client


def shortlist_rows(cfg: Config, ocid: str) -> list[tuple]:
    con = published(cfg)
    try:
        return con.execute("SELECT rank, name, org_id, reasons FROM feed_shortlist WHERE area_code = ? AND ocid = ? "
                           "ORDER BY rank", [AREA, ocid]).fetchall()
    finally:
        con.close()


def test_the_opportunities_page_lists_the_feeds_latest_notices_with_paging(client, stored):
    assert len(stored["kept"]) > PAGE_SIZE   # so there are pages
    first = client.get("/opportunities")
    assert first.status_code == 200
    text = main_text(first)
    assert f"{len(stored['kept'])} notices concern the area" in text
    linked = re.findall(r'href="/opportunities/notices/([^"]+)"', first.text)
    assert linked == stored["kept"][:PAGE_SIZE]
    assert 'href="/opportunities?page=2"' in first.text and "Why it is in the feed" in text
    second = client.get("/opportunities", params={"page": 2})
    assert re.findall(r'href="/opportunities/notices/([^"]+)"', second.text) == stored["kept"][PAGE_SIZE:2 * PAGE_SIZE]
    # the upload form is still there under the feed
    assert 'name="notice_file"' in first.text


def test_a_feed_notice_shows_its_stored_shortlist_with_reasons(client, fed, stored):
    response = client.get(f"/opportunities/notices/{stored['ocid']}")
    assert response.status_code == 200
    text = main_text(response)
    rows = shortlist_rows(fed, stored["ocid"])
    assert f"{len(rows)} providers on the shortlist" in text
    for rank, name, org_id, reasons in rows:
        assert f'{rank}. <a class="govuk-link" href="/organisations/{AREA}/{org_id}">{name}</a>' in html_text(response)
        for reason in reasons:
            assert reason in html_text(response)
    assert f'href="/opportunities/notices/{stored["ocid"]}/shortlist.csv"' in response.text


def test_a_feed_notice_names_the_service_it_came_from(client, fed, stored):
    """The notice's identifier is given with the service it came from as officers know it ("Contracts Finder"),
    not the feed's key for it ("contracts_finder")."""
    con = published(fed)
    try:
        service, releases = con.execute("SELECT service, release_count FROM feed_notice WHERE ocid = ?",
                                        [stored["ocid"]]).fetchone()
    finally:
        con.close()
    assert service == "contracts_finder"   # the recorded releases are Contracts Finder's
    text = main_text(client.get(f"/opportunities/notices/{stored['ocid']}"))
    assert f"(Contracts Finder, {releases} release" in text and "contracts_finder" not in text

def html_text(response) -> str:
    return response.text.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"').replace("&quot;", '"')


def test_an_unknown_notice_is_a_404_page(client):
    response = client.get("/opportunities/notices/ocds-b5fd17-not-a-notice")
    assert response.status_code == 404 and "no notice with that identifier" in main_text(response)


def test_the_stored_shortlist_downloads_stamped(client, fed, stored):
    rows = shortlist_rows(fed, stored["ocid"])
    response = client.get(f"/opportunities/notices/{stored['ocid']}/shortlist.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(int(r["rank"]), r["name"], r["org_id"]) for r in table] == [r[:3] for r in rows]
    assert all(r["register_version"].startswith("opportunity_feed.duckdb (run feed-") for r in table)
    assert all(r["search"].startswith("feed shortlist for notice ") for r in table)
    workbook = load_workbook(io.BytesIO(client.get(f"/opportunities/notices/{stored['ocid']}/shortlist.xlsx").content))
    assert workbook.sheetnames == ["Shortlist", "Columns", "About this list"]
    assert workbook["Shortlist"].max_row == len(rows) + 1


def test_a_providers_profile_lists_its_opportunities(client, fed, stored):
    org_id, count = stored["provider"]
    response = client.get(f"/organisations/{AREA}/{org_id}")
    assert response.status_code == 200
    con = published(fed)
    try:
        ocids = {r[0] for r in con.execute("SELECT ocid FROM provider_opportunity WHERE area_code = ? AND org_id = ?",
                                           [AREA, org_id]).fetchall()}
    finally:
        con.close()
    section = response.text[response.text.index('id="opportunities"'):]
    assert set(re.findall(r'href="/opportunities/notices/([^"]+)"', section)) == ocids and len(ocids) == count


def test_the_api_gives_the_feeds_notices_and_a_shortlist(client, fed, stored):
    listing = client.get("/api/opportunities", params={"limit": 3, "offset": 1}).json()
    assert listing["total"] == len(stored["kept"]) and listing["area_code"] == AREA
    assert [n["ocid"] for n in listing["notices"]] == stored["kept"][1:4]
    assert all(n["kept_reasons"] for n in listing["notices"])
    detail = client.get(f"/api/opportunities/{stored['ocid']}").json()
    assert [(m["rank"], m["name"], m["org_id"], m["reasons"]) for m in detail["shortlist"]] == \
        [(r[0], r[1], r[2], list(r[3])) for r in shortlist_rows(fed, stored["ocid"])]
    assert detail["feed_version"]["version"].startswith("opportunity_feed.duckdb")
    assert client.get("/api/opportunities/nope").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/opportunities", "/api/opportunities/{ocid}"} <= set(paths)


def test_without_a_feed_the_page_says_so_and_the_upload_still_works(register, tmp_path):
    cfg = web_config(tmp_path / "data")
    with TestClient(create_app(cfg, register_path=register), raise_server_exceptions=False) as client:
        page = client.get("/opportunities")
        assert page.status_code == 200
        assert "No opportunity feed has been published yet" in main_text(page)
        shortlist = upload(client, NOTICES.read_bytes(), release_id="d88b957b-bbf3-4fbe-b9cb-e9c2350bb8e9-819910")
        assert shortlist.status_code == 200 and "providers match" in main_text(shortlist)
        assert client.get("/opportunities/notices/ocds-b5fd17-x").status_code == 404
        api = client.get("/api/opportunities")
        assert api.status_code == 404 and "no opportunity feed" in api.json()["detail"]
        profile = client.get(f"/organisations/{AREA}/" + re.search(r'/organisations/E08000015/([^"]+)"',
                                                                   shortlist.text).group(1))
        assert profile.status_code == 200 and 'id="opportunities"' not in profile.text


def test_a_feed_replaced_while_serving_is_followed(fed, stored, tmp_path):
    """A copy of the published feed served, then a changed one published over it by os.replace (as
    store.publish does): the next request reads the new one; the shortlist is the stored one, not scored again."""
    register = copy_register(fed.register_path, tmp_path / "register.duckdb")
    feed_path = tmp_path / store.PUBLISHED_NAME
    shutil.copyfile(store.published_path(fed), feed_path)
    with TestClient(create_app(web_config(tmp_path / "data"), register_path=register),
                    raise_server_exceptions=False) as client:
        before = client.get(f"/opportunities/notices/{stored['ocid']}")
        assert "A reason only the new feed has" not in html_text(before)
        new = tmp_path / "new.duckdb"
        shutil.copyfile(feed_path, new)
        con = duckdb.connect(str(new))
        con.execute("UPDATE feed_notice SET title = 'Replaced feed title' WHERE ocid = ?", [stored["ocid"]])
        con.execute("UPDATE feed_shortlist SET reasons = ['A reason only the new feed has'], "
                    "name = '=HYPERLINK(\"http://evil.example\",\"Wirral Mind\")' WHERE ocid = ? AND rank = 1",
                    [stored["ocid"]])
        con.execute("UPDATE feed_notice SET updated_at = updated_at + INTERVAL 1 DAY WHERE ocid = ?",
                    [stored["ocid"]])
        con.close()
        os.replace(new, feed_path)
        after = client.get(f"/opportunities/notices/{stored['ocid']}")
        assert "Replaced feed title" in after.text and "A reason only the new feed has" in html_text(after)
        download = client.get(f"/opportunities/notices/{stored['ocid']}/shortlist.csv")
        first = next(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert first["name"] == "'=HYPERLINK(\"http://evil.example\",\"Wirral Mind\")"   # formula-safe
        listing = client.get("/opportunities")
        assert re.findall(r'href="/opportunities/notices/([^"]+)"', listing.text)[0] == stored["ocid"]


def listed_warnings(client, pages: int) -> dict[str, str | None]:
    """Each notice on the Opportunities page's feed list (every page): its warning as the row shows it, or None."""
    found = {}
    for page in range(1, pages + 1):
        rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', client.get("/opportunities",
                                                                            params={"page": page}).text, re.S)
        for row in rows:
            ocid = re.search(r'href="/opportunities/notices/([^"]+)"', row)
            if ocid:
                note = re.search(r"For reference</strong> (.*?)</p>", row, re.S)
                found[ocid.group(1)] = html_text_of(note.group(1)) if note else None
    return found


def html_text_of(fragment: str) -> str:
    return " ".join(fragment.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"').split())


def extended(cfg: Config, tmp_path: Path, ocid: str) -> tuple[Path, Path]:
    """(a register, a copy of the published feed beside it) where the tender `ocid`'s deadline was extended to a
    year from now, as an amendment would: every recorded tender has passed by now, so this one is the open one."""
    register = copy_register(cfg.register_path, tmp_path / "register.duckdb")
    shutil.copyfile(store.published_path(cfg), tmp_path / store.PUBLISHED_NAME)
    con = duckdb.connect(str(tmp_path / store.PUBLISHED_NAME))
    try:
        compiled = json.loads(con.execute("SELECT compiled FROM feed_notice WHERE ocid = ?", [ocid]).fetchone()[0])
        deadline = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT12:00:00Z")
        compiled["tender"]["tenderPeriod"]["endDate"] = deadline
        con.execute("UPDATE feed_notice SET compiled = ?, deadline = ? WHERE ocid = ?",
                    [json.dumps(compiled), deadline, ocid])
    finally:
        con.close()
    return register, tmp_path / store.PUBLISHED_NAME


def test_awards_and_lapsed_notices_carry_the_digests_warning_on_every_feed_page(fed, stored, tmp_path):
    """An award or a tender whose deadline passed is not shown as an open opportunity: the list, the notice page,
    its shortlist download and the provider's profile give the warning `vcse opportunities feed` and the digest
    give (digest.latest_notices, as of now), and it agrees with the releases themselves."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    why = {ocid: lapsed_or_let(by_ocid(RELEASES)[ocid], now) for ocid in stored["kept"]}
    con = published(fed)
    try:
        shortlisted = {r[0] for r in con.execute("SELECT DISTINCT ocid FROM feed_shortlist").fetchall()}
        tenders = {r[0] for r in con.execute("SELECT ocid FROM feed_notice WHERE stage = 'tender'").fetchall()}
    finally:
        con.close()
    passed, reopened = [o for o, w in why.items() if w == "passed" and o in shortlisted & tenders][:2]
    award = next(o for o, w in why.items() if w == "award" and o in shortlisted)
    register, feed_path = extended(fed, tmp_path, reopened)
    why[reopened] = None
    con = duckdb.connect(str(feed_path), read_only=True)
    try:
        on_screen = {n["ocid"]: n["warning"] for n in digest.latest_notices(con, AREA, 0)}
        provider = con.execute("SELECT org_id FROM provider_opportunity WHERE area_code = ? AND ocid = ? "
                               "ORDER BY rank LIMIT 1", [AREA, reopened]).fetchone()[0]
        provider_ocids = [r[0] for r in con.execute("SELECT ocid FROM provider_opportunity WHERE area_code = ? AND "
                                                    "org_id = ?", [AREA, provider]).fetchall()]
    finally:
        con.close()
    assert {o: bool(w) for o, w in on_screen.items()} == {o: bool(w) for o, w in why.items()}

    with TestClient(create_app(web_config(tmp_path / "data"), register_path=register),
                    raise_server_exceptions=False) as client:
        listed = listed_warnings(client, -(-len(stored["kept"]) // PAGE_SIZE))
        assert listed == {o: w[:1].upper() + w[1:] + "." if w else None for o, w in on_screen.items()}
        assert all(listed[o].startswith("This notice is an award") for o, w in why.items() if w == "award")
        for ocid in (passed, award, reopened):
            page = client.get(f"/opportunities/notices/{ocid}")
            warning = re.search(r'<span class="govuk-visually-hidden">Warning</span> (.*?)</strong>', page.text, re.S)
            assert (html_text_of(warning.group(1)) if warning else None) == listed[ocid]
            download = client.get(f"/opportunities/notices/{ocid}/shortlist.csv").content.decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(download)))
            assert rows and all((r["notice_warning"] or None) == on_screen[ocid] for r in rows)
        assert "(passed)" in main_text(client.get(f"/opportunities/notices/{passed}"))
        assert "(passed)" not in main_text(client.get(f"/opportunities/notices/{reopened}"))
        api = client.get("/api/opportunities", params={"limit": 500}).json()["notices"]
        assert {n["ocid"]: n["warning"] for n in api} == on_screen

        profile = client.get(f"/organisations/{AREA}/{provider}").text
    section = profile[profile.index('id="opportunities"'):]
    assert reopened in provider_ocids and any(on_screen[o] for o in provider_ocids)
    for ocid in provider_ocids:
        item = section[section.index(f'href="/opportunities/notices/{ocid}"'):].split("</li>")[0]
        assert (f"Note: {on_screen[ocid]}." in html_text_of(item)) == bool(on_screen[ocid])


def test_a_deadline_shows_its_time_in_uk_time_and_whether_it_has_passed(client, fed, stored, tmp_path):
    """A deadline is a moment, not a day: the list and the notice page give its time of day in UK time (as `vcse
    opportunities` does), so 23:30 UTC on 30 June is 12:30am on 1 July, and "(passed)" follows the moment itself."""
    con = published(fed)
    try:
        tenders = con.execute("SELECT n.ocid, n.deadline FROM feed_notice n JOIN feed_notice_area a USING (ocid) "
                              "WHERE a.area_code = ? AND a.kept AND n.stage = 'tender' AND n.deadline LIKE '%T%' "
                              "ORDER BY n.ocid LIMIT 2", [AREA]).fetchall()
    finally:
        con.close()
    (tender, _), (lapsed, recorded) = tenders
    # a recorded tender whose deadline (a date-time with its zone) has passed: its day and clock in UK time
    uk = datetime.fromisoformat(recorded.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/London"))
    clock = "midday" if (uk.hour, uk.minute) == (12, 0) else \
        f"{uk:%-I}" + (f":{uk:%M}" if uk.minute else "") + f"{uk:%p}".lower()
    lapsed_page = main_text(client.get(f"/opportunities/notices/{lapsed}"))
    assert f"{uk.day} {uk:%B %Y}, {clock} (UK time) (passed)" in lapsed_page

    register, feed_path = extended(fed, tmp_path, tender)
    year = datetime.now(UTC).year + 1
    deadline = f"{year}-06-30T23:30:00Z"   # British Summer Time: 00:30 the next day
    con = duckdb.connect(str(feed_path))
    try:
        compiled = json.loads(con.execute("SELECT compiled FROM feed_notice WHERE ocid = ?", [tender]).fetchone()[0])
        compiled["tender"]["tenderPeriod"]["endDate"] = deadline
        con.execute("UPDATE feed_notice SET compiled = ?, deadline = ?, updated_at = now() + INTERVAL 1 DAY "
                    "WHERE ocid = ?", [json.dumps(compiled), deadline, tender])   # the latest changed: listed first
    finally:
        con.close()
    with TestClient(create_app(web_config(tmp_path / "data"), register_path=register),
                    raise_server_exceptions=False) as extended_client:
        notice_page = main_text(extended_client.get(f"/opportunities/notices/{tender}"))
        listed = extended_client.get("/opportunities").text
    row = html_text_of(listed[listed.index(f'href="/opportunities/notices/{tender}"'):].split("</tr>")[0])
    expected = f"1 July {year}, 12:30am (UK time)"
    assert expected in notice_page and f"30 June {year}" not in notice_page
    assert expected in row and "(passed)" not in row
