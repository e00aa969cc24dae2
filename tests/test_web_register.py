"""web/register.py: what the app reads of the published register version it serves."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import duckdb

from vcse_pipeline.web.register import _read_info


def test_published_at_is_iso_8601_in_utc(demo_register):
    # documented (RegisterInfo, the API's `published_at`) as ISO 8601, UTC: it was str() of the timestamp,
    # "2026-12-05 13:53:52+00:00", and in the session's time zone
    with duckdb.connect(str(demo_register.path), read_only=True) as con:
        con.execute("SET TimeZone = 'America/New_York'")   # not UTC: the answer must not follow it
        finished = con.execute("SELECT max(finished_at) FROM run_history WHERE status = 'published' "
                               "AND version_file IS NOT NULL").fetchone()[0]
        info = _read_info(con, demo_register.path)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", info.published_at), info.published_at
    assert datetime.fromisoformat(info.published_at) == finished
    assert datetime.fromisoformat(info.published_at).tzinfo == UTC
