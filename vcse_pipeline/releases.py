"""Find the publisher's current release of a source whose file name changes with every release.

Companies House names its monthly product by date (`BasicCompanyDataAsOneFile-2026-11-01.zip`) and lists the
current files on its download page (`en_output.html`); the ONS publishes each quarter's Postcode Directory as a
new ArcGIS Online item, found through the ArcGIS search REST API. Pinning either file name would fetch one
release for ever, so each download first reads the listing, picks the newest release and fetches its file(s).

The listing page and the search answer are fetched with `download.fetch` like any file (retries with backoff,
timeouts, conditional requests) into `data/downloads/<source>/releases/`, where they stay as a record of what
the publisher listed. A listing that cannot be read as expected (empty, or changed in shape) is a
`ReleaseListingError` naming the page: retrying will not help, and nothing downloaded or staged is touched.
So is a listing whose newest release is older than the one already downloaded or staged (`require_not_older`): an
out-of-date copy of the page, or a withdrawn release, never takes the source back a month and deletes the newer file.
An explicit `url` in a source's configuration wins: then no listing is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from .config import Config
from .errors import SourceError

RELEASES_DIR = "releases"  # below data/downloads/<source>/: the listing pages last read
COMPANIES_HOUSE = "companies_house"
POSTCODES = "postcodes"

# Companies House: the single-file product and the parts of the multi-file one (partN_M: part N of M).
ONE_FILE = re.compile(r"BasicCompanyDataAsOneFile-(\d{4})-(\d{2})-01\.zip", re.IGNORECASE)
PART_FILE = re.compile(r"BasicCompanyData-(\d{4})-(\d{2})-01-part(\d+)_(\d+)\.zip", re.IGNORECASE)
CH_FILE_CHOICES = ("one_file", "parts")

# ONS Postcode Directory items: "ONS Postcode Directory (November 2025) for the UK", a zip of CSVs.
ONSPD_TITLE = re.compile(r"ONS Postcode Directory \(([A-Za-z]+) (\d{4})\)", re.IGNORECASE)
ONSPD_ITEM_TYPES = ("CSV Collection",)  # the release zip; the same title also names hosted tables and services
MONTHS = {name: n for n, name in enumerate(("january", "february", "march", "april", "may", "june", "july",
                                            "august", "september", "october", "november", "december"), start=1)}
SEARCH_PAGE_SIZE = 100     # the most ArcGIS Online returns per page
SEARCH_MAX_PAGES = 5       # newest first, so the release is on the first page; a few more in case of clutter


class ReleaseListingError(SourceError):
    """The release listing (a download page or a search answer) is empty or not in the shape expected."""


@dataclass(frozen=True)
class Release:
    """One publisher release: its name, the date it is 'as at', its file URL(s) and where it was found."""

    source: str
    name: str
    date: str | None                  # ISO date the release is as at (its month's first day), when known
    urls: tuple[str, ...]
    file_names: tuple[str, ...]       # the names the files are saved under, one per URL
    found_by: str                     # 'listing' | 'search' | 'configured'
    page: str | None = None           # the listing page or search URL read
    published: str | None = None      # when the publisher put it up (ArcGIS `created`), ISO time

    def as_dict(self) -> dict:
        record = asdict(self)
        record["urls"], record["file_names"] = list(self.urls), list(self.file_names)
        return record


# ---------------------------------------------------------------------------------------------- common

def release_from_config(source: str, urls: list[str], file_names: list[str]) -> Release:
    """The release an explicit `url` names; its date is read from the file name when it is the publisher's."""
    name = Path(file_names[0]).stem + (f" (+{len(file_names) - 1} more)" if len(file_names) > 1 else "")
    return Release(source, name, dated_file_name(file_names[0]), tuple(urls), tuple(file_names), "configured")


