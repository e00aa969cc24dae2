"""The docker-compose deployment run for real: PostgreSQL and the Airflow 3 scheduler, dag-processor, API server and
triggerer with the compose file's settings (tests/airflow_deployment.py), DAGs driven through the REST API.

It proves the configuration operators deploy: the pinned deployment set starts with the FAB auth manager and
PostgreSQL, the scheduled DAGs publish the same register as `vcse demo` from the same files, and a scheduler
killed in the middle of a register build (SIGKILL, as a crashed container) is restarted and the run completes.
"""

from __future__ import annotations

import json
import re
import signal
import time

import airflow_deployment as harness
import duckdb
import pytest

from vcse_pipeline.demo import demo_source_overrides
from vcse_pipeline.run_history import safe_run_id

pytestmark = pytest.mark.slow
postgres_server, redis_server = harness.postgres_server, harness.redis_server  # the fixtures
airflow_deployment = harness.airflow_deployment

SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SOURCE_DAGS = tuple(f"vcse_source_{s}" for s in
                    ("charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat"))
REGISTER_DAG = "vcse_register"
BUILD_TASKS = ("build_area", "assemble", "record_changes", "check_quality")  # between start_run and publish
FINISHED = {"success", "failed"}


def demo_env(demo_dir) -> dict[str, str]:
    """VCSE__SOURCES__<NAME>__URL for each demo file, as the Makefile's DEMO_ENV sets them."""
    # The register's sensor looks every 2 s and wants 5 s of quiet after a stage (60 s and 120 s in production).
    env = {"VCSE__DOWNLOAD__PROGRESS": "false", "VCSE__BATCHING__POKE_INTERVAL_SECONDS": "2",
           "VCSE__BATCHING__QUIET_SECONDS": "5"}
    for source, settings in demo_source_overrides(demo_dir)["sources"].items():
        for key, value in settings.items():
            env[f"VCSE__SOURCES__{source.upper()}__{key.upper()}"] = json.dumps(value)
    return env


