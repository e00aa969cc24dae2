"""Publish a register safely: build a new version file, gate it, record history and changes, switch atomically.

Readers only ever see a complete register (versions.switch_register). A failed build or failed gate never touches
the published file. Every run, failed or not, is appended to the run history (run_history.py); a published
register also carries the history in its `run_history` table, what it changed in `register_change` and its gate
results in `quality_gate`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .clock import now_iso
from .config import Config
from .db import remove_database
from .errors import PipelineError
from .faultpoints import fault_point
from .fingerprint import build_inputs, check_staging, inputs_fingerprint, published_fingerprint
from .quality import gate_error
from .run_history import (
    PUBLISHED,
    PUBLISHING,
    UNCHANGED,
    append_history,
    failure_recorded,
    history_path,
    new_run_id,
    read_history,
    record_failure,
    run_record,
    safe_run_id,
    safe_source_versions,
    write_history_table,
)
from .versions import (
    REJECTED_DIR,
    clean_debris,
    published_areas,
    published_path,
    reconcile_history,
    reject_version,
    run_work_dir,
    safe_prune,
    switch_register,
    version_counts,
    version_path_for,
)

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)


@dataclass
class PublishResult:
    run_id: str
    version_path: Path
    register_path: Path
    gates: list = field(default_factory=list)  # quality.GateResult
    changes: dict = field(default_factory=dict)  # change_type -> organisations
    counts: dict = field(default_factory=dict)  # area -> organisations (removed and dissolved included)
    active_counts: dict = field(default_factory=dict)  # area -> active organisations
    timings: dict = field(default_factory=dict)
    pruned: list[Path] = field(default_factory=list)
    status: str = PUBLISHED  # or UNCHANGED: the published register was kept (version_path is its version)
    fingerprint: str | None = None  # of the build's inputs (fingerprint.build_inputs)


# ---------------------------------------------------------------------------------------------- steps

def _require_version(version: Path) -> None:
    """connect() would create an empty file for a missing version, and an empty register could then be published."""
    if not Path(version).exists():
        raise PipelineError(f"register version {version} does not exist (a failed attempt moves its version to "
                            f"{REJECTED_DIR}/): build a new one with `vcse publish`")


@contextmanager
def open_version(cfg: Config, version: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, str | None]]:
    """A publish step's connection to the version: the publish tables created (sql/publish), the published register
    attached read-only (its alias, None before the first publish); checkpointed when the step succeeds, closed
    however it ends."""
    from .changes import attach_previous
    from .db import connect, run_sql_dir

    _require_version(version)
    con = connect(version)
    try:
        run_sql_dir(con, "publish")
        previous = attach_previous(con, published_path(cfg))
        yield con, previous
        con.execute("CHECKPOINT")
    finally:
        con.close()


def record_version_changes(cfg: Config, version: Path, run_id: str, areas: list[str]) -> tuple[dict, dict]:
    """Create the publish tables in the version and fill register_change; returns (changes, counts by area)."""
    from .changes import record_changes
    from .db import table_columns

    with open_version(cfg, version) as (con, previous):
        changes = record_changes(con, run_id, areas, previous) if table_columns(con, "organisation") else {}
        counts = {}
        if table_columns(con, "organisation"):
            counts = dict(con.execute("SELECT area_code, count(*) FROM organisation GROUP BY 1 ORDER BY 1").fetchall())
    return changes, counts


def check_version(cfg: Config, version: Path, run_id: str, areas: list[str], accept: list[str] | None = None) -> list:
    """Run every quality gate on the version (failed gates named in `accept` pass, marked accepted), store the
    results in its quality_gate table, return them."""
    from .quality import record_gates, run_gates

    with open_version(cfg, version) as (con, previous):
        results = run_gates(con, cfg, areas, previous, accept)
        record_gates(con, run_id, results)
    return results


def discard_failed(cfg: Config, version: Path, run_id: str, error: BaseException, *, areas: list[str],
                   started_at: str | None, timings: dict | None = None) -> Path | None:
    """A version whose publish step crashed (not a gate verdict): move it to rejected/ so `vcse rollback` can never
    pick it, and record the failed run. A version that was already switched in stays where it is."""
    published = published_path(cfg)
    if published and version.exists() and os.path.samefile(version, published):
        # Switched in, then recording failed (append_history on a full disk): the register IS this version,
        # so say so loudly and try once more to leave a record of it rather than none.
        log.error("%s is published as %s, but recording the run failed: %s: %s", version.name, cfg.register_path,
                  type(error).__name__, error)
        try:
            append_history(cfg, run_record(run_id, PUBLISHED, started_at=started_at, version=version, areas=areas,
                                           sources=safe_source_versions(cfg), counts=version_counts(version),
                                           timings=timings,
                                           message=f"published, but recording failed: {type(error).__name__}: "
                                                   f"{error}"))
        except Exception as again:
            log.error("could not record run %s in %s either: %s", run_id, history_path(cfg), again)
        return None
    rejected = reject_version(cfg, version)
    record_failure(cfg, run_id, f"publish step failed: {type(error).__name__}: {error}", started_at=started_at,
                   version=rejected, areas=areas, timings=timings)
    return rejected


def enforce_gates(cfg: Config, version: Path, run_id: str, gates: list, *, areas: list[str],
                  started_at: str | None, timings: dict | None = None) -> None:
    """The gate rule of every run (`vcse publish` and the Airflow check_quality task): when a gate failed, the
    version moves to versions/rejected/, the failed run is recorded with every gate result, and QualityGateError
    (naming every failed gate) is raised."""
    error = gate_error(gates)
    if error is None:
        return
    counts = version_counts(version) if version.exists() else {}
    rejected = reject_version(cfg, version)
    record_failure(cfg, run_id, error, status="failed_quality", started_at=started_at, version=rejected,
                   areas=areas, gates=getattr(error, "results", []), timings=timings, counts=counts)
    raise error


def finalize_version(cfg: Config, version: Path, record: dict) -> None:
    """Write the run history into the version and checkpoint it, so the file is complete before it is linked."""
    with open_version(cfg, version) as (con, previous):
        write_history_table(con, cfg, previous, record)


def prepare_publish(cfg: Config, keep_run: str | None = None) -> None:
    """Under the publish lock, before a run: settle the history and remove what killed runs left."""
    reconcile_history(cfg)
    clean_debris(cfg, keep_run)


# ---------------------------------------------------------------------------------------------- whole runs

def publish_version(cfg: Config, version: Path, run_id: str, areas: list[str] | None = None, *,
                    started_at: str | None = None, timings: dict | None = None,
                    accept: list[str] | None = None, inputs: dict | None = None) -> PublishResult:
    """Changes, gates, history, then the atomic switch. A failed gate rejects the version and raises."""
    areas = areas or cfg.areas
    timings = dict(timings or {})
    started_at = started_at or now_iso()
    try:
        t0 = time.monotonic()
        changes, counts = record_version_changes(cfg, version, run_id, areas)
        timings["changes_seconds"] = round(time.monotonic() - t0, 3)
        t0 = time.monotonic()
        gates = check_version(cfg, version, run_id, areas, accept)
        timings["gates_seconds"] = round(time.monotonic() - t0, 3)
    except Exception as exc:
        discard_failed(cfg, version, run_id, exc, areas=areas, started_at=started_at, timings=timings)
        raise
    enforce_gates(cfg, version, run_id, gates, areas=areas, started_at=started_at, timings=timings)
    try:
        return complete_publish(cfg, version, run_id, areas, started_at=started_at, timings=timings, gates=gates,
                                changes=changes, counts=counts, inputs=inputs)
    except Exception as exc:
        discard_failed(cfg, version, run_id, exc, areas=areas, started_at=started_at, timings=timings)
        raise


def complete_publish(cfg: Config, version: Path, run_id: str, areas: list[str], *, started_at: str | None,
                     timings: dict, gates: list, changes: dict, counts: dict,
                     inputs: dict | None = None) -> PublishResult:
    """Record the run (with the fingerprint of its `inputs`) in the version and the jsonl, switch the register to
    it, prune old versions."""
    t0 = time.monotonic()
    _require_version(version)
    active = version_counts(version).get("active_organisations", {})
    from .quality import accepted_summary

    record = run_record(run_id, PUBLISHED, started_at=started_at, version=version, areas=areas,
                        sources=safe_source_versions(cfg),
                        counts={"organisations": counts, "active_organisations": active, "changes": changes},
                        timings=timings, gates=gates, message=accepted_summary(gates), inputs=inputs)
    finalize_version(cfg, version, record)
    # History first, then the switch: a run killed between the two leaves a "publishing" record that the next
    # run settles (reconcile_history), so no published version is ever missing from the history.
    append_history(cfg, {**record, "status": PUBLISHING})
    fault_point("publish_before_switch")
    switch_register(cfg, version)
    fault_point("publish_after_switch")
    timings["publish_seconds"] = round(time.monotonic() - t0, 3)
    record["timings"] = timings
    append_history(cfg, record)
    log.info("published %s as %s", version.name, cfg.register_path)
    pruned = safe_prune(cfg)
    return PublishResult(run_id, version, cfg.register_path, gates, changes, counts, active, timings, pruned,
                         fingerprint=record["fingerprint"])


@dataclass
class RunStart:
    """What a register run builds, decided before any build (start_run)."""
    areas: list[str]  # GSS codes, resolved from --area / the DAG param / [register] areas
    inputs: dict  # what the build is made of (fingerprint.build_inputs)
    kept: dict | None = None  # the published register's record when the inputs are its own: nothing to build

    @property
    def fingerprint(self) -> str | None:
        return inputs_fingerprint(self.inputs)


def start_run(cfg: Config, run_id: str, areas: list[str] | None = None, *, started_at: str,
              drop_areas: bool = False, accept: list[str] | None = None, force: bool = False,
              checks: Iterable[Callable[[], None]] = ()) -> RunStart:
    """The rules every register run starts with, from `vcse publish` or the Airflow start_run task: the settings
    its gates use are valid, its areas are codes the staged postcode directory knows (names accepted), it reuses no
    published run id and drops no published area (check_run_plan), and each of `checks` passes (Airflow's storage
    check). A broken rule is recorded as the run's failure and raised, before anything is built. Then a run whose
    inputs are the published register's is recorded as unchanged (RunStart.kept), unless `force`."""
    from .pipeline import resolve_areas
    from .quality import parse_accept, quality_thresholds

    typed = list(areas or cfg.areas or [])
    with failure_recorded(cfg, run_id, started_at=started_at, areas=typed):
        quality_thresholds(cfg)  # a bad threshold fails now, not after the build
        parse_accept(accept)  # so does an unknown gate in --accept
        codes = resolve_areas(cfg, typed)  # names to codes; an unknown area fails now, not as three failed gates
        check_run_plan(cfg, run_id, codes, drop_areas)
        for check in checks:
            check()
        inputs = build_inputs(cfg, codes)
    kept = None if force else unchanged_since_publish(cfg, inputs)
    if kept:
        record_unchanged(cfg, run_id, kept, started_at=started_at, areas=codes, inputs=inputs)
    return RunStart(codes, inputs, kept)


