"""The `vcse` command line in processes of its own, each forked from one that has imported it already.

A fresh `python -c "from vcse_pipeline.cli import main; main()"` spends about a second of CPU importing pandas,
DuckDB and the CLI before it does anything; a fault test runs dozens. Here one server process imports the CLI once
per test session and forks a child per command. Each child is a real process of its own, as the fresh one was: its
own pid (which the run locks record), its own environment, working folder, standard output and error, and exit
status; `VCSE_KILL_AT` kills it alone with SIGKILL (returncode -9) and `VCSE_PAUSE_AT` holds it alone. Only the
imports' work is shared, done before any command's environment is set, so nothing a command reads from its
environment can have been read in the server instead (the consoles read COLUMNS when the CLI is imported: the server
has the same COLUMNS as every command).

    run = cli_process(["stage", "fca_mutuals", "--data-dir", data], env, cwd)   # like subprocess.Popen
    run.wait(timeout=900); run.returncode, run.stdout, run.stderr
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The server: import the CLI, then for each request line (JSON) fork a child that runs it, answering
# "started <pid>" at once and "exited <pid> <returncode>" when the child ends (-N: killed by signal N).
# It writes only to the answer pipe (a copy of fd 1 taken before anything could buffer on sys.stdout), so a child
# inherits no half-written buffer or held lock; it is single-threaded, so a fork copies no other thread's state.
_SERVER = r"""
import atexit, json, os, select, sys, traceback
from vcse_pipeline.cli import main

answers = os.dup(1)
requests = os.fdopen(0, "rb", buffering=0)

def answer(line):
    os.write(answers, (line + "\n").encode())

def run(request):
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    os.close(answers)
    sys.argv = ["-c", *request["args"]]
    try:
        main()
        code = 0
    except SystemExit as stopped:  # as the interpreter turns it into an exit status
        if stopped.code is None or isinstance(stopped.code, int):
            code = stopped.code or 0
        else:
            print(stopped.code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)

buffer = b""
children = set()
while True:
    ready, _, _ = select.select([requests], [], [], 0.05)
    if ready:
        chunk = requests.read(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            pid = os.fork()
            if pid == 0:
                try:
                    run(json.loads(line))
                finally:
                    os._exit(70)
            children.add(pid)
            answer(f"started {pid}")
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            answer(f"exited {pid} {os.waitstatus_to_exitcode(status)}")
"""


class CliProcess:
    """One command, answering as subprocess.Popen does (pid, poll, wait, communicate, returncode), and after wait()
    as subprocess.CompletedProcess does (stdout, stderr as text)."""

    def __init__(self, server: _Server, pid: int, stdout: Path, stderr: Path):
        self.server, self.pid, self._stdout, self._stderr = server, pid, stdout, stderr
        self.returncode: int | None = None
        self.stdout: str | None = None
        self.stderr: str | None = None

    def poll(self) -> int | None:
        self.returncode = self.server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.server.wait_exit(self.pid, timeout)
        if code is None:
            os.kill(self.pid, signal.SIGKILL)  # as subprocess.run does on a timeout
            self.server.wait_exit(self.pid, None)
            raise subprocess.TimeoutExpired(["vcse"], timeout)
        self.returncode = code
        self.stdout = self._stdout.read_text(encoding="utf-8")
        self.stderr = self._stderr.read_text(encoding="utf-8")
        return code

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.stdout, self.stderr


class _Server:
    def __init__(self, env: dict[str, str]):
        self.folder = Path(tempfile.mkdtemp(prefix="vcse-cli-server-"))
        self.log = self.folder / "server.log"  # what the server itself says: an import error, say
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], env=env, cwd=self.folder,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.lock = threading.Lock()                 # one request at a time: its "started" answer is the next one
        self.changed = threading.Condition()
        self.started: list[int] = []
        self.exits: dict[int, int] = {}
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            kind, pid, *code = line.decode().split()
            with self.changed:
                if kind == "started":
                    self.started.append(int(pid))
                else:
                    self.exits[int(pid)] = int(code[0])
                self.changed.notify_all()
        with self.changed:
            self.started.append(-1)  # the server is gone: wake anyone waiting
            self.changed.notify_all()

    def start(self, args: list[str], env: dict[str, str], cwd: Path) -> CliProcess:
        with self.lock:
            self.count += 1
            out, err = self.folder / f"{self.count}.out", self.folder / f"{self.count}.err"
            request = {"args": args, "env": env, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            with self.changed:
                self.proc.stdin.write(json.dumps(request).encode() + b"\n")
                self.proc.stdin.flush()
                self.changed.wait_for(lambda: self.started, timeout=60)
                assert self.started and self.started[0] > 0, \
                    f"the vcse command server did not start the command:\n{self.log.read_text()[-3000:]}"
                pid = self.started.pop(0)
        return CliProcess(self, pid, out, err)

    def exit_code(self, pid: int) -> int | None:
        with self.changed:
            return self.exits.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        with self.changed:
            self.changed.wait_for(lambda: pid in self.exits or -1 in self.started, timeout=timeout)
            return self.exits.get(pid)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


@functools.cache
def _server(env_items: tuple[tuple[str, str], ...]) -> _Server:
    """One server per environment the CLI is imported with (a session has one), stopped when the session ends."""
    server = _Server(dict(env_items))
    atexit.register(server.close)
    return server


def cli_process(args: list[str], env: dict[str, str], cwd: Path, import_env: dict[str, str]) -> CliProcess:
    """Start `vcse ARGS` with environment `env` in folder `cwd`, forked from a server that imported the CLI with
    `import_env` (which must hold what the CLI reads on import: PYTHONPATH, COLUMNS)."""
    return _server(tuple(sorted(import_env.items()))).start(list(args), env, cwd)
