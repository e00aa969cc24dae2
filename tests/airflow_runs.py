"""Run the project's DAGs under real Airflow in a subprocess (dag.test(): the task runner, retries, retry policy
and callbacks as a worker runs them), against a migrated SQLite metadata database of the test's own.

    env = airflow_env(tmp_path)                      # AIRFLOW_HOME in tmp_path, `airflow db migrate` run once
    runs = run_dags(env, [{"dag_id": "vcse_source_companies_house", "config": toml_text}], tmp_path)
    runs[0]["tasks"]["download"] == {"state": "failed", "try_number": 1, "tries": 1, "seconds": 0.4, ...}

Each run names a DAG, the VCSE_CONFIG text it runs with and extra environment variables (set while it runs:
dag.test() runs the tasks in-process). `quick_retries` shortens the gaps between tries to about a second so
a test can watch every retry happen; the real gaps are checked against docs/operations.md separately.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_RUNNER = r"""
import json, os, sys, time
from datetime import timedelta
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstancehistory import TaskInstanceHistory
from airflow.utils.session import create_session

plan = json.loads(open(sys.argv[2]).read())
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
results = []
for i, run in enumerate(plan):
    config = os.path.join(sys.argv[3], f"vcse-{i}.toml")
    with open(config, "w") as fh:
        fh.write(run["config"])
    saved = dict(os.environ)
    os.environ.update(run.get("env", {}), VCSE_CONFIG=config)
    dag = bag.dags[run["dag_id"]]
    if run.get("quick_retries"):
        for task in dag.tasks:
            task.retry_delay, task.max_retry_delay = timedelta(seconds=1), timedelta(seconds=1)
    started = time.monotonic()
    dr = dag.test()
    wall = time.monotonic() - started
    os.environ.clear()
    os.environ.update(saved)
    tasks = {}
    with create_session() as session:
        for ti in dr.get_task_instances(session=session):
            history = (session.query(TaskInstanceHistory).filter_by(dag_id=ti.dag_id, run_id=ti.run_id,
                       task_id=ti.task_id, map_index=ti.map_index).order_by(TaskInstanceHistory.try_number).all())
            tasks[ti.task_id] = {
                "state": str(ti.state), "try_number": ti.try_number,
                "tries": len(history) + 1,
                "retry_reasons": [h.retry_reason for h in history],  # why each earlier try was retried
                "seconds": ti.duration,
                "ended_at": ti.end_date.timestamp() if ti.end_date else None,  # epoch seconds
                "gaps": [(later.start_date - earlier.end_date).total_seconds()
                         for earlier, later in zip(history, history[1:] + [ti]) if later.start_date],
            }
    results.append({"dag_id": run["dag_id"], "state": str(dr.state), "tasks": tasks, "wall_seconds": wall})
print("RESULT " + json.dumps(results))
"""


def airflow_env(home: Path) -> dict[str, str]:
    """An environment with its own AIRFLOW_HOME under `home`, the project's DAGs and a migrated metadata database
    (a copy of the one `airflow db migrate` made for this test session: migrating takes about 15 s)."""
    env = _environment(home / "airflow")
    (home / "airflow").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_database(), home / "airflow" / METADATA_DB)
    return env


def _environment(airflow_home: Path) -> dict[str, str]:
    """This process's environment without VCSE/Airflow settings, then AIRFLOW_HOME, the project's DAGs and code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VCSE", "AIRFLOW"))}
    env.update(AIRFLOW_HOME=str(airflow_home), AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", PYTHONPATH=str(ROOT))
    return env


METADATA_DB = "airflow.db"  # the SQLite file under AIRFLOW_HOME that Airflow uses when nothing else is configured


@functools.cache
def _migrated_database() -> Path:
    """`airflow db migrate` once per test session, into a folder of its own removed at exit; the database file."""
    home = Path(tempfile.mkdtemp(prefix="vcse-airflow-migrated-"))
    atexit.register(shutil.rmtree, home, True)
    env = _environment(home)
    airflow = Path(sys.executable).with_name("airflow")
    migrate = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return home / METADATA_DB


def run_dags(env: dict[str, str], plan: list[dict], work: Path) -> tuple[list[dict], str]:
    """Run each planned DAG once with dag.test(); the runs' results and everything the subprocess printed."""
    work.mkdir(parents=True, exist_ok=True)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(ROOT / "dags"), str(plan_file), str(work)], env=env,
                          cwd=work, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, output[-5000:]
    return json.loads(lines[0][len("RESULT "):]), output


def vcse_toml(data_dir: Path, **sections: dict) -> str:
    """A VCSE_CONFIG file: the data folder, no progress bars, then `sections` ({"sources.ukcat": {"url": ...}})."""
    body = {"paths": {"data_dir": str(data_dir)}, "download": {"progress": False}}
    for name, settings in sections.items():
        body.setdefault(name, {}).update(settings)
    return "".join(f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
                   for name, settings in body.items())
