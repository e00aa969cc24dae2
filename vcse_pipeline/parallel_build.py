"""Build a many-area register on every core of one machine: areas in worker processes, then one assembled file.

A one-process build (pipeline.build_register) works through its areas one after another on one core. Here the
national state is built once (register/national.ensure_national_state), the areas are split into balanced groups
(each area weighed by its records in the national state's area membership, largest first onto the least-loaded
worker), and each worker process builds its group with pipeline.build_register into its own file in the run's work
folder, so no two workers share a DuckDB writer. assemble_register then loads those files into the register file,
as the Airflow register DAG does with its mapped area tasks (publish.assemble_version): the same tables, rows, views
and macros as a one-process build of the same areas.

Workers are started with "spawn": a fresh interpreter that imports only the build (no inherited DuckDB
connections, threads or locks), and loads the tagging model only if it tags a text the tag cache lacks. The tag
cache (tagging/cache.py) takes one new file per writer, so workers share it safely.

A worker that fails stops the build at once: the other workers are stopped, their files removed, and the worker's
error is raised in the parent with its own message (what a one-process build would have raised). Ctrl-C and
SIGTERM stop the workers the same way; a worker whose parent dies is killed by the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import resource
import shutil
import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection, wait
from pathlib import Path

from .config import Config, value_problem
from .db import connect, remove_database, run_sql_dir, sql_literal, table_columns
from .errors import PipelineError
from .register.reference_copy import order_postcode_location

log = logging.getLogger(__name__)

AUTO = "auto"
# How long a stopped worker has to unwind (close its DuckDB file, remove a half-written cache file) before SIGKILL.
STOP_GRACE_SECONDS = 10.0


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or taskset's cpuset), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(cfg: Config, areas: int) -> int:
    """How many worker processes build `areas` areas: [register] build_workers ("auto": the usable CPUs), never more
    than the areas; 1 builds in this process."""
    setting = cfg.section("register").get("build_workers", AUTO)
    problem = value_problem("register", "build_workers", setting)  # Config.load checks files and the environment;
    if problem:  # a value set in code (an override, --workers) is checked here
        raise PipelineError(problem)
    return max(1, min(usable_cpus() if setting == AUTO else setting, areas))


# ---------------------------------------------------------------------------------------------- planning

def area_loads(national: Path, areas: list[str]) -> dict[str, int]:
    """Each area's staged records (its rows of the national state's area_membership): what its build costs grows
    with them. 0 for an area the national state does not cover (it is built from its own membership)."""
    from .register.area import MEMBERSHIP_TABLE

    con = connect(national, read_only=True)
    try:
        if not table_columns(con, MEMBERSHIP_TABLE):
            return dict.fromkeys(areas, 0)
        counts = dict(con.execute(f"SELECT area_code, count(*) FROM {MEMBERSHIP_TABLE} "
                                  "WHERE area_code IN (SELECT unnest(?)) GROUP BY 1", [areas]).fetchall())
    finally:
        con.close()
    return {area: counts.get(area, 0) for area in areas}


def area_groups(loads: dict[str, int], workers: int) -> list[list[str]]:
    """`loads`' areas split into at most `workers` groups of about equal load: largest area first, each onto the
    group with the least load so far (ties: the earlier group). Each group keeps the areas' given order; no group is
    empty."""
    order = list(loads)
    groups: list[list[str]] = [[] for _ in range(min(workers, len(order)))]
    totals = [0] * len(groups)
    for area in sorted(order, key=lambda a: -loads[a]):  # stable: equal loads keep their given order
        least = min(range(len(groups)), key=lambda i: (totals[i], i))
        groups[least].append(area)
        totals[least] += loads[area] + 1  # +1: an area has fixed costs too, so empty areas still spread
    return [sorted(group, key=order.index) for group in groups if group]


# ---------------------------------------------------------------------------------------------- assembling

def assemble_register(out_path: Path, area_files: list[Path]) -> Path:
    """Load per-area register files (built apart, one writer each) into one new register file at `out_path`.

    The first file is copied whole (it is a register already: copying its bytes costs a fraction of inserting its
    rows again, which took 7 of a national assembly's 42 s); the others are loaded into it. Tables carrying
    area_code are appended from every file; area-independent tables (taxonomies, and postcode_location, which every
    area only adds postcodes to) are loaded once (rows already present are not repeated). The views and macros of
    sql/views are made over the merged tables, as a one-file build makes them. The area files are left as they were,
    so an Airflow assemble task can be retried.
    """
    if out_path.exists():
        raise FileExistsError(f"{out_path} exists: a build always writes a new file")
    try:
        if area_files:
            _copy_database(area_files[0], out_path)
        con = connect(out_path)
    except BaseException:
        remove_database(out_path)
        raise
    try:
        run_sql_dir(con, "core")  # the tables a first file written by older code may lack
        for i, area_file in enumerate(area_files[1:], start=1):
            alias = f"area_{i}"
            con.execute(f"ATTACH {sql_literal(str(area_file))} AS {alias} (READ_ONLY)")
            tables = con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
                "ORDER BY table_name", [alias]).fetchall()
            for (table,) in tables:
                source = f'{alias}."{table}"'
                if not table_columns(con, table):
                    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {source}')
                    continue
                if "area_code" in table_columns(con, table, alias):
                    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM {source}')
                else:
                    con.execute(
                        f'INSERT INTO "{table}" BY NAME (SELECT * FROM {source} EXCEPT SELECT * FROM "{table}")')
            con.execute(f"DETACH {alias}")
        order_postcode_location(con)  # the later files' postcodes were added as sets, in no order
        run_sql_dir(con, "views")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        remove_database(out_path)
        raise
    con.close()
    return out_path


def _copy_database(source: Path, target: Path) -> None:
    """Copy a closed DuckDB file, with the write-ahead log beside it if it has one (DuckDB replays it on open)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    wal = Path(f"{source}.wal")
    if wal.exists():
        shutil.copyfile(wal, f"{target}.wal")


# ---------------------------------------------------------------------------------------------- the build

@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection  # the parent's end of the worker's pipe
    areas: list[str]
    summary: dict | None = None  # pipeline.build_register's, once the worker is done


def build_register_in_workers(cfg: Config, out_path: Path, areas: list[str], work_dir: Path, workers: int,
                              national: Path | None = None, as_of: date | None = None) -> dict:
    """Build `areas` into a new register file at `out_path` with `workers` processes, through part files in
    `work_dir` (removed afterwards, whatever happens); returns build_register's summary of every area, in the given
    order. The register is the one pipeline.build_register(cfg, out_path, areas, as_of=as_of) makes: every worker
    counts from the one date (`as_of`, today when not given), even when the build crosses midnight."""
    from .register.national import ensure_national_state

    if out_path.exists():
        raise FileExistsError(f"{out_path} exists: a build always writes a new file")
    national = national or ensure_national_state(cfg, areas)  # once, before the workers: they attach it read-only
    groups = area_groups(area_loads(national, areas), workers)
    as_of = as_of or date.today()
    work_dir.mkdir(parents=True, exist_ok=True)
    log.info("building %d areas in %d worker processes: %s", len(areas), len(groups),
             "; ".join(" ".join(g) for g in groups))
    try:
        with _stop_on_sigterm():
            summaries = _run_workers(cfg, groups, work_dir, national, as_of)
            assemble_register(out_path, [work_dir / _part_name(i) for i in range(len(groups))])
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    merged = {area: summary for worker in summaries for area, summary in worker["areas"].items()}
    return {"areas": {area: merged[area] for area in areas}, "as_of": as_of.isoformat(),
            "workers": [{"areas": group, "cpu_seconds": summary["cpu_seconds"], "memory_limit": summary["memory_limit"]}
                        for group, summary in zip(groups, summaries, strict=True)]}


def _part_name(index: int) -> str:
    return f"part-{index}.duckdb"


def _run_workers(cfg: Config, groups: list[list[str]], work_dir: Path, national: Path, as_of: date
                 ) -> list[dict]:
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("vcse_pipeline").getEffectiveLevel()
    started: list[_Worker] = []
    try:
        for i, group in enumerate(groups):
            parent_end, child_end = context.Pipe(duplex=False)
            process = context.Process(target=_worker_main, name=f"vcse-build-{i}", daemon=True,
                                      args=(cfg.raw, str(work_dir / _part_name(i)), group, str(national), as_of,
                                            child_end, level))
            try:
                process.start()
            finally:
                child_end.close()  # the worker holds its end: EOF here means it is gone
            started.append(_Worker(process, parent_end, group))
        _wait_for(started)
        return [w.summary for w in started]
    finally:
        _stop(started)


def _wait_for(workers: list[_Worker]) -> None:
    """Relay the workers' log records until each has sent its summary; the first failure is raised at once."""
    pending = {w.conn: w for w in workers}
    while pending:
        for conn in wait(list(pending)):
            worker = pending[conn]
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):  # gone without a word: killed (OOM, kill -9) or crashed in C
                worker.process.join(STOP_GRACE_SECONDS)
                raise PipelineError(f"the build worker for {', '.join(worker.areas)} died "
                                    f"({_exit_reason(worker.process.exitcode)}); no register was published") from None
            if kind == "log":
                logging.getLogger(payload["name"]).handle(logging.makeLogRecord(payload))
            elif kind == "done":
                worker.summary = payload
                del pending[conn]
            else:  # "failed": the worker's own exception, as a one-process build would have raised it
                error, remote = payload
                raise error from _WorkerTraceback(remote)


