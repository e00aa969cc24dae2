"""Deterministic crash points for the fault tests: kill -9 this process at a named step of a run.

The fault suite (tests/test_faults_runs.py) sets VCSE_KILL_AT=<point> on a real `vcse` subprocess so a kill lands
at exactly one step every time (not after a guessed delay). VCSE_PAUSE_AT=<point> with VCSE_PAUSE_FILE=<path>
holds a run at a step instead (it creates <path>.reached, then waits for <path>), so a second run can be started
while the first is known to be inside its lock. Unset, as in every real run, a point costs two environment lookups.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

KILL_AT_ENV = "VCSE_KILL_AT"
PAUSE_AT_ENV, PAUSE_FILE_ENV = "VCSE_PAUSE_AT", "VCSE_PAUSE_FILE"
PAUSE_LIMIT_SECONDS = 300


def fault_point(name: str) -> None:
    """SIGKILL this process when VCSE_KILL_AT names this point (no clean-up, as a real kill -9 or OOM kill)."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(PAUSE_AT_ENV) == name and os.environ.get(PAUSE_FILE_ENV):
        release = Path(os.environ[PAUSE_FILE_ENV])
        Path(f"{release}.reached").touch()
        deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