def dated_file_name(file_name: str) -> str | None:
    """The ISO date a Companies House or ONSPD file name carries (its month's first day), else None."""
    stem = Path(file_name).name
    if m := ONE_FILE.fullmatch(stem) or PART_FILE.fullmatch(stem):
        return _month(int(m.group(1)), int(m.group(2)))
    if m := re.fullmatch(r"ONSPD_([A-Z]{3})_(\d{4})_UK\.(zip|csv)", stem, re.IGNORECASE):
        month = next((n for name, n in MONTHS.items() if name[:3] == m.group(1).lower()), None)
        return _month(int(m.group(2)), month) if month else None
    return None


def _month(year: int, month: int) -> str | None:
    try:
        return date(year, month, 1).isoformat()
    except ValueError:
        return None


def require_not_older(cfg: Config, release: Release) -> Release:
    """`release` (found on the listing), unless a newer release of its source is already downloaded or staged.

    The listing's newest release older than the current one is an out-of-date copy of the page (a cache) or a
    withdrawn release: fetching it would stage the older data and delete the newer file (pipeline.download_source
    keeps only what the download produced). It is a ReleaseListingError, like any listing that cannot be used, so
    nothing is fetched, the current files, staging and register stay, and the task fails with an alert instead of
    a silent step back. An explicit `url` is never checked: going back on purpose is done by setting one.
    """
    current = current_release(cfg, release.source)
    if release.date and current and current["date"] > release.date:
        raise ReleaseListingError(
            release.source, f"the release listing's newest release, {release.name} ({release.date}), is older than "
                            f"{current['name']} ({current['date']}), already {current['where']}: the listing is an "
                            "out-of-date copy or the release was withdrawn; nothing was downloaded and the current "
                            "files are kept (set the source's url to go back to an older release on purpose)",
            file=_without_query(release.page or ""))
    return release


def current_release(cfg: Config, source: str) -> dict | None:
    """The newest dated release already downloaded (the manifest's latest line of each file still there, else its
    file name) or staged (`_staged.release`) for `source`: {name, date, where}; None when there is none."""
    from .db import connect, table_columns
    from .download import latest_paths, read_manifest

    download_dir = cfg.download_dir(source)
    known = []
    if download_dir.is_dir():
        latest = {r.get("path"): r for r in read_manifest(download_dir)}
        for path in latest_paths(download_dir):
            recorded = latest.get(path.name, {}).get("release") or {}
            when = recorded.get("date") or dated_file_name(path.name)
            if when:
                known.append({"name": recorded.get("name") or path.stem, "date": when, "where": "downloaded"})
    staging = cfg.staging_path(source)
    if staging.exists():
        try:
            con = connect(staging, read_only=True)
        except Exception:  # locked or unreadable: the downloads still count
            con = None
        if con is not None:
            try:
                if "release" in (table_columns(con, "_staged") or set()):
                    row = con.execute("SELECT release FROM _staged").fetchone()
                    staged = json.loads(row[0]) if row and row[0] else None
                    if isinstance(staged, dict) and staged.get("date"):
                        known.append({"name": staged.get("name"), "date": staged["date"], "where": "staged"})
            finally:
                con.close()
    return max(known, key=lambda r: r["date"], default=None)


def _read_listing(cfg: Config, source: str, url: str, file_name: str) -> bytes:
    """Fetch a listing page through download.fetch (retries, timeouts, 304) and return its bytes."""
    from .download import fetch

    dest = cfg.download_dir(source) / RELEASES_DIR / file_name
    fetch(url, dest, source=source, settings=cfg.section("download"), progress=False)
    body = dest.read_bytes()
    if not body.strip():
        raise ReleaseListingError(source, "the release listing is empty: no release can be chosen; nothing was "
                                          "downloaded", file=_without_query(url))
    return body


def staged_release(download_dir: Path, paths: list[Path]) -> dict | None:
    """The release the files being staged belong to, from their latest manifest lines (None when not recorded)."""
    from .download import read_manifest

    names = {Path(p).name for p in paths}
    latest = {r["path"]: r for r in read_manifest(download_dir) if r.get("path") in names}
    return next((r["release"] for _, r in sorted(latest.items()) if r.get("release")), None)


