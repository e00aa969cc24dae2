"""The published register, read-only, for the web app: serves on while a new version is published, then switches.

Publishing (vcse_pipeline.versions.switch_register) renames a new file over the register path with os.replace. So
the app looks at the path's identity (device, inode, size, modification time) on each request; when it changes,
one request loads the new file while the others go on reading the old version, and from then on requests get
the new one. Requests that started on the old version finish on it; its instance is closed when the last of them
is done. A new file that cannot be read is logged, and the old version served on.

Each version is served from a working copy of its own in a private temporary folder: the published file is
ATTACHed read-only and copied (COPY FROM DATABASE, a register is megabytes), its views are turned into tables once
(a version never changes, so searches need not recompute them on every request), and the copy is then opened
read-only, without access to any other file (enable_external_access off, configuration locked). The published
file is held only while it is copied, so it is free to be pruned or replaced. Not duckdb.connect(published path):
DuckDB keeps one instance per file path in a process and hands it back to a later connect() of the same path,
old inode and all, for as long as any connection to it is open; it would keep serving the replaced file. Each
working copy has a path of its own.

A FastAPI route gets a cursor with `Depends(register_connection)` (every value as a parameter; nothing it does
can reach the file), or `Depends(current_register)` for the cursor with the version's name and publish date.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic

import duckdb
from fastapi import Request

from ..errors import PipelineError
from ..procurement.connection import check_register_file

log = logging.getLogger(__name__)

SOURCE = "published"   # the catalog name the published file is attached under while it is copied
# A file that failed to load is tried again after this long, doubling each time it fails again up to the most, and
# at once when another file is published. Loading a register of every English area takes about 30 s: a failure (a
# file cut short, the memory it needs) tried again on every request held each of them that long. A file held by a
# writer is no such failure: that is found out at once, and over when the writer finishes.
RETRY_FIRST_SECONDS = 30.0
RETRY_MOST_SECONDS = 900.0


@dataclass(frozen=True)
class RegisterInfo:
    """What a page says about the register it shows: which version, and when it was published."""

    version: str            # the version file's name (register-YYYYMMDD...duckdb), or the file's own name
    published_at: str | None  # when its run finished (ISO 8601, UTC), from the register's own run_history
    run_id: str | None


@dataclass
class _Version:
    """One opened version: a read-only connection to its working copy, and how many requests use it."""

    identity: tuple
    con: duckdb.DuckDBPyConnection
    info: RegisterInfo
    leases: int = 0
    retired: bool = False
    copy: Path | None = None                   # the working copy, removed when the version is closed
    memo: dict = field(default_factory=dict)   # what pages compute once per version (the form's choices)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        self.con.close()
        if self.copy is not None:
            _remove(self.copy)


@dataclass(frozen=True)
class _Failure:
    """A file that failed to load: its identity, the error, and when it may be tried again."""

    identity: tuple
    message: str
    wait: float        # seconds between this try and the next
    retry_at: float    # time.monotonic()


@dataclass(frozen=True)
class RegisterView:
    """What a request gets: a cursor on one version (its own; closed after the request) and that version's info."""

    cursor: duckdb.DuckDBPyConnection
    info: RegisterInfo
    memo: dict = field(default_factory=dict)

    def remember(self, name: str, compute):
        """compute(), once per register version: a version never changes, so neither does what is read from it."""
        if name not in self.memo:
            self.memo[name] = compute()
        return self.memo[name]


def held_by_writer(message: str) -> bool:
    """Whether DuckDB could not open a file because another process holds it for writing ("Could not set lock on
    file ...: Conflicting lock is held"), as `vcse spend` holds the spend database while it loads."""
    return "lock" in message.lower()


class RegisterUnavailable(PipelineError):
    """No usable published register (none yet, or not a register): the app answers 503 with this message."""


