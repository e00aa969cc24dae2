"""End to end through Airflow: every source DAG then the register DAG, with dag.test(), on the demo registers.

Runs in a subprocess with its own AIRFLOW_HOME (a migrated SQLite metadata database in tmp_path) and its own
VCSE_CONFIG pointing every source at the generated demo files, so nothing outside tmp_path is touched.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from airflow_runs import airflow_env

from vcse_pipeline.config import Config
from vcse_pipeline.run_history import settled

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat")
NEEDED = ("vcse_pipeline.demo.generate", "vcse_pipeline.register.build", "vcse_pipeline.tagging.apply",
          *(f"vcse_pipeline.sources.{s}" for s in SOURCES))


def _missing() -> list[str]:
    missing = []
    for name in NEEDED:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except ModuleNotFoundError:
            missing.append(name)
    return missing


MISSING = _missing()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason="needs modules not written yet: " + ", ".join(MISSING)),
]

# Runs inside the subprocess: the DAG runs of a plan (JSON: [[dag_id, key, conf, hold_source], ...]) with dag.test(),
# then prints each run's state, task states and sensor reschedules, and every staging asset event's extra. A
# hold_source is marked as refreshing for HOLD_SECONDS while the run starts, as a source DAG mid-download would be.
RUN_DAGS = """
import json, sys, threading, time
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent, AssetModel
from airflow.models.taskreschedule import TaskReschedule
from airflow.settings import Session
from sqlalchemy import select
from vcse_pipeline import airflow_tasks, batching

HOLD_SECONDS = 4
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
out = {"runs": {}}
for dag_id, key, conf, hold in json.loads(sys.argv[2]):
    released = None
    if hold:
        cfg = airflow_tasks.load_config()
        batching.mark_refreshing(cfg, hold, "held-by-test")
        timer = threading.Timer(HOLD_SECONDS, batching.clear_refreshing, (cfg, hold))
        timer.start()
        released = time.time() + HOLD_SECONDS
    dr = bag.dags[dag_id].test(run_conf=conf or None)
    tis = dr.get_task_instances()
    with Session() as session:
        waits = {ti.task_id: session.scalar(select(TaskReschedule.id).where(TaskReschedule.ti_id == ti.id).limit(1))
                 is not None for ti in tis}
    out["runs"][key] = {"state": str(dr.state), "tasks": {ti.task_id: str(ti.state) for ti in tis},
                        "rescheduled": sorted(t for t, w in waits.items() if w),
                        "started_after_release": {ti.task_id: ti.start_date.timestamp() >= released
                                                  for ti in tis if released and ti.start_date}}
with Session() as session:
    rows = session.execute(select(AssetModel.uri, AssetEvent.extra)
                           .join(AssetModel, AssetEvent.asset_id == AssetModel.id).order_by(AssetEvent.id)).all()
