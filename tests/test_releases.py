"""New releases are found, not pinned: Companies House from its download page, the ONS Postcode Directory from the
ArcGIS Online search API, both served in their real shapes by a local server on 127.0.0.1 (tests/fixtures/releases).

A new month (or quarter) is fetched; nothing new downloads nothing; a listing that is unreachable, empty or changed
in shape is a one-line error naming the page, and what was downloaded, staged and published stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest
from http_fault_server import FaultServer
from test_source_companies_house import SAMPLE, VCSE_ROWS
from test_source_postcodes import ONSPD_2025, release_zip

from vcse_pipeline import pipeline
from vcse_pipeline.config import Config
from vcse_pipeline.download import read_manifest
from vcse_pipeline.errors import DownloadError
from vcse_pipeline.releases import ReleaseListingError, choose_companies_house, companies_house_release
from vcse_pipeline.run_history import read_history, source_versions

FIXTURES = Path(__file__).parent / "fixtures" / "releases"
LISTING = (FIXTURES / "en_output.html").read_bytes()          # lists October 2026
SEARCH = json.loads((FIXTURES / "arcgis-search-onspd.json").read_text(encoding="utf-8"))  # newest: August 2026
LISTING_PATH = "/en_output.html"
SEARCH_PATH = "/sharing/rest/search"
ITEM_PATH = "/sharing/rest/content/items/{id}/data"
AUGUST_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
NOVEMBER_ID = "f00dfeedf00dfeedf00dfeedf00dfeed"


def ch_zip(tmp_path: Path, name: str, lines: list[bytes] | None = None) -> bytes:
    """A Companies House zip holding the real sample (or the given lines), named as the product names its CSV."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name.replace(".zip", ".csv"), b"".join(lines) if lines else SAMPLE.read_bytes())
    return path.read_bytes()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staged_row(cfg: Config, source: str) -> tuple:
    con = duckdb.connect(str(cfg.staging_path(source)), read_only=True)
    try:
        return con.execute("SELECT staged_at, files, release FROM _staged").fetchone()
    finally:
        con.close()


def zips_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.zip"))


# ---------------------------------------------------------------------------------------------- Companies House

@pytest.fixture
def ch(tmp_path):
    """A Companies House download server listing October 2026, and a configuration that discovers from it."""
    with FaultServer() as server:
        server.add(LISTING_PATH, LISTING, content_type="text/html; charset=utf-8")
        october = "BasicCompanyDataAsOneFile-2026-10-01.zip"
        server.add(f"/{october}", ch_zip(tmp_path, october))
        cfg = Config.load(environ={}, overrides={
            "paths": {"data_dir": str(tmp_path / "data")},
            "download": {"progress": False, "backoff_seconds": 0.01, "retries": 2},
            "sources": {"companies_house": {"listing_url": server.url(LISTING_PATH)}},
        })
        yield server, cfg


def test_the_default_configuration_discovers_instead_of_pinning_a_month():
    cfg = Config.load(environ={})
    assert cfg.source("companies_house")["url"] == "" and cfg.source("postcodes")["url"] == ""
    assert cfg.source("companies_house")["listing_url"] == "https://download.companieshouse.gov.uk/en_output.html"
    assert cfg.source("postcodes")["search_url"] == "https://www.arcgis.com/sharing/rest/search"
    assert cfg.source("postcodes")["owner"] == "ONSGeography_data"