def check_run_plan(cfg: Config, run_id: str, areas: list[str], drop_areas: bool = False) -> None:
    """Refuse a run that would reuse a published run's id, or silently drop an area the published register holds
    (a register built for fewer areas replaces the whole file, and its changes are measured against it)."""
    if any(r.get("run_id") == run_id and r.get("status") == PUBLISHED for r in read_history(cfg)):
        raise PipelineError(f"run id {run_id!r} already published a register (see `vcse history`): choose another "
                            "--run-id, or leave it out for a timestamp")
    dropped = [a for a in published_areas(cfg) if a not in areas]
    if dropped and not drop_areas:
        from .lookups import area_name

        named = ", ".join(f"{area_name(a)} ({a})" for a in dropped)
        raise PipelineError(f"the published register holds {named}, which this run would drop (it builds only "
                            f"{', '.join(areas)}): build every area (--area for each, or [register] areas), or "
                            "pass --drop-areas to publish without them")


def build_and_publish(cfg: Config, run_id: str | None = None, areas: list[str] | None = None,
                      drop_areas: bool = False, accept: list[str] | None = None,
                      force: bool = False) -> PublishResult:
    """Under the publish run lock (a second publish is refused, naming this one), settle what killed runs left,
    then build, gate and publish (_build_and_publish). `accept` lets named failed gates through for this run;
    a run whose inputs equal the published register's is recorded as unchanged and builds nothing, unless `force`."""
    from .runlock import PUBLISH, run_lock

    run_id = safe_run_id(run_id or new_run_id())
    with run_lock(cfg, PUBLISH, run_id, "publish"):
        prepare_publish(cfg)
        fault_point("publish_locked")
        return _build_and_publish(cfg, run_id, areas, drop_areas, accept, force)


