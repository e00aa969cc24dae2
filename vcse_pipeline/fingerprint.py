"""Content fingerprints: what a staged release is, and what a register build is made from.

A build's inputs are each staged source's release (its files' names, sizes and sha256, and the settings its stage
used), the settings that shape the build (areas, VCSE rule, linking, tagging, quality gates) and the code (package
version, the sql/ files, the Python package and the reference data the tagger learns from). Equal fingerprints mean
a build would make the register that is already published, so it is not made again (publish.build_and_publish,
airflow_tasks.start_register_run). Times (staged_at, fetched_at) are never part of a fingerprint: staging the same
files again is not new data.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from .config import SQL_DIR, Config
from .errors import DivergedStorageError

# Source settings that say where and when to fetch, not what is staged: changing them stages nothing different.
NOT_CONTENT_SOURCE_KEYS = frozenset({"url", "schedule"})
# Config sections that shape what a build makes (areas come from the run: params and --area override them).
BUILD_SECTIONS = ("vcse", "linking", "tagging", "quality")
PACKAGE_DIR = Path(__file__).resolve().parent


def digest(value) -> str:
    """sha256 of a JSON value in canonical form (sorted keys), so equal content always gives one digest."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------- staged content

def staged_content(cfg: Config, source: str, paths: list[Path]) -> dict:
    """What a stage of `source` is made from: each file's name, size and sha256, and the source's content settings.

    Kept in the staging file's `_staged.content` (its `release` column is the publisher's release: name, date, URL).
    """
    settings = {k: v for k, v in cfg.source(source).items() if k not in NOT_CONTENT_SOURCE_KEYS}
    return {"source": source,
            "files": sorted(({"name": p.name, "size": p.stat().st_size, "sha256": file_sha256(p)} for p in paths),
                            key=lambda f: f["name"]),
            "settings": settings}


def content_fingerprint(content: dict) -> str:
    return digest(content)


def staging_fingerprint(cfg: Config, source: str) -> str | None:
    """The release fingerprint recorded in a source's staging file (`_staged.fingerprint`); None when the file is
    missing, or was staged by code that did not record one (its content is then unknown)."""
    from .db import connect

    path = cfg.staging_path(source)
    if not path.exists():
        return None
    con = connect(path, read_only=True)
    try:
        return recorded_fingerprint(con)
    finally:
        con.close()


def recorded_fingerprint(con) -> str | None:
    """`_staged.fingerprint` of the staging database `con` is connected to (None when it records none)."""
    from .db import table_columns

    if "fingerprint" not in (table_columns(con, "_staged") or set()):
        return None
    row = con.execute("SELECT fingerprint FROM _staged").fetchone()
    return row[0] if row else None


def staging_fingerprints(cfg: Config) -> dict[str, str | None]:
    from .sources import SOURCE_NAMES

    return {source: staging_fingerprint(cfg, source) for source in SOURCE_NAMES}


# ---------------------------------------------------------------------------------------------- code and settings

def tree_digest(root: Path, pattern: str) -> str:
    """One sha256 over every file matching `pattern` below `root`: relative names and contents, in name order."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        h.update(file_sha256(path).encode("ascii") + b"\n")
    return h.hexdigest()


@functools.cache
def code_version() -> dict:
    """The code a build runs: package version and digests of sql/, the Python package and its reference data (the
    UKCAT rules, hand-labelled charities the tagging model learns from, taxonomies). Read once per process."""
    from . import __version__

    return {"package": __version__, "sql": tree_digest(SQL_DIR, "*.sql"),
            "python": tree_digest(PACKAGE_DIR, "*.py"),
            "reference": tree_digest(PACKAGE_DIR / "reference", "*")}


def stage_code() -> str:
    """The code a stage runs, as one digest of code_version: a stage by other code may make other tables from the
    same files, so a refresh stages them again (pipeline.staged_already)."""
    return digest(code_version())[:20]


def build_settings(cfg: Config) -> dict[str, str]:
    """A digest per config section that shapes the build; the service-area file's content when one is configured."""
    settings = {section: digest(cfg.section(section)) for section in BUILD_SECTIONS}
    taxonomy = (cfg.section("tagging").get("service_areas") or "").strip()
    if taxonomy and Path(taxonomy).expanduser().is_file():
        settings["service_areas_file"] = file_sha256(Path(taxonomy).expanduser())
    return settings


# ---------------------------------------------------------------------------------------------- build inputs

def build_inputs(cfg: Config, areas: list[str]) -> dict:
    """Everything a build of `areas` is made from, as a JSON-able dict (stored in the run history)."""
    return {"sources": staging_fingerprints(cfg), "areas": list(areas), "settings": build_settings(cfg),
            "code": code_version()}


def inputs_fingerprint(inputs: dict) -> str | None:
    """The fingerprint of a build's inputs; None when a source's staged release is unknown (missing, or staged by
    older code), since then equal fingerprints would not mean equal content."""
    if any(fp is None for fp in inputs["sources"].values()):
        return None
    return digest(inputs)


def published_fingerprint(register: Path) -> dict | None:
    """{"fingerprint", "run_id", "version_file"} of the publish that made the register file at `register` (its own
    last 'published' run_history row), or None when there is no register or it records no fingerprint."""
    from .db import connect
    from .status import published_run

    if not register.exists():
        return None
    con = connect(register, read_only=True)
    try:
        run = published_run(con)
    finally:
        con.close()
    if not run or not run["fingerprint"]:
        return None
    return {"fingerprint": run["fingerprint"], "run_id": run["run_id"], "version_file": run["version_file"]}


def check_staging(cfg: Config, expected: dict[str, str | None], step: str) -> None:
    """Refuse (DivergedStorageError) when a staging file is not the release `expected` names: the data folder this
    process sees is not the one the run was planned on, or a source was staged again in the middle of the run."""
    found = staging_fingerprints(cfg)
    changed = [s for s, fp in expected.items() if fp is not None and found.get(s) != fp]
    if changed:
        detail = "; ".join(f"{s}: expected {expected[s][:12]}, {cfg.staging_path(s)} holds "
                           f"{(found.get(s) or 'no recorded release')[:19]}" for s in changed)
        raise DivergedStorageError(
            f"{step}: the staging this task reads is not the staging this run started from ({detail}): either this "
            "worker's data folder is not the shared one, or a source was staged again during the run (its own asset "
            "event starts a new run)")
