"""The vcse_spend DAG's tasks (dags/vcse_spend.py is schedule and wiring only): fetch the payment files, go on only
when one is new or changed since it was loaded, then load, resolve and measure."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from .fetch import fetch_spend_files
from .load import sha256_file
from .run import database_path, run_spend


def fetch_files(cfg: Config | None = None) -> dict:
    """Fetch [spend] files (conditional: unchanged files are not downloaded again); the fetched paths and which of
    them the spend database has not loaded in this form."""
    import duckdb

    cfg = cfg or Config.load()
    fetched = fetch_spend_files(cfg)
    paths, sources = [str(r.path) for r in fetched], [r.url for r in fetched]
    loaded: dict[str, str] = {}
    database = database_path(cfg)
    if database.exists():
        con = duckdb.connect(str(database), read_only=True)
        try:
            loaded = dict(con.execute("SELECT source, sha256 FROM spend_file").fetchall())
        finally:
            con.close()
    digests = {p: sha256_file(Path(p)) for p in paths}   # a copy of a loaded file's bytes is not loaded (load.py)
    changed = [p for p, s in zip(paths, sources, strict=True)
               if loaded.get(s) != digests[p] and (s in loaded or digests[p] not in loaded.values())]
    return {"paths": paths, "sources": sources, "changed": changed}


def has_new_files(result: dict, force: bool = False) -> bool:
    return force or bool(result["changed"])


def measure(result: dict, cfg: Config | None = None) -> dict:
    """Load the fetched files (unchanged ones are skipped), resolve and measure; the shares as a small summary."""
    run = run_spend(cfg or Config.load(), paths=[Path(p) for p in result["paths"]], sources=result.get("sources"))
    return {"files": run.files, "resolution": run.resolution, "opportunities": run.opportunities,
            "shares": {s["definition"]: s["local_share"] for s in run.shares}}
