"""Batching (the register waits while a source refreshes) and the shared-storage checks, without Airflow running."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_fingerprint import RELEASES, fake_staging

from vcse_pipeline import airflow_tasks, batching, storage
from vcse_pipeline.config import Config
from vcse_pipeline.errors import DivergedStorageError


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VCSE_CONFIG", raising=False)
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    return airflow_tasks.load_config()


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_register_waits_for_a_refresh_in_progress_and_a_quiet_period(cfg):
    now = datetime.now(UTC)
    assert batching.wait_reason(cfg, now) is None  # nothing staged, nothing refreshing
    fake_staging(cfg, RELEASES)
    for source in RELEASES:
        age(cfg.staging_path(source), 3600)
    assert batching.wait_reason(cfg) is None

    batching.mark_refreshing(cfg, "companies_house", "scheduled__2026-12-01T00:00:00+00:00")
    mark = json.loads(batching.refresh_mark(cfg, "companies_house").read_text(encoding="utf-8"))
    assert mark["run_id"] == "scheduled__2026-12-01T00:00:00+00:00" and mark["source"] == "companies_house"
    reason = batching.wait_reason(cfg)
    assert reason.startswith("still refreshing: companies_house (since ")
    assert not airflow_tasks.sources_settled()

    # A mark left by a worker that died 7 hours ago (stale after 6) does not hold the register for ever.
    age(batching.refresh_mark(cfg, "companies_house"), 7 * 3600)
    assert batching.wait_reason(cfg) is None
    batching.mark_refreshing(cfg, "companies_house")
    batching.clear_refreshing(cfg, "companies_house")
    assert batching.wait_reason(cfg) is None and airflow_tasks.sources_settled()

    # A source staged 30 s ago: another of its batch may be about to start; 120 s of quiet are wanted.
    age(cfg.staging_path("fca_mutuals"), 30)
    assert "less than [batching] quiet_seconds = 120 ago" in batching.wait_reason(cfg)
    assert batching.wait_reason(cfg, datetime.now(UTC) + timedelta(seconds=100)) is None
    assert batching.wait_reason(cfg.with_overrides({"batching": {"quiet_seconds": 10}})) is None


def test_a_source_refresh_marks_and_ends_itself(cfg, tmp_path, monkeypatch):
    incoming = tmp_path / "incoming" / "SocietyList.csv"
    incoming.parent.mkdir()
    incoming.write_bytes((Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv").read_bytes())
    monkeypatch.setenv("VCSE__SOURCES__FCA_MUTUALS__URL", str(incoming))
    monkeypatch.setenv("VCSE__DOWNLOAD__PROGRESS", "false")
    result = airflow_tasks.download("fca_mutuals", "manual__1")
    assert batching.refresh_mark(cfg, "fca_mutuals").exists()  # the register would wait now
    assert result["storage_id"] == storage.read_storage_id(cfg)
    assert airflow_tasks.continue_refresh(result)
    airflow_tasks.verify("fca_mutuals", result["files"], result["storage_id"])
    airflow_tasks.stage("fca_mutuals", result["files"], result["storage_id"])
    assert not batching.refresh_mark(cfg, "fca_mutuals").exists()
    event = airflow_tasks.staging_event("fca_mutuals")
    assert event["fingerprint"] and event["storage_id"] == result["storage_id"] and event["staged_at"]

    again = airflow_tasks.download("fca_mutuals", "manual__2")
    assert batching.refresh_mark(cfg, "fca_mutuals").exists()
    # nothing new (test_dags tests how new files are told apart): the refresh ends at new_data
    assert not airflow_tasks.continue_refresh({**again, "new_files": []})
    assert not batching.refresh_mark(cfg, "fca_mutuals").exists()

    airflow_tasks.download("fca_mutuals", "manual__3")
    airflow_tasks.end_refresh_on_failure({"dag": SimpleNamespace(dag_id="vcse_source_fca_mutuals")})
    assert not batching.refresh_mark(cfg, "fca_mutuals").exists()  # verify failed for good, say


def test_the_storage_id_is_made_once_and_a_task_on_another_folder_is_refused(cfg, tmp_path):
    first = storage.ensure_storage_id(cfg)
    assert len(first) == 32 and storage.ensure_storage_id(cfg) == first
    storage.check_storage(cfg, first, "assemble")
    other = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "elsewhere")}})
    with pytest.raises(DivergedStorageError, match=rf"^assemble on .*: data folder {tmp_path / 'elsewhere'} has no "
                                                   rf"\.vcse-storage-id, but this run started on storage id "
                                                   rf"{first[:12]}: this worker does not share"):
        storage.check_storage(other, first, "assemble")
    mine = storage.ensure_storage_id(other)
    with pytest.raises(DivergedStorageError, match=rf"holds storage id {mine[:12]}, but this run started"):
        storage.check_storage(other, first, "publish")
    with pytest.raises(DivergedStorageError, match="remove it only if no pipeline run is in progress"):
        storage.storage_id_path(other).write_text("not json", encoding="utf-8")
        storage.read_storage_id(other)


def event(source: str, fp: str | None, storage_id: str | None, when: str = "2026-12-03T06:00:00+00:00") -> object:
    """An asset event as the Task SDK hands it over (the attributes announced_staging reads)."""
    extra = {"source": source, "fingerprint": fp, "storage_id": storage_id} if fp else {}
    return SimpleNamespace(asset=SimpleNamespace(uri=f"vcse://staging/{source}"),
                           timestamp=datetime.fromisoformat(when), extra=extra,
                           source_dag_id=f"vcse_source_{source}", source_run_id=f"scheduled__{when}")


class Latest:
    """What `inlet_events[asset]` offers: .ascending(False).limit(1) gives the asset's newest event."""

    def __init__(self, events):
        self.events = events

    def __getitem__(self, asset):
        found = [e for e in self.events if e.asset.uri == asset]
        return SimpleNamespace(ascending=lambda _: SimpleNamespace(limit=lambda n: found[-n:]))


