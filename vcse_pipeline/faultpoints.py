"""Deterministic crash points for the fault tests: kill -9 this process at a named step of a run.

The fault suite (tests/test_faults_runs.py) sets VCSE_KILL_AT=<point> on a real `vcse` subprocess so a kill lands
at exactly one step every time (not after a guessed delay). Unset, as in every real run, a point costs one
environment lookup.
"""

from __future__ import annotations

import os
import signal

KILL_AT_ENV = "VCSE_KILL_AT"


def fault_point(name: str) -> None:
    """SIGKILL this process when VCSE_KILL_AT names this point (no clean-up, as a real kill -9 or OOM kill)."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
