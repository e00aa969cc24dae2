"""Jobs in worker processes, a few at a time: what the parallel build's area workers (parallel_build.py) and a
refresh's concurrent stages (pipeline.stage_sources) share.

Workers are started with "spawn": a fresh interpreter that imports only what its job needs (no inherited DuckDB
connections, threads or locks). A worker sends its vcse_pipeline log records to the parent, which logs them through
its own handlers (the CLI's one-line warnings, an Airflow task's log), then its job's result or its error.

A job that fails, or a worker that dies without a word (OOM-killed, kill -9), either stops every other worker and is
raised in the parent at once with the worker's own error (`stop_on_failure`, the build: one failed area fails the
register) or is returned as that job's outcome while the others go on (the stages: each source is staged or kept on
its own). Ctrl-C reaches the parent, which stops the workers (SIGTERM, then SIGKILL after STOP_GRACE_SECONDS); a
worker whose parent dies is killed by the kernel (PR_SET_PDEATHSIG), so no worker outlives its run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from .config import Config, value_problem
from .errors import PipelineError

# How long a stopped worker has to unwind (close its DuckDB file, remove a half-written file) before SIGKILL.
STOP_GRACE_SECONDS = 10.0


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or taskset's cpuset), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_for(cfg: Config, section: str, key: str, jobs: int) -> int:
    """How many worker processes run `jobs` jobs: the [section] key setting ("auto": the usable CPUs), never more than
    the jobs, at least 1. Config.load checks files and the environment; a value set in code (an override, --workers)
    is checked here."""
    setting = cfg.section(section).get(key, "auto")
    problem = value_problem(section, key, setting)
    if problem:
        raise PipelineError(problem)
    return max(1, min(usable_cpus() if setting == "auto" else setting, jobs))


@dataclass(frozen=True)
class Job:
    """One worker's work: `function(*args)` in a process named `name`. `function` is a module-level function (spawn
    sends it by name) and `args` are picklable; `label` says what the worker does, for messages ("the build worker
    for E08000015")."""

    label: str
    name: str
    function: Callable[..., Any]
    args: tuple


@dataclass
class _Worker:
    index: int  # the job's position
    process: multiprocessing.process.BaseProcess
    conn: Connection  # the parent's end of the worker's pipe


class WorkerTraceback(Exception):
    """The failed worker's traceback, chained under its error for the logs (the CLI shows only the error)."""

    def __str__(self) -> str:
        return "in the worker process:\n" + self.args[0]


def run_jobs(jobs: Sequence[Job], at_once: int, *, stop_on_failure: bool = True, lost: str = "") -> list:
    """Run `jobs` in worker processes, at most `at_once` at a time, in the given order; returns each job's result
    in that order. With `stop_on_failure` the first failure stops the other workers and is raised; without it a
    failed job's outcome is its exception (a worker that died: a PipelineError naming its label and how it ended,
    followed by `lost`, e.g. "no register was published"), and the others run to the end."""
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("vcse_pipeline").getEffectiveLevel()
    outcomes: list = [None] * len(jobs)
    waiting = list(range(len(jobs)))
    running: dict[Connection, _Worker] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, at_once):
                worker = _start(context, jobs, waiting.pop(0), level)
                running[worker.conn] = worker
            for conn in wait(list(running)):
                worker = running[conn]
                finished, outcome = _receive(jobs[worker.index], worker, lost)
                if not finished:
                    continue
                del running[conn]
                _reap(worker)
                if stop_on_failure and isinstance(outcome, BaseException):
                    raise outcome
                outcomes[worker.index] = outcome
        return outcomes
    finally:
        _stop(list(running.values()))


def _start(context, jobs: Sequence[Job], index: int, level: int) -> _Worker:
    job = jobs[index]
    parent_end, child_end = context.Pipe(duplex=False)
    process = context.Process(target=_worker_main, name=job.name, daemon=True,
                              args=(job.function, job.args, child_end, level))
    try:
        process.start()
    finally:
        child_end.close()  # the worker holds its end: EOF here means it is gone
    return _Worker(index, process, parent_end)


def _receive(job: Job, worker: _Worker, lost: str) -> tuple[bool, Any]:
    """One message from a worker: (False, None) for a log record (relayed here), else (True, its result or error)."""
    try:
        kind, payload = worker.conn.recv()
    except (EOFError, OSError):  # gone without a word: killed (OOM, kill -9) or crashed in C
        worker.process.join(STOP_GRACE_SECONDS)
        reason = f"{job.label} died ({exit_reason(worker.process.exitcode)})"
        return True, PipelineError(f"{reason}; {lost}" if lost else reason)
    if kind == "log":
        logging.getLogger(payload["name"]).handle(logging.makeLogRecord(payload))
        return False, None
    if kind == "done":
        return True, payload
    error, remote = payload  # "failed": the job's own exception, as it would have been raised in this process
    error.__cause__ = WorkerTraceback(remote)
    return True, error


def exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _reap(worker: _Worker) -> None:
    """A worker that has sent its outcome ends by itself: wait for it (SIGKILL after the grace) and free its pipe."""
    worker.process.join(STOP_GRACE_SECONDS)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.conn.close()
    worker.process.close()


def _stop(workers: list[_Worker]) -> None:
    """End every worker still running (SIGTERM lets it unwind; SIGKILL after STOP_GRACE_SECONDS) and reap it."""
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in workers:
        _reap(worker)


# ---------------------------------------------------------------------------------------------- in the worker

def _worker_main(function: Callable[..., Any], args: tuple, conn: Connection, level: int) -> None:
    """A worker process: run the job and send ("done", result), or ("failed", (error, traceback))."""
    _die_with_parent()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent too, which stops the workers
    _relay_logs(conn, level)
    try:
        result = function(*args)
    except SystemExit:
        raise  # stopped by the parent: it knows why
    except BaseException as exc:
        _send(conn, ("failed", (_sendable(exc), traceback.format_exc())))
        return
    _send(conn, ("done", result))


_SENDING = threading.Lock()  # a log record from another thread must not interleave with a message on the pipe


def _send(conn: Connection, message: tuple) -> None:
    with _SENDING:
        conn.send(message)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds: a build or stage closes its file, the tag cache removes a .tmp


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if the parent dies (kill -9, OOM), so no worker outlives its run."""
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
    its own handlers."""
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
