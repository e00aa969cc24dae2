"""The run history: one record per run (published, failed, unchanged, rolled back...) in
data/register/run_history.jsonl, appended with a single write, and copied into each published version's
`run_history` table. Run ids and the statuses a record can carry live here too.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .clock import now_iso
from .config import Config
from .errors import PipelineError

HISTORY_FILE = "run_history.jsonl"
PUBLISHED, ROLLED_BACK, ROLLED_FORWARD = "published", "rolled_back", "rolled_forward"
# Written just before the switch; the run then records "published". A "publishing" record with no later record of
# its run means the run was killed around the switch: versions.reconcile_history settles it on the next run.
PUBLISHING = "publishing"
UNCHANGED = "unchanged"  # a run whose inputs equal the published register's: nothing built, nothing switched
ROLLED = (ROLLED_BACK, ROLLED_FORWARD)  # statuses of a switch made by `vcse rollback`, not by a publish
HISTORY_FIELDS = ("run_id", "started_at", "finished_at", "status", "version_file", "areas", "sources", "counts",
                  "timings", "gates", "message", "fingerprint", "inputs")
# What the history keeps of each staged file's latest manifest line (fetched_at: the last download that fetched it
# or confirmed it unchanged so far; freshness reads later confirmations of the same sha256 from the manifest).
SOURCE_FILE_FIELDS = ("url", "sha256", "etag", "last_modified", "status", "fetched_at")


# ---------------------------------------------------------------------------------------------- names

def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def safe_run_id(run_id: str) -> str:
    """A run id usable in a file name (Airflow's look like manual__2026-01-01T00:00:00+00:00)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.")
    if not cleaned:
        raise PipelineError(f"run id {run_id!r} has no usable characters")
    return cleaned[:100]


def history_path(cfg: Config) -> Path:
    return cfg.register_path.parent / HISTORY_FILE


# ---------------------------------------------------------------------------------------------- records

def run_record(run_id: str, status: str, *, started_at: str | None = None, version: Path | None = None,
               areas: list[str] | None = None, sources: dict | None = None, counts: dict | None = None,
               timings: dict | None = None, gates: list | None = None, message: str = "",
               inputs: dict | None = None) -> dict:
    from .fingerprint import inputs_fingerprint

    return {"run_id": run_id, "started_at": started_at, "finished_at": now_iso(), "status": status,
            "version_file": version.name if version else None, "areas": areas or [], "sources": sources or {},
            "counts": counts or {}, "timings": timings or {},
            "gates": [g.as_dict() if hasattr(g, "as_dict") else g for g in (gates or [])], "message": message,
            "fingerprint": inputs_fingerprint(inputs) if inputs else None, "inputs": inputs}


def append_history(cfg: Config, record: dict) -> None:
    """Append one run to run_history.jsonl with a single write, so concurrent runs cannot interleave lines."""
    path = history_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: record.get(k) for k in HISTORY_FIELDS}, default=str) + "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def record_failure(cfg: Config, run_id: str, error: BaseException | str, *, status: str = "failed",
                   started_at: str | None = None, version: Path | None = None, areas: list[str] | None = None,
                   gates: list | None = None, timings: dict | None = None, counts: dict | None = None,
                   inputs: dict | None = None) -> dict:
    """Append a failed run to run_history.jsonl (the published register is left as it was)."""
    record = run_record(run_id, status, started_at=started_at, version=version, areas=areas,
                        sources=safe_source_versions(cfg), counts=counts, timings=timings, gates=gates,
                        message=str(error), inputs=inputs)
    append_history(cfg, record)
    return record


@contextmanager
def failure_recorded(cfg: Config, run_id: str, *, started_at: str | None, areas: list[str] | None,
                     inputs: dict | None = None) -> Iterator[None]:
    """A PipelineError raised in the body is the run's failure: appended to the history, then raised on."""
    try:
        yield
    except PipelineError as exc:
        record_failure(cfg, run_id, exc, started_at=started_at, areas=areas, inputs=inputs)
        raise


def record_source_failure(cfg: Config, run_id: str, step: str, error: BaseException | str | None, *,
                          started_at: str | None = None) -> dict | None:
    """One `failed` record for a download, verify or stage of a source that failed (`step`: "stage fca_mutuals"),
    its message naming the step and the error; None, and nothing appended, when the history already holds a record
    of `run_id` (a stage refused by its gates is recorded as `stage_refused` by pipeline.check_staging, and a task
    failing again in the same Airflow run is the same failed run)."""
    if any(r.get("run_id") == run_id for r in read_history(cfg, raw=True)):
        return None
    text = (str(error) or type(error).__name__) if error is not None else "see the log"
    return record_failure(cfg, run_id, f"{step} failed: {text}", started_at=started_at)


