"""A local Find a Tender and Contracts Finder replaying real OCDS releases, for the opportunity feed's tests.

    with OcdsReplay(releases) as api:          # FaultServer underneath: api.server.throttle(api.FAT_PATH) ...
        settings = api.feed_settings(page_size=10)
        api.fail_after(api.CF_PATH, "2025-02-10T00:00:00", status=503)   # every window from then on fails

Each service answers its own search path with the releases whose `date` falls in the asked window (both ends
included, as the services' own boundaries are: a release on a boundary comes twice), oldest first, `limit` to a page,
in an OCDS release package whose `links.next` carries an opaque `cursor` for the next page. Releases whose ocid
starts with ocds-kuma6s (Sell2Wales in the sample) are served by the Find a Tender replay, the rest (Contracts
Finder's ocds-b5fd17) by the Contracts Finder one; `add` puts a later release (an amendment) in the feed.

The envelopes follow each service's documented shape where it is documented (a release package: `uri`,
`publishedDate`, `publisher`, `license`, `releases`, and `links.next` for the next page); the envelope's other
fields here (`version`, `publicationPolicy`) are the OCDS release package schema's, assumed (docs/feed.md).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import urlencode

from http_fault_server import FaultServer

FAT_PATH = "/api/1.0/ocdsReleasePackages"
CF_PATH = "/Published/Notices/OCDS/Search"
OGL = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
ENVELOPES = {
    FAT_PATH: ("updatedFrom", "updatedTo", {"name": "Find a Tender", "uri": "https://www.find-tender.service.gov.uk"}),
    CF_PATH: ("publishedFrom", "publishedTo", {"name": "Contracts Finder",
                                                 "uri": "https://www.contractsfinder.service.gov.uk"}),
}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def service_path(release: dict) -> str:
    return FAT_PATH if str(release.get("ocid", "")).startswith("ocds-kuma6s") else CF_PATH


class OcdsReplay:
    FAT_PATH, CF_PATH = FAT_PATH, CF_PATH

    def __init__(self, releases: list[dict]):
        self.server = FaultServer()
        self.releases = {FAT_PATH: [], CF_PATH: []}
        for r in releases:
            self.add(r)
        self.failing: dict[str, tuple[datetime, int]] = {}
        self.duplicate_ids: set[str] = set()

    def __enter__(self) -> OcdsReplay:
        self.server.__enter__()
        for path in ENVELOPES:
            self.server.route(path, lambda query, path=path: self._answer(path, query))
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def add(self, release: dict) -> None:
        path = service_path(release)
        self.releases[path].append(release)
        self.releases[path].sort(key=lambda r: (_when(r["date"]), r["id"]))

    def duplicate(self, release_id: str) -> None:
        """Serve this release twice in its window's pages (as a feed that repeats a release would)."""
        self.duplicate_ids.add(release_id)

    def fail_after(self, path: str, when: str, status: int = 503) -> None:
        """Answer `status` to every request for a window ending after `when` (an outage from then on)."""
        self.failing[path] = (_when(when), status)

    def stop_failing(self) -> None:
        self.failing.clear()

    def feed_settings(self, **overrides) -> dict:
        """[feed] settings pointing at this replay: no pause between requests, tiny waits (recorded, not slept)."""
        return {"find_a_tender_url": self.server.url(FAT_PATH), "contracts_finder_url": self.server.url(CF_PATH),
                "request_interval_seconds": 0, "backoff_seconds": 0.5, "max_retry_after_seconds": 30,
                "retries": 3, **overrides}

    def requests(self, path: str) -> list:
        return self.server.requests_for(path)

    def _answer(self, path: str, query: dict):
        from_param, to_param, publisher = ENVELOPES[path]
        start, end = _when(query[from_param][0]), _when(query[to_param][0])
        if path in self.failing and end > self.failing[path][0]:
            status = self.failing[path][1]
            return status, {}, f"HTTP {status}\n".encode()
        limit = min(int(query.get("limit", ["100"])[0]), 100)
        stages = set(query["stages"][0].split(",")) if "stages" in query else None
        window = []
        for r in self.releases[path]:
            if start <= _when(r["date"]) <= end and (stages is None or _stage(r) in stages):
                window += [r, r] if r["id"] in self.duplicate_ids else [r]
        offset = int(base64.urlsafe_b64decode(query["cursor"][0]).decode()) if "cursor" in query else 0
        package = {"uri": self.server.url(path) + "?" + urlencode({k: v[0] for k, v in query.items()}),
                   "version": "1.1", "publishedDate": datetime(2025, 3, 12).isoformat() + "Z",
                   "publisher": publisher, "license": OGL,
                   "publicationPolicy": publisher["uri"] + "/publication-policy",
                   "releases": window[offset:offset + limit], "links": {}}
        if offset + limit < len(window):
            cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
            following = {k: v[0] for k, v in query.items() if k != "cursor"} | {"cursor": cursor}
            package["links"]["next"] = self.server.url(path) + "?" + urlencode(following)
        return json.dumps(package).encode()


def _stage(release: dict) -> str:
    """The stage a services' `stages` filter sees: planning, tender or award (award updates count as award)."""
    tags = release.get("tag") or []
    return next((s for s in ("award", "tender", "planning") if any(str(t).startswith(s) for t in tags)), "tender")
