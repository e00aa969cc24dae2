"""Build, check and publish the register whenever any source staged new data.

wait_for_sources (sensor: no source mid-refresh, the last stage quiet for a while, so a batch is built once) ->
start_run (fingerprints the inputs; unchanged -> nothing to build) -> needs_build (short-circuit) -> national_state ->
list_areas (groups of areas of about equal work, at most [register] build_tasks) -> build_area (one mapped task per
group, each writing its own file) -> assemble (the single writer of the new version)
-> record_changes -> check_quality -> publish (atomic switch, emits the register Asset) -> finish_run (teardown:
removes the work folder, records a failed run).
No two tasks ever write one DuckDB file, and max_active_runs=1 keeps runs from overlapping: asset events that arrive
during a run are queued and start the next run, which finds them built already ('unchanged') or builds them.
Parse-time work: two parse_time_setting reads of the sensor's interval and timeout (packaged defaults or VCSE__*).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetAny, Param, dag, get_current_context, task

from vcse_pipeline import airflow_tasks
from vcse_pipeline.sources import SOURCE_NAMES  # a tuple in a module that imports nothing: parsing stays cheap

STAGING_ASSETS = [Asset(uri=airflow_tasks.STAGING_ASSET_URI.format(source=s), name=f"vcse_staging_{s}")
                  for s in SOURCE_NAMES]
REGISTER_ASSET = Asset(uri=airflow_tasks.REGISTER_ASSET_URI, name="vcse_register")


def _share(description: str) -> Param:
    return Param(None, type=["null", "number"], minimum=0, maximum=1, description=description)


@dag(
    dag_id="vcse_register",
    schedule=AssetAny(*STAGING_ASSETS),  # any source that staged new data
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    # retry_policy: a bad setting or failed gate fails at once; locks retry. Alerts: the [alerts] destinations,
    # read when a task fails.
    default_args=airflow_tasks.default_args(retries=2, retry_delay=timedelta(minutes=1),
                                            max_retry_delay=timedelta(minutes=15),
                                            execution_timeout=timedelta(hours=1)),
    tags=["vcse", "register", "publish"],
    params={
        "areas": Param([], type="array", items={"type": "string", "minLength": 1}, uniqueItems=True,
                       description="Areas to build: GSS codes (E08000015) or names (Wirral), resolved against the "
                                   "postcode directory when the run starts; all-england = every English local "
                                   "authority in it; empty = [register] areas from config."),
        "drop_areas": Param(False, type="boolean",
                            description="Publish even though the published register holds areas this run does "
                                        "not build (they are dropped from the register)."),
        "accept": Param([], type="array", items={"type": "string", "minLength": 1}, uniqueItems=True,
                        description="Failed count gates to let through for this run only, when the change is real: "
                                    "GATE or GATE:SOURCE (e.g. source_organisations:fca_mutuals); recorded in "
                                    "the run history (docs/operations.md lists the gates)."),
        "force": Param(False, type="boolean",
                       description="Build and publish even when the staged releases, settings and code are those "
                                   "of the published register (otherwise the run records 'unchanged')."),
        "row_count_band": _share("Allowed change in organisations per area against the last publish (0.2 = 20%)."),
        "min_postcode_mapped_share": _share("Least share of organisations whose postcode maps."),
        "min_service_area_share": _share("Least share of organisations with a service area."),
    },
    doc_md="""### vcse_register
