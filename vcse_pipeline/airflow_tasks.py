"""The functions the Airflow DAG tasks call: plain arguments in, JSON-serialisable values out (they go to XCom).

Importing this module is cheap (standard library and the config module only), so the DAG files that import it
parse fast and do no work at import: everything heavy is imported inside the functions.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from datetime import datetime
from pathlib import Path

from .config import DEFAULTS_FILE, ENV_PREFIX, Config
from .errors import PipelineError

# Airflow asset URIs: a source DAG emits its asset when it staged new data; the register DAG watches them.
STAGING_ASSET_URI = "vcse://staging/{source}"
REGISTER_ASSET_URI = "vcse://register/published"


def source_schedule(source: str) -> str:
    """The cron/preset schedule of a source DAG, read at DAG parse time.

    Only the packaged defaults file (one small tomllib read) and the environment variable
    VCSE__SOURCES__<SOURCE>__SCHEDULE are consulted, so parsing stays cheap and never touches data.
    """
    override = os.environ.get(f"{ENV_PREFIX}SOURCES__{source.upper()}__SCHEDULE")
    if override:
        return override
    with DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)["sources"][source]["schedule"]


def load_config(overrides: dict | None = None) -> Config:
    """The run's configuration: defaults, VCSE_CONFIG / ./vcse.toml, VCSE__* variables, then DAG params."""
    cfg = Config.load()
    return cfg.with_overrides(overrides) if overrides else cfg


# ---------------------------------------------------------------------------------------------- failures

def retry_policy():
    """Every task's retry policy (the DAGs' default_args): the one place where errors meet Airflow's retries.

    An error retrying cannot fix (a corrupt or wrong file, schema drift, bad rows, a failed gate, a bad setting or
    param: a PipelineError that is not `transient`) fails the task at once, on its first try; a transient one (a
    server's 5xx or 429 through every download attempt, a dropped connection, a lock) is retried after the task's
    retry_delay with exponential backoff; anything else keeps the task's usual retries. See errors.retry_can_help.
    """
    from airflow.sdk import RetryDecision, RetryPolicy  # here, not at the top: importing this module needs no Airflow

    from .errors import retry_can_help

    class PipelineRetryPolicy(RetryPolicy):
        def evaluate(self, exception, try_number, max_tries, context=None):
            verdict = retry_can_help(exception)
            if verdict is False:
                return RetryDecision.fail(f"not retried: {type(exception).__name__} cannot heal by waiting")
            if verdict:
                return RetryDecision.retry(reason=f"retried with backoff: {type(exception).__name__} may pass")
            return RetryDecision.default()

    return PipelineRetryPolicy()


def alert_on_failure(source: str | None = None):
    """The tasks' on_failure_callback: an alert naming the DAG, task, run, try, source and error goes to the
    [alerts] destinations, read from the configuration when a task fails (nothing is read here, at DAG parse)."""
    import functools

    from .alerts import alert_task_failure

    return functools.partial(alert_task_failure, source=source)


# ---------------------------------------------------------------------------------------------- sources

def download(source: str) -> dict:
    """Fetch a source's files; report which of them are newer than the current staging file."""
    from .pipeline import download_source

    cfg = load_config()
    results = download_source(cfg, source)
    paths = [Path(r.path) for r in results]
    return {"source": source, "files": [str(p) for p in paths],
            "statuses": {Path(r.path).name: r.status for r in results},
            "new_files": files_newer_than_staging(cfg, source, paths)}


def files_newer_than_staging(cfg: Config, source: str, paths: list[Path]) -> list[str]:
    """Files that are not in the staging file yet: all of them when nothing is staged, else those changed since.

    Comparing with the staging file (not with the download status) means a download whose staging failed is
    staged by the next run even though the server then answers 'not modified'.
    """
    import json

    from .db import connect

    staging = cfg.staging_path(source)
    if not staging.exists():
        return [p.name for p in paths]
    con = connect(staging, read_only=True)
    try:
        staged_at, files = con.execute("SELECT staged_at, files FROM _staged").fetchone()
    except Exception:  # no _staged table: an old or foreign staging file, so stage again
        return [p.name for p in paths]
    finally:
        con.close()
    staged_time = datetime.fromisoformat(str(staged_at)).timestamp()
    staged_names = {Path(f).name for f in json.loads(files or "[]")}
    return [p.name for p in paths if p.name not in staged_names or p.stat().st_mtime >= staged_time]


def has_new_data(result: dict, force: bool = False) -> bool:
    return bool(force or result.get("new_files"))


def verify(source: str, files: list[str]) -> None:
    from .sources import get_source

    get_source(source).verify([Path(f) for f in files])


def stage(source: str, files: list[str], accept: list[str] | None = None) -> dict:
    """Stage under the source's run lock; `accept` (DAG param) lets named staging gates through for this run."""
    from .pipeline import stage_source

    return stage_source(load_config(), source, [Path(f) for f in files], accept=accept)


# ---------------------------------------------------------------------------------------------- register

