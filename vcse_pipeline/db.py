"""DuckDB helpers shared by every step: connections, running the .sql files, attaching staging."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from datetime import date, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from .config import SQL_DIR, Config
from .errors import PipelineError
from .sources import SOURCE_NAMES


def connect(path: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)


def sql_files(subdir: str) -> list[Traversable]:
    """The .sql files of one vcse_pipeline/sql/ subfolder, in name order (files are numbered where order matters).
    Read as package resources, so an installed wheel finds them as well as a source checkout."""
    return sorted((p for p in (SQL_DIR / subdir).iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)


def sql_file(name: str) -> Traversable:
    """One file below vcse_pipeline/sql/, e.g. 'links/exact_links.sql'."""
    return SQL_DIR.joinpath(*name.split("/"))


def sql_text(name: str) -> str:
    """The text of one file below vcse_pipeline/sql/: a query run with its parameters ($name or ?)."""
    return sql_file(name).read_text(encoding="utf-8")


def run_sql_file(con: duckdb.DuckDBPyConnection, path: Traversable, params: dict | None = None) -> None:
    """Run every statement of a .sql file. `params` fill {{name}} placeholders with SQL literals."""
    text = path.read_text(encoding="utf-8")
    for name, value in (params or {}).items():
        text = text.replace("{{" + name + "}}", sql_literal(value))
    leftover = re.search(r"\{\{\w+\}\}", text)
    if leftover:
        raise ValueError(f"{path.name}: no value given for placeholder {leftover.group(0)}")
    con.execute(text)


def run_sql_dir(con: duckdb.DuckDBPyConnection, subdir: str, params: dict | None = None) -> None:
    for path in sql_files(subdir):
        run_sql_file(con, path, params)


def register_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the build macros of sql/macros in the connection: postcode_key() and normalise_postcode(), the
    identifier keys and the VCSE rule. TEMP macros, so they are never saved into a staging or register file."""
    suffixes = resources.files(__package__) / "reference" / "mutuals-suffixes.csv"
    run_sql_dir(con, "macros", {"mutuals_suffixes_file": str(suffixes)})


def sql_literal(value) -> str:
    """Render a trusted value (a setting, a file path, a column name) as a SQL literal; never user search input."""
    if isinstance(value, str | Path):
        return "'" + str(value).replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, date) and not isinstance(value, datetime):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Iterable):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    raise TypeError(f"cannot render {value!r} as SQL")


def attach_staging(con: duckdb.DuckDBPyConnection, cfg: Config, sources: Iterable[str] = SOURCE_NAMES):
    """Attach each source's staging file read-only under the source's name (e.g. companies_house.company): the
    register is built with every source attached, under these aliases."""
    for source in sources:
        path = cfg.staging_path(source)
        if not path.exists():
            raise PipelineError(f"staging for {source} not found at {path}: run `vcse refresh {source}` "
                                "(download and stage) first")
        # The path is a quoted literal: a data folder may hold quotes, spaces or any other character.
        con.execute(f"ATTACH {sql_literal(str(path))} AS {source} (READ_ONLY)")


def table_columns(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> set[str] | None:
    """Column names of a table (or view) in the main schema of the connection's database (or of attached
    `database`), or None when it does not exist. By pragma_table_info on the qualified name: duckdb_columns() costs
    15-20 ms the first time in a connection, and a build opens a connection per staging file to read its release."""
    database = database or con.execute("SELECT current_database()").fetchall()[0][0]
    name = ".".join('"' + part.replace('"', '""') + '"' for part in (database, "main", table))
    try:
        rows = con.execute("SELECT name FROM pragma_table_info(?)", [name]).fetchall()
    except duckdb.CatalogException:
        return None
    return {r[0] for r in rows} or None


def release_freed_memory() -> None:
    """Hand back to the operating system the memory DuckDB has freed but keeps for reuse, for the whole process.

    DuckDB's allocator keeps the pages a finished query freed, to reuse them, until its database closes: after the
    reconciliation index's two queries over a register of every English area, about 0.5 GB that the app, whose
    database stays open, would hold beside the index for good. Setting a memory limit makes DuckDB hand such pages
    back (DuckDB 2.0, measured; a new database sets one as it starts), and its allocator is the process's, so one
    database setting it releases every database's. The app's databases lock their configuration, so it is set on a
    throwaway in-memory database: a few milliseconds."""
    con = duckdb.connect()
    try:
        con.execute("SET memory_limit = '64MB'")
    finally:
        con.close()


def require_checkpointed(path: str | Path) -> None:
    """Refuse a closed DuckDB file whose write-ahead log is still beside it: its last checkpoint did not write (DuckDB's
    close() does not say), so the file alone lacks what the log holds and must not be renamed into place."""
    wal = Path(f"{path}.wal")
    if wal.exists():
        raise OSError(f"could not write {path} completely: DuckDB left what it could not write in {wal.name} "
                      "(is the disk full?). Free some space and run the step again")


def remove_database(path: str | Path) -> None:
    """Delete a DuckDB file, its write-ahead log (a WAL left beside a new file of the same name would be replayed
    onto it) and the folder DuckDB spills to past its memory limit (`<file>.tmp`), which a killed build leaves."""
    for part in (Path(path), Path(f"{path}.wal")):
        part.unlink(missing_ok=True)
    shutil.rmtree(f"{path}.tmp", ignore_errors=True)


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str | None = None) -> bool:
    query = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
    args: list = [name]
    if schema:
        query += " AND (schema_name = ? OR database_name = ?)"
        args += [schema, schema]
    return con.execute(query, args).fetchone()[0] > 0
