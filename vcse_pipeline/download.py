"""Fetch one file over HTTP(S) or from a local path, safely and repeatably; every loader uses `fetch`.

A download streams into `<dest>.part` and is renamed over `dest` only when it is complete and verified,
so a failed or bad download never replaces the previous good file. Transient failures are retried with
exponential backoff: 429, 5xx (honouring Retry-After) and failed connections by urllib3's `Retry` on the
session's adapter; a body cut short or dropped by the loop here, which resumes it with a Range request when
the server supports it (no library resumes a multi-GB file). Each fetch appends one line to
`manifest.jsonl` beside the file; the manifest's ETag/Last-Modified make the next fetch conditional.
See docs/downloads.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util.retry import Retry

from .archive import csv_ends_mid_row, looks_like_html
from .clock import now_iso
from .config import default_section
from .errors import DownloadError, os_error_message

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
USER_AGENT = "vcse-pipeline/0.1 (+https://github.com/; open data loader)"
CHUNK_SIZE = 1 << 20
# Response headers kept in the manifest: enough to explain later what the server sent.
RECORDED_HEADERS = ("content-length", "content-type", "content-range", "etag", "last-modified", "accept-ranges",
                    "date", "server", "cache-control", "x-ms-request-id", "x-ms-version")
_RESUMABLE_STATUS = ("downloaded", "not_modified")


def sleep(seconds: float) -> None:
    """The wait between attempts; tests patch this (or pass `sleep=` to fetch) so they never really wait."""
    time.sleep(seconds)


@dataclass
class FetchResult:
    """What one fetch produced; also the shape of a manifest line (plus `headers`)."""

    source: str
    url: str
    path: Path
    status: str  # 'downloaded' | 'not_modified' | 'local'
    size: int
    sha256: str
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    fetched_at: str = ""
    attempts: int = 1
    # The publisher's release this file belongs to, when the source found it (releases.Release.as_dict()).
    release: dict | None = None


class _TryAgain(Exception):
    """A body that failed part-way (cut, short, a range the server could not continue): request it again after
    `delay` seconds (None = the exponential backoff). Failures before a body are urllib3's (`_BackoffRetry`)."""

    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.reason, self.delay = reason, delay


def download_settings(settings: dict | None = None) -> dict:
    """The [download] settings: the packaged defaults overlaid with `settings` (a Config's section, or the few
    keys a caller sets)."""
    return {**default_section("download"), **(settings or {})}