def start_register_run(airflow_run_id: str, areas: list[str] | None = None, drop_areas: bool = False,
                       accept: list[str] | None = None) -> dict:
    """Name the run and its work folder; `areas` (a DAG param) overrides [register] areas when given. A run that
    would drop an area the published register holds is refused unless `drop_areas` (a DAG param) is set.

    Takes the publish run lock for the whole DAG run (released by finish_register_run), then settles what killed
    runs left. `accept` (a DAG param: GATE or GATE:SOURCE) lets named failed gates through in check_quality.
    """
    from .pipeline import resolve_areas
    from .publish import check_run_plan, now_iso, prepare_publish, record_failure, safe_run_id
    from .quality import parse_accept
    from .runlock import PUBLISH, acquire, release

    cfg = load_config()
    run_id = safe_run_id(airflow_run_id)
    started_at = now_iso()
    accept = list(accept or [])
    acquire(cfg, PUBLISH, run_id, "Airflow vcse_register", kind="airflow")
    try:  # names ("Wirral") become codes; an area the postcode directory lacks fails before any build
        prepare_publish(cfg, keep_run=run_id)
        parse_accept(accept)
        codes = resolve_areas(cfg, list(areas or cfg.areas))
        check_run_plan(cfg, run_id, codes, drop_areas)
    except PipelineError as exc:
        record_failure(cfg, run_id, exc, started_at=started_at, areas=list(areas or cfg.areas))
        release(cfg, PUBLISH, run_id)
        raise
    except BaseException:
        release(cfg, PUBLISH, run_id)
        raise
    work_dir = cfg.register_path.parent / "work" / run_id
    work_dir.mkdir(parents=True, exist_ok=True)
    return {"run_id": run_id, "started_at": started_at, "areas": codes, "work_dir": str(work_dir),
            "accept": accept}


def build_area(run: dict, area: str) -> str:
    """Build one area into its own file in the run's work folder: parallel area builds never share a writer."""
    from .pipeline import build_register

    out = Path(run["work_dir"]) / f"area-{area}.duckdb"
    out.unlink(missing_ok=True)  # a retry starts again from nothing
    Path(str(out) + ".wal").unlink(missing_ok=True)
    build_register(load_config(), out, [area])
    return str(out)


def assemble(run: dict, area_files: list[str]) -> str:
    from .publish import assemble_version

    return str(assemble_version(load_config(), run["run_id"], [Path(f) for f in area_files]))


def record_changes(run: dict, version: str) -> dict:
    from .publish import record_version_changes

    changes, counts = record_version_changes(load_config(), Path(version), run["run_id"], run["areas"])
    return {"changes": changes, "counts": counts}


def quality_overrides(thresholds: dict | None) -> dict | None:
    """DAG params that set a [quality] threshold for this run (None values keep the configured one)."""
    chosen = {k: v for k, v in (thresholds or {}).items() if v is not None}
    return {"quality": chosen} if chosen else None


def check_quality(run: dict, version: str, thresholds: dict | None = None) -> list[dict]:
    """Run the gates; on failure reject the version, record the failed run and raise QualityGateError."""
    from .publish import check_version, record_failure, reject_failed
    from .quality import gate_error, quality_thresholds

    cfg = load_config(quality_overrides(thresholds))
    try:
        quality_thresholds(cfg)  # a bad threshold is the run's failure, recorded with its own message
    except PipelineError as exc:
        record_failure(cfg, run["run_id"], exc, started_at=run["started_at"], areas=run["areas"])
        raise
    gates = check_version(cfg, Path(version), run["run_id"], run["areas"], run.get("accept"))
    error = gate_error(gates)
    if error:
        reject_failed(cfg, Path(version), run["run_id"], error, areas=run["areas"], started_at=run["started_at"])
        raise error
    return [g.as_dict() for g in gates]


def publish(run: dict, version: str, changed: dict, gates: list[dict]) -> dict:
    from .publish import complete_publish

    cfg = load_config()
    result = complete_publish(cfg, Path(version), run["run_id"], run["areas"], started_at=run["started_at"],
                              timings={}, gates=gates, changes=changed["changes"], counts=changed["counts"])
    return {"register": str(result.register_path), "version": result.version_path.name, "counts": result.counts,
            "changes": result.changes, "pruned": [p.name for p in result.pruned]}


def finish_register_run(run: dict | None, version: str | None, published: dict | None) -> str:
    """Remove the run's work folder; unless it published, drop its unpublished version and record the failure.
    Releases the publish run lock start_register_run took, however the run ended."""
    from .runlock import PUBLISH, release

    if not run:
        return "nothing to clean"
    try:
        return _clean_up_run(run, version, published)
    finally:
        release(load_config(), PUBLISH, run["run_id"])


def _clean_up_run(run: dict, version: str | None, published: dict | None) -> str:
    from .publish import PUBLISHING, read_history, reconcile_history, record_failure

    shutil.rmtree(run["work_dir"], ignore_errors=True)
    if published:
        return "published"
    cfg = load_config()
    reconcile_history(cfg)  # a publish task killed around the switch left a "publishing" record: settle it
    register = cfg.register_path
    if version and Path(version).exists() and register.exists() and os.path.samefile(version, register):
        return "published (recorded by the teardown)"
    if version:  # a version rejected by the gates has already moved to versions/rejected/
        Path(version).unlink(missing_ok=True)
        Path(version + ".wal").unlink(missing_ok=True)
    if any(r.get("run_id") == run["run_id"] and r.get("status") != PUBLISHING for r in read_history(cfg)):
        return "failure already recorded"
    record_failure(cfg, run["run_id"], "a register task failed before the quality gates (see the Airflow logs)",
                   started_at=run["started_at"], areas=run["areas"])
    return "failure recorded"


# ---------------------------------------------------------------------------------------------- freshness

def check_freshness() -> dict:
    """Alert on every source older than its max_age_days (vcse_freshness DAG); returns what was found and sent."""
    from .freshness import alert_stale_sources

    return alert_stale_sources(load_config())
