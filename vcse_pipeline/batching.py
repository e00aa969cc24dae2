"""One register build per batch of refreshed sources: source DAGs mark a refresh in progress, the register waits.

A source DAG marks `<data_dir>/staging/<source>.refreshing` when its download starts and removes the mark when the
refresh ends (nothing new, staged, or failed). The register DAG's first task waits until no source is marked and the
last stage is `[batching] quiet_seconds` old, so sources refreshed together are built together. A mark older than
`[batching] stale_refresh_hours` (a worker that died) is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .clock import now_iso
from .config import Config

log = logging.getLogger(__name__)

MARK_SUFFIX = ".refreshing"


def refresh_mark(cfg: Config, source: str) -> Path:
    return cfg.staging_path(source).with_suffix(MARK_SUFFIX)


def mark_refreshing(cfg: Config, source: str, run_id: str | None = None) -> None:
    path = refresh_mark(cfg, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"source": source, "run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                                "started_at": now_iso()}) + "\n",
                    encoding="utf-8")


def clear_refreshing(cfg: Config, source: str) -> None:
    refresh_mark(cfg, source).unlink(missing_ok=True)


def _modified(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None


def refreshes_in_progress(cfg: Config, now: datetime | None = None) -> list[dict]:
    """The sources marked as refreshing, with since when; a mark older than stale_refresh_hours is left out."""
    from .sources import SOURCE_NAMES

    now = now or datetime.now(UTC)
    stale = timedelta(hours=cfg.section("batching")["stale_refresh_hours"])
    busy = []
    for source in SOURCE_NAMES:
        since = _modified(refresh_mark(cfg, source))
        if since is None:
            continue
        if now - since > stale:
            log.warning("ignoring %s: marked %s, older than [batching] stale_refresh_hours", refresh_mark(cfg, source),
                        since.isoformat(timespec="seconds"))
            continue
        busy.append({"source": source, "since": since})
    return busy


def last_stage(cfg: Config) -> datetime | None:
    """When the most recent staging file was swapped in (its modification time)."""
    from .sources import SOURCE_NAMES

    times = [t for t in (_modified(cfg.staging_path(s)) for s in SOURCE_NAMES) if t]
    return max(times) if times else None


def wait_reason(cfg: Config, now: datetime | None = None) -> str | None:
    """Why the register must not start building yet (a refresh in progress, a stage too recent), or None."""
    now = now or datetime.now(UTC)
    busy = refreshes_in_progress(cfg, now)
    if busy:
        return "still refreshing: " + ", ".join(f"{b['source']} (since {b['since']:%Y-%m-%d %H:%M:%S} UTC)"
                                                 for b in busy)
    quiet = timedelta(seconds=cfg.section("batching")["quiet_seconds"])
    staged = last_stage(cfg)
    if staged and now - staged < quiet:
        return (f"a source was staged at {staged:%H:%M:%S} UTC, less than [batching] quiet_seconds = "
                f"{quiet.total_seconds():g} ago: waiting for the rest of the batch")
    return None
