"""The functions the Airflow DAG tasks call: plain arguments in, JSON-serialisable values out (they go to XCom).

Importing this module is cheap (standard library and the config module only), so the DAG files that import it
parse fast and do no work at import: everything heavy is imported inside the functions.
"""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from .config import ENV_PREFIX, Config
from .errors import PipelineError

# Airflow asset URIs: a source DAG emits its asset when it staged new data; the register DAG watches them.
STAGING_ASSET_URI = "vcse://staging/{source}"
REGISTER_ASSET_URI = "vcse://register/published"
SOURCE_DAG_PREFIX = "vcse_source_"

log = logging.getLogger(__name__)


def parse_time_setting(section: str, key: str):
    """A setting read at DAG parse time: the environment variable VCSE__<SECTION>__<KEY>, else the packaged default.

    Only the packaged defaults file (one small tomllib read) and the environment are consulted, so parsing stays
    cheap and never touches data. A bad value fails the parse with the config's own message.
    """
    from .config import _env_value, default_value, value_problem

    name = f"{ENV_PREFIX}{section.replace('.', '__').upper()}__{key.upper()}"
    raw = os.environ.get(name)
    if not raw:
        return default_value(section, key)
    value = _env_value([*section.split("."), key], raw)  # read as Config.load reads the variable
    problem = value_problem(section, key, value)
    if problem:
        raise PipelineError(f"environment variable {name}: {problem}")
    return value


def source_schedule(source: str) -> str:
    """The cron/preset schedule of a source DAG, read at DAG parse time (VCSE__SOURCES__<SOURCE>__SCHEDULE)."""
    return parse_time_setting(f"sources.{source}", "schedule")


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


def default_args(retries: int, retry_delay: timedelta, max_retry_delay: timedelta | None = None,
                 execution_timeout: timedelta | None = None, on_failure_callback=None) -> dict:
    """A DAG's default_args: what every DAG's tasks share stated once, each DAG giving its own retries and gaps.

    Every task is owned by "vcse", judged by `retry_policy` and alerts through `alert_on_failure()` unless the DAG
    gives its own `on_failure_callback`. With `max_retry_delay` the gap after `retry_delay` doubles for each later
    retry up to that (docs/operations.md, "Gaps between tries"); without it every gap is `retry_delay`.
    """
    args: dict = {"owner": "vcse", "retries": retries, "retry_delay": retry_delay}
    if max_retry_delay is not None:
        args.update(retry_exponential_backoff=2.0, max_retry_delay=max_retry_delay)
    if execution_timeout is not None:
        args["execution_timeout"] = execution_timeout
    args["retry_policy"] = retry_policy()
    args["on_failure_callback"] = on_failure_callback if on_failure_callback is not None else alert_on_failure()
    return args


@contextmanager
def _fail_without_retry():
    """Raise a DivergedStorageError (a worker that sees another data folder or staging than its run's) as
    AirflowFailException, which Airflow fails at once without consulting any retry policy: a task given its own
    retries or policy still never retries on the wrong folder. Every other error's retry is retry_policy's call."""
    from .errors import DivergedStorageError

    try:
        yield
    except DivergedStorageError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None


def alert_on_failure(source: str | None = None):
    """The tasks' on_failure_callback: an alert naming the DAG, task, run, try, source and error goes to the
    [alerts] destinations, read from the configuration when a task fails (nothing is read here, at DAG parse)."""
    import functools

    from .alerts import alert_task_failure

    return functools.partial(alert_task_failure, source=source)


# ---------------------------------------------------------------------------------------------- sources

def download(source: str, airflow_run_id: str | None = None) -> dict:
    """Mark the source as refreshing (the register waits for it), fetch its files and report which of them are newer
    than the current staging file, and whether that staging was made from other files, settings or code (an upgrade:
    `restage`), with the data folder's storage id for the later tasks to check."""
    from .batching import mark_refreshing
    from .pipeline import download_source, staged_already
    from .storage import ensure_storage_id

    cfg = load_config()
    mark_refreshing(cfg, source, airflow_run_id)
    results = download_source(cfg, source, record=False)  # a failure is recorded once for good: end_refresh_on_failure
    paths = [Path(r.path) for r in results]
    return {"source": source, "files": [str(p) for p in paths],
            "statuses": {Path(r.path).name: r.status for r in results},
            "new_files": files_newer_than_staging(cfg, source, paths),
            "restage": bool(paths) and staged_already(cfg, source, paths) is None,
            "storage_id": ensure_storage_id(cfg)}


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
    return bool(force or result.get("new_files") or result.get("restage"))


