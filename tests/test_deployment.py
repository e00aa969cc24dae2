"""The docker-compose deployment run for real: PostgreSQL and the Airflow 3 scheduler, dag-processor, API server and
triggerer with the compose file's settings (tests/airflow_deployment.py), DAGs driven through the REST API.

It proves the configuration operators deploy: the pinned deployment set starts with the FAB auth manager and
PostgreSQL, the scheduled DAGs publish the same register as `vcse demo` from the same files, a scheduler killed
in the middle of a register build (SIGKILL, as a crashed container) is restarted and the run completes, two
sources refreshed together publish once and an untouched refresh publishes nothing.

The LocalExecutor scenarios share one deployment (`published_deployment`, started and published once per module:
that is most of a scenario's time); each checks it starts from a published, idle register, so any order works.
The Celery profile runs deployments of their own (another executor): one worker running a source, and two workers
sharing one register run's areas. Every deployment's metadata database is a copy of the one airflow-init migrated
once for the session (`airflow_init_database`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import airflow_deployment as harness
import duckdb
import pytest
from bench_scripts import load_bench

from vcse_pipeline import publish
from vcse_pipeline.config import Config
from vcse_pipeline.demo import demo_source_overrides
from vcse_pipeline.fingerprint import file_sha256
from vcse_pipeline.run_history import safe_run_id

pytestmark = pytest.mark.slow
postgres_server, redis_server = harness.postgres_server, harness.redis_server  # the fixtures
airflow_init_database, airflow_deployment = harness.airflow_init_database, harness.airflow_deployment

SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SOURCE_DAGS = tuple(f"vcse_source_{s}" for s in
                    ("charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat"))
REGISTER_DAG = "vcse_register"
BUILD_TASKS = ("build_area", "assemble", "record_changes", "check_quality")  # between start_run and publish
FINISHED = {"success", "failed"}
# Wirral and three demo neighbours of different sizes (tests/test_parallel_build.py builds the same four).
SCALE_OUT_AREAS = ["E08000015", "E08000012", "E06000050", "E08000014"]


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


def logged_errors(deployment, *services: str) -> list[str]:
    """The lines the services logged at ERROR (structlog's level mark), which log-based alerting would page on."""
    return [line for service in services
            for line in (deployment.logs / f"{service}.log").read_text(encoding="utf-8").splitlines()
            if "[error" in line]


def start(deployment, services) -> harness.ApiClient:
    """What `docker compose up` does: airflow-init (done once for the session when the deployment's database is a
    copy of `airflow_init_database`), then the services until their health checks pass."""
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


# First in the file: the LocalExecutor scenarios' deployment starts with the first of them and stays up to the
# module's end, so a Celery deployment started after them would share the machine's cores with it.
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
    # Through this deployment's own queue: another session's worker on the same Redis cannot have run them.
    assert {t["queue"] for t in tasks} == {deployment.env("airflow-worker")["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]}

    def worker_succeeded() -> int:  # Celery logs a task's end just after the task reported it to Airflow
        log = (deployment.logs / "airflow-worker.log").read_text(encoding="utf-8")
        return len(re.findall(r"Task execute_workload\[[0-9a-f-]+\] succeeded", log))
    deployment.wait_for("the worker to log the four tasks", lambda: worker_succeeded() >= len(tasks), timeout=60)
    assert worker_succeeded() == len(tasks)
    assert logged_errors(deployment, "airflow-worker") == []  # a successful run is no false alarm
    assert (deployment.data_dir / "staging" / "fca_mutuals.duckdb").exists()
    print(f"celery deployment test: {time.monotonic() - started:.0f} s")


def test_two_celery_workers_share_one_run_s_areas_and_publish_the_one_process_register(
        airflow_deployment, redis_server, demo_register, tmp_path, monkeypatch):
    """Scaling out (docs/scaling.md, "When to add Celery workers"): two Celery workers on one broker and one data
    folder, as `docker compose --profile celery up -d --scale airflow-worker=2` runs them, each taking one task at
    a time. One register run of four areas: its mapped build_area tasks are shared between the two workers, one
    assemble task loads their files, and the register published is, table by table, the one `vcse publish` builds
    in one process from the same staging."""
    deployment = airflow_deployment(redis=redis_server,
                                    variables={"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                                               "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1"},
                                    extra_env=demo_env(demo_register.cfg.data_dir / "demo-sources"))
    for folder in ("staging", "cache"):  # staged as the demo's, as the source DAGs would have left it
        shutil.copytree(demo_register.cfg.data_dir / folder, deployment.data_dir / folder)
    api = start(deployment, SERVICES)
    workers = {"airflow-worker": 1, "airflow-worker-2": 2}
    for replica in workers.values():
        deployment.start("airflow-worker", replica=replica)

    def log(worker: str) -> str:
        return (deployment.logs / f"{worker}.log").read_text(encoding="utf-8")
    deployment.wait_for("both Celery workers to be ready", lambda: all(
        re.search(r"\S+@\S+ ready\.", log(w)) for w in workers), timeout=180, interval=2)
    wait_for_dags(deployment, api)
    api.unpause(REGISTER_DAG)
    run_id = api.trigger(REGISTER_DAG, {"areas": SCALE_OUT_AREAS})
    runs = deployment.wait_for("the register run to finish", lambda: [
        r for r in api.dag_runs(REGISTER_DAG) if r["dag_run_id"] == run_id and r["state"] in FINISHED],
        timeout=600, interval=3)
    assert runs[0]["state"] == "success", deployment.diagnostics()
    tasks = api.task_instances(REGISTER_DAG, run_id)
    builds = sorted((t for t in tasks if t["task_id"] == "build_area"), key=lambda t: t["map_index"])
    assert [(t["map_index"], t["state"]) for t in builds] == [(i, "success") for i in range(len(SCALE_OUT_AREAS))]
    assert [t["state"] for t in tasks if t["task_id"] == "assemble"] == ["success"]

    # Which worker ran each task: each logs the task instance it executes (its id, task and map index).
    ran_on = {}
    for worker in workers:
        for ti_id in re.findall(r"Executing workload in Celery: .*? ti=TaskInstanceDTO\(id=UUID\('([0-9a-f-]+)'\)",
                                log(worker)):
            ran_on[ti_id] = worker
    assert {t["id"] for t in tasks if t["state"] == "success"} <= ran_on.keys()
    assert {ran_on[t["id"]] for t in builds} == set(workers), [(t["map_index"], ran_on[t["id"]]) for t in builds]
    # A successful run logs no error: assemble reads the area files in one request, not one past the end.
    assert logged_errors(deployment, *workers) == []

    # The same areas built and published in one process (`vcse publish`, one build worker) from the same staging,
    # counting from the Airflow run's day: every table and view the same row for row.
    register = deployment.data_dir / "register" / "vcse_register.duckdb"
    published = [h for h in history(deployment) if h["status"] == "published"]
    assert [h["run_id"] for h in published] == [safe_run_id(run_id)]
    run_day = datetime.fromisoformat(published[0]["started_at"]).astimezone().date()

    class RunDay(date):
        @classmethod
        def today(cls):
            return run_day
    monkeypatch.setattr(publish, "date", RunDay)
    one = tmp_path / "one-process"
    for folder in ("staging", "cache"):
        shutil.copytree(demo_register.cfg.data_dir / folder, one / folder)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(one)}, "register": {"build_workers": 1}})
    assert sorted(publish.build_and_publish(cfg, run_id="one-process", areas=SCALE_OUT_AREAS).counts) == \
        sorted(SCALE_OUT_AREAS)
    assert load_bench("compare_registers").compare(cfg.register_path, register) == []
    print("celery scale-out test: build_area on", {w: sorted(t["map_index"] for t in builds if ran_on[t["id"]] == w)
                                                    for w in workers})


@dataclass
class PublishedDeployment:
    """The LocalExecutor deployment the scenarios share, with the demo sources it serves (a private copy that a
    scenario may replace files in, as a publisher releases them) and the times its setup took."""
    deployment: harness.AirflowDeployment
    sources: Path
    register: Path
    timings: str


def publish_from_demo_sources(deployment, api, demo_register) -> tuple[Path, float]:
    """The first publish: every source stages the demo files, then the register builds them. Returns the register's
    path and when every source had staged (time.monotonic())."""
    # Each source runs once when unpaused (catchup off) and stages. The register stays paused meanwhile: a run
    # started before every source has staged would fail and retry for minutes. Then one source restaged with
    # {"force": true} emits its asset, and that event starts the register.
    for dag_id in SOURCE_DAGS:
        api.unpause(dag_id)
    deployment.wait_for("every source DAG to stage", lambda: all(
        any(r["state"] == "success" for r in api.dag_runs(d)) for d in SOURCE_DAGS), timeout=420, interval=3)
    staged = time.monotonic()
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
    return register, staged


@pytest.fixture(scope="module")
def published_deployment(postgres_server, airflow_init_database, demo_register,
                         tmp_path_factory) -> Iterator[PublishedDeployment]:
    """One compose deployment (LocalExecutor) for the scenarios below, started as `docker compose up` does and
    published once from the demo sources: migrating the database, starting the services and the first publish
    take most of a scenario's time, and each scenario starts from a published, idle register (`idle`)."""
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("deployment")
    sources = workdir / "demo-sources"  # a copy: new releases must not touch the session's demo files
    shutil.copytree(demo_register.cfg.data_dir / "demo-sources", sources)
    # A 10 s quiet period: the second source of a batch starts its download well within it of the first's stage.
    # Pokes every 10 s, not 2: a poke re-queued before the scheduler has drained the previous poke's executor event
    # is failed as 'state changed externally' (apache/airflow#71172), and the busier the machine, the later the drain.
    deployment = harness.AirflowDeployment(workdir / "deployment", postgres_server, template=airflow_init_database,
                                           extra_env={**demo_env(sources), "VCSE__BATCHING__QUIET_SECONDS": "10",
                                                      "VCSE__BATCHING__POKE_INTERVAL_SECONDS": "10"})
    try:
        api = start(deployment, SERVICES)
        # The compose sizing is what the scheduler runs with: its LocalExecutor forks `parallelism` workers.
        parallelism = int(deployment.env("airflow-scheduler")["AIRFLOW__CORE__PARALLELISM"])
        assert parallelism <= 8
        deployment.wait_for(f"the scheduler's {parallelism} LocalExecutor workers", lambda: sum(
            "LocalExecutor" in " ".join(p.cmdline()) for p in deployment.process_tree("airflow-scheduler"))
            == parallelism, timeout=120)
        wait_for_dags(deployment, api)
        healthy = time.monotonic() - started
        register, staged_at = publish_from_demo_sources(deployment, api, demo_register)
        timings = (f"healthy {healthy:.0f} s, staged {staged_at - started:.0f} s, "
                   f"published {time.monotonic() - started:.0f} s")
        yield PublishedDeployment(deployment, sources, register, timings)
    finally:
        deployment.close()


def idle(published: PublishedDeployment) -> tuple[harness.AirflowDeployment, harness.ApiClient]:
    """The shared deployment, checked to be where every scenario starts: all its services running (a scenario
    that failed after killing one restarts it here), no register run active or asset event queued for one, and
    the register published and queryable."""
    deployment = published.deployment
    for service in SERVICES:
        if service not in deployment.processes:
            deployment.start(service)
    deployment.wait_healthy()
    api = deployment.api()
    register_settled(deployment, api, set())
    assert [h["status"] for h in history(deployment) if h["status"] != "publishing"][-1] in {"published",
                                                                                            "unchanged"}
    assert counts(published.register)[0][0] == "E08000015"
    return deployment, api


def test_compose_deployment_publishes_and_recovers_from_a_killed_scheduler(published_deployment, demo_register):
    started = time.monotonic()
    deployment, api = idle(published_deployment)
    register = published_deployment.register

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
    print(f"deployment test: setup {published_deployment.timings}; recovered {recovered:.0f} s after the kill, "
          f"scenario {time.monotonic() - started:.0f} s")


def staging_events(api, dag_id: str, run_id: str) -> int:
    """How many staging asset events a source DAG run emitted."""
    return api.request("GET", "/assets/events", params={"source_dag_id": dag_id, "source_run_id": run_id})[
        "total_entries"]


def register_events(api) -> list[dict]:
    """The register asset's events: only vcse_register's publish task emits one."""
    return api.request("GET", "/assets/events", params={"source_dag_id": REGISTER_DAG, "limit": 100})["asset_events"]


def run_source(deployment, api, dag_id: str, conf: dict | None = None) -> str:
    """Trigger a source DAG and wait for the run to succeed; its run id."""
    run_id = api.trigger(dag_id, conf)

    def finished() -> str | None:
        state = api.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state if state in FINISHED else None
    assert deployment.wait_for(f"{dag_id} run {run_id} to finish", finished, timeout=300, interval=2) == "success", \
        deployment.diagnostics()
    return run_id


def register_settled(deployment, api, known: set[str]) -> list[dict]:
    """Wait until the register runs that started after `known` have all finished and no asset event is queued for a
    further run (the scheduler turns queued events into a run, so nothing more will start); those runs."""
    def settled() -> list[dict] | None:
        new = [r for r in api.dag_runs(REGISTER_DAG) if r["dag_run_id"] not in known]
        queued = api.request("GET", f"/dags/{REGISTER_DAG}/assets/queuedEvents")["total_entries"]
        return new if new and not queued and all(r["state"] in FINISHED for r in new) else None
    return deployment.wait_for("the register runs of the batch to finish", settled, timeout=420, interval=3)


def release_edited_csv(path: Path, edit: Callable[[list[dict]], None]) -> None:
    """A publisher's new release of a CSV file, `edit` changing its rows: a new file moved over the old one (the
    download folder hard-links the old one, which must stay as it was), in the old file's line endings."""
    with path.open(encoding="utf-8", newline="") as fh:
        text = fh.read()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    edit(rows)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n" if "\r\n" in text else "\n")
    writer.writeheader()
    writer.writerows(rows)
    part = path.with_name(path.name + ".new")
    part.write_text(out.getvalue(), encoding="utf-8", newline="")
    os.replace(part, path)


def test_two_sources_refreshed_together_publish_once_and_an_untouched_refresh_publishes_nothing(
        published_deployment):
    """Batching with the real scheduler: two sources with new releases, refreshed together, stage and each emit
    their staging asset event, and the register publishes once; a refresh that finds the same files publishes
    nothing, and a forced restage of them builds nothing (the register run records 'unchanged')."""
    started = time.monotonic()
    deployment, api = idle(published_deployment)
    sources, register = published_deployment.sources, published_deployment.register

    # New releases of two sources: the FCA renames a society the register holds, UK CAT revises a note.
    con = duckdb.connect(str(register), read_only=True)
    try:
        society, old_name = con.execute("SELECT society_number, name FROM organisation WHERE source_count = 1 AND "
                                        "society_number IS NOT NULL ORDER BY society_number LIMIT 1").fetchone()
    finally:
        con.close()
    new_name = f"{old_name} (renamed)"

    def rename(rows: list[dict]) -> None:
        [row] = [row for row in rows if row["Full Registation Number"] == society]
        row["Society Name"] = new_name

    def revise(rows: list[dict]) -> None:
        rows[0]["Notes"] = (rows[0]["Notes"] + " Revised in this release.").strip()
    release_edited_csv(sources / "fca_mutuals" / "SocietyList.csv", rename)
    release_edited_csv(sources / "ukcat" / "ukcat.csv", revise)

    known_runs = {r["dag_run_id"] for r in api.dag_runs(REGISTER_DAG)}
    known_events = {e["id"] for e in register_events(api)}
    history_before = len(history(deployment))
    batch = {dag_id: api.trigger(dag_id) for dag_id in ("vcse_source_fca_mutuals", "vcse_source_ukcat")}
    for dag_id, run_id in batch.items():
        def finished(dag_id=dag_id, run_id=run_id) -> str | None:
            state = api.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in FINISHED else None
        assert deployment.wait_for(f"{dag_id} to refresh", finished, timeout=300, interval=2) == "success", \
            deployment.diagnostics()
        assert staging_events(api, dag_id, run_id) == 1  # both staged new data and announced it
    batch_runs = register_settled(deployment, api, known_runs)
    # A publishing run records 'publishing' before its switch and 'published' after; every run ends with one outcome.
    batch_history = [h for h in history(deployment)[history_before:] if h["status"] != "publishing"]
    assert all(r["state"] == "success" for r in batch_runs), batch_runs
    assert len(batch_history) == len(batch_runs)  # each register run recorded once
    statuses = [h["status"] for h in batch_history]
    assert statuses.count("published") == 1 and set(statuses) <= {"published", "unchanged"}, batch_history
    published_run = next(h["run_id"] for h in batch_history if h["status"] == "published")
    new_events = [e for e in register_events(api) if e["id"] not in known_events]
    assert [safe_run_id(e["source_run_id"]) for e in new_events] == [published_run]  # one register event
    con = duckdb.connect(str(register), read_only=True)
    try:
        assert con.execute("SELECT name FROM organisation WHERE society_number = ?", [society]).fetchall() == \
            [(new_name,)]
    finally:
        con.close()
    batched = time.monotonic() - started

    # An untouched refresh: the same files, so new_data short-circuits, nothing stages and no event is emitted.
    published_bytes = file_sha256(register)
    history_before = len(history(deployment))
    known_runs = {r["dag_run_id"] for r in api.dag_runs(REGISTER_DAG)}
    run_id = run_source(deployment, api, "vcse_source_ukcat")
    states = {t["task_id"]: t["state"] for t in api.task_instances("vcse_source_ukcat", run_id)}
    assert states["stage"] == "skipped", states
    assert staging_events(api, "vcse_source_ukcat", run_id) == 0
    assert api.request("GET", f"/dags/{REGISTER_DAG}/assets/queuedEvents")["total_entries"] == 0
    assert {r["dag_run_id"] for r in api.dag_runs(REGISTER_DAG)} == known_runs  # no register run started

    # The same files restaged with {"force": true}: the event starts the register, which finds its inputs are the
    # published register's, records 'unchanged' and publishes nothing.
    run_id = run_source(deployment, api, "vcse_source_ukcat", {"force": True})
    assert staging_events(api, "vcse_source_ukcat", run_id) == 1
    forced_runs = register_settled(deployment, api, known_runs)
    assert [r["state"] for r in forced_runs] == ["success"] * len(forced_runs)
    assert [h["status"] for h in history(deployment)[history_before:]] == ["unchanged"] * len(forced_runs)
    assert not [e for e in register_events(api) if e["id"] not in known_events and
                safe_run_id(e["source_run_id"]) != published_run]  # no register event since the batch's publish
    assert file_sha256(register) == published_bytes
    print(f"batching deployment test: setup {published_deployment.timings}; batch published {batched:.0f} s, "
          f"scenario {time.monotonic() - started:.0f} s")