class PublishedReader:
    """Hands out cursors on the current version of a file published by os.replace at `path` (thread-safe); what
    the file must hold and what a page says about it are the subclass's (RegisterReader; web.feed.FeedReader)."""

    unavailable: type[PipelineError] = PipelineError   # raised when there is no usable file
    what = "file"                                       # what the file is, in messages

    def __init__(self, path: Path, *, threads: int = 2, memory_limit: str = "1GB") -> None:
        self.path = Path(path)
        self.threads = threads
        self.memory_limit = memory_limit
        self._current: _Version | None = None
        # the working copies: a private folder, removed with its copies when the process exits
        self._scratch_dir = tempfile.TemporaryDirectory(prefix="vcse-web-")
        self._scratch = Path(self._scratch_dir.name)
        self._copies = 0
        self._lock = threading.Lock()      # guards _current
        self._loading = threading.Lock()   # held by the one request loading a new version
        self._failed: _Failure | None = None   # the last file that failed to load, until one loads

    def _identity(self) -> tuple:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ()
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def _open(self, identity: tuple) -> _Version:
        """Copy the file now at the path into a working copy and open that. If a publish replaces the file
        meanwhile, the file copied is already the newer one (complete either way); the next request sees a new
        identity and copies it again."""
        self._check()
        self._copies += 1
        copy = self._scratch / f"version-{self._copies}.duckdb"
        try:
            builder = duckdb.connect(str(copy), config={"threads": self.threads, "memory_limit": self.memory_limit})
            try:
                self._build(builder)
            finally:
                builder.close()
            con = duckdb.connect(str(copy), read_only=True, config={
                "threads": self.threads, "memory_limit": self.memory_limit,
                "enable_external_access": False, "lock_configuration": True})
            info = self._info(con)
        except duckdb.Error as exc:
            _remove(copy)
            raise self.unavailable(f"cannot open {self.what} {self.path}: {str(exc).splitlines()[0]}") from None
        except self.unavailable:
            _remove(copy)
            raise
        log.info("serving %s version %s", self.what, info.version)
        return _Version(identity, con, info, copy=copy)

    def _switch(self, identity: tuple) -> None:
        """Load the version with `identity` (unless another request just did) and make it the current one. A file
        that failed to load is not tried again before its retry time: its error is raised again at once."""
        current = self._current
        if current is not None and current.identity == identity:
            return
        failed = self._failed
        if not self._may_try(identity):
            raise self.unavailable(failed.message)
        try:
            new = self._open(identity)
        except self.unavailable as exc:
            if held_by_writer(str(exc)):   # a run writing the file: brief, and found out at once, so no wait
                raise
            wait = RETRY_FIRST_SECONDS if failed is None or failed.identity != identity else min(
                failed.wait * 2, RETRY_MOST_SECONDS)
            self._failed = _Failure(identity, str(exc), wait, monotonic() + wait)
            raise
        self._failed = None
        with self._lock:
            old, self._current = self._current, new
        if old is not None:
            self._retire(old)

    def _may_try(self, identity: tuple) -> bool:
        """Whether to load the file with `identity`: not while a failure to load it waits for its retry time."""
        failed = self._failed
        return failed is None or failed.identity != identity or monotonic() >= failed.retry_at

    def _acquire(self) -> _Version:
        identity = self._identity()
        current = self._current
        if current is None:
            if not identity:
                raise self.unavailable(self._missing())
            with self._loading:   # nothing to serve meanwhile: every request waits for the first load
                self._switch(identity)
        elif (identity and current.identity != identity and self._may_try(identity)
              and self._loading.acquire(blocking=False)):
            # one request loads the new version; the others go on reading the current one meanwhile
            try:
                self._switch(identity)
            except self.unavailable as exc:   # a file that cannot be read: keep serving what works
                log.error("still serving %s: %s", current.info.version, exc)
            finally:
                self._loading.release()
        with self._lock:
            current = self._current
            with current.lock:
                current.leases += 1
            return current

    def _release(self, version: _Version) -> None:
        with version.lock:
            version.leases -= 1
            done = version.retired and version.leases == 0
        if done:
            version.close()

    @staticmethod
    def _retire(version: _Version) -> None:
        with version.lock:
            version.retired = True
            idle = version.leases == 0
        if idle:
            version.close()

    @contextmanager
    def view(self) -> Iterator[RegisterView]:
        """A cursor on the current version for the length of one request, with that version's info."""
        version = self._acquire()
        try:
            cursor = version.con.cursor()
            try:
                yield RegisterView(cursor, version.info, version.memo)
            finally:
                cursor.close()
        finally:
            self._release(version)

    def info(self) -> RegisterInfo:
        with self.view() as view:
            return view.info

    def close(self) -> None:
        """Close the current version (requests still on it finish first) and forget it."""
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None

    # what the subclass says: the file's check, its working copy, its info, the message when there is none

    def _missing(self) -> str:
        return f"nothing published at {self.path} yet"

    def _check(self) -> None:
        """Raise self.unavailable when the file at the path is not one this reader serves."""

    def _build(self, builder: duckdb.DuckDBPyConnection) -> None:
        """Fill the working copy `builder` has open from the published file."""
        copy_database(builder, self.path)

    def _info(self, con: duckdb.DuckDBPyConnection):
        return RegisterInfo(self.path.name, None, None)


