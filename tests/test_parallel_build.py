"""`vcse publish` on several cores (vcse_pipeline/parallel_build.py): the areas built in worker processes and
assembled make the register a one-process build makes, table by table; a failing or killed worker fails the run
with its own error, stops the others and leaves the published register as it was; [register] build_workers is
checked like every setting."""

from __future__ import annotations

import hashlib
import shutil
import sys
import threading
from datetime import date
from pathlib import Path

import duckdb
import psutil
import pytest
from spawned_workers import spawned_workers
from typer.testing import CliRunner

from vcse_pipeline import parallel_build, publish, run_history, worker_processes
from vcse_pipeline.config import Config
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.register.national import ensure_national_state

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from compare_registers import compare  # noqa: E402  (bench/ is not a package)

WIRRAL = "E08000015"
# Wirral and three demo neighbours of different sizes, so the two workers' groups differ.
AREAS = [WIRRAL, "E08000012", "E06000050", "E08000014"]


def data_folder(demo_register, path: Path, **register) -> Config:
    """A data folder staged as the demo's (its national state and tag cache too), nothing published yet."""
    source = demo_register.cfg.data_dir
    shutil.copytree(source / "staging", path / "staging")
    shutil.copytree(source / "cache", path / "cache")
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(path)}, "register": register})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_left(cfg: Config) -> None:
    assert spawned_workers() == []
    work = cfg.register_path.parent / "work"
    assert not work.exists() or list(work.iterdir()) == []
    assert not list(cfg.data_dir.rglob("*.tmp")), "a half-written file was left"


class RunDay(date):
    """A run on another day than the machine's, so a worker counting from its own clock would differ."""

    @classmethod
    def today(cls):
        return cls(2025, 1, 1)


def test_a_parallel_publish_is_the_one_process_publish_table_by_table(demo_register, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "date", RunDay)  # the run's date, which the workers must count overdue filings from
    registers = {}
    for workers in (1, 2):
        cfg = data_folder(demo_register, tmp_path / f"workers-{workers}", build_workers=workers)
        result = publish.build_and_publish(cfg, run_id="several-areas", areas=AREAS)
        assert result.timings["build_workers"] == workers
        assert sorted(result.counts) == sorted(AREAS)
        registers[workers] = cfg.register_path
        record = run_history.read_history(cfg)
        assert [(r["run_id"], r["status"]) for r in record] == [("several-areas", "published")]  # one run
        assert_nothing_left(cfg)
    # Every table and view row by row, the macros, and the run's metadata (run_history, quality_gate,
    # register_change) but for the columns that name a moment or the code (compare_registers.IGNORED_COLUMNS).
    assert compare(registers[1], registers[2]) == []
    with duckdb.connect(str(registers[2]), read_only=True) as con:
        overdue = con.execute("""
            SELECT count(*) FILTER (ch_accounts_overdue),
                   count(*) FILTER (ch_company_status = 'Active'
                                    AND ch_accounts_next_due_date BETWEEN DATE '2025-01-01' AND current_date)
            FROM organisation_filing""").fetchone()
    # counted at the run's date: active companies due since then are overdue today, not at the run's date
    assert overdue == (0, overdue[1]) and overdue[1] > 0


def test_a_worker_failing_fails_the_publish_with_the_one_process_error(demo_register, tmp_path):
    """A DuckDB size no DuckDB accepts fails inside every area build (the national state is reused, so the parent
    never sets it): the parallel run fails with the worker's own error, the one a one-process build gives."""
    errors = {}
    for workers in (1, 2):
        cfg = data_folder(demo_register, tmp_path / f"workers-{workers}", build_workers=workers)
        ensure_national_state(cfg)  # reused from the copy: built under the default limit
        publish.build_and_publish(cfg, run_id="good", areas=AREAS)
        before = sha256(cfg.register_path)
        bad = cfg.with_overrides({"register": {"build_memory_limit": "lots of memory",
                                               "worker_memory_limit": "lots of memory"}})
        with pytest.raises(Exception) as failed:
            publish.build_and_publish(bad, run_id="bad", areas=AREAS, force=True)
        errors[workers] = (type(failed.value), str(failed.value))
        if workers == 2:
            assert isinstance(failed.value.__cause__, worker_processes.WorkerTraceback)  # raised in a worker
        assert sha256(cfg.register_path) == before
        last = run_history.read_history(cfg)[-1]
        assert (last["run_id"], last["status"]) == ("bad", "failed")
        assert last["message"] == f"build failed: {errors[workers][1]}"
        assert [p.name.split("-", 2)[-1] for p in cfg.versions_dir.glob("*.duckdb")] == ["good.duckdb"]
        assert_nothing_left(cfg)
    assert "memory" in errors[1][1].lower()
    assert errors[2] == errors[1]