def test_the_newest_month_on_the_listing_is_fetched_staged_and_recorded(ch):
    server, cfg = ch
    [result] = pipeline.download_source(cfg, "companies_house")
    assert result.status == "downloaded" and result.path.name == "BasicCompanyDataAsOneFile-2026-10-01.zip"
    release = result.release
    assert release["date"] == "2026-10-01" and release["found_by"] == "listing"
    assert release["name"] == "BasicCompanyDataAsOneFile-2026-10-01"
    assert release["urls"] == [server.url("/BasicCompanyDataAsOneFile-2026-10-01.zip")]
    assert release["page"] == server.url(LISTING_PATH)
    # The manifest line of the file carries the release; the listing page itself is kept apart, never staged.
    line = read_manifest(cfg.download_dir("companies_house"))[-1]
    assert line["path"] == "BasicCompanyDataAsOneFile-2026-10-01.zip" and line["release"] == release
    assert pipeline.downloaded_paths(cfg, "companies_house") == [result.path]
    assert (cfg.download_dir("companies_house") / "releases" / "en_output.html").read_bytes() == LISTING

    assert pipeline.stage_source(cfg, "companies_house")["company"] == VCSE_ROWS
    assert json.loads(staged_row(cfg, "companies_house")[2]) == release
    # The run history's sources (run_history.source_versions) name the release too.
    recorded = source_versions(cfg)["companies_house"]
    assert recorded["release"] == release
    assert recorded["files"][0]["url"] == release["urls"][0] and recorded["files"][0]["status"] == "downloaded"


def test_a_new_month_on_the_listing_is_fetched_and_replaces_the_old_one(ch, tmp_path):
    server, cfg = ch
    pipeline.download_source(cfg, "companies_house")
    # Companies House publishes November: the page now links the new file (and only it, as the real page does).
    server.replace(LISTING_PATH, LISTING.replace(b"2026-10-01", b"2026-11-01"))
    november = ch_zip(tmp_path, "BasicCompanyDataAsOneFile-2026-11-01.zip", SAMPLE.read_bytes().splitlines(True)[:40])
    server.add("/BasicCompanyDataAsOneFile-2026-11-01.zip", november)

    [result] = pipeline.download_source(cfg, "companies_house")
    assert result.status == "downloaded" and result.release["date"] == "2026-11-01"
    assert result.path.read_bytes() == november
    assert zips_in(cfg.download_dir("companies_house")) == ["BasicCompanyDataAsOneFile-2026-11-01.zip"]
    assert pipeline.stage_source(cfg, "companies_house")["company"] < VCSE_ROWS   # the new month's rows


def test_nothing_new_on_the_listing_downloads_nothing(ch):
    server, cfg = ch
    [first] = pipeline.download_source(cfg, "companies_house")
    inode = first.path.stat().st_ino
    [again] = pipeline.download_source(cfg, "companies_house")
    assert again.status == "not_modified" and again.release == first.release
    assert again.path.stat().st_ino == inode  # the file was not rewritten
    # Both the page and the file were asked for conditionally, and the server answered 304 to each.
    for path in (LISTING_PATH, "/BasicCompanyDataAsOneFile-2026-10-01.zip"):
        assert "If-None-Match" in server.requests_for(path)[-1].headers, path