class _WorkerTraceback(Exception):
    """The failed worker's traceback, chained under its error for the logs (the CLI shows only the error)."""

    def __str__(self) -> str:
        return "in the build worker:\n" + self.args[0]


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _stop(workers: list[_Worker]) -> None:
    """End every worker still running (SIGTERM lets it unwind; SIGKILL after STOP_GRACE_SECONDS) and reap it."""
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in workers:
        worker.process.join(STOP_GRACE_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        worker.process.close()


class BuildStopped(PipelineError):
    """The build was stopped by a signal (SIGTERM): its workers are stopped and nothing is published."""


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (a service manager, `kill`) raises BuildStopped while the workers run, so they are stopped and their
    files removed as for Ctrl-C, rather than the parent vanishing under them. Only the main thread may set it."""
    def stopped(signum, frame):
        raise BuildStopped(f"the build was stopped by {signal.Signals(signum).name}; no register was published")

    try:
        previous = signal.signal(signal.SIGTERM, stopped)
    except ValueError:  # not the main thread (an Airflow task runner thread): the default stays
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------- in the worker

def _worker_main(raw: dict, out: str, areas: list[str], national: str, as_of: date, conn: Connection,
                 level: int) -> None:
    """A worker process: build `areas` into `out` and send ("done", summary), or ("failed", (error, traceback))."""
    _die_with_parent()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent too, which stops the workers
    _relay_logs(conn, level)
    from .pipeline import build_register

    try:
        # postcode_location is sorted once, by assemble_register, after every file's rows are in: a worker's own
        # sort would be undone by the next file's rows
        cfg = Config(raw)
        summary = build_register(cfg, Path(out), areas, Path(national), as_of, order_postcodes=False,
                                 memory_limit=cfg.section("register")["worker_memory_limit"])
    except SystemExit:
        raise  # stopped by the parent: it knows why
    except BaseException as exc:
        _send(conn, ("failed", (_sendable(exc), traceback.format_exc())))
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    _send(conn, ("done", summary))


_SENDING = threading.Lock()  # a log record from another thread must not interleave with a message on the pipe


def _send(conn: Connection, message: tuple) -> None:
    with _SENDING:
        conn.send(message)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds: build_register closes its file, the tag cache removes a .tmp


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if the parent dies (kill -9, OOM), so no worker outlives its build."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the prctl took effect
        os._exit(1)


def _relay_logs(conn: Connection, level: int) -> None:
    """Send this worker's vcse_pipeline log records (at the parent's level) to the parent, which logs them through
    its own handlers: the CLI's one-line warnings, an Airflow task's log."""
    class Relay(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            fields = dict(record.__dict__, msg=record.getMessage(), args=None, exc_info=None, exc_text=None)
            try:
                _send(conn, ("log", fields))
            except Exception:
                self.handleError(record)

    logger = logging.getLogger("vcse_pipeline")
    logger.setLevel(level)
    logger.addHandler(Relay(level))
    logger.propagate = False


def _sendable(exc: BaseException) -> BaseException:
    """`exc` when it survives pickling as it is, else one with the same message the CLI would show."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        pass
    if isinstance(exc, PipelineError):
        return PipelineError(str(exc), transient=exc.transient)
    if isinstance(exc, OSError):
        return OSError(exc.errno, exc.strerror, exc.filename)
    return RuntimeError(f"{type(exc).__name__}: {exc}")
