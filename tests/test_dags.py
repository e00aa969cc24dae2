"""The Airflow DAGs: they import cleanly, do no work at import, and have the intended shape and settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

# Airflow writes airflow.cfg into AIRFLOW_HOME when first imported: keep it out of the user's home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="vcse-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from vcse_pipeline import airflow_tasks, pipeline  # noqa: E402
from vcse_pipeline.config import DEFAULTS_FILE, Config  # noqa: E402

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"
SOURCES = ("charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat")
CRON = {"@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {f"vcse_source_{s}" for s in SOURCES} | {"vcse_register", "vcse_freshness",
                                                                    "vcse_opportunity_feed", "vcse_spend"}


def test_dag_files_do_no_work_at_import(tmp_path):
    # Config.load and duckdb.connect raise if called: importing the DAG files must call neither.
    script = f"""
import sys, runpy
import duckdb
from vcse_pipeline import config
def refuse(*a, **k):
    raise AssertionError("work done at DAG import")
config.Config.load = classmethod(refuse)
duckdb.connect = refuse
for name in ("vcse_sources.py", "vcse_register.py", "vcse_freshness.py", "vcse_opportunity_feed.py"):
    runpy.run_path({str(DAGS_DIR)!r} + "/" + name)
print("ok")
"""
    env = dict(os.environ, VCSE__PATHS__DATA_DIR=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("source", SOURCES)
def test_source_dag_shape(dagbag, source):
    dag = dagbag.dags[f"vcse_source_{source}"]
    with DEFAULTS_FILE.open("rb") as fh:
        schedule = tomllib.load(fh)["sources"][source]["schedule"]
    assert dag.schedule == schedule
    assert dag.timetable.expression in (schedule, CRON.get(schedule))
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "download": ["new_data", "stage", "verify"], "new_data": ["verify"], "verify": ["stage"], "stage": []}
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.dagrun_timeout is not None and dag.doc_md and "source" in dag.tags
    assert type(dag.get_task("new_data")).__name__.startswith("_ShortCircuit")
    stage = dag.get_task("stage")
    assert [a.uri for a in stage.outlets] == [f"vcse://staging/{source}"]
    download = dag.get_task("download")
    assert download.retries == 3 and download.retry_exponential_backoff == 2.0
    assert download.execution_timeout is not None and download.doc_md
    assert dag.get_task("verify").retries == 0  # a bad file stays bad
    assert dag.params.get_param("force").schema["type"] == "boolean"


def test_spend_dag_shape(dagbag):
    """fetch -> new files? -> measure; its schedule is the [spend] setting, read at parse time."""
    dag = dagbag.dags["vcse_spend"]
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "fetch_files": ["measure", "new_files"], "new_files": ["measure"], "measure": []}
    assert dag.max_active_runs == 1


def test_register_dag_shape(dagbag):
    dag = dagbag.dags["vcse_register"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"
    assert sorted(a.uri for a in condition.objects) == sorted(f"vcse://staging/{s}" for s in SOURCES)
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "wait_for_sources": ["start_run"],
        "start_run": ["assemble", "build_area", "check_quality", "finish_run", "list_areas", "national_state",
                      "needs_build", "publish", "record_changes"],
        "needs_build": ["national_state"],
        "national_state": ["build_area", "list_areas"],   # the groups are weighed by the national state's records
        "list_areas": ["build_area"],
        "build_area": ["assemble"],
        "assemble": ["check_quality", "publish", "record_changes"],
        "record_changes": ["check_quality", "publish"],
        "check_quality": ["publish"],
        "publish": ["finish_run"],
        "finish_run": [],
    }
    assert type(dag.get_task("build_area")).__name__.endswith("MappedOperator")
    assert dag.get_task("finish_run").is_teardown and dag.get_task("start_run").is_setup
    assert [a.uri for a in dag.get_task("publish").outlets] == ["vcse://register/published"]
    assert dag.get_task("check_quality").retries == 0 and dag.get_task("publish").retries == 2
    assert dag.get_task("start_run").retries == 0 and dag.get_task("list_areas").retries == 0
    assert dag.catchup is False and dag.max_active_runs == 1 and dag.dagrun_timeout is not None
    assert set(dag.tags) >= {"vcse", "register"} and dag.doc_md
    # Batching: the first task waits for sources mid-refresh without holding a worker slot; an unchanged run skips
    # everything from list_areas to publish (so no register asset event), and `force` rebuilds anyway.
    sensor = dag.get_task("wait_for_sources")
    assert sensor.mode == "reschedule" and sensor.retries == 2  # apache/airflow#71172: a spurious failure pokes again
    assert sensor.poke_interval == 60 and sensor.timeout == 180 * 60  # [batching] defaults
    assert type(dag.get_task("needs_build")).__name__.startswith("_ShortCircuit")
    assert [a.uri for a in dag.get_task("start_run").inlets] == [f"vcse://staging/{s}" for s in SOURCES]
    assert dag.params.get_param("force").resolve(value=False) is False


def test_the_register_sensor_settings_come_from_the_environment_at_parse_time(tmp_path):
    script = f"""
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(DAGS_DIR / "vcse_register.py")!r})
if bag.import_errors:
    raise SystemExit(str(bag.import_errors))