def _build_and_publish(cfg: Config, run_id: str, areas: list[str] | None, drop_areas: bool,
                       accept: list[str] | None, force: bool) -> PublishResult:
    """Build every area into a new version file, gate it, record it and publish it (the whole register step).

    Any failure is recorded in run_history.jsonl, and the unpublished version is deleted (build) or moved to
    versions/rejected/ (after the build), so it is never a `vcse rollback` candidate. The run's rules (start_run)
    are checked before anything is built: a run whose inputs equal the published register's is recorded as
    unchanged and builds nothing, unless `force`.
    """
    from .parallel_build import build_register_in_workers, worker_count
    from .pipeline import build_register

    started_at = now_iso()
    start = start_run(cfg, run_id, areas, started_at=started_at, drop_areas=drop_areas, accept=accept, force=force)
    if start.kept:
        return PublishResult(run_id, cfg.versions_dir / (start.kept["version_file"] or ""), cfg.register_path,
                             status=UNCHANGED, fingerprint=start.fingerprint)
    areas, inputs = start.areas, start.inputs
    version = version_path_for(cfg, run_id)
    version.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    workers = 1
    as_of = date.today()  # the run's date: every area and worker counts overdue filings from it
    try:
        workers = worker_count(cfg, len(areas))
        if workers > 1:
            build_register_in_workers(cfg, version, areas, run_work_dir(cfg, run_id), workers, as_of=as_of)
        else:
            build_register(cfg, version, areas, as_of=as_of)
        check_staging(cfg, inputs["sources"], "build")  # a stage during the build: the fingerprint would be wrong
    except BaseException as exc:
        remove_database(version)
        record_failure(cfg, run_id, f"build failed: {failure_text(exc)}", started_at=started_at, areas=areas,
                       timings={"build_seconds": round(time.monotonic() - t0, 3)}, inputs=inputs)
        raise
    timings = {"build_seconds": round(time.monotonic() - t0, 3), "build_workers": workers}
    fault_point("version_built")
    return publish_version(cfg, version, run_id, areas, started_at=started_at, timings=timings, accept=accept,
                           inputs=inputs)


