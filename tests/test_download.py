"""download.fetch against a local server with scripted faults, on a real zip of a few hundred KB."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from email.utils import formatdate
from pathlib import Path

import pytest
import requests
from http_fault_server import HTML_ERROR_PAGE, FaultServer

from vcse_pipeline import download
from vcse_pipeline.download import fetch, latest_paths, latest_record, read_manifest
from vcse_pipeline.errors import DownloadError

FAST = {"timeout_seconds": 5, "retries": 3, "backoff_seconds": 0.01, "max_retry_after_seconds": 30,
        "progress": False}
PATH = "/data/txt/publicextract.charity.zip"


def _charity_extract_zip() -> bytes:
    """A zip shaped like the CCEW extract: one tab-separated, CRLF text file with a header row."""
    rng = random.Random(20260101)
    header = ["date_of_extract", "organisation_number", "registered_charity_number", "linked_charity_number",
              "charity_name", "charity_contact_postcode", "latest_income"]
    lines = ["\t".join(header)]
    for n in range(12000):
        name = " ".join(rng.choice(["Wirral", "Birkenhead", "Community", "Trust", "Friends", "of", "Hoylake",
                                    "Youth", "Foodbank", "Hospice", "Arts", "Club"]) for _ in range(4))
        postcode = f"CH{rng.randint(41, 64)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}" \
                   f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        lines.append("\t".join(["2026-11-20 00:00:00.0000000", str(5_000_000 + n), str(rng.randint(200000, 1199999)),
                                "0", name.title(), postcode, f"{rng.random() * 1e6:.2f}"]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("publicextract.charity.txt", "\r\n".join(lines) + "\r\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def payload() -> bytes:
    data = _charity_extract_zip()
    assert 150_000 < len(data) < 1_000_000
    return data


@pytest.fixture
def server(payload):
    with FaultServer({PATH: payload}) as srv:
        yield srv


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Record the waits fetch asks for instead of sleeping."""
    seen: list[float] = []
    monkeypatch.setattr(download, "sleep", seen.append)
    return seen


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _get(server, dest, **kwargs):
    return fetch(server.url(PATH), dest, source="charity_commission", settings={**FAST, **kwargs.pop("opts", {})},
                 expect=kwargs.pop("expect", "zip"), **kwargs)


