"""Open the published register read-only for the commands that use it (find, report, opportunities, match)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..errors import PipelineError

# What to do about a missing or unusable register, in the options the command has: (missing, unusable) for a
# command with --register, and for one with only --data-dir / --config (`vcse changes`).
_WITH_REGISTER = ("pass --register", "pass the published register's .duckdb file with --register (or --data-dir)")
_WITHOUT_REGISTER = ("pass the --data-dir that holds it",
                     "pass the --data-dir (or --config) whose register folder holds the published register")


def open_register(path: Path, has_register_option: bool = True) -> duckdb.DuckDBPyConnection:
    """A read-only connection; a PipelineError naming the file and what to do when it cannot be used:
    missing, a folder, empty, not a DuckDB file, unreadable, held open for writing, or built without the views.
    `has_register_option`: whether the command has --register; the advice names only options it has."""
    path = Path(path)
    con = open_register_file(path, has_register_option)
    try:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    except duckdb.Error as exc:
        con.close()
        raise PipelineError(f"cannot read register {path}: {exc}") from exc
    if "provider_directory" not in views:
        con.close()
        raise PipelineError(f"{path} has no provider_directory view: it is not a published register, or was built "
                            "by an older version of the pipeline (rebuild it with `vcse run`)")
    return con


def open_register_file(path: Path, has_register_option: bool = True) -> duckdb.DuckDBPyConnection:
    """open_register without the check for the views: for commands that read the register's tables alone
    (`vcse match` reads organisation and organisation_name). The same errors for a file that is missing, a
    folder, empty, not a DuckDB file, unreadable or held open for writing."""
    path = Path(path)
    choose = check_register_file(path, has_register_option)
    try:
        # not db.connect: that creates missing parent folders, and reading must never create anything
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise PipelineError(_open_failure(path, str(exc), choose)) from exc
    return con


def check_register_file(path: Path, has_register_option: bool = True) -> str:
    """A PipelineError naming the file and what to do when it is missing, a folder, empty, not a DuckDB file or
    unreadable; else the advice for a later failure to open it. Also for the web app, which attaches the file."""
    missing, choose = _WITH_REGISTER if has_register_option else _WITHOUT_REGISTER
    if not path.exists():
        raise PipelineError(f"no register at {path}: build one with `vcse run` (or `vcse demo`), or {missing}")
    if path.is_dir():
        raise PipelineError(f"register {path} is a folder, not a register file: {choose}")
    if path.stat().st_size == 0:
        raise PipelineError(f"register {path} is an empty file, not a register: {choose}, "
                            "or rebuild it with `vcse run`")
    if not _is_duckdb_file(path):
        raise PipelineError(f"{path} is not a register (not a DuckDB database file): {choose}")
    return choose


def _is_duckdb_file(path: Path) -> bool:
    """DuckDB files carry "DUCK" at byte 8. Checked first because DuckDB would open a .csv (say) as a database
    of its own, and report something else. A file this user may not read is a PipelineError naming it."""
    try:
        with path.open("rb") as fh:
            return fh.read(12)[8:12] == b"DUCK"
    except OSError as exc:
        raise PipelineError(f"cannot read register {path}: {exc.strerror or exc} (check the file's permissions, "
                            "or run as a user who may read it)") from None


def _open_failure(path: Path, message: str, choose: str) -> str:
    """What went wrong opening `path`, in words an officer can act on."""
    if "not a valid DuckDB database file" in message:
        return f"{path} is not a register (not a DuckDB database file): {choose}"
    if "Could not set lock" in message or "Conflicting lock" in message:
        return (f"register {path} is open for writing by another program (a build or publish in progress, or a "
                "DuckDB session): try again when it has finished, or close that program")
    if "Is a directory" in message:
        return f"register {path} is a folder, not a register file: {choose}"
    if "version" in message.lower() or "serializ" in message.lower():
        return f"register {path} was written by a different DuckDB version ({message}): rebuild it with `vcse run`"
    return f"cannot open register {path}: {message}"
