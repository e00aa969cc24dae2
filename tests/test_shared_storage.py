"""Workers that do not share the data folder cannot publish from the wrong staging.

Two real worker processes with different data folders, one Airflow metadata database between them (as Celery
workers have): a source DAG run on the worker without the shared folder stages there and announces its release;
the register run on the shared folder refuses to build from staging that is not that release, and a register task
started on the other worker refuses because the folder's storage id is not the run's. The published register is
untouched throughout. Also: `vcse run` twice on the same sources publishes once, then records 'unchanged'.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_airflow_e2e import MISSING, ROOT, _airflow_env, _demo_config, _run_plan, _sha256

from vcse_pipeline.run_history import settled

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(MISSING), reason="needs modules not written yet: " + ", ".join(MISSING))]

WIRRAL = "E08000015"

# One register task, run as a worker would: the function the task calls, its XCom input as JSON, its result or its
# one-line error (and whether Airflow would retry it) as JSON.
WORKER = """
import json, sys
from vcse_pipeline import airflow_tasks
call, args = sys.argv[1], json.loads(sys.argv[2])
try:
    print("RESULT " + json.dumps({"ok": getattr(airflow_tasks, call)(*args["args"], **args.get("kwargs", {}))}))
except Exception as exc:
    print("RESULT " + json.dumps({"error": str(exc), "type": type(exc).__name__}))
"""


def worker(config: Path, call: str, *args, **kwargs) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VCSE")}
    env.update(VCSE_CONFIG=str(config), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", WORKER, call, json.dumps({"args": args, "kwargs": kwargs})],
                          env=env, capture_output=True, text=True, timeout=600)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and line, (proc.stdout + proc.stderr)[-3000:]
    return json.loads(line[0][len("RESULT "):])


def vcse(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VCSE")}
    env.update(VCSE_CONFIG=str(config), PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run([sys.executable, "-c", "from vcse_pipeline.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=900)


def history(data_dir: Path) -> list[dict]:
    """run_history.jsonl as `vcse history` reads it: a 'publishing' record is settled by its run's later one."""
    lines = (data_dir / "register" / "run_history.jsonl").read_text().splitlines()
    return settled([json.loads(line) for line in lines])


def test_a_worker_without_the_shared_folder_cannot_make_the_register_publish_old_staging(
        tmp_path, session_demo_sources):
    demo_dir = tmp_path / "demo-sources"
    shutil.copytree(session_demo_sources, demo_dir)
    shared_config, shared = _demo_config(tmp_path, "shared", demo_dir)

    # `vcse run` twice on the same sources: one publish, then 'unchanged', versions/ as it was.
    first = vcse(shared_config, "run")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    register = shared / "register" / "vcse_register.duckdb"
    published_sha = _sha256(register)
    versions = sorted(p.name for p in (shared / "register" / "versions").glob("register-*.duckdb"))
    second = vcse(shared_config, "run")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Unchanged: the staged releases, settings and code are those of the published register" in second.stdout
    assert [r["status"] for r in history(shared)] == ["published", "unchanged"]
    assert sorted(p.name for p in (shared / "register" / "versions").glob("register-*.duckdb")) == versions
    assert _sha256(register) == published_sha

    # Worker "local" has its own data folder (a local disk instead of the shared mount) and this week's FCA list.
    fca_dir = tmp_path / "incoming" / "fca_mutuals"
    fca_dir.mkdir(parents=True)
    society_list = demo_dir / "fca_mutuals" / "SocietyList.csv"
    lines = society_list.read_text(encoding="utf-8").splitlines(keepends=True)
    (fca_dir / "SocietyList.csv").write_text("".join(lines[:-1]), encoding="utf-8")  # a society deregistered
    local_config, local = _demo_config(tmp_path, "local", demo_dir)
    local_config.write_text(local_config.read_text(encoding="utf-8").replace(
        json.dumps(str(society_list.resolve())), json.dumps(str(fca_dir / "SocietyList.csv"))), encoding="utf-8")
    assert str(fca_dir) in local_config.read_text(encoding="utf-8")

    env_shared = _airflow_env(tmp_path, shared_config)  # one metadata database for both workers
    env_local = dict(env_shared, VCSE_CONFIG=str(local_config))
    staged = _run_plan(env_local, tmp_path,
                       [["vcse_source_fca_mutuals", "fca", None, None]])
    assert staged["runs"]["fca"]["tasks"]["stage"] == "success"  # it staged, on the wrong disk, and said so
    announced = staged["events"][-1]["extra"]
    assert (local / "staging" / "fca_mutuals.duckdb").exists() and not (shared / "staging" / "fca_mutuals.refreshing"
                                                                        ).exists()

    # The register run on the shared folder: its start_run refuses at once (no retry), nothing is built.
    out = _run_plan(env_shared, tmp_path, [["vcse_register", "register", None, None]])
    run = out["runs"]["register"]
    assert run["state"] == "failed"
    assert run["tasks"]["wait_for_sources"] == "success" and run["tasks"]["start_run"] == "failed"
    assert run["tasks"]["publish"] == "upstream_failed"
    assert "AirflowFailException" in out["log"]
    last = history(shared)[-1]
    assert last["status"] == "failed"
    assert last["message"].startswith("staging is not what the source DAGs announced, so the register would be "
                                      f"built from other data: fca_mutuals was staged ({announced['fingerprint'][:12]})"
                                      " by vcse_source_fca_mutuals run ")
    assert f"on a worker whose data folder is another (storage id {announced['storage_id'][:12]}" in last["message"]
    assert "\n" not in last["message"]
    assert _sha256(register) == published_sha
    assert sorted(p.name for p in (shared / "register" / "versions").glob("register-*.duckdb")) == versions

    # A register run started on the shared folder whose build task lands on the other worker: refused at its start.
    started = worker(shared_config, "start_register_run", "manual__2026-12-03T10:00:00+00:00", force=True)["ok"]
    assert started["storage_id"] and not started["unchanged"]
    built = worker(local_config, "build_area_file", started, WIRRAL)
    assert built["type"] == "AirflowFailException"  # fails without retrying
    assert built["error"].startswith(f"build_area {WIRRAL} on ")
    assert (f"data folder {local} holds storage id {announced['storage_id'][:12]}, but this run started on storage "
            f"id {started['storage_id'][:12]}: this worker does not share the run's data folder") in built["error"]
    assert not list((local / "register").glob("work/*/area-*.duckdb"))
    assert worker(shared_config, "finish_register_run", started, None, None)["ok"] == "failure recorded"
    assert _sha256(register) == published_sha
    assert [r["status"] for r in history(shared)] == ["published", "unchanged", "failed", "failed"]
