"""A local HTTP server with scriptable faults, for testing downloads offline.

    with FaultServer({"/data.zip": payload}) as server:
        server.fail("/data.zip", status=500, times=2)      # two 500s, then the file
        server.throttle("/data.zip", retry_after="3")       # one 429 with Retry-After: 3
        server.cut("/data.zip", after_bytes=100_000)        # drop the connection mid-body once
        server.html_error("/data.zip")                      # a 200 HTML error page once
        fetch(server.url("/data.zip"), ...)
        server.requests_for("/data.zip")[-1].headers["Range"]   # .query: the parsed query string
        server.route("/api/search", answer)                 # answer(query) -> body, or (status, headers, body)

Faults queue per path and are used in order, each for `times` requests. Files are served with a strong
ETag, Last-Modified and Accept-Ranges: bytes (each can be switched off per file), honour Range/If-Range
with 206, and If-None-Match/If-Modified-Since with 304. Binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

HTML_ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>\n"
                   b"<body><h1>Sorry, the download service is busy</h1><p>Please try again later.</p></body></html>\n")


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, list[str]] = field(default_factory=dict)  # the parsed query string (parse_qs)
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)


@dataclass
class ServedFile:
    data: bytes
    last_modified: float = field(default_factory=lambda: time.time() - 3600)
    etag: bool = True
    send_last_modified: bool = True
    ranges: bool = True            # advertise Accept-Ranges and answer Range with 206
    content_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        self.set_data(self.data)

    def set_data(self, data: bytes) -> None:
        self.data = data
        self.etag_value = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'  # strong: changes with every byte

    @property
    def last_modified_value(self) -> str:
        return formatdate(self.last_modified, usegmt=True)


@dataclass
class _Fault:
    kind: str                       # 'status' | 'cut' | 'html' | 'stall'
    times: int
    status: int = 500
    headers: dict = field(default_factory=dict)
    after_bytes: int = 0
    seconds: float = 0.0


class FaultServer:
    """A threaded local HTTP server; use as a context manager (it starts on enter and stops on exit)."""

    def __init__(self, files: dict[str, bytes] | Path | None = None):
        self._lock = threading.Lock()
        self.files: dict[str, ServedFile] = {}
        self.directory: Path | None = None
        if isinstance(files, Path):
            self.directory = files
        else:
            for path, data in (files or {}).items():
                self.add(path, data)
        self.requests: list[SeenRequest] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._routes: dict[str, object] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content ---------------------------------------------------------------------------------------

    def add(self, path: str, data: bytes, **options) -> ServedFile:
        """Serve `data` at `path`; options: etag, send_last_modified, ranges (bools), content_type, last_modified."""
        served = ServedFile(data, **options)
        with self._lock:
            self.files[path] = served
        return served

    def replace(self, path: str, data: bytes) -> None:
        """Change a file's content (a new ETag and a later Last-Modified), as a publisher would."""
        with self._lock:
            served = self.files[path]
            served.set_data(data)
            served.last_modified = max(time.time(), served.last_modified + 1)

    def route(self, path: str, answer) -> None:
        """Answer `path` from a function of the parsed query string (an API, say): it returns the body, or
        (status, headers, body). Queued faults still apply; no validators or ranges."""
        with self._lock:
            self._routes[path] = answer

    # -- faults ----------------------------------------------------------------------------------------

    def fail(self, path: str, status: int = 500, times: int = 1, headers: dict | None = None) -> None:
        """Answer `status` (with optional headers) to the next `times` requests for path."""
        self._queue(path, _Fault("status", times, status=status, headers=headers or {}))

    def throttle(self, path: str, retry_after: str = "1", times: int = 1) -> None:
        """Answer 429 Too Many Requests with Retry-After (seconds or an HTTP date)."""
        self.fail(path, 429, times, {"Retry-After": retry_after})

    def cut(self, path: str, after_bytes: int, times: int = 1) -> None:
        """Send the full headers, then only `after_bytes` bytes of the body, then drop the connection."""
        self._queue(path, _Fault("cut", times, after_bytes=after_bytes))

    def html_error(self, path: str, times: int = 1) -> None:
        """Answer 200 with an HTML error page instead of the file."""
        self._queue(path, _Fault("html", times))

    def stall(self, path: str, seconds: float, times: int = 1) -> None:
        """Send the headers, then wait `seconds` before the body (to trip a read timeout)."""
        self._queue(path, _Fault("stall", times, seconds=seconds))

    def _queue(self, path: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(path, deque()).append(fault)

    def _next_fault(self, path: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            while queue:
                fault = queue[0]
                if fault.times > 0:
                    fault.times -= 1
                    return fault
                queue.popleft()
        return None

    # -- inspection ------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def requests_for(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> FaultServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="fault-server",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _lookup(self, path: str) -> ServedFile | None:
        with self._lock:
            if path in self.files:
                return self.files[path]
        if self.directory is not None:
            target = (self.directory / path.lstrip("/")).resolve()
            if target.is_file() and target.is_relative_to(self.directory.resolve()):
                return ServedFile(target.read_bytes(), last_modified=target.stat().st_mtime)
        return None


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and Content-Length, as real servers behave

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            with server._lock:
                server.requests.append(SeenRequest(self.command, path, dict(self.headers.items()),
                                                   parse_qs(parts.query)))
            answer = server._routes.get(path)
            if answer is not None:
                answered = answer(parse_qs(parts.query))
                status, headers, payload = answered if isinstance(answered, tuple) else (200, {}, answered)
                if status != 200:
                    return self._simple(status, payload, body, headers)
                served = ServedFile(payload, etag=False, send_last_modified=False, ranges=False,
                                    content_type=headers.get("Content-Type", "application/json"))
            else:
                served = server._lookup(path)
            if served is None:
                return self._simple(404, b"Not Found\n", body)
            fault = server._next_fault(path)
            if fault and fault.kind == "status":
                return self._simple(fault.status, f"HTTP {fault.status}\n".encode(), body, fault.headers)
            if fault and fault.kind == "html":
                return self._simple(200, HTML_ERROR_PAGE, body, {"Content-Type": "text/html; charset=utf-8"})
            if self._not_modified(served):
                self.send_response(304)
                self._validators(served)
                self.send_header("Content-Length", "0")
                return self.end_headers()
            data, status, extra = served.data, 200, {}
            span = self._range(served)
            if span == "unsatisfiable":
                return self._simple(416, b"", body, {"Content-Range": f"bytes */{len(data)}"})
            if span is not None:
                start, end = span
                status, extra = 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
                data = data[start:end + 1]
            self.send_response(status)
            self.send_header("Content-Type", served.content_type)
            self.send_header("Content-Length", str(len(data)))
            self._validators(served)
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            if not body:
                return
            if fault and fault.kind == "cut":
                self.wfile.write(data[:fault.after_bytes])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault and fault.kind == "stall":
                self.wfile.flush()
                time.sleep(fault.seconds)
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _validators(self, served: ServedFile) -> None:
            if served.etag:
                self.send_header("ETag", served.etag_value)
            if served.send_last_modified:
                self.send_header("Last-Modified", served.last_modified_value)
            if served.ranges:
                self.send_header("Accept-Ranges", "bytes")

        def _not_modified(self, served: ServedFile) -> bool:
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
                return served.etag and (if_none_match.strip() == "*"
                                        or served.etag_value in [t.strip() for t in if_none_match.split(",")])
            since = _http_date(self.headers.get("If-Modified-Since"))
            return bool(since and served.send_last_modified and int(served.last_modified) <= since)

        def _range(self, served: ServedFile):
            header = self.headers.get("Range")
            if not (header and served.ranges and header.startswith("bytes=")):
                return None
            if_range = self.headers.get("If-Range")
            if if_range is not None:
                still_same = (if_range == served.etag_value if if_range.startswith('"')
                              else (_http_date(if_range) or -1) >= int(served.last_modified))
                if not still_same:
                    return None  # the file changed: send all of it with 200
            first, _, last = header[len("bytes="):].split(",")[0].partition("-")
            size = len(served.data)
            start = int(first) if first else max(0, size - int(last))
            end = min(int(last), size - 1) if (first and last) else size - 1
            return "unsatisfiable" if start >= size else (start, end)

        def _simple(self, status: int, payload: bytes, body: bool, headers: dict | None = None) -> None:
            self.send_response(status)
            headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)

    return Handler


def _http_date(value: str | None) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None