def continue_refresh(result: dict, force: bool = False) -> bool:
    """The new_data task: whether to verify and stage; when not, the source's refresh ends here (mark removed)."""
    if has_new_data(result, force):
        return True
    from .batching import clear_refreshing

    clear_refreshing(load_config(), result["source"])
    return False


def verify(source: str, files: list[str], storage_id: str | None = None) -> None:
    from .sources import get_source

    _run_config({"storage_id": storage_id}, f"verify {source}")  # the data folder the download used
    get_source(source).verify([Path(f) for f in files])


def stage(source: str, files: list[str], storage_id: str | None = None, accept: list[str] | None = None) -> dict:
    """Stage the downloaded files (on the data folder the download used) under the source's run lock, then end the
    source's refresh; `accept` (DAG param) lets named staging gates through for this run."""
    from .batching import clear_refreshing
    from .pipeline import stage_source

    cfg = _run_config({"storage_id": storage_id}, f"stage {source}")
    counts = stage_source(cfg, source, [Path(f) for f in files], accept=accept, record=False)
    clear_refreshing(cfg, source)
    return counts


def staging_event(source: str) -> dict:
    """The extra of a source's staging asset event: the release staged and the data folder it is in, which the
    register run checks against the staging it reads (storage.check_announced)."""
    from .db import connect
    from .fingerprint import recorded_fingerprint
    from .storage import read_storage_id

    cfg = load_config()
    con = connect(cfg.staging_path(source), read_only=True)
    try:
        staged_at = con.execute("SELECT staged_at FROM _staged").fetchone()[0]
        fingerprint = recorded_fingerprint(con)
    finally:
        con.close()
    return {"source": source, "fingerprint": fingerprint, "storage_id": read_storage_id(cfg),
            "staged_at": str(staged_at)}


def end_refresh_on_failure(context) -> None:
    """on_failure_callback of the source tasks: a refresh that failed for good is no longer in progress, and is one
    `failed` run in the history (refresh_failure_recorded)."""
    from .batching import clear_refreshing

    dag_id = getattr(context.get("dag"), "dag_id", "") or ""
    if dag_id.startswith(SOURCE_DAG_PREFIX):
        cfg = load_config()
        source = dag_id[len(SOURCE_DAG_PREFIX):]
        clear_refreshing(cfg, source)
        record_refresh_failure(cfg, source, context)


def record_refresh_failure(cfg: Config, source: str, context) -> dict | None:
    """The source DAG run's failure in run_history.jsonl, as `vcse refresh` records its own: run id
    `<source>-<Airflow run id>`, the message naming the task (download, verify, stage), the source and the error.
    Called only when a task failed for good (a try that is retried records nothing), and once per Airflow run: a
    stage refused by its gates is already recorded as `stage_refused`, and a task cleared and failing again in the
    same run is the same run."""
    from .errors import QualityGateError
    from .run_history import record_source_failure, safe_run_id

    error = context.get("exception")
    if isinstance(error, QualityGateError) and getattr(error, "results", None) is not None:
        return None  # the staging gates' refusal: pipeline.check_staging recorded it
    task = context.get("task_instance") or context.get("ti")
    run_id = safe_run_id(f"{source}-{context.get('run_id') or 'airflow'}")
    return record_source_failure(cfg, run_id, f"{getattr(task, 'task_id', None) or 'task'} {source}", error)


# ---------------------------------------------------------------------------------------------- shared storage

def _run_config(run: dict, step: str, overrides: dict | None = None) -> Config:
    """The task's configuration, after checking that this worker sees the data folder the run (or the source's
    download) started on: a worker with another folder fails at once, without retrying."""
    from .storage import check_storage

    cfg = load_config(overrides)
    with _fail_without_retry():
        check_storage(cfg, run.get("storage_id"), step)
    return cfg


