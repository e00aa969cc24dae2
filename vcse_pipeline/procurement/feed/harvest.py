"""Fetch the OCDS releases one service published in one time window, page by page, following its cursor.

Both services answer with an OCDS release package (`releases`) whose `links.next` is the URL of the next page (it
carries the `cursor`); the last page has no `links.next`. Find a Tender is asked by update time
(`updatedFrom`/`updatedTo`), Contracts Finder by publication time (`publishedFrom`/`publishedTo`); both take
`stages` and `limit` (at most 100).

Rate limits are real: Find a Tender answers 429 (with Retry-After) after about a dozen requests in two minutes and
Contracts Finder answers 403 for a while. Requests to one service are spaced by `request_interval_seconds`; a 429,
403 (Contracts Finder), 5xx or dropped connection is retried by urllib3's Retry honouring Retry-After (capped), and
a body cut short or not JSON is asked for again, all within `[feed] retries`. When they run out a transient
SourceError stops the run: the caller's high-water mark has not moved past the window, so the next run asks for it
again and nothing is lost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from ...download import USER_AGENT
from ...errors import SourceError

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"   # both services take UTC times without a zone
MAX_PAGE_SIZE = 100
Wait = Callable[[float], None]


@dataclass(frozen=True)
class Service:
    """One publisher's OCDS search: its URL, the names of its window parameters, and the statuses it throttles with."""

    name: str
    url: str
    from_param: str
    to_param: str
    throttle_statuses: tuple[int, ...]

    def first_url(self, start: datetime, end: datetime, stages: list[str], limit: int) -> str:
        query = {self.from_param: start.strftime(TIME_FORMAT), self.to_param: end.strftime(TIME_FORMAT),
                 "limit": min(int(limit), MAX_PAGE_SIZE)}
        if stages:
            query["stages"] = ",".join(stages)
        return f"{self.url}?{urlencode(query)}"


def services(settings: dict) -> list[Service]:
    """The services `[feed] services` names, with their URLs from the settings."""
    known = {
        "find_a_tender": Service("find_a_tender", settings["find_a_tender_url"], "updatedFrom", "updatedTo", (429,)),
        "contracts_finder": Service("contracts_finder", settings["contracts_finder_url"], "publishedFrom",
                                    "publishedTo", (403, 429)),
    }
    unknown = [s for s in settings["services"] if s not in known]
    if unknown:
        raise SourceError("feed", f"[feed] services names {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[s] for s in settings["services"]]


def windows(start: datetime, until: datetime, hours: float) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) windows of `hours` from start up to until; the last one ends at until."""
    step = timedelta(hours=float(hours))
    if step <= timedelta(0):
        raise SourceError("feed", f"[feed] window_hours must be above 0, not {hours}")
    while start < until:
        end = min(start + step, until)
        yield start, end
        start = end


class _PacedRetry(Retry):
    """urllib3's Retry whose waits go through `wait` (tests record them instead of sleeping): Retry-After when the
    server sends one, else the exponential backoff, never above `cap` seconds."""

    wait: Wait = staticmethod(time.sleep)
    cap: float = 300.0

    def new(self, **kw) -> _PacedRetry:
        retry = super().new(**kw)
        retry.wait, retry.cap = self.wait, self.cap
        return retry

    def sleep(self, response=None) -> None:
        delay = None
        if response is not None and self.respect_retry_after_header:
            try:
                delay = self.get_retry_after(response)
            except InvalidHeader:   # an unreadable Retry-After: the usual backoff
                delay = None
        self.wait(min(self.cap, self.get_backoff_time() if delay is None else delay))


def feed_session(service: Service, settings: dict, wait: Wait) -> requests.Session:
    """A session retrying the service's throttle statuses, 5xx and failed connections with backoff."""
    retry = _PacedRetry(total=int(settings["retries"]), status_forcelist=[*service.throttle_statuses,
                                                                          *range(500, 600)],
                        backoff_factor=float(settings["backoff_seconds"]), backoff_max=float(
                            settings["max_retry_after_seconds"]), raise_on_status=False,
                        respect_retry_after_header=True)
    retry.wait, retry.cap = wait, float(settings["max_retry_after_seconds"])
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class Page:
    url: str
    releases: list[dict]
    package: dict          # the envelope without its releases (publisher, uri, links...), kept for audit