def fetch(location: str, dest: Path, *, source: str, settings: dict | None = None,
          session: requests.Session | None = None, progress: bool = False, expect: str | None = None,
          sleep: Callable[[float], None] | None = None, release: dict | None = None) -> FetchResult:
    """Fetch `location` (http(s) URL, file:// URL or local path) to `dest` and record it in the manifest.

    `expect` ('zip' or 'csv') refuses an HTML error page or a non-zip where that file type was expected.
    `release` (name, date, URL of the publisher's release, from vcse_pipeline.releases) is kept in the result
    and its manifest line.
    Raises DownloadError (naming source, URL and file) when the retries are exhausted (`transient`: a later try
    may succeed) or the file is bad (not transient); `dest` then still holds the previous good file, if any.
    """
    if expect not in (None, "zip", "csv"):
        raise ValueError(f"expect must be 'zip', 'csv' or None, not {expect!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        opts = download_settings(settings)
        wait = sleep or globals()["sleep"]  # looked up at call time so tests can patch the module function
        own_session = session is None
        session = session or _new_session()
        adapters = dict(session.adapters)  # a caller's session gets its own adapters back afterwards
        job = _HttpFetch(location, dest, source, opts, session, progress and opts.get("progress", True), expect, wait)
        try:
            result = job.run()
        finally:
            job.close_adapter()
            if own_session:
                session.close()
            else:
                session.adapters.clear()
                session.adapters.update(adapters)
        headers = job.response_headers
    else:
        result, headers = _fetch_local(location, dest, source, expect), {}
    result.release = release
    _append_manifest(dest.parent, result, headers)
    return result


# ---------------------------------------------------------------------------------------------- manifest

def read_manifest(download_dir: Path) -> list[dict]:
    """Every parseable line of download_dir/manifest.jsonl, oldest first (a torn last line is skipped)."""
    manifest = Path(download_dir) / MANIFEST_NAME
    if not manifest.exists():
        return []
    records = []
    with manifest.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def latest_record(download_dir: Path, url: str) -> dict | None:
    """The most recent manifest line for `url` (an http(s) URL or the local path/file:// URL fetched)."""
    for record in reversed(read_manifest(download_dir)):
        if record.get("url") == url:
            return record
    return None


def latest_paths(download_dir: Path) -> list[Path]:
    """The files of the most recent fetch of each distinct dest path in the manifest that still exist.

    Sorted by file name so a source sees its files in a stable order.
    """
    download_dir = Path(download_dir)
    latest: dict[str, Path] = {}
    for record in read_manifest(download_dir):
        if not record.get("path"):
            continue
        path = download_dir / Path(record["path"]).name
        latest[str(path)] = path
    return sorted((p for p in latest.values() if p.is_file()), key=lambda p: p.name)


def _append_manifest(download_dir: Path, result: FetchResult, headers: dict) -> None:
    record = asdict(result)
    record["path"] = Path(result.path).name  # relative, so the data folder can move
    record["headers"] = headers
    line = json.dumps(record) + "\n"
    manifest = Path(download_dir) / MANIFEST_NAME
    if manifest.exists() and manifest.stat().st_size:
        with manifest.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                line = "\n" + line  # a line torn by a crash stays on its own, unparsed, line
    # One write of one line in append mode, so concurrent fetches into the same folder do not interleave.
    with manifest.open("a", encoding="utf-8") as fh:
        fh.write(line)


# ---------------------------------------------------------------------------------------------- local

def _local_path(location: str) -> Path:
    parts = urlsplit(location)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL with a remote host is not supported: {location}")
        return Path(url2pathname(unquote(parts.path)))
    return Path(location).expanduser()


def _fetch_local(location: str, dest: Path, source: str, expect: str | None) -> FetchResult:
    try:
        src = _local_path(location).resolve()
    except ValueError as exc:
        raise DownloadError(source, str(exc), file=location) from exc
    if not src.is_file():
        raise DownloadError(source, f"local file not found: {src}", file=location)
    tmp = dest.with_name(dest.name + ".part")
    try:
        _check_expected(src, expect, source, location)
        if not (dest.exists() and os.path.samefile(src, dest)):
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)  # no copy of a multi-GB file when source and dest share a filesystem
            except OSError:
                shutil.copy2(src, tmp)
            os.replace(tmp, dest)
        stat = dest.stat()
        sha256 = _sha256_file(dest)
    except OSError as exc:  # an unreadable source file, a read-only or full download folder
        with contextlib.suppress(OSError):  # the folder may be the thing that cannot be written
            tmp.unlink(missing_ok=True)
        raise DownloadError(source, os_error_message(exc), file=location) from exc
    return FetchResult(source=source, url=location, path=dest, status="local", size=stat.st_size,
                       sha256=sha256, last_modified=formatdate(stat.st_mtime, usegmt=True),
                       fetched_at=now_iso(), attempts=1)


# ---------------------------------------------------------------------------------------------- HTTP

def _new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


class _BackoffRetry(Retry):
    """urllib3's Retry for 429, 5xx and failed connections, with the pipeline's wait: Retry-After when the
    server sends one (capped by max_retry_after_seconds), else backoff_seconds * 2**(n-1) from the first retry
    (urllib3's own formula skips the wait before the first). Each wait goes through `on_retry`, which logs,
    counts the attempt and sleeps (through download.sleep, which tests record)."""

    on_retry: Callable[[float, str], None] = staticmethod(lambda delay, reason: None)

    def new(self, **kw) -> _BackoffRetry:
        retry = super().new(**kw)
        retry.on_retry = self.on_retry
        return retry

    def get_backoff_time(self) -> float:
        return self.backoff_factor * 2 ** (len(self.history) - 1) if self.history else 0.0

    def sleep(self, response=None) -> None:
        delay = None
        if response is not None and self.respect_retry_after_header:
            with contextlib.suppress(InvalidHeader):  # an unreadable Retry-After: the usual backoff
                delay = self.get_retry_after(response)
        self.on_retry(self.get_backoff_time() if delay is None else delay, _failure(self.history[-1]))