# ---------------------------------------------------------------------------------------------- register

def sources_settled() -> bool:
    """The register sensor's poke: True when no source is mid-refresh and the last stage is quiet_seconds old."""
    from .batching import wait_reason

    reason = wait_reason(load_config())
    if reason:
        log.info("waiting: %s", reason)
    return reason is None


def announced_staging(assets: list, triggering_asset_events=None, inlet_events=None) -> list[dict]:
    """The newest asset event of each staging asset, as plain dicts (source, fingerprint, storage_id, dag_id, run_id,
    timestamp): from the events that triggered this run and from each asset's latest event (`inlet_events`, so a
    manually triggered run is checked too, and a newer stage than the triggering one is what is expected)."""
    newest: dict[str, object] = {}

    def consider(event) -> None:
        uri = event.asset.uri
        if uri not in newest or event.timestamp > newest[uri].timestamp:
            newest[uri] = event

    for asset in assets:
        for event in (triggering_asset_events or {}).get(asset, []) if triggering_asset_events else []:
            consider(event)
        if inlet_events is not None:
            for event in inlet_events[asset].ascending(False).limit(1):
                consider(event)
    out = []
    for uri, event in newest.items():
        extra = dict(event.extra or {})
        out.append({"source": extra.get("source") or uri.rsplit("/", 1)[-1], "fingerprint": extra.get("fingerprint"),
                    "storage_id": extra.get("storage_id"), "dag_id": event.source_dag_id,
                    "run_id": event.source_run_id, "timestamp": event.timestamp.isoformat(timespec="seconds")})
    return sorted(out, key=lambda e: e["source"])


def start_register_run(airflow_run_id: str, areas: list[str] | None = None, drop_areas: bool = False,
                       force: bool = False, announced: list[dict] | None = None,
                       accept: list[str] | None = None) -> dict:
    """Name the run and its work folder; `areas` (a DAG param) overrides [register] areas when given. The run's
    rules are `vcse publish`'s (publish.start_run): a run that would drop an area the published register holds is
    refused unless `drop_areas` (a DAG param) is set.

    Decides here, before any build, whether there is anything to build: a run whose inputs' fingerprint equals the
    published register's is recorded as unchanged and returns {"unchanged": True, ...} (the DAG skips every build
    task), unless `force`. Refuses (DivergedStorageError, no retry) when the staging here is not what the source
    DAGs `announced` in their asset events. Records the data folder's storage id for the later tasks to check.

    Takes the publish run lock for the whole DAG run (released by finish_register_run), then settles what killed
    runs left. `accept` (a DAG param: GATE or GATE:SOURCE) lets named failed gates through in check_quality.
    """
    from .publish import prepare_publish, start_run
    from .run_history import now_iso, safe_run_id
    from .runlock import PUBLISH, airflow_run_lock
    from .storage import check_announced, ensure_storage_id

    cfg = load_config()
    run_id = safe_run_id(airflow_run_id)
    started_at = now_iso()
    accept = list(accept or [])

    def staging_as_announced() -> None:  # one of the run's rules (publish.start_run): its failure is recorded
        check_announced(cfg, announced or [], ensure_storage_id(cfg))

    with airflow_run_lock(cfg, PUBLISH, run_id, "Airflow vcse_register"), _fail_without_retry():
        prepare_publish(cfg, keep_run=run_id)
        start = start_run(cfg, run_id, areas, started_at=started_at, drop_areas=drop_areas, accept=accept,
                          force=force, checks=[staging_as_announced])
    run = {"run_id": run_id, "started_at": started_at, "as_of": date.today().isoformat(), "areas": start.areas,
           "storage_id": ensure_storage_id(cfg),
           "inputs": start.inputs, "fingerprint": start.fingerprint, "announced": announced or [],
           "unchanged": False, "accept": accept}
    if start.kept:
        return {**run, "unchanged": True, "kept": start.kept["version_file"], "work_dir": None}
    from .versions import run_work_dir

    work_dir = run_work_dir(cfg, run_id)
    work_dir.mkdir(parents=True, exist_ok=True)
    return {**run, "work_dir": str(work_dir)}