# ---------------------------------------------------------------------------------------------- Companies House

class _Links(HTMLParser):
    """Every <a href> of a page, resolved against the page's URL."""

    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base, self.links = base, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href and href.strip():
                self.links.append(urljoin(self.base, href.strip()))


def page_links(html: str, base: str) -> list[str]:
    """The links of an HTML page, absolute, in page order."""
    parser = _Links(base)
    parser.feed(html)
    parser.close()
    return parser.links


def companies_house_release(cfg: Config) -> Release:
    """The configured Companies House file(s), or the newest month the download page lists."""
    from .sources._csv import file_name_from_url

    settings = cfg.source(COMPANIES_HOUSE)
    configured = settings["url"]
    if configured:
        urls = [configured] if isinstance(configured, str) else list(configured)
        return release_from_config(COMPANIES_HOUSE, urls, [file_name_from_url(u, "BasicCompanyData.zip")
                                                           for u in urls])
    files = settings["files"]
    if files not in CH_FILE_CHOICES:
        raise SourceError(COMPANIES_HOUSE, f"[sources.companies_house] files = {files!r}: expected one of "
                                           f"{', '.join(CH_FILE_CHOICES)}")
    page = settings["listing_url"]
    body = _read_listing(cfg, COMPANIES_HOUSE, page, _page_file_name(page, "en_output.html"))
    return require_not_older(cfg, choose_companies_house(page_links(body.decode("utf-8", errors="replace"), page),
                                                         page, files))


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _page_file_name(url: str, default: str) -> str:
    name = Path(urlsplit(url).path).name
    return name if re.fullmatch(r"[\w.-]+", name or "") else default


def choose_companies_house(links: list[str], page: str, files: str = "one_file") -> Release:
    """The newest month among the listing's links: its one file, or (files='parts') every part of it."""
    by_name = {Path(urlsplit(link).path).name: link for link in links}
    if files == "one_file":
        months = {}
        for name, link in by_name.items():
            if (m := ONE_FILE.fullmatch(name)) and (when := _month(int(m.group(1)), int(m.group(2)))):
                months[when] = (name, link)
        if not months:
            raise _no_release(page, links, "BasicCompanyDataAsOneFile-YYYY-MM-01.zip")
        when = max(months)
        name, link = months[when]
        return Release(COMPANIES_HOUSE, Path(name).stem, when, (link,), (name,), "listing", page)
    parts: dict[str, dict[int, tuple[int, str, str]]] = {}
    for name, link in by_name.items():
        if (m := PART_FILE.fullmatch(name)) and (when := _month(int(m.group(1)), int(m.group(2)))):
            parts.setdefault(when, {})[int(m.group(3))] = (int(m.group(4)), name, link)
    if not parts:
        raise _no_release(page, links, "BasicCompanyData-YYYY-MM-01-partN_M.zip")
    when = max(parts)
    listed = parts[when]
    totals = {total for total, _, _ in listed.values()}
    expected = set(range(1, max(totals) + 1))
    if len(totals) != 1 or set(listed) != expected:
        missing = sorted(expected - set(listed))
        raise ReleaseListingError(
            COMPANIES_HOUSE, f"the release listing has an incomplete multi-file release for {when}: parts "
                             f"{', '.join(map(str, sorted(listed)))} of {max(totals)} listed"
                             + (f" (missing {', '.join(map(str, missing))})" if missing else "")
                             + "; nothing was downloaded", file=page)
    ordered = [listed[n] for n in sorted(listed)]
    return Release(COMPANIES_HOUSE, f"BasicCompanyData-{when} ({len(ordered)} parts)", when,
                   tuple(link for _, _, link in ordered), tuple(name for _, name, _ in ordered), "listing", page)


def _no_release(page: str, links: list[str], pattern: str) -> ReleaseListingError:
    seen = f"{len(links)} link(s)" + (f", e.g. {Path(urlsplit(links[0]).path).name}" if links else "")
    return ReleaseListingError(COMPANIES_HOUSE, f"the release listing links no {pattern} ({seen}): the page has "
                                                "changed shape; nothing was downloaded", file=page)


