"""Publish a register safely: build a new version file, gate it, record history and changes, switch atomically.

Readers only ever see a complete register: every build writes a new file under data/register/versions/,
and publishing hard-links (or copies) that file beside the register and renames it over
`cfg.register_path` with os.replace. A reader holding the old file open keeps its inode and keeps reading
the old data. A failed build or failed gate never touches the published file. Every run, failed or not,
is appended to data/register/run_history.jsonl; a published register also carries the history in its
`run_history` table, what it changed in `register_change` and its gate results in `quality_gate`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .clock import now_iso
from .config import Config
from .db import remove_database
from .errors import PipelineError, QualityGateError
from .faultpoints import fault_point
from .fingerprint import build_inputs, check_staging, inputs_fingerprint, published_fingerprint
from .quality import gate_error

log = logging.getLogger(__name__)

VERSION_PREFIX = "register-"
HISTORY_FILE = "run_history.jsonl"
REJECTED_DIR = "rejected"
PUBLISHED, ROLLED_BACK, ROLLED_FORWARD = "published", "rolled_back", "rolled_forward"
# Written just before the switch; the run then records "published". A "publishing" record with no later record of
# its run means the run was killed around the switch: reconcile_history settles it on the next run.
PUBLISHING = "publishing"
UNCHANGED = "unchanged"  # a run whose inputs equal the published register's: nothing built, nothing switched
ROLLED = (ROLLED_BACK, ROLLED_FORWARD)  # statuses of a switch made by `vcse rollback`, not by a publish
HISTORY_FIELDS = ("run_id", "started_at", "finished_at", "status", "version_file", "areas", "sources", "counts",
                  "timings", "gates", "message", "fingerprint", "inputs")


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


# ---------------------------------------------------------------------------------------------- names

def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def safe_run_id(run_id: str) -> str:
    """A run id usable in a file name (Airflow's look like manual__2026-01-01T00:00:00+00:00)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.")
    if not cleaned:
        raise PipelineError(f"run id {run_id!r} has no usable characters")
    return cleaned[:100]


def version_path_for(cfg: Config, run_id: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return cfg.versions_dir / f"{VERSION_PREFIX}{stamp}-{safe_run_id(run_id)}.duckdb"


def history_path(cfg: Config) -> Path:
    return cfg.register_path.parent / HISTORY_FILE


# ---------------------------------------------------------------------------------------------- history

# What the history keeps of each staged file's latest manifest line (fetched_at: the last download that fetched it
# or confirmed it unchanged, which freshness measures from when the release carries no date).
SOURCE_FILE_FIELDS = ("url", "sha256", "etag", "last_modified", "status", "fetched_at")


def source_versions(cfg: Config) -> dict:
    """Per source: what its staging file was built from (`_staged`) and the download checksums behind it."""
    from .db import connect
    from .download import read_manifest
    from .sources import SOURCE_NAMES

    versions: dict = {}
    for source in SOURCE_NAMES:
        path = cfg.staging_path(source)
        if not path.exists():
            versions[source] = {"staged": False}
            continue
        con = connect(path, read_only=True)
        try:
            cursor = con.execute("SELECT * FROM _staged")  # `release` is absent from files staged before it was kept
            row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        except Exception as exc:  # a staging file without _staged is old or foreign: record, do not fail
            versions[source] = {"staged": True, "error": f"no _staged table: {exc}"}
            continue
        finally:
            con.close()
        files = json.loads(row["files"]) if row["files"] else []
        names = {Path(f).name for f in files}
        latest = {r["path"]: r for r in read_manifest(cfg.download_dir(source)) if r.get("path") in names}
        versions[source] = {
            "staged": True, "staged_at": str(row["staged_at"]),
            "row_counts": json.loads(row["row_counts"]) if row["row_counts"] else {}, "seconds": row["seconds"],
            "release": json.loads(row["release"]) if row.get("release") else None,
            "fingerprint": row.get("fingerprint"),  # of the staged content (fingerprint.staged_content)
            "files": [{"file": n, **{k: latest.get(n, {}).get(k) for k in SOURCE_FILE_FIELDS}} for n in sorted(names)],
        }
    return versions


def append_history(cfg: Config, record: dict) -> None:
    """Append one run to run_history.jsonl with a single write, so concurrent runs cannot interleave lines."""
    path = history_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: record.get(k) for k in HISTORY_FIELDS}, default=str) + "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_history(cfg: Config, raw: bool = False) -> list[dict]:
    """run_history.jsonl's records, oldest first; `raw` keeps 'publishing' records whose run has since ended."""
    path = history_path(cfg)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line torn by a crash
    return records if raw else settled(records)