def needs_build(run: dict) -> bool:
    """False for a run start_run found unchanged: the short-circuit then skips every build and publish task."""
    return not run.get("unchanged")


def build_national_state(run: dict) -> str:
    """The national_state task: the national records and exact links every area selects from, built once for the
    run into data/cache/national/ (or reused from an earlier run on the same staging and settings); returns its
    path for the mapped build_area tasks."""
    from .register.national import ensure_national_state

    cfg = _run_config(run, "national_state")
    _check_run_staging(cfg, run, "national_state")
    path = ensure_national_state(cfg, run["areas"])
    _check_run_staging(cfg, run, "national_state")
    return str(path)


def area_task_groups(run: dict, national: str) -> list[list[str]]:
    """The list_areas task: the run's areas split into at most [register] build_tasks groups of about equal work
    (parallel_build.area_groups: each area weighed by its records in the national state), one mapped build_area task
    each. Each task pays a fixed start (an interpreter, the imports, the national state attached: about 1.9 s of
    CPU, beside Airflow's own start of a task) and writes its areas in one batch: every English area at 0.25x took
    571 s of CPU as 295 one-area tasks, 62 s as 8 groups (bench/airflow_area_tasks.py, docs/scaling.md). A run of
    no more areas than build_tasks builds one area per task, as before."""
    from .parallel_build import area_groups, area_loads

    cfg = _run_config(run, "list_areas")
    tasks = int(cfg.section("register")["build_tasks"])
    if len(run["areas"]) <= tasks:
        return [[area] for area in run["areas"]]
    return area_groups(area_loads(Path(national), run["areas"]), tasks)


def build_area_file(run: dict, areas: list[str] | str, national: str | None = None) -> str:
    """The build_area task: build a group of areas (area_task_groups; one area's code is taken as a group of one)
    into its own file in the run's work folder (pipeline.build_register), so parallel builds never share a writer.

    Refuses, without retrying, on a worker whose data folder or staging is not the run's (checked before and after
    the build, so a source staged again mid-build is caught too)."""
    from .db import remove_database
    from .pipeline import build_register

    # One area's code is what build_area was mapped over before areas were grouped (5fe18e8): a task of a run
    # started then and retried after an upgrade still passes one, as do callers building a single area.
    areas = [areas] if isinstance(areas, str) else list(areas)
    step = f"build_area {' '.join(areas)}"
    cfg = _run_config(run, step)
    _check_run_staging(cfg, run, step)
    name = f"area-{areas[0]}.duckdb" if len(areas) == 1 else f"areas-{areas[0]}-{len(areas)}.duckdb"
    out = Path(run["work_dir"]) / name
    remove_database(out)  # a retry starts again from nothing
    # every area task counts overdue filings from the run's date, though tasks may run (or retry) on other days
    as_of = date.fromisoformat(run["as_of"]) if run.get("as_of") else None
    # postcode_location is sorted once, when assemble loads every file (parallel_build.assemble_register)
    build_register(cfg, out, areas, Path(national) if national else None, as_of, order_postcodes=False)
    _check_run_staging(cfg, run, step)
    return str(out)


def _check_run_staging(cfg: Config, run: dict, step: str) -> None:
    """The staging files are the releases start_run fingerprinted; if not, record why (once) and fail, no retry."""
    from .errors import DivergedStorageError
    from .fingerprint import check_staging
    from .run_history import read_history, record_failure

    with _fail_without_retry():
        try:
            check_staging(cfg, run["inputs"]["sources"], step)
        except DivergedStorageError as exc:
            if not any(r.get("run_id") == run["run_id"] for r in read_history(cfg)):
                record_failure(cfg, run["run_id"], exc, started_at=run["started_at"], areas=run["areas"],
                               inputs=run["inputs"])
            raise


def assemble(run: dict, area_files: list[str]) -> str:
    from .publish import assemble_version

    cfg = _run_config(run, "assemble")
    return str(assemble_version(cfg, run["run_id"], [Path(f) for f in area_files]))