sensor = bag.dags["vcse_register"].get_task("wait_for_sources")
print(sensor.poke_interval, sensor.timeout)
"""
    env = dict(os.environ, VCSE__BATCHING__POKE_INTERVAL_SECONDS="15", VCSE__BATCHING__WAIT_TIMEOUT_MINUTES="30")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["15.0", "1800.0"]
    env["VCSE__BATCHING__POKE_INTERVAL_SECONDS"] = "0"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert ("environment variable VCSE__BATCHING__POKE_INTERVAL_SECONDS: [batching] poke_interval_seconds = 0 is "
            "out of range: it must be at least 1") in out.stderr


def test_register_params_accept_area_codes_or_names_and_validate_thresholds(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    params = dagbag.dags["vcse_register"].params
    areas = params.get_param("areas")
    assert areas.resolve(value=["E08000015", "E06000049"]) == ["E08000015", "E06000049"]
    assert areas.resolve(value=["Wirral", "E06000049"]) == ["Wirral", "E06000049"]  # names resolve at start_run
    assert areas.resolve(value=[]) == []
    for bad in ([""], ["E08000015", "E08000015"], [15]):
        with pytest.raises(ParamValidationError):
            areas.resolve(value=bad)
    band = params.get_param("row_count_band")
    assert band.resolve(value=0.3) == 0.3 and band.resolve(value=None) is None
    with pytest.raises(ParamValidationError):
        band.resolve(value=1.5)


def test_source_schedule_comes_from_defaults_or_environment(monkeypatch):
    monkeypatch.delenv("VCSE__SOURCES__POSTCODES__SCHEDULE", raising=False)
    assert airflow_tasks.source_schedule("postcodes") == "0 6 * * 1"
    monkeypatch.setenv("VCSE__SOURCES__POSTCODES__SCHEDULE", "0 5 2 2,5,8,11 *")
    assert airflow_tasks.source_schedule("postcodes") == "0 5 2 2,5,8,11 *"


def _staging_file(cfg: Config, source: str, files: list[Path], staged_at: datetime) -> None:
    path = cfg.staging_path(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE OR REPLACE TABLE _staged AS SELECT ? AS source, ? AS staged_at, ? AS files, ? AS row_counts, "
                "? AS seconds", [source, staged_at.isoformat(timespec="seconds"), json.dumps([str(f) for f in files]),
                                 json.dumps({"society": 3}), 0.1])
    con.close()


def test_new_data_after_an_upgrade_or_a_settings_change(tmp_path, monkeypatch):
    """The source DAG's download reports `restage` when the staging was not made from these files, settings and code
    (pipeline.staged_already): a new version of the code stages the same files again, as `vcse refresh` does."""
    society_list = Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv"
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VCSE__SOURCES__FCA_MUTUALS__URL", str(society_list))
    monkeypatch.setenv("VCSE__DOWNLOAD__PROGRESS", "false")
    first = airflow_tasks.download("fca_mutuals")
    assert first["restage"] and airflow_tasks.has_new_data(first)
    airflow_tasks.stage("fca_mutuals", first["files"], first["storage_id"])
    again = airflow_tasks.download("fca_mutuals")
    assert not again["new_files"] and not again["restage"] and not airflow_tasks.has_new_data(again)
    monkeypatch.setattr(pipeline, "stage_code", lambda: "the next version")
    upgraded = airflow_tasks.download("fca_mutuals")
    assert not upgraded["new_files"] and upgraded["restage"] and airflow_tasks.has_new_data(upgraded)


def test_new_data_means_files_changed_since_the_last_stage(tmp_path):
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}})
    folder = cfg.download_dir("fca_mutuals")
    folder.mkdir(parents=True)
    society_list = folder / "SocietyList.csv"
    society_list.write_text("Society Number,Society Suffix\n31067,R\n", encoding="utf-8")
    # Nothing staged yet: everything is new.
    assert airflow_tasks.files_newer_than_staging(cfg, "fca_mutuals", [society_list]) == ["SocietyList.csv"]
    # Staged after the file was written: nothing new, so the short-circuit skips verify and stage.
    old = time.time() - 3600
    os.utime(society_list, (old, old))
    _staging_file(cfg, "fca_mutuals", [society_list], datetime.now(UTC))
    assert airflow_tasks.files_newer_than_staging(cfg, "fca_mutuals", [society_list]) == []
    assert not airflow_tasks.has_new_data({"new_files": []})
    assert airflow_tasks.has_new_data({"new_files": []}, force=True)
    # A fresh download (e.g. its staging failed last time) is new even if the server now says not modified.
    os.utime(society_list, None)
    _staging_file(cfg, "fca_mutuals", [society_list], datetime.fromtimestamp(old, UTC))
    assert airflow_tasks.files_newer_than_staging(cfg, "fca_mutuals", [society_list]) == ["SocietyList.csv"]


def test_every_dag_has_a_run_timeout_and_every_task_an_execution_timeout(dagbag):
    """What docs/operations.md promises: a hung download, build or alert never holds a DAG's one active run (and so
    every later run) for ever. vcse_freshness and vcse_spend had neither or only one."""
    missing = [dag_id for dag_id, dag in dagbag.dags.items() if dag.dagrun_timeout is None]
    missing += [f"{dag_id}.{task.task_id}" for dag_id, dag in dagbag.dags.items() for task in dag.tasks
                if task.execution_timeout is None and type(task).__name__ != "EmptyOperator"]
    assert missing == []


def failure_context(source: str, task_id: str, error: BaseException | None) -> dict:
    """What Airflow passes a source task's on_failure_callback once the task failed for good (the parts read)."""
    from types import SimpleNamespace

    return {"dag": SimpleNamespace(dag_id=f"vcse_source_{source}"), "run_id": "scheduled__2026-12-04T06:00:00+00:00",
            "task_instance": SimpleNamespace(task_id=task_id), "exception": error}


