"""The opportunity feed's harvest against a local Find a Tender and Contracts Finder replaying the 290 real releases
(tests/ocds_replay.py), with faults: nothing missed, nothing stored twice, the high-water mark only past what was
stored, and a failed run resumes where it stopped."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from ocds_replay import CF_PATH, FAT_PATH, OcdsReplay, service_path

from vcse_pipeline.config import Config
from vcse_pipeline.errors import SourceError
from vcse_pipeline.procurement.feed import run, store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ocds" / "contracts-finder-releases.json"
RELEASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["releases"]
UNTIL = "2025-03-12T00:00:00"          # after the last release (2025-03-11)
FIRST_WINDOW = "2025-01-21T00:00:00"   # UNTIL less lookback_days=50: before the first release (2025-01-23)


def feed_config(tmp_path: Path, api: OcdsReplay, **settings) -> Config:
    """Windows of three days and pages of ten: every service needs cursors, some windows are empty."""
    feed = api.feed_settings(**{"page_size": 10, "window_hours": 72, "lookback_days": 50, **settings})
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}, "feed": feed})


def stored(cfg: Config) -> dict:
    con = duckdb.connect(str(store.store_path(cfg)), read_only=True)
    try:
        rows = con.execute("SELECT service, release_id, release_date, times_received FROM feed_release").fetchall()
        marks = dict(con.execute("SELECT service, harvested_to FROM feed_mark").fetchall())
        runs = con.execute("SELECT status, error FROM feed_run ORDER BY started_at, run_id").fetchall()
    finally:
        con.close()
    return {"rows": rows, "ids": [r[1] for r in rows], "marks": marks, "runs": runs,
            "received": {r[1]: r[3] for r in rows}}


def windows_asked(api: OcdsReplay, path: str) -> list[tuple[str, str]]:
    """The (from, to) of each first page asked for (a request without a cursor), in order."""
    names = ("updatedFrom", "updatedTo") if path == FAT_PATH else ("publishedFrom", "publishedTo")
    return [(r.query[names[0]][0], r.query[names[1]][0]) for r in api.requests(path) if "cursor" not in r.query]


def test_every_release_is_stored_once_through_rate_limits_outages_and_cut_pages(tmp_path):
    duplicate = next(r["id"] for r in RELEASES if service_path(r) == CF_PATH)
    waits: list[float] = []
    with OcdsReplay(RELEASES) as api:
        api.duplicate(duplicate)
        api.server.throttle(FAT_PATH, retry_after="7")          # Find a Tender's rate limit
        api.server.fail(FAT_PATH, status=502)                    # a gateway error
        api.server.fail(CF_PATH, status=403, times=2)            # Contracts Finder's throttle
        api.server.cut(CF_PATH, after_bytes=700)                 # a page cut mid-body
        api.server.throttle(CF_PATH, retry_after="1000")         # longer than max_retry_after_seconds
        cfg = feed_config(tmp_path, api)
        result = run.harvest(cfg, UNTIL, wait=waits.append)
        fat_windows, cf_windows = windows_asked(api, FAT_PATH), windows_asked(api, CF_PATH)
        cursor_pages = [r for r in api.requests(CF_PATH) if "cursor" in r.query]
    got = stored(cfg)
    assert sorted(got["ids"]) == sorted(r["id"] for r in RELEASES)          # nothing missed, nothing twice
    assert len(got["ids"]) == len(set(got["ids"])) == 290
    assert got["received"][duplicate] >= 2                                  # the repeat counted, not stored
    assert result["releases_new"] == 290 and result["releases_received"] > 290
    assert got["marks"] == {"find_a_tender": datetime(2025, 3, 12), "contracts_finder": datetime(2025, 3, 12)}
    # waits: Retry-After honoured (7 s), capped (1000 s asked, 30 allowed), and backoff for the rest; never slept
    assert 7 in waits and 30 in waits and max(waits) == 30
    # windows of 72 hours that touch: none skipped, none asked twice (retries repeat the same URL)
    for asked in (fat_windows, cf_windows):
        distinct = list(dict.fromkeys(asked))
        assert distinct[0][0] == FIRST_WINDOW and distinct[-1][1] == UNTIL
        assert all(a[1] == b[0] for a, b in zip(distinct, distinct[1:], strict=False))
    assert cursor_pages, "windows with more than a page follow links.next"
    assert got["runs"] == [("harvested", None)]


def test_a_failed_run_keeps_its_mark_before_the_outage_and_the_next_run_resumes_there(tmp_path):
    waits: list[float] = []
    with OcdsReplay(RELEASES) as api:
        api.fail_after(CF_PATH, "2025-02-15T00:00:00", status=503)   # Contracts Finder down from 15 February
        cfg = feed_config(tmp_path, api)
        with pytest.raises(SourceError, match="contracts_finder.*HTTP 503") as failure:
            run.harvest(cfg, UNTIL, wait=waits.append)
        assert failure.value.transient   # Airflow retries the task later
        first = stored(cfg)
        mark = first["marks"]["contracts_finder"]
        # the last window stored in full ends on 14 February; the one asked next failed, so the mark stays
        assert mark == datetime(2025, 2, 14)
        assert first["marks"]["find_a_tender"] == datetime(2025, 3, 12)   # the other service carried on
        cf_stored = {r[1] for r in first["rows"] if r[0] == "contracts_finder"}
        before_mark = {r["id"] for r in RELEASES if service_path(r) == CF_PATH
                       and datetime.fromisoformat(r["date"][:19]) < mark}
        assert before_mark and before_mark <= cf_stored                      # everything before the mark is stored
        assert first["runs"][-1][0] == "failed" and "HTTP 503" in first["runs"][-1][1]
        failed_window = windows_asked(api, CF_PATH)[-1]
        assert failed_window == ("2025-02-14T00:00:00", "2025-02-17T00:00:00")
        assert windows_asked(api, CF_PATH).count(failed_window) == 4   # asked once and retried three times

        api.stop_failing()
        api.server.requests.clear()
        run.harvest(cfg, UNTIL, wait=waits.append)
        resumed = windows_asked(api, CF_PATH)
        fat_asked = windows_asked(api, FAT_PATH)
    assert resumed[0] == failed_window and resumed[-1][1] == UNTIL           # from the mark, not from the start
    assert fat_asked == []                                                   # its mark was already at the end
    second = stored(cfg)
    assert sorted(second["ids"]) == sorted(r["id"] for r in RELEASES)
    assert second["marks"]["contracts_finder"] == datetime(2025, 3, 12)
    assert [status for status, _ in second["runs"]] == ["failed", "harvested"]


def test_the_mark_does_not_move_past_a_page_that_was_not_stored(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = store.store_releases

    def fail_on_the_fifth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "store_releases", fail_on_the_fifth)
    with OcdsReplay(RELEASES) as api:
        cfg = feed_config(tmp_path, api, services=["find_a_tender"])
        with pytest.raises(OSError, match="No space"):
            run.harvest(cfg, UNTIL, wait=lambda s: None)
        pages = [r for r in api.requests(FAT_PATH)]
    failed_page = pages[4].query   # the fifth page asked for
    got = stored(cfg)
    mark = got["marks"].get("find_a_tender")
    window_start = datetime.fromisoformat(failed_page["updatedFrom"][0])
    assert mark is None or mark <= window_start
    fat_ids = {r[1] for r in got["rows"]}
    assert {r["id"] for r in RELEASES if service_path(r) == FAT_PATH
            and datetime.fromisoformat(r["date"][:19]) < (mark or datetime.min)} <= fat_ids


def test_an_empty_window_advances_the_mark_and_stores_nothing(tmp_path):
    with OcdsReplay(RELEASES) as api:
        cfg = feed_config(tmp_path, api, lookback_days=1, window_hours=12)
        result = run.harvest(cfg, "2025-01-20T00:00:00", wait=lambda s: None)
        asked = {path: windows_asked(api, path) for path in (FAT_PATH, CF_PATH)}
    got = stored(cfg)
    assert got["rows"] == [] and result["releases_received"] == 0
    assert got["marks"] == {"find_a_tender": datetime(2025, 1, 20), "contracts_finder": datetime(2025, 1, 20)}
    assert asked[FAT_PATH] == [("2025-01-19T00:00:00", "2025-01-19T12:00:00"),
                               ("2025-01-19T12:00:00", "2025-01-20T00:00:00")]
    assert asked[CF_PATH] == asked[FAT_PATH]


def test_requests_to_a_service_are_spaced_and_ask_for_the_configured_stages(tmp_path):
    waits: list[float] = []
    with OcdsReplay(RELEASES) as api:
        cfg = feed_config(tmp_path, api, request_interval_seconds=10, stages=["tender"], lookback_days=3,
                          window_hours=24)
        run.harvest(cfg, UNTIL, wait=waits.append)
        queries = [r.query for r in api.requests(FAT_PATH)]
    assert all(q["stages"] == ["tender"] and q["limit"] == ["10"] for q in queries)
    # three windows per service: a pause before every request but each service's first
    assert len(waits) == 2 * 2 and all(0 < w <= 10 for w in waits)
    con = duckdb.connect(str(store.store_path(cfg)), read_only=True)
    tags = {t for (tags,) in con.execute("SELECT tags FROM feed_release").fetchall() for t in tags}
    con.close()
    assert tags <= {"tender", "tenderAmendment"}


def test_a_page_that_never_arrives_whole_stops_the_run_naming_the_service_and_url(tmp_path):
    with OcdsReplay(RELEASES) as api:
        api.server.cut(CF_PATH, after_bytes=50, times=10)
        cfg = feed_config(tmp_path, api, services=["contracts_finder"])
        with pytest.raises(SourceError) as failure:
            run.harvest(cfg, UNTIL, wait=lambda s: None)
    message = str(failure.value)
    assert "contracts_finder" in message and "publishedFrom=2025-01-21" in message
    assert "gave up after 4 tries" in message
    assert failure.value.transient
    assert stored(cfg)["marks"] == {}