class RegisterReader(PublishedReader):
    """Hands out cursors on the current version of the register at `path` (thread-safe)."""

    unavailable = RegisterUnavailable
    what = "register"

    def _missing(self) -> str:
        return f"no register at {self.path} yet: publish one with `vcse run` (or `vcse demo`)"

    def _check(self) -> None:
        try:
            check_register_file(self.path)
        except PipelineError as exc:
            raise RegisterUnavailable(str(exc)) from None

    def _build(self, builder: duckdb.DuckDBPyConnection) -> None:
        _build_copy(builder, self.path)

    def _info(self, con: duckdb.DuckDBPyConnection) -> RegisterInfo:
        return _read_info(con, self.path)


def _build_copy(builder: duckdb.DuckDBPyConnection, published: Path) -> None:
    """Copy the published register into the working copy `builder` has open, with its views as tables."""
    copy_database(builder, published, _check_register)
    materialise_views(builder)
    builder.execute("CHECKPOINT")


def _check_register(builder: duckdb.DuckDBPyConnection, published: Path) -> None:
    views = {r[0] for r in builder.execute("SELECT view_name FROM duckdb_views() WHERE database_name = ?",
                                           [SOURCE]).fetchall()}
    if "provider_directory" not in views:
        raise RegisterUnavailable(f"{published} has no provider_directory view: it is not a published register, "
                                  "or was built by an older version of the pipeline")


def copy_database(builder: duckdb.DuckDBPyConnection, published: Path, check=None) -> None:
    """Copy every table and view of the published file into the working copy `builder` has open. The published
    file is attached read-only (as SOURCE) for the length of the copy only; check(builder, published), when given,
    looks at it first and raises when it is not the kind of file wanted."""
    builder.execute(f"ATTACH ? AS {SOURCE} (READ_ONLY)", [str(published)])
    try:
        if check is not None:
            check(builder, published)
        target = builder.execute("SELECT current_database()").fetchone()[0]
        builder.execute(f'COPY FROM DATABASE {SOURCE} TO "{target}"')
    finally:
        builder.execute(f"DETACH {SOURCE}")


def _remove(copy: Path) -> None:
    for path in (copy, Path(f"{copy}.wal")):
        path.unlink(missing_ok=True)


# The views are turned into tables a range of areas at a time. A view groups and joins several tables per
# organisation (provider_directory joins four grouped lists to the organisations), and DuckDB holds all of their hash
# tables at once: for a register of every English area (983,000 organisations at national size) provider_directory
# took about 1.5 GB in one statement (1.6 KB an organisation), past the app's 1 GB (`[web] duckdb_memory_limit`),
# so the app could not open the register at all. A range holds the organisations a quarter of the memory limit
# would hold at 1.6 KB each: about 160,000 under 1 GB, fewer under a smaller limit. Each range reads the tables a
# view joins again, so fewer, larger ranges are faster: at national size the views took 8.2 s in one statement
# (given 2 GB), 11.0 s in ranges of 250,000 and 14.9 s in ranges of 100,000. A range filter on area_code reaches
# each view's grouping; an IN list does not.
BYTES_PER_ORGANISATION = 6_400
DEFAULT_RANGE_ORGANISATIONS = 100_000   # when DuckDB's memory limit cannot be read
_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def range_organisations(con: duckdb.DuckDBPyConnection) -> int:
    """How many organisations a range of areas holds, from the connection's memory limit ("953.6 MiB")."""
    setting = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    found = re.fullmatch(r"([0-9.]+) ?(bytes|[KMGT]iB)", str(setting).strip())
    if not found:
        return DEFAULT_RANGE_ORGANISATIONS
    return max(1, int(float(found.group(1)) * _UNITS[found.group(2)] / BYTES_PER_ORGANISATION))


