"""One run at a time: a named run lock with a holder record, so a second run says who holds it and stops cleanly.

Three kinds exist: `download-<source>` (fetch one source's files: their `.part` files, the rename into place and
the manifest), `stage-<source>` (verify and stage one source: its `.tmp` file and the gate against its previous
staging) and `publish` (build, gates, history and the switch of the register, and `vcse rollback`). Different
sources still download and stage side by side (the per-source Airflow DAGs), but never one source twice at once,
and never two publishes at once.

A lock is a small JSON holder record in `<data_dir>/locks/<name>.json` (run id, pid, host, start time, what holds
it) written and removed under a short `filelock` lock on `<name>.lock`, so checking and taking it is atomic
between processes. It is a record rather than an OS lock held open because an Airflow register run holds it
across several task processes (start_run takes it, the finish_run teardown releases it).

A holder that is gone leaves its record behind: it is stale, and released by the next run, when its process no
longer exists on this host (pid dead, or reused by a process started later), or when it is older than
`[runs] stale_lock_hours` (a holder on another host, or an Airflow run whose teardown never ran).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .clock import now_iso
from .config import Config
from .errors import PipelineError

log = logging.getLogger(__name__)

PUBLISH = "publish"
CHECK_AND_SET_SECONDS = 30  # the filelock guards a few file operations only; waiting longer means a hung holder


class RunLockedError(PipelineError):
    """Another run holds the lock: the message names it, so the operator knows whom to wait for. Transient: the
    holder finishes, so an Airflow task that met it is retried with its backoff (errors.retry_can_help)."""

    def __init__(self, *args):
        super().__init__(*args, transient=True)


def download_lock_name(source: str) -> str:
    return f"download-{source}"


def stage_lock_name(source: str) -> str:
    return f"stage-{source}"


def lock_dir(cfg: Config) -> Path:
    return cfg.data_dir / "locks"


def holder_path(cfg: Config, name: str) -> Path:
    return lock_dir(cfg) / f"{name}.json"


def read_holder(cfg: Config, name: str) -> dict | None:
    """The record of who holds lock `name` (None when free; a torn record reads as a holder with no details)."""
    path = holder_path(cfg, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        holder = None
    return holder if isinstance(holder, dict) else {"run_id": None, "torn": True, "started_epoch": 0}


def stale_reason(holder: dict, max_age_hours: float) -> str | None:
    """Why a holder record no longer stands for a live run (None when it may): dead pid here, or too old."""
    import psutil

    age_hours = (time.time() - float(holder.get("started_epoch") or 0)) / 3600
    if holder.get("torn"):
        return "its holder record is unreadable (torn by a crash)"
    if age_hours > max_age_hours:
        return f"it is {age_hours:.1f} hours old (more than [runs] stale_lock_hours = {max_age_hours:g})"
    pid = holder.get("pid")
    if holder.get("kind") == "process" and holder.get("host") == socket.gethostname() and isinstance(pid, int):
        try:
            started = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return f"its process {pid} on {holder['host']} no longer exists"
        except psutil.Error:
            return None  # exists but cannot be inspected: assume alive
        if started > float(holder.get("started_epoch") or 0) + 1:
            return f"its process id {pid} now belongs to a process started after the lock was taken"
    return None


def describe(holder: dict) -> str:
    who = f"run {holder.get('run_id')} ({holder.get('command') or 'unknown command'}"
    if holder.get("kind") == "process":
        who += f", pid {holder.get('pid')} on {holder.get('host')}"
    else:
        who += f", Airflow, taken on {holder.get('host')}"
    return who + f", since {holder.get('started_at')})"


def _max_age(cfg: Config) -> float:
    return float(cfg.section("runs").get("stale_lock_hours", 6))


def acquire(cfg: Config, name: str, run_id: str, command: str, *, kind: str = "process") -> dict:
    """Take lock `name` for `run_id`, releasing a stale holder first; RunLockedError naming a live holder.

    kind "process": the lock lives as long as this process (its pid is checked for staleness); "airflow": it
    outlives the task that took it and is released by `release` (only its age makes it stale).
    """
    folder = lock_dir(cfg)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / f"{name}.lock"), timeout=CHECK_AND_SET_SECONDS):
            holder = read_holder(cfg, name)
            # Only an Airflow run takes its own lock again (a retried task); two processes given the same run id
            # (`vcse publish --run-id X` twice) are two runs.
            retry = holder is not None and holder.get("run_id") == run_id and kind == holder.get("kind") == "airflow"
            if holder is not None and not retry:
                reason = stale_reason(holder, _max_age(cfg))
                if reason is None:
                    raise RunLockedError(
                        f"another run holds the {name} lock: {describe(holder)}; wait for it to finish (the lock "
                        f"is {holder_path(cfg, name)})")
                log.warning("releasing stale %s lock of %s: %s", name, describe(holder), reason)
            record = {"name": name, "run_id": run_id, "command": command, "kind": kind, "pid": os.getpid(),
                      "host": socket.gethostname(), "started_at": now_iso(),
                      "started_epoch": time.time()}
            if retry:
                record["started_at"], record["started_epoch"] = holder.get("started_at"), holder.get("started_epoch")
            tmp = holder_path(cfg, name).with_suffix(f".json.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, holder_path(cfg, name))
            return record
    except Timeout:
        raise RunLockedError(f"could not check the {name} lock in {folder} within {CHECK_AND_SET_SECONDS} s: "
                             "another process is stuck holding it") from None
    except OSError as exc:
        raise PipelineError(f"cannot take the {name} run lock in {folder}: {exc.strerror or exc}") from None


def release(cfg: Config, name: str, run_id: str) -> bool:
    """Release lock `name` if `run_id` holds it (True when it did); another run's lock is left alone."""
    folder = lock_dir(cfg)
    if not holder_path(cfg, name).exists():
        return False
    try:
        with FileLock(str(folder / f"{name}.lock"), timeout=CHECK_AND_SET_SECONDS):
            holder = read_holder(cfg, name)
            if holder is None or holder.get("run_id") != run_id:
                return False
            holder_path(cfg, name).unlink(missing_ok=True)
            return True
    except (Timeout, OSError) as exc:
        log.warning("could not release the %s lock of run %s: %s", name, run_id, exc)
        return False


@contextmanager
def run_lock(cfg: Config, name: str, run_id: str, command: str) -> Iterator[dict]:
    """Hold lock `name` for the body (released however it ends; a kill -9 leaves a record the next run releases)."""
    holder = acquire(cfg, name, run_id, command)
    try:
        yield holder
    finally:
        release(cfg, name, run_id)


@contextmanager
def airflow_run_lock(cfg: Config, name: str, run_id: str, command: str) -> Iterator[dict]:
    """Take lock `name` for an Airflow run (kind "airflow") and keep it when the body succeeds: the run's teardown
    task releases it. When the body fails the run ends there, and the lock is released at once."""
    holder = acquire(cfg, name, run_id, command, kind="airflow")
    try:
        yield holder
    except BaseException:
        release(cfg, name, run_id)
        raise