def test_workers_build_under_the_worker_memory_limit(demo_register, tmp_path):
    """Each worker's DuckDB is held to [register] worker_memory_limit (the national state, built before them, to
    build_memory_limit): the build's peak is about workers x one worker's."""
    cfg = data_folder(demo_register, tmp_path / "data", worker_memory_limit="300MB", build_memory_limit="1GB")
    summary = parallel_build.build_register_in_workers(cfg, tmp_path / "register.duckdb", AREAS, tmp_path / "work", 2)
    assert [w["memory_limit"] for w in summary["workers"]] == ["300MB", "300MB"]
    assert sorted(a for w in summary["workers"] for a in w["areas"]) == sorted(AREAS)
    with duckdb.connect(str(tmp_path / "register.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT area_code) FROM organisation").fetchall() == [(len(AREAS),)]


def test_a_killed_worker_stops_the_others_and_the_register_stays_published(demo_register, tmp_path, monkeypatch):
    """One worker killed (as the OOM killer would) while the other is held inside its build: the run fails at once
    naming the dead worker's areas, the held worker is stopped, and nothing is left but the published register."""
    cfg = data_folder(demo_register, tmp_path / "data", build_workers=2)
    publish.build_and_publish(cfg, run_id="good", areas=AREAS)
    before = sha256(cfg.register_path)
    release = tmp_path / "release"  # never created: a worker that reaches the point waits there until stopped
    monkeypatch.setenv("VCSE_PAUSE_AT", "build_area_done")
    monkeypatch.setenv("VCSE_PAUSE_FILE", str(release))
    outcome: dict = {}

    def run() -> None:
        try:
            publish.build_and_publish(cfg, run_id="killed", areas=AREAS, force=True)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    reached = Path(f"{release}.reached")
    waited = threading.Event()
    while not reached.exists() and thread.is_alive():
        waited.wait(0.05)
    assert reached.exists(), outcome
    paused = spawned_workers()
    assert len(paused) == 2
    paused[0].kill()
    thread.join(120)
    assert not thread.is_alive()
    error = outcome["error"]
    assert isinstance(error, PipelineError)
    assert "died (killed by SIGKILL); no register was published" in str(error)
    assert str(error).startswith("the build worker for E08000")
    assert sha256(cfg.register_path) == before
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"]) == ("killed", "failed")
    assert_nothing_left(cfg)


def test_sigterm_stops_the_workers_with_a_one_line_error(demo_register, tmp_path):
    """`kill <vcse publish>` (a service manager stopping it) while its workers build: one line on standard error,
    the failed run recorded, no worker left running and no work folder left behind."""
    import os
    import signal
    import subprocess

    cfg = data_folder(demo_register, tmp_path / "data", build_workers=2)
    release = tmp_path / "release"  # never created: the workers wait at their first area until stopped
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VCSE")}, "PYTHONPATH": str(ROOT),
           "VCSE_PAUSE_AT": "build_area_done", "VCSE_PAUSE_FILE": str(release), "VCSE__DOWNLOAD__PROGRESS": "false"}
    command = [sys.executable, "-c", "from vcse_pipeline.cli import main; main()", "publish", "--data-dir",
               str(cfg.data_dir), "--run-id", "stopped", *[arg for area in AREAS for arg in ("--area", area)]]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reached = Path(f"{release}.reached")
    waited = threading.Event()
    while not reached.exists() and proc.poll() is None:
        waited.wait(0.05)
    assert reached.exists(), proc.communicate()
    workers = spawned_workers(proc.pid)
    assert len(workers) == 2
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "error: the build was stopped by SIGTERM; no register was published"]
    assert psutil.wait_procs(workers, timeout=30)[1] == []  # every worker has ended
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"]) == ("stopped", "failed")
    assert not cfg.register_path.exists()
    assert not list(cfg.versions_dir.glob("*.duckdb"))
    assert_nothing_left(cfg)


