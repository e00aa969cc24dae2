"""Build a many-area register on every core of one machine: areas in worker processes, then one assembled file.

A one-process build (pipeline.build_register) works through its areas one after another on one core. Here the
national state is built once (register/national.ensure_national_state), the areas are split into balanced groups
(each area weighed by its records in the national state's area membership, largest first onto the least-loaded
worker), and each worker process builds its group with pipeline.build_register into its own file in the run's work
folder, so no two workers share a DuckDB writer. assemble_register then loads those files into the register file,
as the Airflow register DAG does with its mapped area tasks (publish.assemble_version): the same tables, rows, views
and macros as a one-process build of the same areas.

The workers are worker_processes' spawned interpreters: each imports only the build, and loads the tagging model
only if it tags a text the tag cache lacks. The tag cache (tagging/cache.py) takes one new file per writer, so
workers share it safely.

A worker that fails stops the build at once: the other workers are stopped, their files removed, and the worker's
error is raised in the parent with its own message (what a one-process build would have raised). Ctrl-C and
SIGTERM stop the workers the same way; a worker whose parent dies is killed by the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import logging
import resource
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from .config import Config
from .db import connect, remove_database, run_sql_dir, sql_literal, table_columns
from .errors import PipelineError
from .register.reference_copy import order_postcode_location
from .worker_processes import Job, run_jobs, workers_for

log = logging.getLogger(__name__)


def worker_count(cfg: Config, areas: int) -> int:
    """How many worker processes build `areas` areas: [register] build_workers ("auto": the usable CPUs), never more
    than the areas; 1 builds in this process."""
    return workers_for(cfg, "register", "build_workers", areas)


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
    jobs = [Job(f"the build worker for {', '.join(group)}", f"vcse-build-{i}", _build_part,
                (cfg.raw, str(work_dir / _part_name(i)), group, str(national), as_of))
            for i, group in enumerate(groups)]
    return run_jobs(jobs, len(jobs), lost="no register was published")


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


def _build_part(raw: dict, out: str, areas: list[str], national: str, as_of: date) -> dict:
    """In a worker process: build `areas` into `out`; build_register's summary, with this process's CPU time."""
    from .pipeline import build_register

    # postcode_location is sorted once, by assemble_register, after every file's rows are in: a worker's own sort
    # would be undone by the next file's rows
    cfg = Config(raw)
    summary = build_register(cfg, Path(out), areas, Path(national), as_of, order_postcodes=False,
                             memory_limit=cfg.section("register")["worker_memory_limit"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    return summary