# ---------------------------------------------------------------------------------------------- ONS Postcode Directory

def postcodes_release(cfg: Config) -> Release:
    """The configured ONSPD file, or the newest ONSPD release the ONS geography account published on ArcGIS."""
    from .sources._csv import file_name_from_url

    settings = cfg.source(POSTCODES)
    if settings["url"]:
        return release_from_config(POSTCODES, [settings["url"]], [file_name_from_url(settings["url"], "ONSPD.zip")])
    params = {"q": f'title:"{settings["search_title"]}" AND owner:{settings["owner"]}', "sortField": "created",
              "sortOrder": "desc", "num": SEARCH_PAGE_SIZE, "f": "json"}
    start = 1
    candidates: list[dict] = []
    for page_number in range(1, SEARCH_MAX_PAGES + 1):
        url = f"{settings['search_url']}?{urlencode({**params, 'start': start})}"
        answer = _search_answer(cfg, url, f"search-{page_number}.json")
        candidates += [item for item in answer["results"] if _is_onspd(item, settings["owner"])]
        next_start = answer.get("nextStart")
        if candidates or not isinstance(next_start, int) or next_start <= start:
            break  # newest first: the first page with a release holds the newest one
        start = next_start
    if not candidates:
        raise ReleaseListingError(
            POSTCODES, f"the release search found no {ONSPD_ITEM_TYPES[0]} titled "
                       f"'{settings['search_title']} (<Month> <Year>) ...' owned by {settings['owner']}: the "
                       "search answer is empty or has changed shape; nothing was downloaded",
            file=settings["search_url"])
    item = max(candidates, key=lambda i: (_onspd_month(i["title"]), i.get("created") or 0))
    when = _onspd_month(item["title"])
    name = str(item.get("name") or "")
    file_name = name if re.fullmatch(r"[\w.() -]+\.zip", name) else f"ONSPD_{item['id']}.zip"
    return require_not_older(cfg, Release(POSTCODES, item["title"], when, (settings["item_url"].format(id=item["id"]),),
                                          (file_name,), "search", settings["search_url"],
                                          _epoch_ms(item.get("created"))))


def _search_answer(cfg: Config, url: str, file_name: str) -> dict:
    """One page of ArcGIS search results, checked for the documented shape (total, start, num, nextStart, results)."""
    page = _without_query(url)
    body = _read_listing(cfg, POSTCODES, url, file_name)
    try:
        answer = json.loads(body)
    except ValueError:
        raise ReleaseListingError(POSTCODES, f"the release search did not answer JSON (it starts {body[:40]!r}); "
                                             "nothing was downloaded", file=page) from None
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]  # ArcGIS reports errors inside a 200 answer
        raise ReleaseListingError(POSTCODES, f"the release search answered error {error.get('code')}: "
                                             f"{error.get('message')}; nothing was downloaded", file=page)
    if not (isinstance(answer, dict) and isinstance(answer.get("results"), list)
            and all(isinstance(r, dict) for r in answer["results"])):
        keys = ", ".join(sorted(answer)) if isinstance(answer, dict) else type(answer).__name__
        raise ReleaseListingError(POSTCODES, f"the release search's answer has no 'results' list (has: {keys}): "
                                             "the API has changed shape; nothing was downloaded", file=page)
    return answer


def _is_onspd(item: dict, owner: str) -> bool:
    return (item.get("owner") == owner and item.get("type") in ONSPD_ITEM_TYPES and isinstance(item.get("id"), str)
            and re.fullmatch(r"[0-9a-f]{32}", item["id"]) is not None
            and _onspd_month(str(item.get("title") or "")) is not None)


def _onspd_month(title: str) -> str | None:
    m = ONSPD_TITLE.match(title)
    month = MONTHS.get(m.group(1).lower()) if m else None
    return _month(int(m.group(2)), month) if month else None


def _epoch_ms(value) -> str | None:
    if not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")
