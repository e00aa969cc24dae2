"""The docker-compose deployment as real processes, for tests (no container engine needed).

PostgreSQL (and Redis for Celery) run for real; the Airflow components run as the compose services would, each
with the `environment` that docker-compose.yml gives its service, so the tests and the compose file cannot
drift. What only a container provides is translated, and nothing else is changed:
- `${VAR:-default}` is substituted as compose does, from the variables a test passes (its `.env`);
- the service hostnames (`postgres`, `redis`, `airflow-apiserver`) become 127.0.0.1 and free ports;
- container paths under a bind mount (`/opt/airflow/dags`, `/opt/airflow/data`) become the host folders;
- AIRFLOW_HOME (the image's /opt/airflow) is a temporary folder, and every server binds 127.0.0.1;
- each deployment's Celery tasks go to a queue of its own: compose gives a deployment a Redis of its own, here
  two test sessions on one machine may share the server, and one's worker must not take the other's tasks.

Fixtures (import them into a test module): `postgres_server` and `redis_server` (session: the server CI started,
named by VCSE_TEST_POSTGRES_URL / VCSE_TEST_REDIS_URL, or a throwaway one started here), `airflow_init_database`
(session: what airflow-init does, run once into a database that deployments are copied from: migrating and
creating the user take 15 s of CPU a deployment otherwise), and `airflow_deployment`, a factory of
`AirflowDeployment`s whose every process is stopped when the test ends, pass or fail. Under CI=true a missing
server fails instead of skipping: CI must run the deployment tests.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
MARKER = "VCSE_DEPLOYMENT_TEST"  # set in every process the harness starts, so cleanup finds strays too
# The compose services that stand for servers: their hostnames in URLs are replaced by 127.0.0.1:<port>.
SERVER_SERVICES = ("postgres", "redis", "airflow-apiserver")
# Seconds an API request may take: a loaded CI machine (2 cores, other tests running) has made the API server take
# longer than 30 s to answer while the scheduler and dag-processor were busy.
API_TIMEOUT = 120


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine; under CI a deployment test that cannot run is a failure, never a skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------------ compose file
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Compose's interpolation: ${VAR}, ${VAR:-default} (unset or empty), ${VAR-default} (unset), $$ -> $."""
    def value(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, default = match.groups()
        current = variables.get(name)
        if operator == ":-" and not current or operator == "-" and current is None:
            return substitute(default, variables)
        return current or ""
    return _VARIABLE.sub(value, text)


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service_environment(compose: dict, service: str, variables: dict[str, str]) -> dict[str, str]:
    """The environment block of a service (anchors and merges resolved), interpolated."""
    env = compose["services"][service].get("environment") or {}
    return {key: substitute(str(value), variables) for key, value in env.items()}


def service_command(compose: dict, service: str) -> list[str]:
    command = compose["services"][service]["command"]
    return command.split() if isinstance(command, str) else list(command)


def bind_mounts(compose: dict, service: str, variables: dict[str, str]) -> dict[str, Path]:
    """Container folder -> host folder, for the service's bind mounts (named volumes are left out)."""
    mounts = {}
    for volume in compose["services"][service].get("volumes", []):
        host, container = substitute(volume, variables).split(":")[:2]
        if host.startswith((".", "/")):
            mounts[container] = (ROOT / host).resolve() if host.startswith(".") else Path(host)
    return mounts


def localise(env: dict[str, str], servers: dict[str, str], mounts: dict[str, Path]) -> dict[str, str]:
    """Point service hostnames at `servers` (service -> "127.0.0.1:port") and container paths at host folders."""
    hostname = re.compile(r"(?<=[@/])(" + "|".join(map(re.escape, SERVER_SERVICES)) + r")(?::\d+)?(?=/|$)")

    def server(match: re.Match) -> str:  # a service the test did not start (redis without Celery) keeps its name
        return servers.get(match.group(1), match.group(0))

    out = {}
    for key, value in env.items():
        value = hostname.sub(server, value)
        for container, host in mounts.items():
            if value == container or value.startswith(container + "/"):
                value = str(host) + value[len(container):]
        out[key] = value
    return out


# ------------------------------------------------------------------------------------------------ processes
def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (task processes start their own process groups, so killpg misses them)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_processes(processes: list[psutil.Process], sig: int, grace: float = 0.0) -> None:
    for proc in processes:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    if grace:
        _, alive = psutil.wait_procs(processes, timeout=grace)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=10)


def processes_marked(marker: str) -> list[psutil.Process]:
    """Every process still running with MARKER=marker in its environment, wherever it was reparented."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


# ------------------------------------------------------------------------------------------------ servers
@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    admin_db: str = "postgres"

    def execute(self, sql: str) -> None:
        """One statement on the admin database, outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=self.admin_db, connect_timeout=10)
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()

    def create_database(self, name: str, template: str | None = None) -> None:
        """An empty database, or a copy of `template` (which nothing may be connected to meanwhile)."""
        # Names: a fixed prefix and hex digits, nothing to quote.
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return versions[-1] if versions else None


