"""The docker-compose deployment, checked by parsing it (no container engine is needed)."""

from __future__ import annotations

import re
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
    assert set(services) == {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES, "airflow-worker"}
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


def test_dockerfile_installs_the_pinned_project_on_the_matching_airflow_image():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = re.search(r"^apache-airflow==(\S+)$", lock, re.M).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned)}-python3\.11$", dockerfile, re.M)
    assert "-r /opt/vcse/requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps -e /opt/vcse" in dockerfile
    for folder in ("vcse_pipeline", "sql", "dags"):
        assert re.search(rf"^COPY .*\b{folder}\b", dockerfile, re.M), folder


def test_every_variable_the_compose_file_reads_is_in_env_example():
    compose_text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, re.M))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", compose_text))
    assert used, "the compose file reads no variables?"
    assert used - documented == set()