def record_changes(run: dict, version: str) -> dict:
    from .publish import record_version_changes

    changes, counts = record_version_changes(_run_config(run, "record_changes"), Path(version), run["run_id"],
                                             run["areas"])
    return {"changes": changes, "counts": counts}


def quality_overrides(thresholds: dict | None) -> dict | None:
    """DAG params that set a [quality] threshold for this run (None values keep the configured one)."""
    chosen = {k: v for k, v in (thresholds or {}).items() if v is not None}
    return {"quality": chosen} if chosen else None


def check_quality(run: dict, version: str, thresholds: dict | None = None) -> list[dict]:
    """Run the gates; on failure reject the version, record the failed run and raise QualityGateError."""
    from .publish import check_version, enforce_gates
    from .quality import quality_thresholds
    from .run_history import failure_recorded

    cfg = _run_config(run, "check_quality", quality_overrides(thresholds))
    with failure_recorded(cfg, run["run_id"], started_at=run["started_at"], areas=run["areas"]):
        quality_thresholds(cfg)  # a bad threshold is the run's failure, recorded with its own message
    gates = check_version(cfg, Path(version), run["run_id"], run["areas"], run.get("accept"))
    enforce_gates(cfg, Path(version), run["run_id"], gates, areas=run["areas"], started_at=run["started_at"])
    return [g.as_dict() for g in gates]


def publish(run: dict, version: str, changed: dict, gates: list[dict]) -> dict:
    from .publish import complete_publish

    cfg = _run_config(run, "publish")
    result = complete_publish(cfg, Path(version), run["run_id"], run["areas"], started_at=run["started_at"],
                              timings={}, gates=gates, changes=changed["changes"], counts=changed["counts"],
                              inputs=run.get("inputs"))
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
    from .db import remove_database
    from .errors import DivergedStorageError
    from .run_history import PUBLISHING, read_history, record_failure
    from .storage import check_storage
    from .versions import reconcile_history

    if run.get("unchanged"):
        return f"unchanged: kept {run.get('kept')}"
    cfg = load_config()
    try:
        check_storage(cfg, run.get("storage_id"), "finish_run")
    except DivergedStorageError as exc:  # not the run's folder: touch nothing here, say why
        log.error("%s", exc)
        return "not the run's data folder: nothing cleaned or recorded here"
    shutil.rmtree(run["work_dir"], ignore_errors=True)
    if published:
        return "published"
    reconcile_history(cfg)  # a publish task killed around the switch left a "publishing" record: settle it
    register = cfg.register_path
    if version and Path(version).exists() and register.exists() and os.path.samefile(version, register):
        return "published (recorded by the teardown)"
    if version:  # a version rejected by the gates has already moved to versions/rejected/
        remove_database(version)
    if any(r.get("run_id") == run["run_id"] and r.get("status") != PUBLISHING for r in read_history(cfg)):
        return "failure already recorded"
    record_failure(cfg, run["run_id"], "a register task failed before the quality gates (see the Airflow logs)",
                   started_at=run["started_at"], areas=run["areas"])
    return "failure recorded"


# ---------------------------------------------------------------------------------------------- freshness

def check_freshness() -> dict:
    """Alert on every source older than its max_age_days (vcse_freshness DAG); returns what was found and sent.

    Stale sources whose alert no destination took (alerts off, or every destination failed) fail the task
    (freshness.undelivered_alert), so the stale sources still show, red, in Airflow."""
    from .freshness import alert_stale_sources, undelivered_alert

    found = alert_stale_sources(load_config())
    error = undelivered_alert(found)
    if error:
        raise error
    return found


# ---------------------------------------------------------------------------------------------- opportunity feed

def feed_harvest(until: str) -> dict:
    """Harvest both services from their high-water marks up to `until` (the run's data interval end)."""
    from .procurement.feed.run import harvest

    return harvest(load_config(), until)


def feed_match() -> dict:
    """Fold, keep and match every procurement with a release not yet processed."""
    from .procurement.feed.run import process

    return process(load_config())


def feed_deliver(today: str) -> dict:
    """The digest of notices not yet sent, then the feed published beside the register."""
    from .procurement.feed.run import deliver

    return deliver(load_config(), today)