def _own_postgres() -> Iterator[PostgresServer]:
    """A throwaway cluster (initdb + pg_ctl) in a temporary folder, as a non-root user (root runs it as postgres)."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        skip_or_fail("PostgreSQL is not installed (initdb/pg_ctl not found) and VCSE_TEST_POSTGRES_URL is not set")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="vcse-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            import pwd

            owner = pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root with no 'postgres' user to run a PostgreSQL cluster as")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"),
                        "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
        try:
            yield PostgresServer("127.0.0.1", port, "postgres", "unused")  # trust: only 127.0.0.1 can connect
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    url = os.environ.get("VCSE_TEST_POSTGRES_URL")
    if url:  # CI: the server .ci/run started, with a role that may create databases
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        yield PostgresServer(parsed.host or "127.0.0.1", parsed.port or 5432, parsed.username or "",
                             parsed.password or "", parsed.database or "postgres")
    else:
        yield from _own_postgres()


@dataclass
class RedisServer:
    host: str
    port: int


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    url = os.environ.get("VCSE_TEST_REDIS_URL")
    if url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        yield RedisServer(parts.hostname or "127.0.0.1", parts.port or 6379)
        return
    binary = shutil.which("redis-server")
    if not binary:
        skip_or_fail("redis-server is not installed and VCSE_TEST_REDIS_URL is not set")
    port, folder = free_port(), Path(tempfile.mkdtemp(prefix="vcse-redis-"))
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.2)
        yield RedisServer("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ Airflow
class ApiClient:
    """The Airflow REST API (/api/v2) with a JWT from the FAB auth manager's /auth/token."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url
        self.session = requests.Session()
        answer = self.session.post(f"{base_url}/auth/token", json={"username": username, "password": password},
                                   timeout=30)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs) -> Any:
        answer = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=API_TIMEOUT, **kwargs)
        if answer.status_code >= 400:
            raise AssertionError(f"{method} /api/v2{path}: {answer.status_code} {answer.text[:2000]}")
        return answer.json() if answer.content else None

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                            params={"limit": 100})["task_instances"]