def counts(register) -> list[tuple]:
    con = duckdb.connect(str(register), read_only=True)
    try:
        return con.execute("SELECT area_code, count(*), count(*) FILTER (WHERE is_active) FROM organisation "
                           "GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()


def history(deployment) -> list[dict]:
    path = deployment.data_dir / "register" / "run_history.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def start(deployment, services) -> harness.ApiClient:
    """What `docker compose up` does: airflow-init, then the services until their health checks pass."""
    deployment.migrate_and_create_user()
    for service in services:
        deployment.start(service)
    deployment.wait_healthy()
    return deployment.api()


def wait_for_dags(deployment, api) -> None:
    def parsed() -> bool:
        dag_ids = {d["dag_id"] for d in api.request("GET", "/dags", params={"limit": 100})["dags"]}
        return {*SOURCE_DAGS, REGISTER_DAG} <= dag_ids
    deployment.wait_for("the dag-processor to parse the DAGs", parsed, timeout=180)
    assert api.request("GET", "/importErrors")["total_entries"] == 0


def test_compose_deployment_publishes_and_recovers_from_a_killed_scheduler(airflow_deployment, demo_register):
    started = time.monotonic()
    deployment = airflow_deployment(extra_env=demo_env(demo_register.cfg.data_dir / "demo-sources"))
    api = start(deployment, SERVICES)

    # The compose sizing is what the scheduler runs with: its LocalExecutor forks `parallelism` workers.
    parallelism = int(deployment.env("airflow-scheduler")["AIRFLOW__CORE__PARALLELISM"])
    assert parallelism <= 8
    deployment.wait_for(f"the scheduler's {parallelism} LocalExecutor workers", lambda: sum(
        "LocalExecutor" in " ".join(p.cmdline()) for p in deployment.process_tree("airflow-scheduler"))
        == parallelism, timeout=120)

    wait_for_dags(deployment, api)
    healthy = time.monotonic() - started

    # Each source runs once when unpaused (catchup off) and stages. The register stays paused meanwhile: a run
    # started before every source has staged would fail and retry for minutes. Then one source restaged with
    # {"force": true} emits its asset, and that event starts the register.
    for dag_id in SOURCE_DAGS:
        api.unpause(dag_id)
    deployment.wait_for("every source DAG to stage", lambda: all(
        any(r["state"] == "success" for r in api.dag_runs(d)) for d in SOURCE_DAGS), timeout=420, interval=3)
    staged = time.monotonic() - started
    assert {p.stem for p in (deployment.data_dir / "staging").glob("*.duckdb")} == {d[len("vcse_source_"):]
                                                                                     for d in SOURCE_DAGS}
    api.unpause(REGISTER_DAG)
    api.trigger("vcse_source_fca_mutuals", {"force": True})

    def published() -> list[dict] | None:
        runs = api.dag_runs(REGISTER_DAG)
        return runs if runs and all(r["state"] in FINISHED for r in runs) else None
    register_runs = deployment.wait_for("the register to publish", published, timeout=420, interval=3)
    assert [(r["run_type"], r["state"]) for r in register_runs] == [("asset_triggered", "success")]
    register = deployment.data_dir / "register" / "vcse_register.duckdb"
    assert counts(register) == counts(demo_register.path)  # the same files give the register `vcse demo` built
    assert counts(register)[0][0] == "E08000015" and counts(register)[0][1] > 100
    assert [h["status"] for h in history(deployment)][-1] == "published"
    first_publish = time.monotonic() - started

    # A register run whose scheduler dies mid-build, with every process under it (a killed container). The staging
    # is unchanged, so only {"force": true} makes it build (else start_run records 'unchanged' and skips the build).
    run_id = api.trigger(REGISTER_DAG, {"force": True})

    def building() -> dict | None:
        running = [t for t in api.task_instances(REGISTER_DAG, run_id)
                   if t["task_id"] in BUILD_TASKS and t["state"] == "running"]
        return running[0] if running else None
    killed = deployment.wait_for("a register build task to run", building, timeout=300, interval=0.5)
    deployment.kill("airflow-scheduler", signal.SIGKILL)
    killed_at = time.monotonic()
    deployment.start("airflow-scheduler")

    def finished() -> str | None:
        state = api.request("GET", f"/dags/{REGISTER_DAG}/dagRuns/{run_id}")["state"]
        return state if state in FINISHED else None
    assert deployment.wait_for("the interrupted register run to finish", finished, timeout=420, interval=3) \
        == "success", deployment.diagnostics()
    recovered = time.monotonic() - killed_at
    again = api.request("GET", f"/dags/{REGISTER_DAG}/dagRuns/{run_id}/taskInstances/{killed['task_id']}"
                               f"{'' if killed['map_index'] < 0 else '/' + str(killed['map_index'])}")
    assert again["state"] == "success" and again["try_number"] > killed["try_number"]  # it ran again
    last = history(deployment)[-1]
    assert last["run_id"] == safe_run_id(run_id)
    assert last["status"] == "published"  # forced: the same staging, built and published again
    assert counts(register) == counts(demo_register.path)
    assert not list((deployment.data_dir / "register" / "work").glob("*"))  # no half-built work left behind
    print(f"deployment test: healthy {healthy:.0f} s, staged {staged:.0f} s, published {first_publish:.0f} s, "
          f"recovered {recovered:.0f} s after the kill, total {time.monotonic() - started:.0f} s")



def test_celery_profile_runs_a_source_on_a_worker_through_redis(airflow_deployment, redis_server, demo_register):
    """The celery profile: CeleryExecutor (as .env sets it), Redis as broker, PostgreSQL as result backend, and
    the airflow-worker service's `celery worker` running the tasks (the pins that 5.7.0 broke)."""
    started = time.monotonic()
    deployment = airflow_deployment(redis=redis_server, variables={"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"},
                                    extra_env=demo_env(demo_register.cfg.data_dir / "demo-sources"))
    assert deployment.env("airflow-scheduler")["AIRFLOW__CELERY__BROKER_URL"] == \
        f"redis://:@{redis_server.host}:{redis_server.port}/0"
    api = start(deployment, (*SERVICES, "airflow-worker"))
    deployment.wait_for("the worker's compose health check (celery inspect ping)",
                        lambda: deployment.healthcheck("airflow-worker").returncode == 0, timeout=180, interval=5)
    wait_for_dags(deployment, api)

    api.unpause("vcse_source_fca_mutuals")
    runs = deployment.wait_for("the FCA mutuals source to finish on the worker", lambda: [
        r for r in api.dag_runs("vcse_source_fca_mutuals") if r["state"] in FINISHED], timeout=300, interval=3)
    assert [r["state"] for r in runs] == ["success"], deployment.diagnostics()
    tasks = api.task_instances("vcse_source_fca_mutuals", runs[0]["dag_run_id"])
    assert {(t["task_id"], t["state"]) for t in tasks} == {
        (task, "success") for task in ("download", "new_data", "verify", "stage")}

    def worker_succeeded() -> int:  # Celery logs a task's end just after the task reported it to Airflow
        log = (deployment.logs / "airflow-worker.log").read_text(encoding="utf-8")
        return len(re.findall(r"Task execute_workload\[[0-9a-f-]+\] succeeded", log))
    deployment.wait_for("the worker to log the four tasks", lambda: worker_succeeded() >= len(tasks), timeout=60)
    assert worker_succeeded() == len(tasks)
    assert (deployment.data_dir / "staging" / "fca_mutuals.duckdb").exists()
    print(f"celery deployment test: {time.monotonic() - started:.0f} s")
