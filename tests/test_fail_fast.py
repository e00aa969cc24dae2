"""Errors retrying cannot fix fail the task at once; network trouble, 5xx, 429 and locks retry with backoff.

The classification (errors.retry_can_help) is tested on errors produced for real: downloads from a local HTTP
server with faults, a bad file through a source's verify, a DuckDB file held by another process. Then under
Airflow: a corrupt zip fails the download task on its first try; a 503 that persists is retried, with the gaps
between tries that docs/operations.md gives.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import requests
from airflow_runs import airflow_env, run_dags, vcse_toml
from http_fault_server import FaultServer

# Airflow writes airflow.cfg into AIRFLOW_HOME when first imported: keep it out of the user's home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="vcse-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from vcse_pipeline import airflow_tasks  # noqa: E402
from vcse_pipeline.config import Config  # noqa: E402
from vcse_pipeline.download import fetch  # noqa: E402
from vcse_pipeline.errors import DownloadError, PipelineError, QualityGateError, SourceError, retry_can_help  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CH_FILE = "BasicCompanyDataAsOneFile-2026-11-01.zip"


def companies_house_zip() -> bytes:
    """The Companies House product as it is published: one CSV in a zip (here the fixture's 100 companies)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(FIXTURES / "companies_house" / "companies-house-BasicCompanyData-sample.csv",
                 CH_FILE.replace(".zip", ".csv"))
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """A download cut short on the server's side: the bytes are complete as served, the zip is not."""
    return data[: len(data) * 3 // 5]


def no_wait(_seconds: float) -> None:
    pass


# ---------------------------------------------------------------------------------------------- classification

def test_a_corrupt_zip_cannot_heal_but_a_persistent_503_can(tmp_path):
    whole = companies_house_zip()
    with FaultServer({"/corrupt.zip": truncated(whole), "/busy.zip": whole, "/throttled.zip": whole,
                      "/missing.zip": whole}) as server:
        with pytest.raises(DownloadError) as corrupt:
            fetch(server.url("/corrupt.zip"), tmp_path / "a.zip", source="companies_house", expect="zip",
                  sleep=no_wait)
        server.fail("/busy.zip", status=503, times=3)
        with pytest.raises(DownloadError) as busy:
            fetch(server.url("/busy.zip"), tmp_path / "b.zip", source="companies_house", expect="zip",
                  settings={"retries": 2}, sleep=no_wait)
        server.throttle("/throttled.zip", retry_after="0", times=2)
        with pytest.raises(DownloadError) as throttled:
            fetch(server.url("/throttled.zip"), tmp_path / "c.zip", source="companies_house", expect="zip",
                  settings={"retries": 1}, sleep=no_wait)
        server.fail("/missing.zip", status=404)
        with pytest.raises(DownloadError) as missing:
            fetch(server.url("/missing.zip"), tmp_path / "d.zip", source="companies_house", expect="zip",
                  sleep=no_wait)
    assert "not a readable zip" in str(corrupt.value) and retry_can_help(corrupt.value) is False
    assert "HTTP 503" in str(busy.value) and retry_can_help(busy.value) is True
    assert "HTTP 429" in str(throttled.value) and retry_can_help(throttled.value) is True
    assert "HTTP 404" in str(missing.value) and retry_can_help(missing.value) is False


def test_bad_rows_a_failed_gate_and_a_bad_setting_cannot_heal(tmp_path):
    from vcse_pipeline.sources import get_source

    bad = tmp_path / "SocietyList.csv"
    text = (FIXTURES / "fca_mutuals" / "SocietyList.csv").read_text(encoding="utf-8-sig")
    header, *rows = text.splitlines()
    bad.write_text("\n".join([header.replace("Society Name", "Name Of Society"), *rows]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as drift:
        get_source("fca_mutuals").verify([bad])
    with pytest.raises(PipelineError) as setting:
        Config.load(environ={"VCSE__QUALITY__ROW_COUNT_BAND": "2"})
    for error in (drift.value, setting.value, QualityGateError("2 quality gate(s) failed: row_count_band")):
        assert retry_can_help(error) is False, error


def test_connection_resets_and_locks_may_heal_and_a_crash_keeps_the_usual_retries(tmp_path):
    with FaultServer({}) as server:
        closed = server.url("/")
    with pytest.raises(requests.ConnectionError) as refused:  # the server has gone: nothing listens on the port
        requests.get(closed, timeout=5)
    assert retry_can_help(refused.value) is True
    assert retry_can_help(ConnectionResetError(104, "Connection reset by peer")) is True

    # A DuckDB file another process has open for writing: the lock error a build or stage meets.
    held = tmp_path / "staging.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); sys.stdin.read()", str(held)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(duckdb.Error) as locked:
            duckdb.connect(str(held))
    finally:
        holder.communicate("", timeout=30)
    assert "lock" in str(locked.value).lower() and retry_can_help(locked.value) is True
    # The pipeline's own verdict wins over a cause it wraps.
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as reset:
            raise SourceError("ukcat", "unreadable CSV", file="ukcat.csv") from reset
    except SourceError as wrapped:
        assert retry_can_help(wrapped) is False
    assert retry_can_help(KeyError("organisation_number")) is None


def test_the_airflow_retry_policy_fails_at_once_retries_or_leaves_it_to_the_task():
    from airflow.sdk import RetryAction

    policy = airflow_tasks.retry_policy()
    fail = policy.evaluate(SourceError("postcodes", "missing column 'pcds'", file="ONSPD.csv", row=1), 1, 3)
    retry = policy.evaluate(DownloadError("postcodes", "download failed after 6 attempt(s); last error: HTTP 503",
                                          transient=True), 1, 3)
    usual = policy.evaluate(MemoryError(), 1, 3)
    assert (fail.action, retry.action, usual.action) == (RetryAction.FAIL, RetryAction.RETRY, RetryAction.DEFAULT)
    assert retry.retry_delay is None  # the task's own retry_delay and backoff: the gaps the docs give
    assert "SourceError" in fail.reason


# ---------------------------------------------------------------------------------------------- gaps vs docs

def documented_gaps() -> dict[str, list[tuple[int, int]]]:
    """From docs/operations.md's retry table: DAG pattern -> [(least, most) minutes before try 2, 3, 4...]."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("Gaps between tries", 1)[1]
    table = {}
    for row in re.findall(r"^\| `(vcse_[a-z_*]+)` \|(.+)\|$", section, flags=re.M):
        cells = [c.strip() for c in row[1].split("|")]
        table[row[0]] = [tuple(int(n) for n in c.removesuffix(" min").split("-")) for c in cells
                         if c.endswith(" min")]
    return table


@pytest.fixture(scope="module")
def dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags


def airflow_gaps(dag, task_id: str, tries: int, samples: int = 400) -> list[tuple[float, float]]:
    """(shortest, longest) wait Airflow schedules before each retry of a task, over many runs: its own
    next_retry_datetime on the DAG as the scheduler sees it (serialized)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization.serialized_objects import DagSerialization

    dag_id = dag.dag_id
    task = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).get_task(task_id)
    end = datetime(2026, 12, 1, 6, tzinfo=UTC)
    spans = []
    for try_number in range(1, tries + 1):
        waits = []
        for day in range(samples):
            logical = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=day)
            ti = TaskInstance(task=task, run_id=f"scheduled__{logical.isoformat()}", dag_version_id=uuid.uuid4())
            ti.dag_run = DagRun(dag_id=dag_id, run_id=ti.run_id, logical_date=logical)
            ti.try_number, ti.end_date = try_number, end
            waits.append((ti.next_retry_datetime() - end).total_seconds())
        spans.append((min(waits), max(waits)))
    return spans


@pytest.mark.parametrize(("dag_id", "task_id"), [("vcse_source_companies_house", "download"),
                                                 ("vcse_register", "build_area"),
                                                 ("vcse_opportunity_feed", "harvest")])
def test_the_gaps_between_tries_are_what_the_operations_guide_says(dags, dag_id, task_id):
    documented = next(gaps for pattern, gaps in documented_gaps().items()
                      if re.fullmatch(pattern.replace("*", ".*"), dag_id))
    retries = dags[dag_id].get_task(task_id).retries
    assert len(documented) == retries  # one documented gap per retry
    for (least, most), (shortest, longest) in zip(documented, airflow_gaps(dags[dag_id], task_id, retries),
                                                  strict=True):
        assert least * 60 <= shortest and longest < most * 60, (dag_id, least, most, shortest, longest)
        # the whole documented span is used: not a fixed wait, nor a narrower band
        assert shortest < least * 60 * 1.05 and longest > most * 60 * 0.95, (least, most, shortest, longest)


# ---------------------------------------------------------------------------------------------- under Airflow

@pytest.mark.slow
def test_under_airflow_a_corrupt_file_fails_at_once_and_a_persistent_503_is_retried(tmp_path):
    env = airflow_env(tmp_path)
    with FaultServer({f"/{CH_FILE}": truncated(companies_house_zip()),
                      "/SocietyList.csv": (FIXTURES / "fca_mutuals" / "SocietyList.csv").read_bytes()}) as server:
        server.fail("/SocietyList.csv", status=503, times=1000)
        plan = [
            {"dag_id": "vcse_source_companies_house",
             "config": vcse_toml(tmp_path / "data", **{"sources.companies_house": {"url": server.url(f"/{CH_FILE}")}})},
            {"dag_id": "vcse_source_fca_mutuals", "quick_retries": True,
             "config": vcse_toml(tmp_path / "data", download={"retries": 1, "backoff_seconds": 0},
                                 **{"sources.fca_mutuals": {"url": server.url("/SocietyList.csv")}})},
        ]
        (corrupt, busy), output = run_dags(env, plan, tmp_path / "runs")
        busy_requests = len(server.requests_for("/SocietyList.csv"))
        corrupt_requests = server.requests_for(f"/{CH_FILE}")

    download = corrupt["tasks"]["download"]
    assert corrupt["state"] == "failed"
    assert download["tries"] == 1 and download["try_number"] == 1, download  # no retry, never up_for_retry
    assert len(corrupt_requests) == 1
    assert {corrupt["tasks"][t]["state"] for t in ("new_data", "verify", "stage")} == {"upstream_failed"}
    assert "not a readable zip" in output and "reason='not retried: DownloadError cannot heal by waiting'" in output
    # From the server sending the corrupt file to the task marked failed (the task's whole duration also counts
    # dag.test() starting Airflow's execution API in-process, which a deployment has running already).
    to_fail = download["ended_at"] - corrupt_requests[0].at
    print(f"\ntime to fail on a corrupt file: {to_fail:.2f} s after it was served; task {download['seconds']:.1f} s "
          f"from queued; dag.test {corrupt['wall_seconds']:.1f} s")
    assert 0 < to_fail < 60  # not 18 minutes of retries

    download = busy["tasks"]["download"]
    assert busy["state"] == "failed"
    # Up for retry three times (the DAG's retries = 3), each after the task's backoff, then failed; every try
    # asked twice ([download] retries = 1).
    assert download["tries"] == 4 and download["try_number"] == 4, download
    assert download["retry_reasons"] == ["retried with backoff: DownloadError may pass"] * 3
    assert output.count("new_state=up_for_retry") == 3
    assert busy_requests == 4 * 2
    assert len(download["gaps"]) == 3 and all(gap >= 1 for gap in download["gaps"]), download["gaps"]
    assert "last error: HTTP 503" in output
