"""Open the published register read-only for the procurement commands."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..db import connect
from ..errors import PipelineError


def open_register(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection; a clear error when the register has not been built or lacks the views."""
    if not Path(path).exists():
        raise PipelineError(f"no register at {path}: build one with `vcse run` (or `vcse demo`), or pass --register")
    con = connect(path, read_only=True)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if "provider_directory" not in views:
        con.close()
        raise PipelineError(f"{path} has no provider_directory view: rebuild it with this version of the pipeline")
    return con
