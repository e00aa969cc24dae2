"""Fetching the council's payment files (one per month or quarter) through download.fetch: http(s) URLs
conditionally and resumably, folders and local files copied in, all into <data_dir>/downloads/spend/, one folder
per file (a short hash of its URL or path): two files of one name from two places never overwrite each other."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..download import FetchResult, fetch
from ..errors import SourceError
from .load import SPEND_SUFFIXES

NAME = "spend"


def locations(cfg: Config, given: list[str] | None = None) -> list[str]:
    """What to fetch: the given files, folders and URLs, else [spend] files."""
    configured = cfg.section("spend")["files"]
    found = list(given) if given else ([configured] if isinstance(configured, str) else list(configured))
    if not found:
        raise SourceError(NAME, "no payment files given: name files, folders or URLs, or set [spend] files")
    return found


def _expand(location: str) -> list[str]:
    """A folder's payment files (name order); a URL as it is; a local file as its full path (its source)."""
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        return [location]
    path = Path(unquote(urlsplit(location).path) if scheme == "file" else location)
    if path.is_dir():
        return [str(p.resolve()) for p in sorted(path.iterdir())
                if p.is_file() and p.suffix.lower() in SPEND_SUFFIXES and not p.name.startswith(".")]
    return [str(path.resolve())]


def file_name(location: str) -> str:
    name = Path(unquote(urlsplit(location).path)).name
    if not name:
        raise SourceError(NAME, f"cannot tell a file name from {location}: give a URL ending in the file's name")
    return name


def fetched_path(download_dir: Path, location: str) -> Path:
    """Where `location` is fetched to: <download_dir>/<short hash of the location>/<its name>. The same location
    always gives the same path (so the next fetch is conditional); the same name from another never does."""
    return download_dir / hashlib.sha256(location.encode("utf-8")).hexdigest()[:12] / file_name(location)


def fetch_spend_files(cfg: Config, given: list[str] | None = None) -> list[FetchResult]:
    """Fetch every location (a file unchanged since the last fetch is not downloaded again); each result's url is
    the file's source (spend/load.load_files keys files on it)."""
    dest = cfg.download_dir(NAME)
    settings = cfg.section("download")
    results = []
    for location in locations(cfg, given):
        for one in _expand(location):
            results.append(fetch(one, fetched_path(dest, one), source=NAME, settings=settings,
                                 expect="csv" if one.lower().endswith(".csv") else None,
                                 progress=settings.get("progress", True)))
    return results
