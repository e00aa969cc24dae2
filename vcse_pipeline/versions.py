"""Register versions: the files under data/register/versions/, which one is published, switching it, pruning.

Every build writes a new version file; publishing hard-links (or copies) it beside the register and renames it over
`cfg.register_path` with os.replace, so a reader holding the old file open keeps reading the old data. A version
whose gates failed, or whose publish crashed, moves to versions/rejected/ and is never a rollback target.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from .clock import now_iso
from .config import Config
from .db import remove_database
from .errors import PipelineError
from .run_history import (
    PUBLISHED,
    PUBLISHING,
    ROLLED_BACK,
    ROLLED_FORWARD,
    append_history,
    new_run_id,
    read_history,
    run_record,
    safe_run_id,
)

log = logging.getLogger(__name__)

VERSION_PREFIX = "register-"
REJECTED_DIR = "rejected"
WORK_DIR = "work"  # beside the register: one scratch folder per register run (run_work_dir)


# ---------------------------------------------------------------------------------------------- files

def version_path_for(cfg: Config, run_id: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return cfg.versions_dir / f"{VERSION_PREFIX}{stamp}-{safe_run_id(run_id)}.duckdb"


def version_files(cfg: Config) -> list[Path]:
    """Version files, newest first (names start with a UTC timestamp, so name order is time order)."""
    if not cfg.versions_dir.exists():
        return []
    return sorted(cfg.versions_dir.glob(f"{VERSION_PREFIX}*.duckdb"), key=lambda p: p.name, reverse=True)


def list_versions(cfg: Config) -> list[dict]:
    """Every kept version, newest first, marking the one that is published."""
    published = published_path(cfg)
    rows = []
    for path in version_files(cfg):
        stat = path.stat()
        rows.append({"name": path.name, "path": path, "size": stat.st_size,
                     "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
                     "published": bool(published and os.path.samefile(path, published))})
    return rows


def published_path(cfg: Config) -> Path | None:
    """The published register's file; None before the first publish."""
    return cfg.register_path if cfg.register_path.exists() else None


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


def published_areas(cfg: Config) -> list[str]:
    """The area codes the published register holds ([] when nothing is published)."""
    counts = version_counts(cfg.register_path) if cfg.register_path.exists() else {}
    return sorted(counts.get("organisations", {}))


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


# ---------------------------------------------------------------------------------------------- switch

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


def reconcile_history(cfg: Config) -> list[dict]:
    """Settle 'publishing' records of runs killed around the switch (called under the publish lock): a run whose
    version is the published file is recorded as published; one killed before its switch is recorded as failed
    and its version moved to rejected/ (it was never published, so it is no rollback target)."""
    settled_now = []
    published = published_path(cfg)
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


# ---------------------------------------------------------------------------------------------- prune

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


def _keep(cfg: Config) -> int:
    return cfg.section("register")["keep_versions"]  # a whole number >= 1, checked by Config.load


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


def run_work_dir(cfg: Config, run_id: str) -> Path:
    """A register run's scratch folder for its per-area files (Airflow's build_area tasks, `vcse publish`'s build
    workers); removed when the run ends, and by clean_debris if it was killed."""
    return cfg.register_path.parent / WORK_DIR / run_id


def clean_debris(cfg: Config, keep_run: str | None = None) -> list[Path]:
    """Remove what killed runs left (called under the publish lock, so no live run owns any of it): version files
    that never passed their gates and were never published (half-built, killed mid-way), WAL files without their
    database, publish links beside the register, and Airflow work folders of other runs."""
    removed: list[Path] = []
    folder = cfg.versions_dir
    published = published_path(cfg)
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
    work = register.parent / WORK_DIR
    if work.is_dir():
        for run_dir in work.iterdir():
            if run_dir.name != keep_run:
                shutil.rmtree(run_dir, ignore_errors=True)
                removed.append(run_dir)
    for path in removed:
        log.warning("removed %s, left by a killed run", path)
    return removed