@dataclass
class AirflowDeployment:
    """One compose deployment: its database, its AIRFLOW_HOME and data folder, the processes of its services."""

    workdir: Path
    postgres: PostgresServer
    redis: RedisServer | None = None
    variables: dict[str, str] = field(default_factory=dict)   # what an operator's .env would set
    extra_env: dict[str, str] = field(default_factory=dict)   # e.g. VCSE__SOURCES__* pointing at demo files
    username: str = "admin"
    password: str = "admin-test-password"
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # A database airflow-init has prepared (`airflow_init_database`) to start as a copy of, instead of empty.
    template: str | None = None

    def __post_init__(self):
        self.compose = load_compose()
        self.database = f"airflow_{self.marker[:12]}"
        self.data_dir = self.workdir / "data"
        self.home = self.workdir / "airflow-home"
        self.logs = self.workdir / "process-logs"
        for folder in (self.data_dir, self.home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.api_port, self.health_port = free_port(), free_port()
        self.variables = {"POSTGRES_USER": self.postgres.user, "POSTGRES_PASSWORD": self.postgres.password,
                          "POSTGRES_DB": self.database, "VCSE_DATA_HOST_DIR": str(self.data_dir), **self.variables}
        self.postgres.create_database(self.database, template=self.template)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, service: str) -> dict[str, str]:
        servers = {"postgres": f"{self.postgres.host}:{self.postgres.port}",
                   "airflow-apiserver": f"127.0.0.1:{self.api_port}"}
        if self.redis:
            servers["redis"] = f"{self.redis.host}:{self.redis.port}"
        compose_env = localise(service_environment(self.compose, service, self.variables), servers,
                               bind_mounts(self.compose, service, self.variables))
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VCSE", "_AIRFLOW"))}
        return {
            **base, **compose_env, **self.extra_env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),  # this checkout's vcse_pipeline, whatever the venv has installed
            "AIRFLOW_HOME": str(self.home),
            # Only what a container gives for free: its own ports, on 127.0.0.1 here.
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_port),
            # ... and its own Redis: a Celery queue of its own (the scheduler sends to it, the worker reads it).
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"vcse-{self.marker[:12]}",
            MARKER: self.marker,
        }

    def airflow(self, *args: str, service: str = "airflow-init", timeout: float = 600) -> str:
        """Run an airflow command to completion with a service's environment; its output, or a failed assert."""
        done = subprocess.run([AIRFLOW, *args], env=self.env(service), cwd=self.workdir, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-4000:]}"
        return done.stdout

    def migrate_and_create_user(self) -> None:
        """What airflow-init does: migrate the metadata database, create the UI user. A deployment copied from
        `airflow_init_database` has had it done."""
        if self.template:
            return
        self.airflow("db", "migrate")
        self.airflow("users", "create", "--username", self.username, "--password", self.password, "--role", "Admin",
                     "--email", "admin@example.org", "--firstname", "Test", "--lastname", "Admin")

    def start(self, service: str, replica: int = 1) -> None:
        """Start a service's command. Log servers stay off: they bind every interface and cannot be told otherwise,
        and the API server reads task logs from the shared AIRFLOW_HOME here. `replica` 2, 3, ... starts another
        copy of the service, as `docker compose up --scale SERVICE=N` does (named SERVICE-N here, its log
        SERVICE-N.log); a Celery worker's copy gets a node name of its own, as its own container's host name would
        give it."""
        command = service_command(self.compose, service)
        if command[-1] in ("scheduler", "triggerer", "worker"):
            command.append("--skip-serve-logs")
        name = service if replica == 1 else f"{service}-{replica}"
        if replica > 1 and command[:2] == ["celery", "worker"]:
            command += ["--celery-hostname", f"{name}@%h"]
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen([AIRFLOW, *command], env=self.env(service), cwd=self.workdir,
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def process_tree(self, service: str) -> list[psutil.Process]:
        return process_tree(self.processes[service].pid)

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        """Signal a service and every process under it at once, as stopping its container would."""
        proc = self.processes.pop(service)
        kill_processes(process_tree(proc.pid), sig)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        """Every service at once, as `docker compose down` stops them, then SIGKILL for what is left after 5 s: no
        test looks at how the services stop, and stopped one by one with 20 s each they took 30 s a deployment."""
        trees = [p for proc in self.processes.values() for p in process_tree(proc.pid)]
        kill_processes(trees, signal.SIGTERM, grace=5)
        for service, proc in list(self.processes.items()):
            proc.wait(timeout=30)
            del self.processes[service]
        kill_processes(processes_marked(self.marker), signal.SIGKILL, grace=10)  # anything reparented

    def check_alive(self) -> None:
        for service, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"{service} exited with {proc.returncode}:\n{tail(self.logs / f'{service}.log')}")

    def diagnostics(self) -> str:
        return "\n".join(f"--- {path.name}\n{tail(path)}" for path in sorted(self.logs.glob("*.log")))

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
        """Poll `check` until it returns something truthy; fail naming `what` with the services' logs."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}")
            time.sleep(interval)

    def wait_healthy(self, timeout: float = 240) -> None:
        """The compose health checks of the API server and the scheduler, against their local ports."""
        urls = {"airflow-apiserver": (8080, self.api_port), "airflow-scheduler": (8974, self.health_port)}
        for service, (container_port, port) in urls.items():
            if service not in self.processes:
                continue
            test = " ".join(self.compose["services"][service]["healthcheck"]["test"])
            url = re.search(r"http://localhost:\d+\S*", test).group(0).replace(f"localhost:{container_port}",
                                                                                 f"127.0.0.1:{port}")

            def healthy(url=url) -> bool:
                try:
                    return requests.get(url, timeout=5).status_code == 200
                except requests.RequestException:
                    return False
            self.wait_for(f"{service} health check {url}", healthy, timeout)

    def healthcheck(self, service: str) -> subprocess.CompletedProcess:
        """Run a service's compose health check command (CMD-SHELL) here, $HOSTNAME being this machine's name."""
        test = self.compose["services"][service]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", f"{service}: only CMD-SHELL checks run as they are"
        env = {**self.env(service), "HOSTNAME": socket.gethostname()}
        return subprocess.run(["bash", "-c", substitute(test[1], {})], env=env, cwd=self.workdir,
                              capture_output=True, text=True, timeout=120)

    def api(self) -> ApiClient:
        return ApiClient(self.api_url, self.username, self.password)

    def close(self) -> None:
        try:
            self.stop_all()
        finally:
            self.postgres.drop_database(self.database)


@pytest.fixture(scope="session")
def airflow_init_database(postgres_server, tmp_path_factory) -> Iterator[str]:
    """What airflow-init does (`airflow db migrate`, `airflow users create`) with the compose settings and the
    default .env, once per session into a database of its own; its name, for `AirflowDeployment(template=...)`.
    A deployment whose .env changes what airflow-init writes (AIRFLOW__CORE__PARALLELISM sizes the default pool)
    must migrate a database of its own instead."""
    init = AirflowDeployment(tmp_path_factory.mktemp("airflow-init"), postgres_server)
    try:
        init.migrate_and_create_user()
        yield init.database
    finally:
        init.close()


@pytest.fixture
def airflow_deployment(postgres_server, airflow_init_database, tmp_path) -> Iterator[Callable[..., AirflowDeployment]]:
    """A factory: `airflow_deployment(variables={...}, extra_env={...}, redis=...)`, each deployment's database a
    copy of `airflow_init_database` unless `template=None`. Everything it started is stopped and its database
    dropped when the test ends, whatever the outcome."""
    made: list[AirflowDeployment] = []

    def make(**kwargs) -> AirflowDeployment:
        kwargs.setdefault("template", airflow_init_database)
        deployment = AirflowDeployment(tmp_path / f"deployment-{len(made)}", postgres_server, **kwargs)
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.close()