def test_a_source_task_that_fails_for_good_is_one_failed_run_in_the_history(tmp_path, monkeypatch):
    """download, verify and stage failures reach run_history.jsonl once the task has failed for good (the failure
    callback), not on a try that Airflow retries; a stage refused by its gates is its `stage_refused` record alone."""
    from vcse_pipeline.errors import QualityGateError, SourceError
    from vcse_pipeline.run_history import read_history

    sample = Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv"
    society_list = tmp_path / "SocietyList.csv"
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VCSE__SOURCES__FCA_MUTUALS__URL", str(society_list))
    monkeypatch.setenv("VCSE__DOWNLOAD__PROGRESS", "false")
    monkeypatch.setenv("VCSE__QUALITY__BAND_MIN_ROWS", "1")
    cfg = airflow_tasks.load_config()

    with pytest.raises(SourceError) as missing:  # no file: the download task fails
        airflow_tasks.download("fca_mutuals")
    assert read_history(cfg) == []  # a try is not a run's end: Airflow may retry it
    airflow_tasks.end_refresh_on_failure(failure_context("fca_mutuals", "download", missing.value))
    airflow_tasks.end_refresh_on_failure(failure_context("fca_mutuals", "download", missing.value))  # cleared, again
    [download] = read_history(cfg)
    assert download["status"] == "failed"
    assert download["run_id"] == "fca_mutuals-scheduled__2026-12-04T06-00-00-00-00"  # the Airflow run's, made safe
    assert download["message"] == f"download fca_mutuals failed: {missing.value}"

    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    society_list.write_text("".join(lines[:3] + [lines[3].replace(",Registered\n", "\n")] + lines[4:]),
                            encoding="utf-8")
    fetched = airflow_tasks.download("fca_mutuals", "manual__2026-12-05T06:00:00+00:00")
    with pytest.raises(SourceError, match="expected 12 fields, found 11") as bad_row:
        airflow_tasks.verify("fca_mutuals", fetched["files"], fetched["storage_id"])
    context = dict(failure_context("fca_mutuals", "verify", bad_row.value), run_id="manual__2026-12-05T06:00:00+00:00")
    airflow_tasks.end_refresh_on_failure(context)
    verify = read_history(cfg)[-1]
    assert verify["message"] == f"verify fca_mutuals failed: {bad_row.value}" and len(read_history(cfg)) == 2

    society_list.write_text("".join(lines), encoding="utf-8")  # 15 societies: staged
    fetched = airflow_tasks.download("fca_mutuals")
    airflow_tasks.stage("fca_mutuals", fetched["files"], fetched["storage_id"])
    society_list.write_text("".join(lines[:4]), encoding="utf-8")  # 3 of them: the staged_rows gate refuses it
    fetched = airflow_tasks.download("fca_mutuals")
    with pytest.raises(QualityGateError) as refused:
        airflow_tasks.stage("fca_mutuals", fetched["files"], fetched["storage_id"])
    airflow_tasks.end_refresh_on_failure(
        dict(failure_context("fca_mutuals", "stage", refused.value), run_id="manual__2026-12-06T06:00:00+00:00"))
    assert [r["status"] for r in read_history(cfg)] == ["failed", "failed", "stage_refused"]