@contextmanager
def source_failure_recorded(cfg: Config, run_id: str, step: str, *, record: bool = True) -> Iterator[None]:
    """An error raised in the body (`step` of one source: a download or a stage) is the run's failure: recorded in the
    history (record_source_failure; not when `record` is False), then raised on."""
    started_at = now_iso()
    try:
        yield
    except Exception as exc:
        if record:
            record_source_failure(cfg, run_id, step, exc, started_at=started_at)
        raise


def read_history(cfg: Config, raw: bool = False) -> list[dict]:
    """run_history.jsonl's records, oldest first; `raw` keeps 'publishing' records whose run has since ended."""
    path = history_path(cfg)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line torn by a crash
    return records if raw else settled(records)


def settled(records: list[dict]) -> list[dict]:
    """The history without 'publishing' records whose run later recorded how it ended (see publish.complete_publish)."""
    ended = {r.get("run_id") for r in records if r.get("status") != PUBLISHING}
    return [r for r in records if r.get("status") != PUBLISHING or r.get("run_id") not in ended]


def latest_switch(cfg: Config) -> dict | None:
    """The last history record that changed which version is published (a publish, rollback or roll forward)."""
    switches = [r for r in read_history(cfg) if r.get("status") in (PUBLISHED, *ROLLED)]
    return switches[-1] if switches else None


def source_versions(cfg: Config) -> dict:
    """Per source: what its staging file was built from (`_staged`) and the download checksums behind it."""
    from .db import connect
    from .download import read_manifest
    from .sources import SOURCE_NAMES

    versions: dict = {}
    for source in SOURCE_NAMES:
        path = cfg.staging_path(source)
        if not path.exists():
            versions[source] = {"staged": False}
            continue
        con = connect(path, read_only=True)
        try:
            cursor = con.execute("SELECT * FROM _staged")  # `release` is absent from files staged before it was kept
            row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        except Exception as exc:  # a staging file without _staged is old or foreign: record, do not fail
            versions[source] = {"staged": True, "error": f"no _staged table: {exc}"}
            continue
        finally:
            con.close()
        files = json.loads(row["files"]) if row["files"] else []
        names = {Path(f).name for f in files}
        latest = {r["path"]: r for r in read_manifest(cfg.download_dir(source)) if r.get("path") in names}
        versions[source] = {
            "staged": True, "staged_at": str(row["staged_at"]),
            "row_counts": json.loads(row["row_counts"]) if row["row_counts"] else {}, "seconds": row["seconds"],
            "release": json.loads(row["release"]) if row.get("release") else None,
            "fingerprint": row.get("fingerprint"),  # of the staged content (fingerprint.staged_content)
            "files": [{"file": n, **{k: latest.get(n, {}).get(k) for k in SOURCE_FILE_FIELDS}} for n in sorted(names)],
        }
    return versions


def safe_source_versions(cfg: Config) -> dict:
    """source_versions, or {"error": why} when a staging file cannot be read (history is written regardless)."""
    try:
        return source_versions(cfg)
    except Exception as exc:  # history must be written even when a staging file is unreadable
        return {"error": str(exc)}


def write_history_table(con, cfg: Config, previous: str | None, current: dict) -> None:
    """run_history in the new version: the previous register's rows, then jsonl lines not yet in it, then this run."""
    from .db import table_columns

    con.execute("DELETE FROM run_history")
    if previous and table_columns(con, "run_history", previous):
        con.execute(f"INSERT INTO run_history BY NAME SELECT * FROM {previous}.run_history")
    seen = set(con.execute("SELECT run_id, status FROM run_history").fetchall())
    rows = [r for r in read_history(cfg) if (r.get("run_id"), r.get("status")) not in seen
            and (r.get("run_id"), r.get("status")) != (current["run_id"], current["status"])] + [current]

    def encode(value):  # keys sorted: a gate result that crossed Airflow's XCom has its keys in another order
        return value if value is None or isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)

    con.executemany(f"INSERT INTO run_history ({', '.join(HISTORY_FIELDS)}) "
                    f"VALUES ({', '.join('?' * len(HISTORY_FIELDS))})",
                    [[encode(r.get(k)) for k in HISTORY_FIELDS] for r in rows])