def test_vcse_download_says_which_release_it_found_and_where(ch, tmp_path):
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app

    server, cfg = ch
    env = {"VCSE__SOURCES__COMPANIES_HOUSE__LISTING_URL": server.url(LISTING_PATH), "VCSE__DOWNLOAD__PROGRESS": "false"}
    result = CliRunner().invoke(app, ["download", "companies_house", "--data-dir", str(tmp_path / "cli")], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (f"companies_house: release BasicCompanyDataAsOneFile-2026-10-01 (as at "
                                             f"2026-10-01), found on {server.url(LISTING_PATH)}")
    assert result.output.splitlines()[1].startswith("companies_house: downloaded ")


def test_every_part_of_the_newest_month_is_fetched_when_parts_are_asked_for(ch, tmp_path):
    server, cfg = ch
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    thirds = [rows[i::3] for i in range(3)]
    for n, part in enumerate(thirds, start=1):
        name = f"BasicCompanyData-2026-10-01-part{n}_3.zip"
        server.add(f"/{name}", ch_zip(tmp_path, name, [header, *part]))
    cfg = cfg.with_overrides({"sources": {"companies_house": {"files": "parts"}}})

    results = pipeline.download_source(cfg, "companies_house")
    assert [r.path.name for r in results] == [f"BasicCompanyData-2026-10-01-part{n}_3.zip" for n in (1, 2, 3)]
    assert {r.release["name"] for r in results} == {"BasicCompanyData-2026-10-01 (3 parts)"}
    assert pipeline.stage_source(cfg, "companies_house", [r.path for r in results])["company"] == VCSE_ROWS

    # A listing that lacks a part of the newest month is refused: staging two thirds of the register would
    # look like a third of the companies had been dissolved.
    server.replace(LISTING_PATH, LISTING.replace(b'<li><a href="BasicCompanyData-2026-10-01-part2_3.zip">', b"<li><a>"))
    with pytest.raises(ReleaseListingError, match=r"parts 1, 3 of 3 listed \(missing 2\)"):
        pipeline.download_source(cfg, "companies_house")


def test_the_newest_month_wins_whatever_the_order_of_the_links():
    page = "https://download.companieshouse.gov.uk/en_output.html"
    links = [f"https://download.companieshouse.gov.uk/BasicCompanyDataAsOneFile-{m}-01.zip"
             for m in ("2026-09", "2026-12", "2026-10", "2025-13")]  # 2025-13 is no month: ignored
    release = choose_companies_house(links + [page, "https://example.org/"], page)
    assert release.date == "2026-12-01" and release.urls == (links[1],)


def test_an_explicit_url_wins_and_no_listing_is_read(ch):
    server, cfg = ch
    url = server.url("/BasicCompanyDataAsOneFile-2026-10-01.zip")
    cfg = cfg.with_overrides({"sources": {"companies_house": {"url": url}}})
    [result] = pipeline.download_source(cfg, "companies_house")
    assert result.status == "downloaded" and not server.requests_for(LISTING_PATH)
    assert result.release["found_by"] == "configured" and result.release["date"] == "2026-10-01"
    assert companies_house_release(cfg).page is None


CHANGED_SHAPE = LISTING.replace(b"BasicCompanyDataAsOneFile-2026-10-01.zip", b"basic-company-data/2026/10/all.zip")


def test_a_listing_older_than_the_downloaded_release_keeps_the_newer_file(ch, tmp_path):
    """December is downloaded and staged; then the page (an out-of-date copy, or December withdrawn) lists only
    October: nothing is fetched, December's file and staging stay, and the error says why."""
    server, cfg = ch
    december = "BasicCompanyDataAsOneFile-2026-12-01.zip"
    server.replace(LISTING_PATH, LISTING.replace(b"2026-10-01", b"2026-12-01"))
    server.add(f"/{december}", ch_zip(tmp_path, december))
    pipeline.download_source(cfg, "companies_house")
    pipeline.stage_source(cfg, "companies_house")
    download = cfg.download_dir("companies_house") / december
    before = sha(download), sha(cfg.staging_path("companies_house")), staged_row(cfg, "companies_house")
    october_requests = len(server.requests_for("/BasicCompanyDataAsOneFile-2026-10-01.zip"))

    server.replace(LISTING_PATH, LISTING)  # lists October only
    with pytest.raises(ReleaseListingError, match=(
            r"^source companies_house, file .*en_output\.html: the release listing's newest release, "
            r"BasicCompanyDataAsOneFile-2026-10-01 \(2026-10-01\), is older than BasicCompanyDataAsOneFile-2026-12-01 "
            r"\(2026-12-01\), already downloaded: .*nothing was downloaded")) as caught:
        pipeline.download_source(cfg, "companies_house")
    assert not caught.value.transient  # retrying the same page cannot fix it: it fails at once, with an alert
    assert len(server.requests_for("/BasicCompanyDataAsOneFile-2026-10-01.zip")) == october_requests
    assert zips_in(cfg.download_dir("companies_house")) == [december]
    assert (sha(download), sha(cfg.staging_path("companies_house")), staged_row(cfg, "companies_house")) == before

    # The staged release counts too (its download folder emptied), and an explicit url still goes back on purpose.
    download.unlink()
    with pytest.raises(ReleaseListingError, match=r"\(2026-12-01\), already staged"):
        pipeline.download_source(cfg, "companies_house")
    october = cfg.with_overrides({"sources": {"companies_house": {
        "url": server.url("/BasicCompanyDataAsOneFile-2026-10-01.zip")}}})
    assert pipeline.download_source(october, "companies_house")[0].release["date"] == "2026-10-01"


@pytest.mark.parametrize("fault, error, message", [
    ("unreachable", DownloadError, r"en_output\.html: download failed after 3 attempt\(s\); last error: HTTP 503"),
    ("not found", DownloadError, r"en_output\.html: HTTP 404 Not Found \(not retried\)"),
    ("empty", ReleaseListingError, r"en_output\.html: the release listing is empty"),
    ("changed shape", ReleaseListingError, r"en_output\.html: the release listing links no "
                                           r"BasicCompanyDataAsOneFile-YYYY-MM-01\.zip \(10 link\(s\).*changed shape"),
])
def test_a_bad_listing_is_one_error_naming_the_page_and_keeps_what_was_staged(ch, fault, error, message):
    server, cfg = ch
    pipeline.download_source(cfg, "companies_house")
    pipeline.stage_source(cfg, "companies_house")
    download = cfg.download_dir("companies_house") / "BasicCompanyDataAsOneFile-2026-10-01.zip"
    before = sha(download), sha(cfg.staging_path("companies_house")), staged_row(cfg, "companies_house")
    if fault == "unreachable":
        server.fail(LISTING_PATH, 503, times=10)
    elif fault == "not found":
        server.fail(LISTING_PATH, 404)
    else:
        server.replace(LISTING_PATH, b"" if fault == "empty" else CHANGED_SHAPE)

    with pytest.raises(error, match=message) as caught:
        pipeline.download_source(cfg, "companies_house")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("source companies_house")
    assert (sha(download), sha(cfg.staging_path("companies_house")), staged_row(cfg, "companies_house")) == before
    assert zips_in(cfg.download_dir("companies_house")) == [download.name]


# ---------------------------------------------------------------------------------------------- ONS Postcode Directory

def search_answer(*extra: dict) -> bytes:
    answer = dict(SEARCH, results=[*extra, *SEARCH["results"]])
    answer["total"] = len(answer["results"])
    return json.dumps(answer).encode("utf-8")


NOVEMBER_ITEM = dict(SEARCH["results"][1], id=NOVEMBER_ID, name="ONSPD_NOV_2026_UK.zip", created=1796720400000,
                     modified=1796720400000, title="ONS Postcode Directory (November 2026) for the UK")


@pytest.fixture
def ons(tmp_path):
    """ArcGIS Online in miniature: the search answer and the August 2026 release's /data."""
    august = release_zip(tmp_path / "august.zip", ONSPD_2025).read_bytes()
    with FaultServer() as server:
        server.add(SEARCH_PATH, search_answer(), content_type="application/json; charset=utf-8", etag=False,
                   send_last_modified=False)  # the search API sends no validators
        server.add(ITEM_PATH.format(id=AUGUST_ID), august, content_type="application/x-zip-compressed")
        cfg = Config.load(environ={}, overrides={
            "paths": {"data_dir": str(tmp_path / "data")},
            "download": {"progress": False, "backoff_seconds": 0.01, "retries": 2},
            "sources": {"postcodes": {"search_url": server.url(SEARCH_PATH),
                                      "item_url": server.url(ITEM_PATH)}},
        })
        yield server, cfg


def test_the_newest_onspd_release_of_the_ons_account_is_found_and_fetched(ons):
    server, cfg = ons
    [result] = pipeline.download_source(cfg, "postcodes")
    # Of the five items: not the hosted table of the same title, not the user guide, not another account's copy
    # (however new), not May: the August 2026 CSV collection, saved under its own file name.
    assert result.status == "downloaded" and result.path.name == "ONSPD_AUG_2026_UK.zip"
    assert result.url == server.url(ITEM_PATH.format(id=AUGUST_ID))
    release = result.release
    assert release["name"] == "ONS Postcode Directory (August 2026) for the UK"
    assert release["date"] == "2026-08-01" and release["published"] == "2026-09-01T07:50:00+00:00"
    assert release["found_by"] == "search" and release["page"] == server.url(SEARCH_PATH)
    [search] = server.requests_for(SEARCH_PATH)
    assert search.query["q"] == ['title:"ONS Postcode Directory" AND owner:ONSGeography_data']
    assert {k: search.query[k] for k in ("sortField", "sortOrder", "f")} == {
        "sortField": ["created"], "sortOrder": ["desc"], "f": ["json"]}
    assert pipeline.stage_source(cfg, "postcodes")["ward"] == 4
    assert json.loads(staged_row(cfg, "postcodes")[2]) == release


def test_a_new_quarter_is_fetched_and_an_unchanged_one_is_not(ons, tmp_path):
    server, cfg = ons
    [august] = pipeline.download_source(cfg, "postcodes")
    [same] = pipeline.download_source(cfg, "postcodes")
    assert same.status == "not_modified" and same.path == august.path
    assert "If-None-Match" in server.requests_for(ITEM_PATH.format(id=AUGUST_ID))[-1].headers

    november = release_zip(tmp_path / "november.zip", ONSPD_2025, names=False).read_bytes()
    server.add(ITEM_PATH.format(id=NOVEMBER_ID), november)
    server.replace(SEARCH_PATH, search_answer(NOVEMBER_ITEM))
    [result] = pipeline.download_source(cfg, "postcodes")
    assert result.status == "downloaded" and result.release["date"] == "2026-11-01"
    assert zips_in(cfg.download_dir("postcodes")) == ["ONSPD_NOV_2026_UK.zip"]


def test_a_search_older_than_the_downloaded_quarter_keeps_the_newer_file(ons, tmp_path):
    server, cfg = ons
    november = release_zip(tmp_path / "november.zip", ONSPD_2025, names=False).read_bytes()
    server.add(ITEM_PATH.format(id=NOVEMBER_ID), november)
    server.replace(SEARCH_PATH, search_answer(NOVEMBER_ITEM))
    pipeline.download_source(cfg, "postcodes")
    server.replace(SEARCH_PATH, search_answer())  # November gone from the search: August is its newest

    with pytest.raises(ReleaseListingError, match=r"ONS Postcode Directory \(August 2026\) for the UK "
                                                  r"\(2026-08-01\), is older than .*November 2026.*\(2026-11-01\)"):
        pipeline.download_source(cfg, "postcodes")
    assert server.requests_for(ITEM_PATH.format(id=AUGUST_ID)) == []
    assert zips_in(cfg.download_dir("postcodes")) == ["ONSPD_NOV_2026_UK.zip"]
    assert (cfg.download_dir("postcodes") / "ONSPD_NOV_2026_UK.zip").read_bytes() == november


def test_the_search_is_followed_to_a_later_page_when_the_first_holds_no_release(ons):
    server, cfg = ons
    first = dict(SEARCH, results=[SEARCH["results"][2]], total=2, num=1, nextStart=2)   # only the user guide
    second = dict(SEARCH, results=[SEARCH["results"][1]], total=2, start=2, num=1, nextStart=-1)
    pages = iter([json.dumps(first).encode(), json.dumps(second).encode()])
    server.replace(SEARCH_PATH, next(pages))
    original = server._lookup

    def paged(path):  # the server answers by `start`, as ArcGIS does
        served = original(path)
        if path == SEARCH_PATH and len(server.requests_for(SEARCH_PATH)) == 2:
            served.set_data(next(pages))
        return served

    server._lookup = paged
    [result] = pipeline.download_source(cfg, "postcodes")
    assert result.release["date"] == "2026-08-01"
    assert [r.query["start"] for r in server.requests_for(SEARCH_PATH)] == [["1"], ["2"]]


@pytest.mark.parametrize("answer, message", [
    (b'{"error": {"code": 400, "messageCode": "CONT_0001", "message": "Unable to perform query.", "details": []}}',
     r"the release search answered error 400: Unable to perform query\."),
    (json.dumps(dict(SEARCH, total=0, num=0, results=[])).encode(), r"found no CSV Collection titled "
                                                                     r"'ONS Postcode Directory \(<Month> <Year>\)"),
    (b"<!DOCTYPE html><html><body>Service unavailable</body></html>", r"did not answer JSON"),
    (json.dumps({"total": 5, "items": SEARCH["results"]}).encode(), r"has no 'results' list \(has: items, total\)"),
    (b"", r"is empty"),
])
def test_a_bad_search_answer_is_one_error_naming_the_search_and_downloads_nothing(ons, answer, message):
    server, cfg = ons
    [august] = pipeline.download_source(cfg, "postcodes")
    before = sha(august.path)
    server.replace(SEARCH_PATH, answer)
    with pytest.raises(ReleaseListingError, match=message) as caught:
        pipeline.download_source(cfg, "postcodes")
    assert str(caught.value).startswith(f"source postcodes, file {server.url(SEARCH_PATH)}: ")
    assert "\n" not in str(caught.value)
    assert zips_in(cfg.download_dir("postcodes")) == [august.path.name] and sha(august.path) == before
    assert len(server.requests_for(ITEM_PATH.format(id=AUGUST_ID))) == 1


# ---------------------------------------------------------------------------------------------- the whole run

@pytest.mark.slow
def test_vcse_run_with_an_unreadable_listing_stops_before_anything_is_published(demo_register, tmp_path, monkeypatch,
                                                                               capsys):
    """`vcse run` on a published demo register, with Companies House's listing changed in shape: exit 1 with a
    one-line error naming the page, and the published register and its staging are exactly as they were."""
    from vcse_pipeline.cli import main
    from vcse_pipeline.demo.generate import demo_source_overrides

    data_dir = tmp_path / "data"
    shutil.copytree(demo_register.cfg.data_dir, data_dir)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}})
    before = sha(cfg.register_path), sha(cfg.staging_path("companies_house")), len(read_history(cfg))
    monkeypatch.setenv("VCSE__DOWNLOAD__PROGRESS", "false")
    for source, settings in demo_source_overrides(data_dir / "demo-sources")["sources"].items():
        if source != "companies_house":
            monkeypatch.setenv(f"VCSE__SOURCES__{source.upper()}__URL", settings["url"])
    monkeypatch.setattr("sys.argv", ["vcse", "run", "--data-dir", str(data_dir)])
    with FaultServer({LISTING_PATH: CHANGED_SHAPE}) as server:
        monkeypatch.setenv("VCSE__SOURCES__COMPANIES_HOUSE__LISTING_URL", server.url(LISTING_PATH))
        with pytest.raises(SystemExit) as stopped:
            main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert " ".join(err.split()) == (
        f"error: source companies_house, file {server.url(LISTING_PATH)}: the release listing links no "
        "BasicCompanyDataAsOneFile-YYYY-MM-01.zip (10 link(s), e.g. companies-house): the page has changed shape; "
        "nothing was downloaded")
    assert (sha(cfg.register_path), sha(cfg.staging_path("companies_house"))) == before[:2]
    # The failed run is recorded (one line), naming the step and the listing's error.
    history = read_history(cfg)
    assert len(history) == before[2] + 1 and history[-1]["status"] == "failed"
    assert history[-1]["message"].startswith("download companies_house failed: source companies_house, file ")