def settled(records: list[dict]) -> list[dict]:
    """The history without 'publishing' records whose run later recorded how it ended (see complete_publish)."""
    ended = {r.get("run_id") for r in records if r.get("status") != PUBLISHING}
    return [r for r in records if r.get("status") != PUBLISHING or r.get("run_id") not in ended]


def run_record(run_id: str, status: str, *, started_at: str | None = None, version: Path | None = None,
               areas: list[str] | None = None, sources: dict | None = None, counts: dict | None = None,
               timings: dict | None = None, gates: list | None = None, message: str = "",
               inputs: dict | None = None) -> dict:
    from .fingerprint import inputs_fingerprint

    return {"run_id": run_id, "started_at": started_at, "finished_at": now_iso(), "status": status,
            "version_file": version.name if version else None, "areas": areas or [], "sources": sources or {},
            "counts": counts or {}, "timings": timings or {},
            "gates": [g.as_dict() if hasattr(g, "as_dict") else g for g in (gates or [])], "message": message,
            "fingerprint": inputs_fingerprint(inputs) if inputs else None, "inputs": inputs}


def record_failure(cfg: Config, run_id: str, error: BaseException | str, *, status: str = "failed",
                   started_at: str | None = None, version: Path | None = None, areas: list[str] | None = None,
                   gates: list | None = None, timings: dict | None = None, counts: dict | None = None,
                   inputs: dict | None = None) -> dict:
    """Append a failed run to run_history.jsonl (the published register is left as it was)."""
    record = run_record(run_id, status, started_at=started_at, version=version, areas=areas,
                        sources=safe_source_versions(cfg), counts=counts, timings=timings, gates=gates,
                        message=str(error), inputs=inputs)
    append_history(cfg, record)
    return record


def safe_source_versions(cfg: Config) -> dict:
    """source_versions, or {"error": why} when a staging file cannot be read (history is written regardless)."""
    try:
        return source_versions(cfg)
    except Exception as exc:  # history must be written even when a staging file is unreadable
        return {"error": str(exc)}


def _write_history_table(con, cfg: Config, previous: str | None, current: dict) -> None:
    """run_history in the new version: the previous register's rows, then jsonl lines not yet in it, then this run."""
    from .db import table_columns

    con.execute("DELETE FROM run_history")
    if previous and table_columns(con, "run_history", previous):
        con.execute(f"INSERT INTO run_history BY NAME SELECT * FROM {previous}.run_history")
    seen = set(con.execute("SELECT run_id, status FROM run_history").fetchall())
    rows = [r for r in read_history(cfg) if (r.get("run_id"), r.get("status")) not in seen
            and (r.get("run_id"), r.get("status")) != (current["run_id"], current["status"])] + [current]

    def encode(value):
        return value if value is None or isinstance(value, str) else json.dumps(value, default=str)

    con.executemany(f"INSERT INTO run_history ({', '.join(HISTORY_FIELDS)}) "
                    f"VALUES ({', '.join('?' * len(HISTORY_FIELDS))})",
                    [[encode(r.get(k)) for k in HISTORY_FIELDS] for r in rows])


# ---------------------------------------------------------------------------------------------- steps

def _require_version(version: Path) -> None:
    """connect() would create an empty file for a missing version, and an empty register could then be published."""
    if not Path(version).exists():
        raise PipelineError(f"register version {version} does not exist (a failed attempt moves its version to "
                            f"{REJECTED_DIR}/): build a new one with `vcse publish`")

def record_version_changes(cfg: Config, version: Path, run_id: str, areas: list[str]) -> tuple[dict, dict]:
    """Create the publish tables in the version and fill register_change; returns (changes, counts by area)."""
    from .changes import attach_previous, record_changes
    from .db import connect, run_sql_dir, table_columns

    _require_version(version)
    con = connect(version)
    try:
        run_sql_dir(con, "publish")
        previous = attach_previous(con, _published(cfg))
        changes = record_changes(con, run_id, areas, previous) if table_columns(con, "organisation") else {}
        counts = {}
        if table_columns(con, "organisation"):
            counts = dict(con.execute("SELECT area_code, count(*) FROM organisation GROUP BY 1 ORDER BY 1").fetchall())
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return changes, counts