def test_the_register_refuses_staging_that_is_not_the_announced_release(cfg):
    fake_staging(cfg, RELEASES)
    here = storage.ensure_storage_id(cfg)
    assets = [f"vcse://staging/{s}" for s in RELEASES]
    fca = RELEASES["fca_mutuals"]
    # The triggering event is older than the asset's latest one: the latest is what staging must hold.
    triggering = {"vcse://staging/fca_mutuals": [event("fca_mutuals", "a" * 64, here, "2026-12-03T05:00:00+00:00")]}
    announced = airflow_tasks.announced_staging(assets, triggering, Latest([event("fca_mutuals", fca, here)]))
    assert [(e["source"], e["fingerprint"], e["run_id"]) for e in announced] == [
        ("fca_mutuals", fca, "scheduled__2026-12-03T06:00:00+00:00")]
    storage.check_announced(cfg, announced, here)  # staging holds the announced release
    storage.check_announced(cfg, airflow_tasks.announced_staging(assets, None, Latest([event("ukcat", None, None)])),
                            here)  # an event made by hand announces nothing

    stray = airflow_tasks.announced_staging(assets, None, Latest([event("fca_mutuals", "b" * 64, "f" * 32)]))
    with pytest.raises(DivergedStorageError) as info:
        storage.check_announced(cfg, stray, here)
    assert str(info.value) == (
        "staging is not what the source DAGs announced, so the register would be built from other data: fca_mutuals "
        "was staged (bbbbbbbbbbbb) by vcse_source_fca_mutuals run scheduled__2026-12-03T06:00:00+00:00 at "
        "2026-12-03T06:00:00+00:00 on a worker whose data folder is another (storage id ffffffffffff, here "
        f"{here[:12]}); {cfg.staging_path('fca_mutuals')} holds {fca[:12]}; every worker must mount the one shared "
        "data folder at the same path (docs/operations.md, several machines)")
    # Same folder, but the staging is not the announced release (staged again by hand since): refused too.
    with pytest.raises(DivergedStorageError, match=r"fca_mutuals: vcse_source_fca_mutuals run .* announced release "
                                                   r"cccccccccccc, but .*fca_mutuals.duckdb holds 333333333333"):
        storage.check_announced(cfg, airflow_tasks.announced_staging(assets, None, Latest(
            [event("fca_mutuals", "c" * 64, here)])), here)


def test_start_run_records_a_divergence_and_an_unchanged_run_builds_nothing(cfg, monkeypatch):
    from test_publish import BASE_ORGS, make_register

    from vcse_pipeline import publish, run_history

    monkeypatch.setattr("vcse_pipeline.pipeline.build_register",
                        lambda c, out, areas, as_of=None: make_register(out, BASE_ORGS))
    monkeypatch.setattr("vcse_pipeline.pipeline.resolve_areas", lambda c, areas: list(areas))
    fake_staging(cfg, RELEASES)
    publish.build_and_publish(cfg, run_id="first")
    here = storage.read_storage_id(cfg) or storage.ensure_storage_id(cfg)

    run = airflow_tasks.start_register_run("asset_triggered__2026-12-03T07:00:00+00:00",
                                           announced=[{"source": "ukcat", "fingerprint": RELEASES["ukcat"],
                                                       "storage_id": here}])
    assert run["unchanged"] and run["kept"] == run_history.read_history(cfg)[0]["version_file"]
    assert not airflow_tasks.needs_build(run) and run["work_dir"] is None
    assert airflow_tasks.finish_register_run(run, None, None).startswith("unchanged: kept register-")
    assert run_history.read_history(cfg)[-1]["status"] == "unchanged"
    forced = airflow_tasks.start_register_run("manual__2026-12-03T07:05:00+00:00", force=True)
    assert airflow_tasks.needs_build(forced) and Path(forced["work_dir"]).is_dir()
    airflow_tasks.finish_register_run(forced, None, None)  # its teardown releases the publish lock it holds

    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="^staging is not what the source DAGs announced"):
        airflow_tasks.start_register_run("asset_triggered__2026-12-03T08:00:00+00:00",
                                         announced=[{"source": "ukcat", "fingerprint": "9" * 64, "storage_id": here}])
    last = run_history.read_history(cfg)[-1]
    assert last["status"] == "failed" and last["message"].startswith("staging is not what the source DAGs announced")
