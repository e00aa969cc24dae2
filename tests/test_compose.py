"""The docker-compose deployment, checked by parsing it (no container engine is needed)."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
COMMANDS = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
            "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
            "airflow-worker": "celery worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_services_and_commands(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES, "airflow-worker", "web"}
    for name, command in COMMANDS.items():
        assert services[name]["command"] == command
    assert services["postgres"]["image"].startswith("postgres:")


def test_celery_services_only_in_the_celery_profile(compose):
    services = compose["services"]
    assert services["redis"]["profiles"] == ["celery"] and services["airflow-worker"]["profiles"] == ["celery"]
    for name in ("postgres", "airflow-init", *AIRFLOW_SERVICES):
        assert "profiles" not in services[name], name


def test_airflow_settings(compose):
    for name in (*AIRFLOW_SERVICES, "airflow-worker", "airflow-init"):
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["VCSE__PATHS__DATA_DIR"] == "/opt/airflow/data"
    assert compose["services"]["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"
    init_env = compose["services"]["airflow-init"]["environment"]
    assert init_env["_AIRFLOW_DB_MIGRATE"] == "true" and init_env["_AIRFLOW_WWW_USER_CREATE"] == "true"


def test_health_checks_and_start_order(compose):
    services = compose["services"]
    for name in ("postgres", "redis", *AIRFLOW_SERVICES, "airflow-worker"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 3, name
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    assert "http://localhost:8080/api/v2/version" in services["airflow-apiserver"]["healthcheck"]["test"]
    assert "http://localhost:8974/health" in services["airflow-scheduler"]["healthcheck"]["test"]
    for name in (*AIRFLOW_SERVICES, "airflow-worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_data_volume_is_shared_by_every_airflow_container(compose):
    for name in (*AIRFLOW_SERVICES, "airflow-worker", "airflow-init"):
        mounts = {v.split(":", 2)[-1]: v for v in compose["services"][name]["volumes"]}
        assert mounts["/opt/airflow/data"].startswith("${VCSE_DATA_HOST_DIR:-./data}:"), name
        assert "/opt/airflow/dags" in mounts, name
    assert set(compose["volumes"]) == {"postgres-db-volume", "airflow-logs"}


def test_the_web_explorer_reads_the_published_register_read_only(compose):
    web = compose["services"]["web"]
    assert web["entrypoint"] == ["vcse"] and web["command"][:1] == ["serve"]
    assert "--host" in web["command"] and web["command"][web["command"].index("--host") + 1] == "0.0.0.0"
    assert web["volumes"] == ["${VCSE_DATA_HOST_DIR:-./data}:/opt/airflow/data:ro"]
    assert web["environment"]["VCSE__PATHS__DATA_DIR"] == "/opt/airflow/data"
    assert web["ports"] == ["${VCSE_WEB_PORT:-8000}:8000"]
    assert "http://localhost:8000/healthz" in web["healthcheck"]["test"]
    assert "depends_on" not in web   # no Airflow service is needed to read the register


def pins(lock: str) -> dict[str, str]:
    """name -> version of a requirements lock (uv's output: `name==version  # via ...`)."""
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {re.sub(r"[-_.]+", "-", m[1].lower()): m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def test_dockerfile_installs_the_deployment_set_on_the_matching_slim_airflow_image():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pinned = pins("requirements-deploy.lock")["apache-airflow"]
    assert re.search(rf"^FROM apache/airflow:slim-{re.escape(pinned)}-python3\.11$", dockerfile, re.M)
    assert "pip install --no-cache-dir -r /opt/vcse/requirements-deploy.lock && pip check" in dockerfile
    assert "pip install --no-cache-dir --no-deps /opt/vcse" in dockerfile  # a plain install: the SQL is package data
    for folder in ("vcse_pipeline", "dags"):
        assert re.search(rf"^COPY .*\b{folder}\b", dockerfile, re.M), folder


def test_the_locks_are_one_resolution():
    """The deployment lock holds every base pin at the same version (python-dateutil <3 for the FAB auth manager,
    celery below the 5.7.0 that breaks the Celery provider), and both cover every direct dependency."""
    base, deploy = pins("requirements.lock"), pins("requirements-deploy.lock")
    assert {name: (version, deploy.get(name)) for name, version in base.items() if deploy.get(name) != version} == {}
    assert int(deploy["python-dateutil"].split(".")[0]) < 3 and deploy["celery"].startswith("5.6.")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for requirement in direct:
        assert re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower()) in base, requirement
    for requirement in project["optional-dependencies"]["deploy"]:
        assert re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower()) in deploy, requirement