def check_version(cfg: Config, version: Path, run_id: str, areas: list[str], accept: list[str] | None = None) -> list:
    """Run every quality gate on the version (failed gates named in `accept` pass, marked accepted), store the
    results in its quality_gate table, return them."""
    from .changes import attach_previous
    from .db import connect, run_sql_dir
    from .quality import record_gates, run_gates

    _require_version(version)
    con = connect(version)
    try:
        run_sql_dir(con, "publish")
        previous = attach_previous(con, _published(cfg))
        results = run_gates(con, cfg, areas, previous, accept)
        record_gates(con, run_id, results)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return results


def reject_version(cfg: Config, version: Path) -> Path | None:
    """Move a version that failed its gates to versions/rejected/ (kept for inspection, pruned like versions)."""
    if not version.exists():
        return None
    target = cfg.versions_dir / REJECTED_DIR / version.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(version, target)
    remove_database(version)  # its WAL: the file itself has moved
    safe_prune(cfg, target.parent)
    return target


def discard_failed(cfg: Config, version: Path, run_id: str, error: BaseException, *, areas: list[str],
                   started_at: str | None, timings: dict | None = None) -> Path | None:
    """A version whose publish step crashed (not a gate verdict): move it to rejected/ so `vcse rollback` can never
    pick it, and record the failed run. A version that was already switched in stays where it is."""
    published = _published(cfg)
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


def reject_failed(cfg: Config, version: Path, run_id: str, error: QualityGateError, *, areas: list[str],
                  started_at: str | None, timings: dict | None = None) -> None:
    """A version that failed its gates: move it aside and record the failed run with every gate result."""
    counts = version_counts(version) if version.exists() else {}
    rejected = reject_version(cfg, version)
    record_failure(cfg, run_id, error, status="failed_quality", started_at=started_at, version=rejected,
                   areas=areas, gates=getattr(error, "results", []), timings=timings, counts=counts)