# ---------------------------------------------------------------------------------------------- planning

def test_areas_are_split_largest_first_onto_the_least_loaded_worker(demo_register):
    loads = parallel_build.area_loads(ensure_national_state(demo_register.cfg), [*AREAS, "E09000007"])
    assert loads[WIRRAL] > loads["E08000012"] > 0  # staged records per area, from the national state
    groups = parallel_build.area_groups(loads, 2)
    assert groups == [[WIRRAL], ["E08000012", "E06000050", "E08000014", "E09000007"]]
    # Staged records of national-size areas: Wirral and Liverpool are not built by the same worker as Leeds.
    national = {"E08000035": 21_000, "E06000052": 9_800, "E08000015": 5_300, "E06000050": 5_100,
                "E08000012": 7_400, "E06000006": 1_900, "E08000011": 2_500, "E09000007": 6_900}
    assert parallel_build.area_groups(national, 2) == [
        ["E08000035", "E08000015", "E06000006", "E08000011"],  # 30,700 records
        ["E06000052", "E06000050", "E08000012", "E09000007"],  # 29,200
    ]
    assert parallel_build.area_groups({WIRRAL: 10}, 4) == [[WIRRAL]]  # never an empty worker


def test_auto_workers_are_the_usable_cpus_capped_by_the_areas(monkeypatch):
    cfg = Config.load(environ={})
    assert cfg.section("register")["build_workers"] == "auto"
    monkeypatch.setattr(worker_processes, "usable_cpus", lambda: 2)
    assert parallel_build.worker_count(cfg, 10) == 2
    assert parallel_build.worker_count(cfg, 1) == 1  # one area always builds in the publishing process
    monkeypatch.setattr(worker_processes, "usable_cpus", lambda: 16)
    assert parallel_build.worker_count(cfg, 5) == 5
    assert parallel_build.worker_count(cfg.with_overrides({"register": {"build_workers": 1}}), 5) == 1
    monkeypatch.undo()
    assert worker_processes.usable_cpus() >= 1


@pytest.mark.parametrize(("raw", "message"), [
    ("0", "[register] build_workers = 0 is out of range: it must be at least 1, or 'auto'"),
    ("many", "[register] build_workers = 'many': expected 'auto' or a whole number"),
    ('"2"', "[register] build_workers = '2': expected 'auto' or a whole number"),
    ("1.5", "[register] build_workers = 1.5: expected 'auto' or a whole number"),
])
def test_a_bad_build_workers_value_names_the_setting(raw, message, tmp_path):
    with pytest.raises(PipelineError) as env_error:
        Config.load(environ={"VCSE__REGISTER__BUILD_WORKERS": raw})
    assert str(env_error.value) == f"environment variable VCSE__REGISTER__BUILD_WORKERS: {message}"
    site = tmp_path / "site.toml"
    site.write_text(f"[register]\nbuild_workers = {raw if raw != 'many' else repr(raw)}\n")
    with pytest.raises(PipelineError) as file_error:
        Config.load(site, environ={})
    assert str(file_error.value) == f"config file {site} (from --config): {message}"
    # A value set in code (not checked on load) is checked before a build uses it.
    with pytest.raises(PipelineError, match=r"^\[register\] build_workers = 0 is out of range"):
        parallel_build.worker_count(Config.load(environ={}).with_overrides({"register": {"build_workers": 0}}), 3)


def test_publish_takes_workers_on_the_command_line(tmp_path):
    from vcse_pipeline.cli import app

    result = CliRunner().invoke(app, ["publish", "--data-dir", str(tmp_path), "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    assert "--workers" in CliRunner().invoke(app, ["publish", "--help"]).output
