"""The opportunity feed DAG under real Airflow (dag.test(), in a subprocess with its own metadata database) on the
demo register: harvest from the local replay of both services, match, digest and publish; a second run finds
nothing new and sends no second digest."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from airflow_runs import airflow_env, run_dags, vcse_toml
from ocds_replay import CF_PATH, FAT_PATH, OcdsReplay
from test_feed_harvest import RELEASES

from vcse_pipeline.procurement.feed import store

pytestmark = pytest.mark.slow


def test_the_feed_dag_harvests_matches_digests_and_publishes_on_the_demo_register(demo_register, tmp_path):
    data_dir = tmp_path / "data"
    register = data_dir / "register" / "vcse_register.duckdb"
    register.parent.mkdir(parents=True)
    shutil.copy(demo_register.path, register)
    env = airflow_env(tmp_path)
    with OcdsReplay(RELEASES) as api:
        # dag.test() runs now: reach back to the sample's first release (January 2025) in monthly windows
        feed = api.feed_settings(lookback_days=720, window_hours=24 * 30)
        config = vcse_toml(data_dir, feed=feed)
        runs, output = run_dags(env, [{"dag_id": "vcse_opportunity_feed", "config": config},
                                      {"dag_id": "vcse_opportunity_feed", "config": config}], tmp_path / "work")
        requests = {path: len(api.requests(path)) for path in (FAT_PATH, CF_PATH)}
    first, second = runs
    assert first["state"] == "success", output[-4000:]
    assert {t: s["state"] for t, s in first["tasks"].items()} == {"harvest": "success", "match": "success",
                                                                 "deliver": "success"}
    assert second["state"] == "success"
    assert all(n > 24 for n in requests.values())
    con = duckdb.connect(str(data_dir / "register" / store.PUBLISHED_NAME), read_only=True)
    try:
        releases = con.execute("SELECT count(*), count(DISTINCT release_id) FROM feed_release").fetchone()
        kept = con.execute("SELECT count(*) FROM feed_notice_area WHERE kept").fetchone()[0]
        shortlisted = con.execute("SELECT count(DISTINCT ocid) FROM feed_shortlist").fetchone()[0]
        runs_recorded = con.execute("SELECT status FROM feed_run ORDER BY started_at").fetchall()
    finally:
        con.close()
    assert releases == (290, 290)                     # the second run stored nothing twice
    assert kept > 0 and shortlisted > 0
    assert [r[0] for r in runs_recorded] == ["harvested", "harvested"]
    digests = sorted((data_dir / "feed" / "digests").glob("*.html"))
    assert len(digests) == 1                          # nothing new on the second run: no second digest
    assert "VCSE opportunities for Wirral" in digests[0].read_text(encoding="utf-8")
