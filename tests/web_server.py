"""`vcse serve` for real in a subprocess on 127.0.0.1 and a free port, for the browser and load tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVE = "from vcse_pipeline.cli import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(data_dir: Path, *, register: Path | None = None, env: dict | None = None,
                   timeout: float = 60) -> Iterator[str]:
    """The base URL of `vcse serve --data-dir data_dir` (or --register) while the block runs; stopped after."""
    port = free_port()
    command = [sys.executable, "-c", SERVE, "serve", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(data_dir)] + (["--register", str(register)] if register else [])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                             os.environ.get("PYTHONPATH")])),
                   "VCSE__DOWNLOAD__PROGRESS": "false", **(env or {})}
    log = open(data_dir.parent / f"serve-{port}.log", "w+b")   # noqa: SIM115 (closed below)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=data_dir.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"vcse serve exited with {process.returncode}:\n{log.read().decode()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vcse serve did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