def import_string(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_installed_set_provides_the_executors_and_auth_manager_the_compose_file_names(compose):
    """What `make test` and the image install (requirements-deploy.lock) imports every class compose selects:
    the executor's default, the executor .env.example/the header offer for the celery profile, the auth
    manager, and the Celery app the worker's health check pings."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
    from airflow.executors.base_executor import BaseExecutor
    from airflow.executors.executor_loader import ExecutorLoader

    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    executors = set(re.findall(r"AIRFLOW__CORE__EXECUTOR(?::-|=)(\w+)", text))
    assert executors == {"LocalExecutor", "CeleryExecutor"}
    for name in executors:
        assert issubclass(import_string(ExecutorLoader.executors[name]), BaseExecutor), name
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert issubclass(import_string(env["AIRFLOW__CORE__AUTH_MANAGER"]), BaseAuthManager)
    worker_check = " ".join(compose["services"]["airflow-worker"]["healthcheck"]["test"])
    from celery import Celery

    assert isinstance(import_string(re.search(r"--app (\S+)", worker_check)[1]), Celery)


def test_parallelism_is_sized_for_a_small_machine(compose):
    """Airflow's defaults fork 32 LocalExecutor workers and take 16 tasks per Celery worker on 2 cores."""
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__PARALLELISM"] == "${AIRFLOW__CORE__PARALLELISM:-4}"
    assert env["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"] == "${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-2}"
    assert env["AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT"] == "${AIRFLOW__CORE__PARALLELISM:-4}"
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "${AIRFLOW__CELERY__WORKER_CONCURRENCY:-4}"
    for name in (*AIRFLOW_SERVICES, "airflow-worker", "airflow-init"):  # one setting for every component
        assert compose["services"][name]["environment"]["AIRFLOW__CORE__PARALLELISM"] == env[
            "AIRFLOW__CORE__PARALLELISM"], name


def test_every_variable_the_compose_file_reads_is_in_env_example():
    compose_text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, re.M))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", compose_text))
    assert used, "the compose file reads no variables?"
    assert used - documented == set()


def test_the_deployment_harness_reads_the_compose_settings_as_compose_would(compose, tmp_path):
    """tests/airflow_deployment.py: ${VAR:-default} as compose interpolates it, service hostnames and container
    paths translated for processes on this machine, nothing else changed."""
    from airflow_deployment import bind_mounts, localise, service_environment, substitute

    assert substitute("${A:-x}/${B:-y}/${C-z}/${D}/$$HOME", {"A": "", "B": "b", "C": ""}) == "x/b///$HOME"
    variables = {"POSTGRES_DB": "airflow_1", "VCSE_DATA_HOST_DIR": str(tmp_path), "AIRFLOW__CORE__PARALLELISM": "3"}
    env = localise(service_environment(compose, "airflow-scheduler", variables),
                   {"postgres": "127.0.0.1:5999", "airflow-apiserver": "127.0.0.1:8999"},
                   bind_mounts(compose, "airflow-scheduler", variables))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:airflow@127.0.0.1:5999/airflow_1"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow:airflow@127.0.0.1:5999/airflow_1"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@redis:6379/0"  # no redis started: left as it is
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8999/execution/"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "dags")
    assert env["VCSE__PATHS__DATA_DIR"] == str(tmp_path)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "3" and env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    untouched = service_environment(compose, "airflow-scheduler", {})
    assert {k: v for k, v in env.items() if v != untouched[k]}.keys() == {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__PARALLELISM",
        "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CORE__DAGS_FOLDER", "VCSE__PATHS__DATA_DIR"}
