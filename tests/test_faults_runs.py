"""Fault suite, run side (issue 11): vanishing sources and gate refusals, concurrent runs, kill -9 during stage and
publish, crash debris, pruning, and two builds of the same staging.

Every case starts from a copy of the good demo data folder (the session's `vcse demo`), runs the real `vcse`
command in a process of its own (tests/prewarmed_cli.py), and asserts a clear one-line error (or a gate refusal
naming the counts), no traceback, and a published register byte-identical to before and still queryable. Kills
land at named steps (VCSE_KILL_AT, vcse_pipeline/faultpoints.py), never after a guessed delay; a second run is
started while the first is held at a known step inside its lock (VCSE_PAUSE_AT).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from prewarmed_cli import CliProcess, cli_process
from spawned_workers import spawned_workers

from vcse_pipeline import publish, run_history, versions
from vcse_pipeline.config import Config

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------- helpers

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_for(data: Path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(data)}})


def vcse(data: Path, *args: str, env: dict | None = None, wait: bool = True, timeout: float = 900):
    """The real command line in a process of its own (a kill -9 must not take the test with it), on `data`: like
    subprocess.Popen (wait=False) or subprocess.run, but forked from a process that has imported the CLI already
    (tests/prewarmed_cli.py), so each run skips the second of imports a fresh interpreter pays."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VCSE") and k != "PYTEST_CURRENT_TEST"}
    environ.update({"PYTHONPATH": str(ROOT), "VCSE__DOWNLOAD__PROGRESS": "false", "COLUMNS": "80"})
    proc = cli_process([*args, "--data-dir", str(data)], {**environ, **(env or {})}, data.parent, import_env=environ)
    if wait:
        proc.wait(timeout)
    return proc


def one_line_error(proc) -> str:
    """The error of a refused command: exit code 1, no traceback, exactly one line on standard error."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def gate_refusal(proc) -> str:
    """A publish refused by its gates: exit code 1, no traceback, the error listing each failed gate."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and "quality gate(s) failed, register not published" in proc.stderr
    return proc.stderr