def _failure(attempt) -> str:
    """What went wrong with one attempt urllib3 retried (a urllib3 RequestHistory), for logs and errors."""
    if attempt.error is not None:
        return f"{type(attempt.error).__name__}: {attempt.error}"
    return f"HTTP {attempt.status}"


class _HttpFetch:
    """One HTTP download with its retry state. `.part` + `.part.json` hold a partial file between attempts.

    Every request goes through an adapter whose urllib3 Retry has the attempts not yet used, so a body cut
    here and a 503 retried by urllib3 draw on the one `[download] retries` budget."""

    def __init__(self, url: str, dest: Path, source: str, opts: dict, session: requests.Session, progress: bool,
                 expect: str | None, wait: Callable[[float], None]):
        self.url, self.dest, self.source, self.opts = url, dest, source, opts
        self.session, self.progress, self.expect, self.wait = session, progress, expect, wait
        self.part = dest.with_name(dest.name + ".part")
        self.part_meta = dest.with_name(dest.name + ".part.json")
        timeout = float(opts["timeout_seconds"])
        self.timeout = (min(timeout, 30.0), timeout)  # (connect, read between bytes)
        self.previous = self._previous_record()
        self.response_headers: dict[str, str] = {}
        self.resume: dict | None = self._load_part_meta()
        self.retries = int(opts["retries"])
        self.attempts = 0  # requests sent, counting those urllib3 retried
        self.adapter: HTTPAdapter | None = None

    def run(self) -> FetchResult:
        while True:
            try:
                result = self._attempt()
            except _TryAgain as exc:
                if self.attempts > self.retries:
                    self._give_up(exc.reason)
                backoff = float(self.opts["backoff_seconds"]) * 2 ** (self.attempts - 1)
                self._before_retry(backoff if exc.delay is None else exc.delay, exc.reason, counted=False)
                continue
            self._clear_part()
            return result

    def _before_retry(self, delay: float, reason: str, counted: bool = True) -> None:
        """Log and wait before the next attempt; `counted`: urllib3 sends it itself (else _attempt counts it)."""
        log.warning("%s: %s (attempt %d of %d); retrying in %.1fs", self.url, reason, self.attempts,
                    self.retries + 1, delay)
        if counted:
            self.attempts += 1
        if delay > 0:
            self.wait(delay)

    def _give_up(self, last: str):
        if not self.resume:
            self._clear_part()
        # Every attempt met a failure that may pass (5xx, 429, a dropped connection): a later task try may succeed.
        raise DownloadError(self.source, f"download failed after {self.attempts} attempt(s); last error: {last}",
                            file=self.url, transient=True)

    def _mount_adapter(self) -> None:
        """An adapter whose Retry allows the attempts left (an HTTPAdapter's Retry is fixed when it is made)."""
        self.close_adapter()
        retry = _BackoffRetry(total=self.retries - self.attempts, status_forcelist=[429, *range(500, 600)],
                              backoff_factor=float(self.opts["backoff_seconds"]), raise_on_status=False,
                              retry_after_max=float(self.opts["max_retry_after_seconds"]))
        retry.on_retry = self._before_retry
        self.adapter = HTTPAdapter(max_retries=retry)
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, self.adapter)

    def close_adapter(self) -> None:
        if self.adapter is not None:
            self.adapter.close()
            self.adapter = None

    # -- one request ---------------------------------------------------------------------------------

    def _attempt(self) -> FetchResult:
        headers = {"Accept-Encoding": "identity"}  # byte ranges and Content-Length then refer to the file itself
        offset = self.part.stat().st_size if (self.resume and self.part.exists()) else 0
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = self.resume.get("etag") if _strong(self.resume.get("etag")) else self.resume.get(
                "last_modified")
            if validator:
                headers["If-Range"] = validator
        elif self.previous:
            if self.previous.get("etag"):
                headers["If-None-Match"] = self.previous["etag"]
            if self.previous.get("last_modified"):
                headers["If-Modified-Since"] = self.previous["last_modified"]
        self._mount_adapter()
        self.attempts += 1
        try:
            response = self.session.get(self.url, headers=headers, stream=True, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:  # urllib3 has used every attempt left
            self._give_up(f"{type(exc).__name__}: {exc}")
        except requests.RequestException as exc:  # a bad URL, too many redirects: retrying will not help
            raise DownloadError(self.source, f"{type(exc).__name__}: {exc}", file=self.url) from exc
        with response:
            return self._handle(response, offset, self.attempts)

    def _handle(self, response: requests.Response, offset: int, attempt: int) -> FetchResult:
        status = response.status_code
        if status == 304 and self.previous:
            return self._not_modified(response, attempt)
        if status == 429 or status >= 500:  # urllib3 retried it as many times as the budget allows
            self._give_up(f"HTTP {status} {response.reason}")
        if status == 416 and offset:
            # The part file is not a prefix the server can continue from: start again.
            self._clear_part()
            raise _TryAgain("HTTP 416 for a resumed range; restarting the download", delay=0)
        if status >= 400:
            raise DownloadError(self.source, f"HTTP {status} {response.reason} (not retried)", file=self.url)
        if status == 206 and offset:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset or (self.resume.get("total") and total and total != self.resume["total"]):
                self._clear_part()
                raise _TryAgain(f"unexpected Content-Range {response.headers.get('Content-Range')!r}; restarting",
                             delay=0)
            expected = total or self.resume.get("total")
        elif status == 200:
            if offset:
                log.info("%s: server sent the whole file instead of the range; restarting cleanly", self.url)
            offset = 0
            expected = _int(response.headers.get("Content-Length"))
            self.resume = self._start_part(response, expected)
        else:
            raise DownloadError(self.source, f"unexpected HTTP {status} {response.reason}", file=self.url)
        digest, size = self._stream(response, offset, expected)
        return self._finish(response, digest, size, attempt)

    def _stream(self, response: requests.Response, offset: int, expected: int | None):
        digest = hashlib.sha256()
        if offset:
            _hash_into(digest, self.part)  # the bytes already on disk are part of the file's checksum
        # We ask for identity encoding; a server that compresses anyway gets decoded, and then byte counts and
        # ranges no longer refer to the file, so such a body is checked on wire bytes and never resumed.
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        if encoded:
            self._clear_part_meta()
        size = offset
        bar = _progress_bar(self.dest.name, expected, offset) if self.progress and expected and not encoded else None
        try:
            with self.part.open("ab" if offset else "wb") as out:
                while True:
                    try:
                        # read1 returns what has arrived, so a cut keeps every byte received before it.
                        chunk = response.raw.read1(CHUNK_SIZE, decode_content=encoded)
                    except (ProtocolError, ReadTimeoutError, SSLError, OSError) as exc:
                        self._after_cut()
                        raise _TryAgain(f"connection dropped after {size} bytes ({type(exc).__name__}: {exc})") from exc
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if bar:
                        bar.advance(len(chunk))
        finally:
            if bar:
                bar.close()
        received = response.raw.tell() + offset if encoded else size
        if expected is not None and received != expected:
            self._after_cut()
            raise _TryAgain(f"body ended after {received} of {expected} bytes")
        return digest.hexdigest(), size

    def _finish(self, response: requests.Response, sha256: str, size: int, attempt: int) -> FetchResult:
        try:
            _check_expected(self.part, self.expect, self.source, self.url)
        except DownloadError:
            self._clear_part()  # never keep a bad body, as dest or as a part to resume
            raise
        os.replace(self.part, self.dest)
        result = self._result("downloaded", response, size, sha256, attempt)
        result.etag = response.headers.get("ETag")
        result.last_modified = response.headers.get("Last-Modified")
        result.content_type = response.headers.get("Content-Type")
        return result

    def _not_modified(self, response: requests.Response, attempt: int) -> FetchResult:
        # _previous_record checked that the file on disk still has the recorded sha256.
        result = self._result("not_modified", response, self.dest.stat().st_size, self.previous["sha256"], attempt)
        # A 304 may refresh the validators; keep the old ones where it sends none.
        result.etag = response.headers.get("ETag") or self.previous.get("etag")
        result.last_modified = response.headers.get("Last-Modified") or self.previous.get("last_modified")
        result.content_type = self.previous.get("content_type")
        return result

    def _result(self, status: str, response: requests.Response, size: int, sha256: str, attempt: int):
        self.response_headers = {k: v for k in RECORDED_HEADERS if (v := response.headers.get(k)) is not None}
        return FetchResult(source=self.source, url=self.url, path=self.dest, status=status, size=size,
                           sha256=sha256, fetched_at=now_iso(), attempts=attempt)

    # -- state between attempts ------------------------------------------------------------------------

    def _previous_record(self) -> dict | None:
        # Conditional requests only when the file on disk is the one the manifest describes, by content: a file
        # damaged or edited in place keeps its size, and a 304 would keep it for good (and record it as good).
        if not self.dest.is_file():
            return None
        record = latest_record(self.dest.parent, self.url)
        if (not record or record.get("status") not in _RESUMABLE_STATUS
                or Path(record.get("path", "")).name != self.dest.name
                or record.get("size") != self.dest.stat().st_size
                or not (record.get("etag") or record.get("last_modified"))):
            return None
        if record.get("sha256") != _sha256_file(self.dest):
            log.warning("%s: %s is not the file the manifest recorded (its sha256 differs); fetching it again",
                        self.url, self.dest)
            return None
        return record

    def _start_part(self, response: requests.Response, total: int | None) -> dict | None:
        """Note how this body could be resumed: needs byte ranges or a validator the server gave."""
        headers = response.headers
        etag, modified = headers.get("ETag"), headers.get("Last-Modified")
        accepts = headers.get("Accept-Ranges", "").lower() == "bytes"
        if not (accepts or etag):
            self.part_meta.unlink(missing_ok=True)
            return None
        meta = {"url": self.url, "etag": etag, "last_modified": modified, "total": total}
        self.part_meta.write_text(json.dumps(meta), encoding="utf-8")
        return meta

    def _load_part_meta(self) -> dict | None:
        # A .part left by an earlier call (e.g. an Airflow task retry) resumes if it was for this URL.
        try:
            meta = json.loads(self.part_meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        if not (meta and meta.get("url") == self.url and self.part.exists()):
            self._clear_part()
            return None
        return meta

    def _after_cut(self) -> None:
        if not self.resume:
            self._clear_part()

    def _clear_part(self) -> None:
        self.part.unlink(missing_ok=True)
        self._clear_part_meta()

    def _clear_part_meta(self) -> None:
        self.part_meta.unlink(missing_ok=True)
        self.resume = None


# ---------------------------------------------------------------------------------------------- helpers

def _check_expected(path: Path, expect: str | None, source: str, url: str) -> None:
    if expect is None:
        return
    name = Path(urlsplit(url).path).name or url
    if path.stat().st_size == 0:
        raise DownloadError(source, f"expected a {expect} file from {url} but got an empty body", file=name)
    if looks_like_html(path):
        raise DownloadError(source, f"expected a {expect} file from {url} but the server sent an HTML page "
                                    "(an error or login page?); the previous file is kept", file=name)
    if expect == "zip" and not zipfile.is_zipfile(path):
        raise DownloadError(source, f"expected a zip file from {url} but the body is not a readable zip "
                                    "(truncated or another format); the previous file is kept", file=name)
    if expect == "csv" and csv_ends_mid_row(path):
        # A body can match its Content-Length and still be cut (the publisher's copy was): a last row with a
        # field left open or fewer fields than the header, and no line break after it, is never installed.
        raise DownloadError(source, f"the CSV from {url} ends in the middle of a row (no line break after the "
                                    "last row): cut short; the previous file is kept", file=name,
                            row=_count_lines(path))


def _count_lines(path: Path) -> int:
    """Lines in a file, the last one counted with or without its line break (for an error's row)."""
    lines = 1
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_SIZE):
            lines += block.count(b"\n")
    return lines


def _progress_bar(name: str, total: int, done: int):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        transient=True)
    task = progress.add_task(name, total=total, completed=done)
    progress.start()

    class _Bar:
        def advance(self, n: int) -> None:
            progress.advance(task, n)

        def close(self) -> None:
            progress.stop()

    return _Bar()


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    # "bytes 100-199/1000" -> (100, 1000); total may be "*".
    try:
        unit, spec = value.split(" ", 1)
        span, total = spec.split("/", 1)
        return int(span.split("-", 1)[0]), (None if total.strip() == "*" else int(total))
    except (AttributeError, ValueError):
        return None, None


def _strong(etag: str | None) -> bool:
    # If-Range needs a strong validator: a weak ETag (W/"...") cannot promise byte-identical content.
    return bool(etag) and not etag.startswith("W/")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _hash_into(digest, path: Path) -> None:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    _hash_into(digest, path)
    return digest.hexdigest()

