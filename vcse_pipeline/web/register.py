"""The published register, read-only, for the web app: serves on while a new version is published, then switches.

Publishing (vcse_pipeline.publish.switch_register) renames a new file over the register path with os.replace; a
file already open keeps its inode and its data. So the app looks at the path's identity (device, inode, size,
modification time) on each request, and when it changes opens the new file beside the old one. Requests that
started on the old version finish on it; its connection is closed when the last of them is done.

Each version is ATTACHed read-only into its own in-memory DuckDB instance rather than opened with
duckdb.connect(path): DuckDB keeps one instance per file path in a process and hands it back to a later
connect() of the same path, old inode and all, for as long as any connection to it is open; it would keep
serving the replaced file. An attached file has no such cache, so each version is an instance of its own.

A FastAPI route gets a cursor with `Depends(register_connection)` (every value as a parameter: the cursor is
read-only anyway), or `Depends(current_register)` for the cursor with the version's name and publish date.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from fastapi import Request

from ..errors import PipelineError
from ..procurement.connection import check_register_file

log = logging.getLogger(__name__)

ALIAS = "register"   # the catalog name the version is attached under; every cursor starts with USE register


@dataclass(frozen=True)
class RegisterInfo:
    """What a page says about the register it shows: which version, and when it was published."""

    version: str            # the version file's name (register-YYYYMMDD...duckdb), or the file's own name
    published_at: str | None  # when its run finished (ISO 8601, UTC), from the register's own run_history
    run_id: str | None


@dataclass
class _Version:
    """One opened version: an in-memory DuckDB instance with the file attached, and how many requests use it."""

    identity: tuple
    con: duckdb.DuckDBPyConnection
    info: RegisterInfo
    leases: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class RegisterView:
    """What a request gets: a cursor on one version (its own; closed after the request) and that version's info."""

    cursor: duckdb.DuckDBPyConnection
    info: RegisterInfo


class RegisterUnavailable(PipelineError):
    """No usable published register (none yet, or not a register): the app answers 503 with this message."""


class RegisterReader:
    """Hands out cursors on the current version of the register at `path` (thread-safe)."""

    def __init__(self, path: Path, *, threads: int = 2, memory_limit: str = "1GB") -> None:
        self.path = Path(path)
        self.threads = threads
        self.memory_limit = memory_limit
        self._current: _Version | None = None
        self._lock = threading.Lock()   # guards _current and the switch

    def _identity(self) -> tuple:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ()
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def _open(self, identity: tuple) -> _Version:
        """Attach the file now at the path. If a publish replaces it during this, the file attached is already the
        newer one (complete either way); the next request sees a new identity and attaches it again."""
        try:
            check_register_file(self.path)
        except PipelineError as exc:
            raise RegisterUnavailable(str(exc)) from None
        con = duckdb.connect(":memory:", config={"threads": self.threads, "memory_limit": self.memory_limit})
        try:
            con.execute(f"ATTACH ? AS {ALIAS} (READ_ONLY)", [str(self.path)])
            con.execute(f"USE {ALIAS}")
            views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = ?",
                                               [ALIAS]).fetchall()}
            if "provider_directory" not in views:
                raise RegisterUnavailable(f"{self.path} has no provider_directory view: it is not a published "
                                          "register, or was built by an older version of the pipeline")
            info = _read_info(con, self.path)
        except duckdb.Error as exc:
            con.close()
            raise RegisterUnavailable(f"cannot open register {self.path}: {str(exc).splitlines()[0]}") from None
        except RegisterUnavailable:
            con.close()
            raise
        log.info("serving register version %s", info.version)
        return _Version(identity, con, info)

    def _acquire(self) -> _Version:
        identity = self._identity()
        with self._lock:
            current = self._current
            if current is None or current.identity != identity:
                if not identity:
                    raise RegisterUnavailable(f"no register at {self.path} yet: publish one with `vcse run` "
                                              "(or `vcse demo`)")
                new = self._open(identity)
                if current is not None:
                    self._retire(current)
                self._current = current = new
            with current.lock:
                current.leases += 1
            return current

    def _release(self, version: _Version) -> None:
        with version.lock:
            version.leases -= 1
            done = version.retired and version.leases == 0
        if done:
            version.con.close()

    @staticmethod
    def _retire(version: _Version) -> None:
        with version.lock:
            version.retired = True
            idle = version.leases == 0
        if idle:
            version.con.close()

    @contextmanager
    def view(self) -> Iterator[RegisterView]:
        """A cursor on the current version for the length of one request, with that version's info."""
        version = self._acquire()
        try:
            cursor = version.con.cursor()
            try:
                cursor.execute(f"USE {ALIAS}")   # a cursor does not inherit its parent's USE
                yield RegisterView(cursor, version.info)
            finally:
                cursor.close()
        finally:
            self._release(version)

    def info(self) -> RegisterInfo:
        with self.view() as view:
            return view.info

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None


def _read_info(con: duckdb.DuckDBPyConnection, path: Path) -> RegisterInfo:
    """The version's name and publish time from its own run_history (the run that published it is its last row
    with a version file); a register without that table (an older build) is named by its file."""
    has_history = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                              [ALIAS, "run_history"]).fetchone()[0]
    if has_history:
        row = con.execute("SELECT version_file, finished_at, run_id FROM run_history "
                          "WHERE version_file IS NOT NULL AND status = 'published' "
                          "ORDER BY finished_at DESC NULLS LAST LIMIT 1").fetchone()
        if row:
            return RegisterInfo(str(row[0]), None if row[1] is None else str(row[1]), row[2])
    return RegisterInfo(path.name, None, None)


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    """The rows of a parameterised query as dicts by column name (what the pages' templates read)."""
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# ---------------------------------------------------------------------------------------------- dependencies

def register_reader(request: Request) -> RegisterReader:
    return request.app.state.register


def current_register(request: Request) -> Iterator[RegisterView]:
    """FastAPI dependency: a cursor on the current register version and its info, closed after the request."""
    with register_reader(request).view() as view:
        yield view


def register_connection(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """FastAPI dependency: a read-only cursor on the current register version, closed after the request."""
    with register_reader(request).view() as view:
        yield view.cursor