out["events"] = [{"uri": uri, "extra": extra} for uri, extra in rows]
print("RESULT " + json.dumps(out))
"""


def _toml(overrides: dict, data_dir: Path) -> str:
    lines = ["[paths]", f"data_dir = {json.dumps(str(data_dir))}", "[download]", "progress = false"]
    for source, settings in overrides["sources"].items():
        lines.append(f"[sources.{source}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _airflow_env(tmp_path: Path, config: Path) -> dict:
    """airflow_runs.airflow_env (its own AIRFLOW_HOME, migrated) running with `config`; the register's sensor looks
    every second (not every minute) and no quiet period is needed between stages."""
    env = airflow_env(tmp_path)
    env.update(VCSE_CONFIG=str(config), VCSE__BATCHING__POKE_INTERVAL_SECONDS="1", VCSE__BATCHING__QUIET_SECONDS="0")
    return env


def _run_plan(env: dict, cwd: Path, plan: list) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN_DAGS, str(ROOT / "dags"), json.dumps(plan)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    result_line = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and result_line, (proc.stdout + proc.stderr)[-5000:]
    out = json.loads(result_line[0][len("RESULT "):])
    out["log"] = proc.stdout + proc.stderr
    return out


def _demo_config(tmp_path: Path, name: str, demo_dir: Path) -> tuple[Path, Path]:
    from vcse_pipeline.demo.generate import demo_source_overrides

    data_dir = tmp_path / name
    config = tmp_path / f"{name}.toml"
    config.write_text(_toml(demo_source_overrides(demo_dir), data_dir), encoding="utf-8")
    return config, data_dir


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dag_chain_publishes_the_demo_register_once_per_change(tmp_path, session_demo_sources):
    from vcse_pipeline.fingerprint import staging_fingerprint
    from vcse_pipeline.storage import read_storage_id

    demo_dir = tmp_path / "demo-sources"
    shutil.copytree(session_demo_sources, demo_dir)
    config, data_dir = _demo_config(tmp_path, "data", demo_dir)
    env = _airflow_env(tmp_path, config)

    plan = [[f"vcse_source_{s}", f"vcse_source_{s}", None, None] for s in SOURCES]
    plan += [["vcse_source_fca_mutuals", "fca_mutuals_again", None, None],
             ["vcse_register", "vcse_register", None, "ukcat"],   # ukcat still refreshing when the run starts
             ["vcse_source_fca_mutuals", "fca_mutuals_forced", {"force": True}, None],  # the same list staged again
             ["vcse_register", "register_again", None, None]]
    out = _run_plan(env, tmp_path, plan)
    runs = out["runs"]

    for source in SOURCES:
        run = runs[f"vcse_source_{source}"]
        assert run["state"] == "success", (source, run)
        assert run["tasks"] == {"download": "success", "new_data": "success", "verify": "success",
                                "stage": "success"}, source
        assert (data_dir / "staging" / f"{source}.duckdb").exists()
    # Unchanged files: the short-circuit skips verify and stage, so no asset event is emitted.
    again = runs["fca_mutuals_again"]
    assert again["state"] == "success" and again["tasks"]["stage"] == "skipped"
    assert not list((data_dir / "staging").glob("*.refreshing"))  # every refresh ended: staged, or nothing new

    # Each staging event carries the release staged and the data folder's id.
    storage_id = read_storage_id(Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}}))
    events = [e for e in out["events"] if e["uri"].startswith("vcse://staging/")]
    assert len(events) == len(SOURCES) + 1  # the forced fca restage too
    for event in events[:len(SOURCES)]:
        source = event["uri"].rsplit("/", 1)[-1]
        fp = event["extra"]["fingerprint"]
        assert len(fp) == 64 and event["extra"]["storage_id"] == storage_id, event
        assert fp == staging_fingerprint(Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}}),
                                         source)
    assert events[-1]["extra"]["fingerprint"] == events[SOURCES.index("fca_mutuals")]["extra"]["fingerprint"]

    register = runs["vcse_register"]
    assert register["state"] == "success", (register, out["log"][-5000:])
    assert {t: s for t, s in register["tasks"].items() if s != "success"} == {}
    # The sensor held the build while ukcat was marked as refreshing, and start_run began only once it ended.
    assert register["rescheduled"] == ["wait_for_sources"]
    assert register["started_after_release"]["start_run"] is True

    published = data_dir / "register" / "vcse_register.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    try:
        organisations = con.execute("SELECT count(*) FROM organisation WHERE area_code = 'E08000015'").fetchone()[0]
        assert organisations > 0
        history = con.execute("SELECT status, areas FROM run_history").fetchall()
        assert history == [("published", '["E08000015"]')]
        assert con.execute("SELECT count(*) FROM quality_gate WHERE NOT passed").fetchone()[0] == 0
        changes = con.execute("SELECT change_type, count(*) FROM register_change GROUP BY 1").fetchall()
        assert changes == [("new", organisations)]
        sources = json.loads(con.execute("SELECT sources FROM run_history").fetchone()[0])
        assert all(sources[s]["staged"] for s in SOURCES)
        assert sources["fca_mutuals"]["files"][0]["sha256"]
        fingerprint = con.execute("SELECT fingerprint FROM run_history").fetchone()[0]
    finally:
        con.close()
    assert not list((data_dir / "register" / "work").glob("*"))  # the teardown removed the area files

    # A refresh that staged the same files again: the next register run finds nothing new and publishes nothing.
    assert runs["fca_mutuals_forced"]["tasks"]["stage"] == "success"
    unchanged = runs["register_again"]
    assert unchanged["state"] == "success", unchanged
    assert unchanged["tasks"] == {"wait_for_sources": "success", "start_run": "success", "needs_build": "success",
                                  "list_areas": "skipped", "national_state": "skipped", "build_area": "skipped",
                                  "assemble": "skipped",
                                  "record_changes": "skipped", "check_quality": "skipped", "publish": "skipped",
                                  "finish_run": "success"}
    assert [e for e in out["events"] if e["uri"] == "vcse://register/published"] == [
        {"uri": "vcse://register/published", "extra": {}}]  # one register event: the one publish
    raw = [json.loads(line) for line in (data_dir / "register" / "run_history.jsonl").read_text().splitlines()]
    assert [r["status"] for r in raw] == ["publishing", "published", "unchanged"]  # history first, then the switch
    history = settled(raw)
    assert [r["status"] for r in history] == ["published", "unchanged"]
    assert history[1]["fingerprint"] == fingerprint and history[1]["version_file"] == history[0]["version_file"]
    assert [p.name for p in (data_dir / "register" / "versions").glob("register-*.duckdb")] == [
        history[0]["version_file"]]