Builds the configured areas in groups (one mapped task per group, at most `[register] build_tasks`), each into
its own file, loads them into a new version
under `data/register/versions/`, records what changed since the last publish, runs the quality gates and,
only if all pass, switches `data/register/vcse_register.duckdb` to the new version atomically.
A failed gate leaves the published register untouched and is recorded in `run_history.jsonl`.
It first waits until no source is mid-refresh; a run whose inputs (staged releases, settings, code) are the
published register's records `unchanged` and skips the build (param `force` rebuilds). A staging file that is not
the release its source DAG announced fails the run (a worker without the shared data folder).
Params override the areas and the `[quality]` thresholds for one run.""",
)
def vcse_register():
    # Two retries, 30 s apart: Airflow 3.3 can mark a rescheduled sensor failed when the scheduler is slow to
    # process one poke (apache/airflow#71172, "task state changed externally"); a retry just pokes again.
    # A real timeout (AirflowSensorTimeout) is never retried.
    @task.sensor(mode="reschedule", retries=2, retry_delay=timedelta(seconds=30),
                 poke_interval=airflow_tasks.parse_time_setting("batching", "poke_interval_seconds"),
                 timeout=60 * airflow_tasks.parse_time_setting("batching", "wait_timeout_minutes"),
                 doc_md="Wait until no source DAG is mid-refresh and the last stage is [batching] quiet_seconds old.")
    def wait_for_sources() -> bool:
        return airflow_tasks.sources_settled()

    @task(retries=0, inlets=STAGING_ASSETS,
          doc_md="Name the run, choose the areas, check the staging is what the source DAGs announced, and decide "
                 "whether anything changed since the published register (else: 'unchanged', nothing built).")
    def start_run(params=None, run_id=None, triggering_asset_events=None, inlet_events=None) -> dict:
        params = params or {}
        announced = airflow_tasks.announced_staging(STAGING_ASSETS, triggering_asset_events, inlet_events)
        return airflow_tasks.start_register_run(run_id, params.get("areas"), bool(params.get("drop_areas")),
                                                force=bool(params.get("force")), announced=announced,
                                                accept=params.get("accept"))

    @task.short_circuit(doc_md="Skip the build and publish when start_run found the inputs unchanged.")
    def needs_build(run: dict) -> bool:
        return airflow_tasks.needs_build(run)

    @task(retries=0, doc_md="The areas to build, in at most [register] build_tasks groups of about equal work, one "
                            "mapped build_area task each (one area a task when there are no more areas than that).")
    def list_areas(run: dict, national: str) -> list[list[str]]:
        return airflow_tasks.area_task_groups(run, national)

    @task(doc_md="Build the national state every area selects from once (or reuse the last one when the staging "
                 "and settings did not change), so the mapped area tasks never repeat it.")
    def national_state(run: dict) -> str:
        return airflow_tasks.build_national_state(run)

    @task(max_active_tis_per_dagrun=4, doc_md="Build a group of areas into its own file in work/<run>/.")
    def build_area(run: dict, national: str, areas: list[str]) -> str:
        return airflow_tasks.build_area_file(run, areas, national)

    @task(doc_md="Load every area file into a new version file (the only writer of that file).")
    def assemble(run: dict, area_files: list[str]) -> str:
        # One slice request for every file: iterating asks for the item after the last, which the task SDK logs at
        # ERROR ("XCom not found") in every run, a false alarm for log-based alerting (apache/airflow#73175).
        return airflow_tasks.assemble(run, list(area_files[:]))

    @task(doc_md="Compare with the published register (attached read-only) and fill register_change.")
    def record_changes(run: dict, version: str) -> dict:
        return airflow_tasks.record_changes(run, version)

    @task(retries=0, doc_md="Quality gates; a failure rejects the version, so retrying would not help.")
    def check_quality(run: dict, version: str, params=None) -> list[dict]:
        keys = ("row_count_band", "min_postcode_mapped_share", "min_service_area_share")
        return airflow_tasks.check_quality(run, version, {k: (params or {}).get(k) for k in keys})

    @task(outlets=[REGISTER_ASSET], doc_md="Write run_history, switch the register atomically, prune versions.")
    def publish(run: dict, version: str, changed: dict, gates: list[dict]) -> dict:
        return airflow_tasks.publish(run, version, changed, gates)

    @task(doc_md="Teardown: remove the work folder; record the run as failed if it did not publish.")
    def finish_run() -> str:
        ti = get_current_context()["ti"]
        return airflow_tasks.finish_register_run(ti.xcom_pull(task_ids="start_run"), ti.xcom_pull(task_ids="assemble"),
                                                 ti.xcom_pull(task_ids="publish"))

    run = start_run()
    wait_for_sources() >> run
    national = national_state(run)
    groups = list_areas(run, national)   # weighed by the national state's records per area
    needs_build(run) >> national
    area_files = build_area.partial(run=run, national=national).expand(areas=groups)
    version = assemble(run, area_files)
    changed = record_changes(run, version)
    gates = check_quality(run, version)
    changed >> gates
    published = publish(run, version, changed, gates)
    published >> finish_run().as_teardown(setups=run.operator)


vcse_register()