def test_plain_download_checksum_and_manifest(server, payload, tmp_path, waits):
    dest = tmp_path / "charity_commission" / "charity.zip"
    result = _get(server, dest)

    assert result.status == "downloaded" and result.attempts == 1
    assert dest.read_bytes() == payload
    assert result.sha256 == _sha(payload) and result.size == len(payload)
    assert result.etag == server.files[PATH].etag_value
    assert result.last_modified == server.files[PATH].last_modified_value
    assert result.content_type == "application/octet-stream"
    assert not dest.with_name("charity.zip.part").exists()
    [line] = (dest.parent / "manifest.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["url"] == server.url(PATH) and record["path"] == "charity.zip"
    assert record["sha256"] == _sha(payload) and record["status"] == "downloaded"
    assert record["headers"]["content-length"] == str(len(payload))
    assert record["headers"]["accept-ranges"] == "bytes"
    assert record["fetched_at"].endswith("+00:00")
    assert latest_paths(dest.parent) == [dest]
    assert latest_record(dest.parent, server.url(PATH))["sha256"] == _sha(payload)
    assert server.requests_for(PATH)[0].headers["Accept-Encoding"] == "identity"
    assert waits == []


def test_server_errors_are_retried_with_exponential_backoff(server, payload, tmp_path, waits):
    server.fail(PATH, status=500, times=1)
    server.fail(PATH, status=503, times=1)
    result = _get(server, tmp_path / "charity.zip")

    assert result.attempts == 3 and result.sha256 == _sha(payload)
    assert waits == pytest.approx([0.01, 0.02])
    assert len(server.requests_for(PATH)) == 3


def test_429_waits_for_retry_after_seconds(server, payload, tmp_path, waits):
    server.throttle(PATH, retry_after="7")
    result = _get(server, tmp_path / "charity.zip")

    assert waits == [7.0]
    assert result.attempts == 2 and result.sha256 == _sha(payload)


def test_retry_after_http_date_and_cap(server, tmp_path, waits):
    import time

    server.throttle(PATH, retry_after=formatdate(time.time() + 20, usegmt=True))
    server.throttle(PATH, retry_after="3600")  # longer than max_retry_after_seconds
    _get(server, tmp_path / "charity.zip")

    assert 17 <= waits[0] <= 20
    assert waits[1] == FAST["max_retry_after_seconds"]


def test_cut_download_resumes_with_range(server, payload, tmp_path, waits):
    cut_at = 123_457
    server.cut(PATH, after_bytes=cut_at)
    result = _get(server, tmp_path / "charity.zip")

    first, second = server.requests_for(PATH)
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={cut_at}-"
    assert second.headers["If-Range"] == server.files[PATH].etag_value
    assert result.attempts == 2 and result.sha256 == _sha(payload)
    assert (tmp_path / "charity.zip").read_bytes() == payload
    record = json.loads((tmp_path / "manifest.jsonl").read_text())
    assert record["size"] == len(payload) and record["attempts"] == 2
    assert record["headers"]["content-range"] == f"bytes {cut_at}-{len(payload) - 1}/{len(payload)}"
    assert not list(tmp_path.glob("*.part*"))


def test_resume_answered_with_200_restarts_cleanly(payload, tmp_path, waits):
    # The server sends an ETag but ignores Range: the client asks to resume and must start again.
    with FaultServer() as server:
        server.add(PATH, payload, ranges=False)
        server.cut(PATH, after_bytes=50_000)
        result = _get(server, tmp_path / "charity.zip")
        assert server.requests_for(PATH)[1].headers["Range"] == "bytes=50000-"
    assert result.sha256 == _sha(payload) and (tmp_path / "charity.zip").read_bytes() == payload


def test_file_changed_between_cut_and_resume(server, payload, tmp_path, waits, monkeypatch):
    # If-Range carries the old ETag, so a changed file comes back whole (200) rather than spliced.
    server.cut(PATH, after_bytes=80_000)
    changed = payload[::-1]
    monkeypatch.setattr(download, "sleep", lambda s: server.replace(PATH, changed))
    result = _get(server, tmp_path / "data.bin", expect=None)
    assert result.sha256 == _sha(changed)
    assert result.etag == server.files[PATH].etag_value


def test_no_range_support_restarts_from_zero(payload, tmp_path, waits):
    with FaultServer() as server:
        server.add(PATH, payload, ranges=False, etag=False)
        server.cut(PATH, after_bytes=60_000)
        result = _get(server, tmp_path / "charity.zip")
        assert all("Range" not in r.headers for r in server.requests_for(PATH))
    assert result.attempts == 2 and result.sha256 == _sha(payload)


def test_cut_part_is_resumed_by_the_next_call(server, payload, tmp_path, waits):
    dest = tmp_path / "charity.zip"
    server.cut(PATH, after_bytes=200_000)
    with pytest.raises(DownloadError, match="connection dropped after 200000 bytes"):
        _get(server, dest, opts={"retries": 0})
    assert not dest.exists() and dest.with_name("charity.zip.part").stat().st_size == 200_000

    result = _get(server, dest)  # e.g. the Airflow task's retry
    assert server.requests_for(PATH)[-1].headers["Range"] == "bytes=200000-"
    assert result.sha256 == _sha(payload) and not dest.with_name("charity.zip.part").exists()


def test_unchanged_file_is_not_downloaded_again(server, payload, tmp_path, waits):
    dest = tmp_path / "charity.zip"
    first = _get(server, dest)
    before = dest.stat()
    second = _get(server, dest)

    assert second.status == "not_modified" and second.sha256 == first.sha256 and second.size == len(payload)
    request = server.requests_for(PATH)[-1]
    assert request.headers["If-None-Match"] == first.etag
    assert request.headers["If-Modified-Since"] == first.last_modified
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [r["status"] for r in read_manifest(tmp_path)] == ["downloaded", "not_modified"]
    assert latest_paths(tmp_path) == [dest]


def test_changed_file_is_downloaded_again(server, payload, tmp_path, waits):
    dest = tmp_path / "data.bin"
    _get(server, dest, expect=None)
    server.replace(PATH, b"new content " * 1000)
    result = _get(server, dest, expect=None)
    assert result.status == "downloaded" and dest.read_bytes() == b"new content " * 1000


def test_if_modified_since_without_etag(payload, tmp_path, waits):
    with FaultServer() as server:
        server.add(PATH, payload, etag=False)
        _get(server, tmp_path / "charity.zip")
        result = _get(server, tmp_path / "charity.zip")
        request = server.requests_for(PATH)[-1]
    assert result.status == "not_modified"
    assert "If-None-Match" not in request.headers and request.headers["If-Modified-Since"]


def test_edited_local_copy_is_fetched_unconditionally(server, payload, tmp_path, waits):
    dest = tmp_path / "charity.zip"
    _get(server, dest)
    dest.write_bytes(payload[:1000])  # no longer the file the manifest describes
    result = _get(server, dest)
    assert "If-None-Match" not in server.requests_for(PATH)[-1].headers
    assert result.status == "downloaded" and dest.read_bytes() == payload


def test_damaged_copy_of_the_same_size_is_fetched_again(server, payload, tmp_path, waits):
    """One byte flipped in place (a bad disk, a copy gone wrong): same name and size, so only its content shows it.
    A conditional request would be answered 304 and the damaged file kept, and recorded with the old sha256."""
    dest = tmp_path / "charity.zip"
    first = _get(server, dest)
    damaged = bytearray(payload)
    damaged[len(damaged) // 2] ^= 0xFF
    dest.write_bytes(bytes(damaged))
    assert dest.stat().st_size == first.size

    result = _get(server, dest)
    assert "If-None-Match" not in server.requests_for(PATH)[-1].headers
    assert result.status == "downloaded" and dest.read_bytes() == payload and result.sha256 == first.sha256
    assert read_manifest(tmp_path)[-1]["sha256"] == _sha(dest.read_bytes())
    # and the good copy is then asked for conditionally again
    assert _get(server, dest).status == "not_modified"


def test_404_fails_fast_naming_the_url(server, tmp_path, waits):
    url = server.url("/data/missing.zip")
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "missing.zip", source="charity_commission", settings=FAST)
    assert url in str(info.value) and "404" in str(info.value) and "charity_commission" in str(info.value)
    assert len(server.requests_for("/data/missing.zip")) == 1 and waits == []
    assert not list(tmp_path.iterdir())


def test_retries_exhausted_keep_the_previous_file(server, payload, tmp_path, waits):
    dest = tmp_path / "charity.zip"
    _get(server, dest)
    server.replace(PATH, b"PK" + b"x" * 5000)
    server.fail(PATH, status=502, times=100)
    with pytest.raises(DownloadError) as info:
        _get(server, dest)
    assert "after 4 attempt(s)" in str(info.value) and "HTTP 502" in str(info.value)
    assert server.url(PATH) in str(info.value)
    assert waits == pytest.approx([0.01, 0.02, 0.04])
    assert dest.read_bytes() == payload
    assert not list(tmp_path.glob("*.part*"))
    assert len(read_manifest(tmp_path)) == 1


def test_dropped_connections_exhaust_retries(payload, tmp_path, waits):
    with FaultServer() as server:
        server.add(PATH, payload, ranges=False, etag=False)
        server.cut(PATH, after_bytes=10, times=10)
        with pytest.raises(DownloadError, match="connection dropped after 10 bytes"):
            _get(server, tmp_path / "charity.zip", opts={"retries": 1})
    assert not list(tmp_path.iterdir())


def test_read_timeout_is_retried(server, payload, tmp_path, waits):
    server.stall(PATH, seconds=1.0)
    result = _get(server, tmp_path / "charity.zip", opts={"timeout_seconds": 0.2})
    assert result.attempts == 2 and result.sha256 == _sha(payload)


def test_html_page_where_zip_expected(server, payload, tmp_path, waits):
    dest = tmp_path / "charity.zip"
    _get(server, dest)
    server.html_error(PATH)
    server.replace(PATH, payload + b"\0")  # so the conditional request gets a 200
    with pytest.raises(DownloadError) as info:
        _get(server, dest)
    message = str(info.value)
    assert "HTML page" in message and server.url(PATH) in message
    assert "charity_commission" in message and "publicextract.charity.zip" in message
    assert dest.read_bytes() == payload and not list(tmp_path.glob("*.part*"))


def test_html_page_where_csv_expected(tmp_path, waits):
    with FaultServer({"/societylist/SocietyList.csv": HTML_ERROR_PAGE}) as server:
        with pytest.raises(DownloadError, match="expected a csv file .* HTML page"):
            fetch(server.url("/societylist/SocietyList.csv"), tmp_path / "SocietyList.csv", source="fca_mutuals",
                  settings=FAST, expect="csv")
    assert not (tmp_path / "SocietyList.csv").exists()


def test_truncated_zip_is_refused(tmp_path, payload, waits):
    with FaultServer({PATH: payload[:-5000]}) as server:
        with pytest.raises(DownloadError, match="not a readable zip"):
            _get(server, tmp_path / "charity.zip")


def test_local_path_and_file_url(payload, tmp_path):
    src = tmp_path / "supplied" / "BasicCompanyData.zip"
    src.parent.mkdir()
    src.write_bytes(payload)
    out = tmp_path / "downloads"

    by_path = fetch(str(src), out / "companies.zip", source="companies_house", expect="zip")
    by_url = fetch(src.as_uri(), out / "again.zip", source="companies_house", expect="zip")

    for result in (by_path, by_url):
        assert result.status == "local" and result.sha256 == _sha(payload) and result.size == len(payload)
        assert result.path.read_bytes() == payload
    assert latest_record(out, src.as_uri())["path"] == "again.zip"
    assert latest_paths(out) == [out / "again.zip", out / "companies.zip"]
    # Refetching over the same hardlink keeps working; a vanished file drops out of latest_paths.
    fetch(str(src), out / "companies.zip", source="companies_house")
    (out / "again.zip").unlink()
    assert latest_paths(out) == [out / "companies.zip"]


def test_local_problems_are_download_errors(tmp_path):
    with pytest.raises(DownloadError, match="local file not found"):
        fetch(str(tmp_path / "nope.csv"), tmp_path / "out" / "nope.csv", source="ukcat")
    page = tmp_path / "saved.csv"
    page.write_bytes(HTML_ERROR_PAGE)
    with pytest.raises(DownloadError, match="HTML page"):
        fetch(str(page), tmp_path / "out" / "ukcat.csv", source="ukcat", expect="csv")
    assert not (tmp_path / "out" / "ukcat.csv").exists()


def test_default_settings_come_from_defaults_toml():
    import tomllib

    packaged = tomllib.loads(Path(download.__file__).with_name("defaults.toml").read_text())["download"]
    assert download.download_settings(None) == packaged
    assert download.download_settings({"retries": 1})["retries"] == 1


def test_caller_session_is_used_and_kept_open(server, payload, tmp_path, waits):
    with requests.Session() as session:
        session.headers["User-Agent"] = "test-agent"
        _get(server, tmp_path / "charity.zip", session=session)
        assert server.requests_for(PATH)[0].headers["User-Agent"] == "test-agent"
        session.get(server.url(PATH)).raise_for_status()  # still usable


def test_progress_bar_does_not_change_the_file(server, payload, tmp_path, waits):
    result = fetch(server.url(PATH), tmp_path / "charity.zip", source="charity_commission",
                   settings={**FAST, "progress": True}, progress=True, expect="zip")
    assert result.sha256 == _sha(payload)


def test_manifest_survives_a_torn_line(server, payload, tmp_path, waits):
    _get(server, tmp_path / "charity.zip")
    with (tmp_path / "manifest.jsonl").open("a") as fh:
        fh.write('{"url": "http://x", "pa')
    assert latest_paths(tmp_path) == [tmp_path / "charity.zip"]
    _get(server, tmp_path / "charity.zip")  # the next line starts on a line of its own
    assert [r["status"] for r in read_manifest(tmp_path)] == ["downloaded", "not_modified"]


def test_too_many_redirects_is_a_download_error(tmp_path, waits):
    with FaultServer({"/loop": b""}) as server:
        server.fail("/loop", status=302, times=100, headers={"Location": "/loop"})
        with requests.Session() as session, pytest.raises(DownloadError, match="TooManyRedirects"):
            session.max_redirects = 3
            fetch(server.url("/loop"), tmp_path / "loop.csv", source="ukcat", settings=FAST, session=session)
        assert len(server.requests_for("/loop")) == 4
    assert waits == []


def test_server_can_serve_a_directory(tmp_path, waits):
    served = tmp_path / "site"
    (served / "data").mkdir(parents=True)
    (served / "data" / "ukcat.csv").write_text("Code,tag,Category\nAR,Arts,Activities\n")
    (tmp_path / "secret.txt").write_text("not served")
    with FaultServer(served) as server:
        result = fetch(server.url("/data/ukcat.csv"), tmp_path / "out" / "ukcat.csv", source="ukcat", settings=FAST,
                       expect="csv")
        assert requests.get(server.url("/../secret.txt")).status_code == 404
    assert result.status == "downloaded" and (tmp_path / "out" / "ukcat.csv").read_text().startswith("Code,tag")
    assert result.etag and result.last_modified
