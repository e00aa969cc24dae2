"""The one way the pipeline writes "now": UTC, to the second, ISO 8601 (what run history, manifests and locks keep)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """The current UTC time as text, e.g. "2026-12-03T17:10:36+00:00"."""
    return datetime.now(UTC).isoformat(timespec="seconds")
