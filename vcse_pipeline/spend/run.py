"""One local spend run, as `vcse spend` and the vcse_spend DAG do it: fetch the payment files, load the new or
changed ones, resolve every supplier (overrides first), measure, and find the opportunities."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..config import Config
from . import measures
from .fetch import fetch_spend_files
from .layouts import load_layouts
from .load import duplicate_lines, load_files, load_tier2, loaded_files, open_spend_db, remove_files
from .resolve import attached, read_overrides, resolve_suppliers


@dataclass
class SpendRun:
    database: Path
    files: list[dict] = field(default_factory=list)       # this run's files: load.load_files' summaries
    loaded: list[dict] = field(default_factory=list)      # every file in the measures: load.loaded_files
    removed: list[dict] = field(default_factory=list)     # files taken out: load.remove_files
    duplicate_lines: list[dict] = field(default_factory=list)  # load.duplicate_lines of this run's files
    resolution: dict[str, int] = field(default_factory=dict)  # status -> suppliers
    shares: list[dict] = field(default_factory=list)      # spend_local_share rows
    opportunities: int = 0
    tier2_rows: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed) or any(not f["skipped"] for f in self.files)


def _setting_path(cfg: Config, value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else cfg.data_dir / path


def database_path(cfg: Config) -> Path:
    return _setting_path(cfg, cfg.section("spend")["database"])


def overrides_path(cfg: Config) -> Path | None:
    return _setting_path(cfg, cfg.section("spend")["overrides_file"])


def open_database(cfg: Config) -> duckdb.DuckDBPyConnection:
    return open_spend_db(database_path(cfg))


def run_spend(cfg: Config, locations: list[str] | None = None, *, fetch: bool = True,
              paths: list[Path] | None = None, sources: list[str] | None = None,
              remove: list[str] | None = None) -> SpendRun:
    """Fetch (conditional) and load `locations` (else [spend] files), then resolve and measure everything loaded.
    `paths`: files fetched already (the DAG's fetch task), loaded as they are, `sources` where each came from. With
    fetch False and no paths, only what is loaded already is resolved and measured again (after an overrides
    change). `remove`: files (source, or a name only one loaded file has) taken out of the database first."""
    spend = cfg.section("spend")
    layouts = load_layouts(_setting_path(cfg, spend["layouts_file"]))
    run = SpendRun(database_path(cfg))
    if paths is None:
        fetched = fetch_spend_files(cfg, locations) if fetch else []
        paths, sources = [r.path for r in fetched], [r.url for r in fetched]
    con = open_database(cfg)
    try:
        run.removed = remove_files(con, remove or [])
        run.files = load_files(con, paths, layouts, sources)
        run.duplicate_lines = duplicate_lines(con, [f["source"] for f in run.files if not f["skipped"]])
        run.loaded = loaded_files(con)
        tier2 = _setting_path(cfg, spend["tier2_file"])
        if tier2:
            run.tier2_rows = load_tier2(con, tier2)
        else:   # the declarations are the configured file's: with none configured, none count
            con.execute("DELETE FROM spend_tier2")
        overrides = read_overrides(overrides_path(cfg))
        measures.apply_settings(con, cfg)
        with attached(con, cfg):
            run.resolution = resolve_suppliers(con, cfg, overrides)
            measures.create_views(con)
            run.opportunities = measures.build_opportunities(con, measures.definitions(cfg)[0].codes)
        run.shares = measures.summary(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return run