class WindowFetch:
    """The pages of one service's window, spaced by request_interval_seconds; `requests` counts what was sent."""

    def __init__(self, service: Service, session: requests.Session, settings: dict, wait: Wait,
                 clock: Callable[[], float] = time.monotonic):
        self.service, self.session, self.settings, self.wait, self.clock = service, session, settings, wait, clock
        self.interval = float(settings["request_interval_seconds"])
        self.timeout = 60.0
        self.last_request: float | None = None
        self.requests = 0

    def pages(self, start: datetime, end: datetime) -> Iterator[Page]:
        url = self.service.first_url(start, end, list(self.settings["stages"]), int(self.settings["page_size"]))
        seen: set[str] = set()
        while url:
            if url in seen:   # a cursor pointing back: stop rather than loop for ever
                raise SourceError(self.service.name, f"the next page points back to a page already read: {url}")
            seen.add(url)
            package = self._get_json(url)
            releases = package.get("releases")
            if not isinstance(releases, list):
                raise SourceError(self.service.name, "the answer is not an OCDS release package (no 'releases' list)",
                                  file=url)
            links = package.get("links") if isinstance(package.get("links"), dict) else {}
            yield Page(url, [r for r in releases if isinstance(r, dict)],
                       {k: v for k, v in package.items() if k != "releases"})
            url = self._next_url(links.get("next"), url)

    def _next_url(self, value, current: str) -> str | None:
        if not value:
            return None
        ours, theirs = urlsplit(self.service.url), urlsplit(str(value))
        if (theirs.scheme, theirs.netloc, theirs.path) != (ours.scheme, ours.netloc, ours.path):
            raise SourceError(self.service.name, f"links.next {value!r} leaves the service's search", file=current)
        return str(value)

    def _pace(self) -> None:
        if self.last_request is not None and self.interval > 0:
            gap = self.interval - (self.clock() - self.last_request)
            if gap > 0:
                self.wait(gap)
        self.last_request = self.clock()

    def _get_json(self, url: str) -> dict:
        """One page, asked for again (within [feed] retries) when its body is cut short or is not JSON."""
        retries = int(self.settings["retries"])
        backoff = float(self.settings["backoff_seconds"])
        cap = float(self.settings["max_retry_after_seconds"])
        for attempt in range(retries + 1):
            self._pace()
            self.requests += 1
            try:
                response = self.session.get(url, timeout=self.timeout)
                body = response.content
            except requests.exceptions.ChunkedEncodingError as exc:   # the body was cut short
                problem = f"{type(exc).__name__}: {exc}"
            except requests.RequestException as exc:   # urllib3 has retried the connection already
                raise SourceError(self.service.name, f"gave up: {type(exc).__name__}: {exc}", file=url,
                                  transient=True) from None
            else:
                if response.status_code != 200:
                    transient = response.status_code in (*self.service.throttle_statuses, 408) or \
                        response.status_code >= 500
                    raise SourceError(self.service.name, f"HTTP {response.status_code} {response.reason}" +
                                      (" after every retry" if transient else ""), file=url, transient=transient)
                try:
                    package = json.loads(body)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    problem = f"the page is not JSON ({exc})"
                else:
                    if isinstance(package, dict):
                        return package
                    problem = "the page is JSON but not a release package"
            if attempt < retries:
                delay = min(cap, backoff * 2 ** attempt)
                log.warning("%s: %s (try %d of %d); asking again in %.1fs", url, problem, attempt + 1, retries + 1,
                            delay)
                self.wait(delay)
        raise SourceError(self.service.name, f"gave up after {retries + 1} tries; last: {problem}", file=url,
                          transient=True)