def failure_text(exc: BaseException) -> str:
    """What stopped a build, for the history: "interrupted" for Ctrl-C, the error's type when its text is empty
    (str(KeyboardInterrupt()) and str(MemoryError()) are ""), else its text."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return str(exc) or type(exc).__name__


def unchanged_since_publish(cfg: Config, inputs: dict) -> dict | None:
    """The published register's fingerprint record when `inputs` are exactly what it was built from, else None.

    None too when a staged release is unknown (fingerprint.inputs_fingerprint): then the build runs and says why
    it cannot, rather than a run reporting 'unchanged' over missing staging."""
    fingerprint = inputs_fingerprint(inputs)
    published = published_fingerprint(cfg.register_path)
    return published if fingerprint and published and published["fingerprint"] == fingerprint else None


def record_unchanged(cfg: Config, run_id: str, kept: dict, *, started_at: str | None, areas: list[str],
                     inputs: dict) -> dict:
    """Record a run that found nothing new: the published register stays, nothing is built, switched or pruned."""
    record = run_record(run_id, UNCHANGED, started_at=started_at, areas=areas, sources=safe_source_versions(cfg),
                        inputs=inputs,
                        message=f"inputs identical to the published register (run {kept['run_id']}): kept "
                                f"{kept['version_file']}; nothing built or published")
    record["version_file"] = kept["version_file"]
    append_history(cfg, record)
    log.info("run %s: %s", run_id, record["message"])
    return record


def assemble_version(cfg: Config, run_id: str, area_files: list[Path]) -> Path:
    """Load per-area register files (built in parallel, one writer each) into the run's new version file
    (parallel_build.assemble_register)."""
    from .parallel_build import assemble_register

    return assemble_register(version_path_for(cfg, run_id), area_files)