def register_queryable(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM provider_directory").fetchone()[0]
    finally:
        con.close()


def history(data: Path) -> list[dict]:
    return run_history.read_history(config_for(data))


def rewrite_zip_text(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite the one text member of a downloaded zip (as a publisher's bad release would ship it)."""
    with zipfile.ZipFile(path) as archive:
        (info,) = archive.infolist()
        text = archive.read(info).decode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(info.filename, change(text))


def keep_lines(text: str, share: float) -> str:
    """The header and the first `share` of the data lines."""
    header, *rows = text.splitlines(keepends=True)
    return header + "".join(rows[:int(len(rows) * share)])


def tsv_set(text: str, column: str, value: str) -> str:
    """A Charity Commission extract table with one column set to `value` on every row."""
    header, *rows = text.splitlines()
    names = header.split("\t")
    at = names.index(column)
    out = [header]
    for row in rows:
        cells = row.split("\t")
        cells[at] = value
        out.append("\t".join(cells))
    return "\r\n".join(out) + "\r\n"


def drop_register_charities(data: Path, share: float) -> None:
    """Remove `share` of the published register's charities from the extract's charity table (a release that
    lost them), every one of their rows."""
    con = duckdb.connect(str(data / "register" / "vcse_register.duckdb"), read_only=True)
    try:
        numbers = [r[0] for r in con.execute(
            "SELECT DISTINCT split_part(record_id, ':', 2) FROM organisation_identifier "
            "WHERE source = 'charity_commission' ORDER BY 1").fetchall()]
    finally:
        con.close()
    gone = set(numbers[:round(len(numbers) * share)])

    def without(text: str) -> str:
        header, *rows = text.splitlines(keepends=True)
        return header + "".join(r for r in rows if r.split("\t")[1] not in gone)

    rewrite_zip_text(charity_zip(data, "charity"), without)


def companies_all_outside_vcse(text: str) -> str:
    """Every company moved to a category the VCSE rule does not stage (a feed that changed its labels)."""
    rows = list(csv.reader(io.StringIO(text)))
    at = rows[0].index("CompanyCategory")
    for row in rows[1:]:
        row[at] = "Private Limited Company"
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def charity_zip(data: Path, table: str) -> Path:
    return data / "downloads" / "charity_commission" / f"publicextract.{table}.zip"


def fca_file(data: Path) -> Path:
    return data / "downloads" / "fca_mutuals" / "SocietyList.csv"


def companies_zip(data: Path) -> Path:
    (path,) = (data / "downloads" / "companies_house").glob("*.zip")
    return path


def dead_pid() -> int:
    """The id of a process that has exited (reaped, so no process has it until the kernel reuses it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_holder(data: Path, name: str, **fields) -> None:
    record = {"name": name, "run_id": "held-by-test", "command": "publish", "kind": "process", "pid": os.getpid(),
              "host": socket.gethostname(), "started_at": "2026-12-03T09:00:00+00:00", "started_epoch": time.time()}
    record.update(fields)
    (data / "locks").mkdir(parents=True, exist_ok=True)
    (data / "locks" / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")


def version_names(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "register" / "versions").iterdir() if p.is_file())


@dataclass
class Snapshot:
    """What must not change when a run fails: the published register's bytes and the staging files."""

    register: str
    staging: dict[str, str]

    @classmethod
    def of(cls, data: Path) -> Snapshot:
        return cls(sha256(data / "register" / "vcse_register.duckdb"),
                   {p.name: sha256(p) for p in sorted((data / "staging").glob("*.duckdb"))})

    def assert_register_intact(self, data: Path) -> None:
        register = data / "register" / "vcse_register.duckdb"
        assert sha256(register) == self.register, "the published register changed"
        assert register_queryable(register) > 0

    def assert_staging_intact(self, data: Path) -> None:
        assert {p.name: sha256(p) for p in sorted((data / "staging").glob("*.duckdb"))} == self.staging


@pytest.fixture
def data(demo_register, tmp_path) -> Path:
    """A private copy of the good demo data folder (its register published, every source staged)."""
    copy = tmp_path / "data"
    shutil.copytree(demo_register.cfg.data_dir, copy, ignore=shutil.ignore_patterns("demo-sources", "locks"))
    return copy


# ---------------------------------------------------------------------------------------------- vanishing sources

@dataclass(frozen=True)
class StageCase:
    name: str
    source: str
    damage: Callable[[Path], None]
    expect: tuple[str, ...]   # in the one-line error: gate, table, counts


def _fca_header_only(data: Path) -> None:
    fca_file(data).write_text(fca_file(data).read_text(encoding="utf-8").splitlines(keepends=True)[0],
                              encoding="utf-8")


def _fca_cut_30(data: Path) -> None:
    fca_file(data).write_text(keep_lines(fca_file(data).read_text(encoding="utf-8"), 0.7), encoding="utf-8")


STAGE_CASES = [
    StageCase("FCA SocietyList.csv with only its header", "fca_mutuals", _fca_header_only,
              ("source_empty", "fca_mutuals.society rows staged: 0 now against", "went empty")),
    StageCase("FCA file missing its last 30% of rows", "fca_mutuals", _fca_cut_30,
              ("staged_rows", "fca_mutuals.society rows staged", "allowed +/-20%")),
    StageCase("charity_area_of_operation with only its header", "charity_commission",
              lambda d: rewrite_zip_text(charity_zip(d, "charity_area_of_operation"), lambda t: keep_lines(t, 0)),
              ("source_empty", "charity_commission.charity_area_of_operation rows staged: 0 now against")),
    StageCase("every Companies House row outside the VCSE categories", "companies_house",
              lambda d: rewrite_zip_text(companies_zip(d), companies_all_outside_vcse),
              ("source_empty", "companies_house.company rows staged: 0 now against")),
    StageCase("half the charity extract's charities gone", "charity_commission",
              lambda d: rewrite_zip_text(charity_zip(d, "charity"), lambda t: keep_lines(t, 0.5)),
              ("staged_rows", "charity_commission.charity rows staged", "-50")),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", STAGE_CASES, ids=lambda c: c.name)
def test_a_source_that_vanishes_is_refused_at_stage_and_nothing_changes(data, case):
    before = Snapshot.of(data)
    case.damage(data)
    message = one_line_error(vcse(data, "stage", case.source))
    for needle in case.expect + (f"--accept {case.expect[0]}:{case.source}", "the previous staging is kept"):
        assert needle in message, message
    before.assert_staging_intact(data)
    before.assert_register_intact(data)
    refused = history(data)[-1]
    assert refused["status"] == "stage_refused" and case.source in refused["message"]
    assert not list((data / "staging").glob("*.tmp*")) and not (data / "locks" / f"stage-{case.source}.json").exists()


@pytest.mark.slow
def test_an_accepted_vanishing_source_stages_and_the_history_says_who_let_it_through(data):
    """The operator knows the FCA cut its list: --accept lets this one stage through, recorded in the history."""
    _fca_cut_30(data)
    proc = vcse(data, "stage", "fca_mutuals", "--accept", "staged_rows:fca_mutuals")
    assert proc.returncode == 0, proc.stderr
    record = history(data)[-1]
    assert record["status"] == "stage_accepted"
    assert "accepted: staged_rows [fca_mutuals]: fca_mutuals.society rows staged" in record["message"]
    assert [g["accepted"] for g in record["gates"] if g["name"] == "staged_rows"] == [True]
    # An unknown gate is a one-line error before any work.
    message = one_line_error(vcse(data, "stage", "fca_mutuals", "--accept", "row_cuont"))
    assert "unknown gate 'row_cuont'" in message and "staged_rows" in message


@dataclass(frozen=True)
class PublishCase:
    name: str
    damage: Callable[[Path], None]
    expect: tuple[str, ...]


PUBLISH_CASES = [
    # The charity table keeps its rows (so staging passes); only the status changes.
    PublishCase("every charity's status Removed",
                lambda d: rewrite_zip_text(charity_zip(d, "charity"),
                                           lambda t: tsv_set(t, "charity_registration_status", "Removed")),
                ("active_charity_share [E08000015 charity_commission]", "charities active (", "%) against",
                 "active_organisations [E08000015]: active organisations:",
                 "--accept active_charity_share:charity_commission")),
    # 15% fewer charities passes the 20% staging band; the register's charity_commission count does not.
    PublishCase("15% of the register's charities gone", lambda d: drop_register_charities(d, 0.15),
                ("source_organisations [E08000015 charity_commission]: organisations with a charity_commission "
                 "record:", "allowed +/-10%", "--accept source_organisations:charity_commission")),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", PUBLISH_CASES, ids=lambda c: c.name)
def test_a_source_change_that_stages_is_refused_at_publish_naming_the_counts(data, case):
    case.damage(data)
    staged = vcse(data, "stage", "charity_commission")
    assert staged.returncode == 0, staged.stderr
    before = Snapshot.of(data)
    message = gate_refusal(vcse(data, "publish"))
    for needle in case.expect:
        assert needle in message, message
    before.assert_register_intact(data)
    assert history(data)[-1]["status"] == "failed_quality"
    assert not (data / "locks" / "publish.json").exists()


@pytest.mark.slow
def test_an_accepted_mass_status_change_publishes_and_is_recorded(data):
    rewrite_zip_text(charity_zip(data, "charity"), lambda t: tsv_set(t, "charity_registration_status", "Removed"))
    assert vcse(data, "stage", "charity_commission").returncode == 0
    proc = vcse(data, "publish", "--accept", "active_charity_share", "--accept", "active_organisations")
    assert proc.returncode == 0, proc.stderr
    record = history(data)[-1]
    assert record["status"] == "published" and record["message"].startswith("accepted: ")
    accepted = {g["name"] for g in record["gates"] if g.get("accepted")}
    assert accepted == {"active_charity_share", "active_organisations"}
    con = duckdb.connect(str(data / "register" / "vcse_register.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM quality_gate WHERE message LIKE '%accepted for this run%'"
                           ).fetchone()[0] == 2
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------- one run at a time

@pytest.mark.slow
@pytest.mark.parametrize("command, lock", [(("refresh", "fca_mutuals"), "download-fca_mutuals"),
                                           (("stage", "fca_mutuals"), "stage-fca_mutuals"),
                                           (("publish",), "publish"), (("rollback",), "publish")],
                         ids=["refresh", "stage", "publish", "rollback"])
def test_a_second_run_is_refused_naming_the_holder(data, command, lock):
    """A live run (this test's own process) holds the lock: the command stops at once, naming it."""
    write_holder(data, lock, command="publish")
    before = Snapshot.of(data)
    message = one_line_error(vcse(data, *command))
    assert f"another run holds the {lock} lock: run held-by-test (publish, pid {os.getpid()} on " in message
    assert "wait for it to finish" in message
    before.assert_register_intact(data)
    before.assert_staging_intact(data)
    assert json.loads((data / "locks" / f"{lock}.json").read_text())["run_id"] == "held-by-test"  # not released


@pytest.mark.slow
@pytest.mark.parametrize("holder", [{"pid": "dead"}, {"host": "another-host", "started_epoch": 0}],
                         ids=["dead pid on this host", "older than stale_lock_hours"])
def test_a_stale_lock_from_a_killed_run_is_released(data, holder):
    write_holder(data, "stage-fca_mutuals", **{k: dead_pid() if v == "dead" else v for k, v in holder.items()})
    proc = vcse(data, "stage", "fca_mutuals")
    assert proc.returncode == 0, proc.stderr
    assert "releasing stale stage-fca_mutuals lock of run held-by-test" in proc.stderr
    assert not (data / "locks" / "stage-fca_mutuals.json").exists()


@pytest.mark.slow
def test_two_stages_of_one_source_at_once_one_runs_the_other_is_refused(data):
    release = data.parent / "release-stage"
    first = vcse(data, "stage", "fca_mutuals", wait=False,
                 env={"VCSE_PAUSE_AT": "stage_loaded", "VCSE_PAUSE_FILE": str(release)})
    _wait_for(Path(f"{release}.reached"), first)
    second = vcse(data, "stage", "fca_mutuals")
    message = one_line_error(second)
    assert "another run holds the stage-fca_mutuals lock: run " in message and f"pid {first.pid} on" in message
    release.touch()
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert register_queryable(data / "register" / "vcse_register.duckdb") > 0
    assert not list((data / "staging").glob("*.tmp*"))


@pytest.mark.slow
def test_two_publishes_at_once_one_publishes_the_other_is_refused(data):
    release = data.parent / "release-publish"
    before = Snapshot.of(data)
    first = vcse(data, "publish", "--run-id", "first", "--force", wait=False,
                 env={"VCSE_PAUSE_AT": "publish_locked", "VCSE_PAUSE_FILE": str(release)})
    _wait_for(Path(f"{release}.reached"), first)
    message = one_line_error(vcse(data, "publish", "--run-id", "second", "--force"))
    assert f"another run holds the publish lock: run first (publish, pid {first.pid} on" in message
    before.assert_register_intact(data)  # the refused run changed nothing
    release.touch()
    out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err
    published = [r["run_id"] for r in history(data) if r["status"] == "published"]
    assert published.count("first") == 1 and "second" not in published
    assert _published_run(data) == "first"


def _wait_for(marker: Path, proc: CliProcess, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before its pause point: {proc.communicate()}")
        assert time.monotonic() < deadline, "run never reached its pause point"
        time.sleep(0.05)


def _published_run(data: Path) -> str:
    con = duckdb.connect(str(data / "register" / "vcse_register.duckdb"), read_only=True)
    try:
        return con.execute("SELECT run_id FROM run_history WHERE status = 'published' "
                           "ORDER BY finished_at DESC, rowid DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()


@pytest.mark.slow
def test_ctrl_c_while_two_sources_stage_stops_both_and_keeps_their_staging(data):
    """`vcse stage fca_mutuals ukcat` stages both at once, each in a worker process; Ctrl-C while both hold their
    half-written staging stops both workers at once, each removes its .tmp and releases its lock, and the staging
    files are the ones before."""
    import signal

    import psutil

    before = Snapshot.of(data)
    release = data.parent / "release-never"   # never created: both stages wait at their pause point
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VCSE")}, "PYTHONPATH": str(ROOT),
           "VCSE_PAUSE_AT": "stage_loaded", "VCSE_PAUSE_FILE": str(release), "VCSE__DOWNLOAD__PROGRESS": "false",
           "VCSE__DOWNLOAD__STAGE_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, "-c", "from vcse_pipeline.cli import main; main()", "stage",
                             "fca_mutuals", "ukcat", "--data-dir", str(data)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staging = data / "staging"
    deadline = time.monotonic() + 300
    while len(list(staging.glob("*.duckdb.tmp"))) < 2 or not Path(f"{release}.reached").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the stages never reached their pause point"
        time.sleep(0.05)
    workers = spawned_workers(proc.pid)
    assert len(workers) == 2
    proc.send_signal(signal.SIGINT)   # at a terminal Ctrl-C reaches the workers too, which ignore it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert "Traceback" not in err, err
    assert psutil.wait_procs(workers, timeout=30)[1] == []
    assert not list(staging.glob("*.tmp*"))
    assert not list((data / "locks").glob("stage-*.json"))
    before.assert_staging_intact(data)


# ---------------------------------------------------------------------------------------------- kill -9

@pytest.mark.slow
@pytest.mark.parametrize("point", ["stage_loaded", "stage_before_replace"])
def test_kill_during_stage_leaves_staging_and_register_and_the_next_stage_cleans_up(data, point):
    before = Snapshot.of(data)
    killed = vcse(data, "stage", "companies_house", env={"VCSE_KILL_AT": point})
    assert killed.returncode == -9
    assert (data / "staging" / "companies_house.duckdb.tmp").exists()  # what the kill left
    before.assert_staging_intact(data)
    before.assert_register_intact(data)
    # A half-extracted zip member, as a kill during extraction leaves it.
    scratch = data / "downloads" / "companies_house" / ".extract-killed" / "0-BasicCompanyData"
    scratch.mkdir(parents=True)
    (scratch / "BasicCompanyDataAsOneFile-2026-11-01.csv.part").write_bytes(b"CompanyName,CompanyNumber\n" * 1000)
    again = vcse(data, "stage", "companies_house")
    assert again.returncode == 0, again.stderr
    assert "releasing stale stage-companies_house lock" in again.stderr  # the killed run's pid is gone
    assert not list((data / "staging").glob("*.tmp*"))
    assert not list((data / "downloads" / "companies_house").glob(".extract-*"))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["build_area_done", "version_built", "publish_before_switch"])
def test_kill_during_publish_leaves_the_register_and_the_next_run_clears_the_debris(data, point):
    cfg = config_for(data)
    before = Snapshot.of(data)
    good = version_names(data)
    # --force: the staging is the published register's, so without it the run would build nothing ('unchanged')
    killed = vcse(data, "publish", "--run-id", "killed", "--force", env={"VCSE_KILL_AT": point})
    assert killed.returncode == -9
    before.assert_register_intact(data)
    assert len(version_names(data)) > len(good)  # the killed run's version (and WAL) is left behind
    # The next run (here a rollback, which takes the same lock and settles the history) says the stale lock
    # was released, and a publish run clears the debris before its build: run the cleanup as it does.
    from vcse_pipeline.runlock import PUBLISH, run_lock

    with run_lock(cfg, PUBLISH, "next", "test"):
        publish.prepare_publish(cfg)
    assert version_names(data) == good
    before.assert_register_intact(data)
    runs = {r["run_id"]: r["status"] for r in history(data)}
    if point == "publish_before_switch":  # it had recorded "publishing": settled as failed, version rejected
        assert runs["killed"] == "failed"
        assert list((data / "register" / "versions" / "rejected").glob("*killed*.duckdb"))
    else:
        assert "killed" not in runs


@pytest.mark.slow
def test_kill_just_after_the_switch_is_recorded_by_the_next_run(data):
    killed = vcse(data, "publish", "--run-id", "switched", "--force", env={"VCSE_KILL_AT": "publish_after_switch"})
    assert killed.returncode == -9
    assert _published_run(data) == "switched"  # the register is the new version...
    assert [r["status"] for r in history(data) if r["run_id"] == "switched"] == ["publishing"]  # ...recorded first
    # The next run takes the lock (the killed holder is released) and settles the record as published.
    refused = vcse(data, "rollback", "no-such-version")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "releasing stale publish lock of run switched" in refused.stderr  # a warning line, then the error
    assert refused.stderr.splitlines()[-1].startswith("error: no version named 'no-such-version'")
    assert [r["status"] for r in history(data) if r["run_id"] == "switched"] == ["published"]
    assert register_queryable(data / "register" / "vcse_register.duckdb") > 0


# ---------------------------------------------------------------------------------------------- pruning

def test_pruning_after_crashes_keeps_the_versions_that_passed_so_rollback_has_a_target(data):
    """Five crashed builds and one good publish with keep_versions = 2: the good versions survive, not the debris."""
    cfg = config_for(data).with_overrides({"register": {"keep_versions": 2}})
    register = data / "register" / "vcse_register.duckdb"
    (first,) = version_names(data)
    for i in range(5):  # what kill -9 during a build leaves: a file with no gate results, and its WAL
        half = versions.version_path_for(cfg, f"crashed{i}")
        con = duckdb.connect(str(half))
        con.execute("CREATE TABLE organisation (org_id VARCHAR)")
        con.close()
        Path(f"{half}.wal").write_bytes(b"\0" * 64)
    assert len(versions.list_versions(cfg)) == 6
    good = versions.version_path_for(cfg, "good")
    shutil.copyfile(register, good)  # the same register rebuilt: its gates pass against the published one
    publish.publish_version(cfg, good, "good", cfg.areas)
    assert version_names(data) == sorted([first, good.name])
    assert versions.rollback(cfg).name == first
    assert sha256(register) == sha256(cfg.versions_dir / first)


# ---------------------------------------------------------------------------------------------- same inputs

@pytest.mark.slow
def test_two_builds_from_the_same_staging_are_identical_table_by_table(data, tmp_path):
    """A build here against the published register, which the session's `vcse demo` built from this staging in
    another process (another hash seed): each table the build makes, row for row. Publishing only adds its own
    tables (gates, changes, history) to the file, and only build a's tables are compared."""
    from vcse_pipeline.pipeline import build_register

    cfg = config_for(data)
    builds = [tmp_path / "a.duckdb", data / "register" / "vcse_register.duckdb"]
    # counting overdue filings from the published build's day, or a session that crosses midnight compares two days
    build_register(cfg, builds[0], as_of=_published_day(builds[1]))
    con = duckdb.connect()
    try:
        for alias, path in zip("ab", builds, strict=True):
            con.execute(f"ATTACH {publish_literal(path)} AS {alias} (READ_ONLY)")
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'a' "
                                            "ORDER BY 1").fetchall()]
        assert {"organisation", "organisation_tag", "organisation_service_area", "source_record"} <= set(tables)
        for table in tables:
            for left, right in (("a", "b"), ("b", "a")):
                extra = con.execute(f'SELECT count(*) FROM (SELECT * FROM {left}."{table}" EXCEPT ALL '
                                    f'SELECT * FROM {right}."{table}")').fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows of build {left} not in build {right}"
            rows = [con.execute(f'SELECT * FROM {db}."{table}"').fetchall() for db in "ab"]
            assert rows[0] == rows[1], f"{table}: same rows in a different order"
        evidence = con.execute("SELECT count(*) FROM a.organisation_tag WHERE evidence LIKE 'model score %'"
                               ).fetchone()[0]
        assert evidence > 0  # the model's scores are part of what was compared
    finally:
        con.close()


def _published_day(register: Path):
    """The day the published build counted from: publish takes date.today() (local) as its run starts."""
    con = duckdb.connect(str(register), read_only=True)
    try:
        started = con.execute("SELECT started_at FROM run_history WHERE status = 'published' "
                              "ORDER BY finished_at DESC, rowid DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()
    return started.astimezone().date()


def publish_literal(path: Path) -> str:
    from vcse_pipeline.db import sql_literal

    return sql_literal(str(path))


# ---------------------------------------------------------------------------------------------- Airflow

@pytest.mark.slow
def test_an_airflow_register_run_holds_the_publish_lock_until_its_teardown(data, monkeypatch):
    """start_run takes the lock for the DAG run (across task processes), a CLI publish meanwhile is refused, the
    finish_run teardown releases it; a bad `accept` param fails start_run at once and leaves no lock."""
    from vcse_pipeline import airflow_tasks
    from vcse_pipeline.errors import PipelineError

    cfg = config_for(data)
    monkeypatch.setattr(airflow_tasks, "load_config", lambda overrides=None: cfg)
    with pytest.raises(PipelineError, match=r"--accept 'rows': unknown gate 'rows'"):
        airflow_tasks.start_register_run("manual__2026-12-03T09:00:00+00:00", accept=["rows"])
    assert not (data / "locks" / "publish.json").exists()
    run = airflow_tasks.start_register_run("manual__2026-12-03T10:00:00+00:00", force=True,
                                           accept=["source_organisations:fca_mutuals"])
    assert run["accept"] == ["source_organisations:fca_mutuals"]
    before = Snapshot.of(data)
    message = one_line_error(vcse(data, "publish"))
    assert ("another run holds the publish lock: run manual__2026-12-03T10-00-00-00-00 (Airflow vcse_register, "
            "Airflow, taken on ") in message
    before.assert_register_intact(data)
    assert airflow_tasks.finish_register_run(run, None, None) == "failure recorded"
    assert not (data / "locks" / "publish.json").exists()


def test_a_run_id_given_twice_is_two_runs_but_an_airflow_retry_is_the_same_run(tmp_path):
    from vcse_pipeline.errors import retry_can_help
    from vcse_pipeline.runlock import RunLockedError, acquire, read_holder, release

    cfg = config_for(tmp_path / "data")
    acquire(cfg, "publish", "nightly", "publish")
    with pytest.raises(RunLockedError, match=r"the publish lock: run nightly \(publish, pid ") as info:
        acquire(cfg, "publish", "nightly", "publish")  # `vcse publish --run-id nightly` twice
    assert retry_can_help(info.value) is True  # under Airflow the task waits for the holder and retries
    assert release(cfg, "publish", "nightly") and read_holder(cfg, "publish") is None
    first = acquire(cfg, "publish", "manual__1", "Airflow vcse_register", kind="airflow")
    again = acquire(cfg, "publish", "manual__1", "Airflow vcse_register", kind="airflow")  # start_run retried
    assert again["started_epoch"] == first["started_epoch"]
    assert not release(cfg, "publish", "someone-else") and read_holder(cfg, "publish")["run_id"] == "manual__1"