def finalize_version(cfg: Config, version: Path, record: dict) -> None:
    """Write the run history into the version and checkpoint it, so the file is complete before it is linked."""
    from .changes import attach_previous
    from .db import connect, run_sql_dir

    _require_version(version)
    con = connect(version)
    try:
        run_sql_dir(con, "publish")
        previous = attach_previous(con, _published(cfg))
        _write_history_table(con, cfg, previous, record)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def switch_register(cfg: Config, version: Path) -> Path:
    """Make `version` the published register in one atomic rename; open readers keep the old file."""
    target = cfg.register_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.publishing")
    tmp.unlink(missing_ok=True)
    try:
        os.link(version, tmp)  # same filesystem: no copy of the file
    except OSError:
        shutil.copy2(version, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
    wal = Path(str(target) + ".wal")
    if wal.exists():
        # A WAL left by a writer on the old file would be replayed onto the new one: it must go.
        log.warning("removing stale %s left by a writer on the published register", wal)
        wal.unlink()
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    return target


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _published(cfg: Config) -> Path | None:
    return cfg.register_path if cfg.register_path.exists() else None


def _keep(cfg: Config) -> int:
    return cfg.section("register")["keep_versions"]  # a whole number >= 1, checked by Config.load


def version_files(cfg: Config) -> list[Path]:
    """Version files, newest first (names start with a UTC timestamp, so name order is time order)."""
    if not cfg.versions_dir.exists():
        return []
    return sorted(cfg.versions_dir.glob(f"{VERSION_PREFIX}*.duckdb"), key=lambda p: p.name, reverse=True)


def _prune(folder: Path, keep: int, protect: Path | None, *, gated: bool = False) -> list[Path]:
    """Delete all but the newest `keep` version files of `folder`, never `protect` (the published file).

    `gated` (versions/): only versions that passed their gates count towards `keep` and are kept, so a rollback
    target survives any number of crashed or half-built files (which clean_debris removes in any case).
    """
    files = sorted(folder.glob(f"{VERSION_PREFIX}*.duckdb"), key=lambda p: p.name, reverse=True)
    removed, kept = [], 0
    for path in files:
        if protect is not None and protect.exists() and os.path.samefile(path, protect):
            kept += 1  # never delete the file the register currently is (e.g. after a rollback)
            continue
        if kept < keep and (not gated or publishable(path) is None):
            kept += 1
            continue
        remove_database(path)
        removed.append(path)
    return removed


def prune_versions(cfg: Config, keep: int | None = None) -> list[Path]:
    """Keep the published version and the newest `keep` ([register] keep_versions) that passed their gates."""
    if not cfg.versions_dir.exists():
        return []
    return _prune(cfg.versions_dir, keep or _keep(cfg), protect=cfg.register_path, gated=True)


def clean_debris(cfg: Config, keep_run: str | None = None) -> list[Path]:
    """Remove what killed runs left (called under the publish lock, so no live run owns any of it): version files
    that never passed their gates and were never published (half-built, killed mid-way), WAL files without their
    database, publish links beside the register, and Airflow work folders of other runs."""
    removed: list[Path] = []
    folder = cfg.versions_dir
    published = _published(cfg)
    if folder.is_dir():
        for path in sorted(folder.glob(f"{VERSION_PREFIX}*.duckdb")):
            if published and os.path.samefile(path, published):
                continue
            if path.with_name(path.name + ".wal").exists() or publishable(path) is not None:
                remove_database(path)
                removed.append(path)
        for wal in folder.glob("*.wal"):
            if not wal.with_suffix("").exists():
                wal.unlink(missing_ok=True)
                removed.append(wal)
    register = cfg.register_path
    for link in register.parent.glob(f".{register.name}.*.publishing"):
        link.unlink(missing_ok=True)
        removed.append(link)
    work = register.parent / "work"
    if work.is_dir():
        for run_dir in work.iterdir():
            if run_dir.name != keep_run:
                shutil.rmtree(run_dir, ignore_errors=True)
                removed.append(run_dir)
    for path in removed:
        log.warning("removed %s, left by a killed run", path)
    return removed


def reconcile_history(cfg: Config) -> list[dict]:
    """Settle 'publishing' records of runs killed around the switch (called under the publish lock): a run whose
    version is the published file is recorded as published; one killed before its switch is recorded as failed
    and its version moved to rejected/ (it was never published, so it is no rollback target)."""
    settled_now = []
    published = _published(cfg)
    for record in read_history(cfg):
        if record.get("status") != PUBLISHING:
            continue
        version = cfg.versions_dir / (record.get("version_file") or "")
        switched = bool(record.get("version_file") and published and version.exists()
                        and os.path.samefile(version, published))
        if switched:
            entry = {**record, "status": PUBLISHED, "finished_at": now_iso(),
                     "message": "recorded by the next run: the publishing run stopped just after the switch"}
        else:
            rejected = reject_version(cfg, version) if record.get("version_file") and version.exists() else None
            entry = {**record, "status": "failed", "finished_at": now_iso(),
                     "version_file": rejected.name if rejected else record.get("version_file"),
                     "message": "the run stopped while publishing, before the switch: the register was not changed"}
        append_history(cfg, entry)
        settled_now.append(entry)
    return settled_now


def prepare_publish(cfg: Config, keep_run: str | None = None) -> None:
    """Under the publish lock, before a run: settle the history and remove what killed runs left."""
    reconcile_history(cfg)
    clean_debris(cfg, keep_run)


def safe_prune(cfg: Config, folder: Path | None = None) -> list[Path]:
    """Prune after a run is recorded: a failure here (a file in use, a bad setting) is a warning, never the run's."""
    try:
        if folder is None:
            return prune_versions(cfg)  # versions/: gated, keeps a rollback target
        return _prune(folder, _keep(cfg), protect=None)
    except Exception as exc:
        log.warning("could not prune old register versions in %s: %s: %s", folder or cfg.versions_dir,
                    type(exc).__name__, exc)
        return []


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
    error = gate_error(gates)
    if error:
        reject_failed(cfg, version, run_id, error, areas=areas, started_at=started_at, timings=timings)
        raise error
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


def published_areas(cfg: Config) -> list[str]:
    """The area codes the published register holds ([] when nothing is published)."""
    counts = version_counts(cfg.register_path) if cfg.register_path.exists() else {}
    return sorted(counts.get("organisations", {}))


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
    versions/rejected/ (after the build), so it is never a `vcse rollback` candidate. A run that would reuse a
    published run id or drop a published area is refused before anything runs (check_run_plan). A run whose inputs
    equal the published register's is recorded as unchanged and builds nothing, unless `force`.
    """
    from .pipeline import build_register, resolve_areas
    from .quality import parse_accept, quality_thresholds

    areas = areas or cfg.areas
    started_at = now_iso()
    try:
        quality_thresholds(cfg)  # a bad threshold fails now, not after the build
        parse_accept(accept)  # so does an unknown gate in --accept
        areas = resolve_areas(cfg, areas)  # names to codes; an unknown area fails now, not as three failed gates
    except PipelineError as exc:
        record_failure(cfg, run_id, exc, started_at=started_at, areas=areas)
        raise
    check_run_plan(cfg, run_id, areas, drop_areas)
    inputs = build_inputs(cfg, areas)
    kept = None if force else unchanged_since_publish(cfg, inputs)
    if kept:
        record = record_unchanged(cfg, run_id, kept, started_at=started_at, areas=areas, inputs=inputs)
        return PublishResult(run_id, cfg.versions_dir / (kept["version_file"] or ""), cfg.register_path,
                             status=UNCHANGED, fingerprint=record["fingerprint"])
    version = version_path_for(cfg, run_id)
    version.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        build_register(cfg, version, areas)
        check_staging(cfg, inputs["sources"], "build")  # a stage during the build: the fingerprint would be wrong
    except BaseException as exc:
        remove_database(version)
        record_failure(cfg, run_id, f"build failed: {exc}", started_at=started_at, areas=areas,
                       timings={"build_seconds": round(time.monotonic() - t0, 3)}, inputs=inputs)
        raise
    timings = {"build_seconds": round(time.monotonic() - t0, 3)}
    fault_point("version_built")
    return publish_version(cfg, version, run_id, areas, started_at=started_at, timings=timings, accept=accept,
                           inputs=inputs)


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
    """Load per-area register files (built in parallel, one writer each) into one new version file.

    Tables carrying area_code are appended from every area file; area-independent tables (taxonomies)
    are loaded once (rows already present are not repeated). The views the build made are recreated over
    the merged tables.
    """
    from .db import connect, run_sql_dir, sql_literal

    version = version_path_for(cfg, run_id)
    con = connect(version)
    try:
        run_sql_dir(con, "core")
        for i, area_file in enumerate(area_files):
            alias = f"area_{i}"
            con.execute(f"ATTACH {sql_literal(str(area_file))} AS {alias} (READ_ONLY)")
            tables = con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
                "ORDER BY table_name", [alias]).fetchall()
            for (table,) in tables:
                exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                     "AND table_name = ?", [table]).fetchone()[0]
                source = f'{alias}."{table}"'
                if not exists:
                    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {source}')
                    continue
                has_area = con.execute("SELECT count(*) FROM duckdb_columns() WHERE database_name = ? "
                                       "AND table_name = ? AND column_name = 'area_code'", [alias, table]).fetchone()[0]
                if has_area:
                    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM {source}')
                else:
                    con.execute(
                        f'INSERT INTO "{table}" BY NAME (SELECT * FROM {source} EXCEPT SELECT * FROM "{table}")')
            con.execute(f"DETACH {alias}")
        # Views and macros come from sql/views, exactly as a single-file build makes them.
        run_sql_dir(con, "views")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        version.unlink(missing_ok=True)
        raise
    con.close()
    return version


# ---------------------------------------------------------------------------------------------- versions

def list_versions(cfg: Config) -> list[dict]:
    """Every kept version, newest first, marking the one that is published."""
    published = _published(cfg)
    rows = []
    for path in version_files(cfg):
        stat = path.stat()
        rows.append({"name": path.name, "path": path, "size": stat.st_size,
                     "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
                     "published": bool(published and os.path.samefile(path, published))})
    return rows


def publishable(path: Path) -> str | None:
    """Why a version file must not be published (None when it may): it records its own gate results and run.

    A publishable version has a quality_gate table whose rows all passed and a run_history row saying it was
    published; a file left by a crashed run, or one whose gates failed, lacks one of these.
    """
    from .db import connect, table_columns

    try:
        con = connect(path, read_only=True)
    except Exception as exc:
        return f"cannot be opened ({type(exc).__name__}: {exc})"
    try:
        if not table_columns(con, "quality_gate") or not table_columns(con, "run_history"):
            return "has no quality_gate/run_history tables: its build never reached the quality gates"
        total, failed = con.execute("SELECT count(*), count(*) FILTER (WHERE NOT passed) FROM quality_gate").fetchone()
        if not total:
            return "records no quality gate results: its gates never ran"
        if failed:
            names = [r[0] for r in con.execute(
                "SELECT DISTINCT gate FROM quality_gate WHERE NOT passed ORDER BY 1").fetchall()]
            return f"failed {failed} quality gate(s) ({', '.join(names)})"
        published = con.execute("SELECT count(*) FROM run_history WHERE status = 'published' AND version_file = ?",
                                [path.name]).fetchone()[0]
        if not published:
            return "passed its gates but was never completed for publishing (no 'published' run in its run_history)"
        return None
    finally:
        con.close()


def rollback(cfg: Config, version: str | None = None) -> Path:
    """Publish a kept version again: by name, or by default the newest one older than the published one.

    Only a version whose quality gates all passed can be published again (see `publishable`); the default
    skips any other and says which it skipped when none is left. Holds the publish lock: never during a publish.
    """
    from .runlock import PUBLISH, run_lock

    run_id = new_run_id()
    with run_lock(cfg, PUBLISH, run_id, "rollback"):
        reconcile_history(cfg)
        return _rollback(cfg, version, run_id)


def _rollback(cfg: Config, version: str | None, run_id: str) -> Path:
    versions = list_versions(cfg)
    if not versions:
        raise PipelineError(f"no register versions in {cfg.versions_dir}")
    if version:
        matches = [v for v in versions if v["name"] == version] or [v for v in versions
                                                                     if v["name"].startswith(version)]
        if not matches:
            raise PipelineError(f"no version named {version!r}; `vcse versions` lists them")
        if len(matches) > 1:
            raise PipelineError(f"{version!r} is the start of {len(matches)} versions: "
                                + ", ".join(v["name"] for v in matches) + "; give more of the name")
        chosen = matches[0]
        if chosen["published"]:
            raise PipelineError(f"{chosen['name']} is already the published register; nothing changed or recorded")
        reason = publishable(chosen["path"])
        if reason:
            raise PipelineError(f"refusing to publish {chosen['name']}: it {reason}")
    else:
        current = next((i for i, v in enumerate(versions) if v["published"]), None)
        older = versions[current + 1:] if current is not None else []
        skipped = []
        chosen = None
        for candidate in older:
            reason = publishable(candidate["path"])
            if reason is None:
                chosen = candidate
                break
            skipped.append(f"{candidate['name']} {reason}")
        if chosen is None:
            why = ("; skipped: " + "; ".join(skipped)) if skipped else ""
            raise PipelineError(f"no older version that passed its quality gates to roll back to{why}; "
                                "name one with `vcse rollback VERSION`")
    path = chosen["path"]
    started_at = now_iso()
    current = next((v for v in versions if v["published"]), None)
    # Names start with a UTC timestamp: a newer name than the published one is a roll forward.
    forward = current is not None and chosen["name"] > current["name"]
    was = f" (was {current['name']})" if current else ""
    counts = version_counts(path)
    switch_register(cfg, path)
    append_history(cfg, run_record(
        run_id, ROLLED_FORWARD if forward else ROLLED_BACK, started_at=started_at, version=path,
        areas=sorted(counts.get("organisations") or {}), counts=counts,
        message=f"register switched {'forward' if forward else 'back'} to {path.name}{was} by {_who()}"))
    return path


def _who() -> str:
    """Who ran a command, for the history ('unknown' where the system cannot say, e.g. in some containers)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def version_counts(version: Path) -> dict:
    """{"organisations": {area: all}, "active_organisations": {area: active}} of a version file ({} if unreadable),
    so history rows for publishes, rollbacks and rejected versions carry the same counts."""
    from .db import connect, table_columns

    try:
        con = connect(version, read_only=True)
    except Exception:
        return {}
    try:
        if not {"area_code", "is_active"} <= (table_columns(con, "organisation") or set()):
            return {}
        rows = con.execute("SELECT area_code, count(*), count(*) FILTER (WHERE is_active) FROM organisation "
                           "GROUP BY 1 ORDER BY 1").fetchall()
    except Exception:
        return {}
    finally:
        con.close()
    return {"organisations": {a: n for a, n, _ in rows}, "active_organisations": {a: active for a, _, active in rows}}


def latest_switch(cfg: Config) -> dict | None:
    """The last history record that changed which version is published (a publish, rollback or roll forward)."""
    switches = [r for r in read_history(cfg) if r.get("status") in (PUBLISHED, *ROLLED)]
    return switches[-1] if switches else None
