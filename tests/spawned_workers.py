"""The worker processes a build or a stage spawned (worker_processes.run_jobs), found by their command line."""

from __future__ import annotations

import psutil


def spawned_workers(pid: int | None = None) -> list[psutil.Process]:
    """The running workers that process `pid` (this one by default) spawned, at any depth: multiprocessing's spawn
    children, not its resource tracker."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.is_running() and "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:  # ended between listing and reading its command line
            continue
    return found
