"""Fetching the council's payment files (one per month or quarter) through download.fetch: http(s) URLs
conditionally and resumably, folders and local files copied in, all into <data_dir>/downloads/spend/."""

from __future__ import annotations

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
    """A folder's payment files (name order); anything else as it is."""
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        return [location]
    path = Path(unquote(urlsplit(location).path) if scheme == "file" else location)
    if path.is_dir():
        return [str(p) for p in sorted(path.iterdir())
                if p.is_file() and p.suffix.lower() in SPEND_SUFFIXES and not p.name.startswith(".")]
    return [location]


def file_name(location: str) -> str:
    name = Path(unquote(urlsplit(location).path)).name
    if not name:
        raise SourceError(NAME, f"cannot tell a file name from {location}: give a URL ending in the file's name")
    return name


def fetch_spend_files(cfg: Config, given: list[str] | None = None) -> list[FetchResult]:
    """Fetch every location (a file unchanged since the last fetch is not downloaded again)."""
    dest = cfg.download_dir(NAME)
    settings = cfg.section("download")
    results = []
    for location in locations(cfg, given):
        for one in _expand(location):
            results.append(fetch(one, dest / file_name(one), source=NAME, settings=settings,
                                 expect="csv" if one.lower().endswith(".csv") else None,
                                 progress=settings.get("progress", True)))
    return results