def materialise_views(con: duckdb.DuckDBPyConnection, organisations: int | None = None) -> None:
    """Each of the register's views as a table of its rows. A version never changes, so the rows are the view's
    for as long as the version is served; the searches then read a table instead of joining and aggregating six
    tables on every request (provider_directory, the one every page reads, is ten times faster as a table).
    A view with an area_code column is read a range of areas at a time, `organisations` to a range (by default as
    many as the memory limit allows, range_organisations), in area order, which also lets a search of one area skip
    the others' rows."""
    views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
                                       "AND NOT internal ORDER BY view_name").fetchall()]
    ends = area_ranges(con, organisations or range_organisations(con))
    for view in views:
        quoted = '"' + view.replace('"', '""') + '"'
        if ends and _has_area_code(con, view):
            con.execute(f"CREATE TABLE _materialised AS FROM {quoted} LIMIT 0")
            for where, params in _range_filters(ends):
                con.execute(f"INSERT INTO _materialised FROM {quoted} WHERE {where}", params)
        else:
            con.execute(f"CREATE TABLE _materialised AS FROM {quoted}")
        con.execute(f"DROP VIEW {quoted}")
        con.execute(f"ALTER TABLE _materialised RENAME TO {quoted}")


def area_ranges(con: duckdb.DuckDBPyConnection, organisations: int) -> list[str]:
    """The last area code of each range of areas that holds `organisations` organisations or more (an area
    is never split), in order; [] when all fit in one range, and for a database without an organisation table
    (the spend database)."""
    has_organisations = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                    "AND table_name = 'organisation'").fetchone()[0]
    if not has_organisations:
        return []
    ends, held = [], 0
    counts = con.execute("SELECT area_code, count(*) FROM organisation WHERE area_code IS NOT NULL "
                         "GROUP BY ALL ORDER BY area_code").fetchall()
    for area_code, in_area in counts:
        held += in_area
        if held >= organisations:
            ends.append(area_code)
            held = 0
    return ends


def _range_filters(ends: list[str]) -> list[tuple[str, list]]:
    """WHERE clauses that together take every row once: up to the first end, each range after it, the rest (areas
    after the last end, or without organisations), and rows without an area."""
    filters, previous = [], None
    for end in ends:
        if previous is None:
            filters.append(("area_code <= ?", [end]))
        else:
            filters.append(("area_code > ? AND area_code <= ?", [previous, end]))
        previous = end
    filters.append(("area_code > ?", [previous]))
    filters.append(("area_code IS NULL", []))
    return filters


def _has_area_code(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
                       "AND table_name = ? AND column_name = 'area_code'", [view]).fetchone()[0] > 0


def _read_info(con: duckdb.DuckDBPyConnection, path: Path) -> RegisterInfo:
    """The version's name and publish time from its own run_history (the run that published it is its last row
    with a version file); a register without that table (an older build) is named by its file."""
    has_history = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                              "AND table_name = 'run_history'").fetchone()[0]
    if has_history:
        row = con.execute("SELECT version_file, finished_at, run_id FROM run_history "
                          "WHERE version_file IS NOT NULL AND status = 'published' "
                          "ORDER BY finished_at DESC NULLS LAST LIMIT 1").fetchone()
        if row:
            return RegisterInfo(str(row[0]), _iso_utc(row[1]), row[2])
    return RegisterInfo(path.name, None, None)


def _iso_utc(moment: datetime | None) -> str | None:
    """A recorded time as ISO 8601 in UTC ("2026-12-05T13:53:52+00:00"), whatever the session's time zone; a time
    without one was recorded in UTC."""
    if not isinstance(moment, datetime):
        return None if moment is None else str(moment)
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat()


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
