"""One DAG per open register: download -> new data? -> verify -> stage, emitting the source's staging Asset.

Each DAG writes only its own staging file (data/staging/<source>.duckdb), so the five DAGs can run at the
same time. When nothing changed since the last stage, `new_data` short-circuits: verify and stage are
skipped and no Asset event is emitted, so the register DAG is not triggered for nothing.

Parse-time work: only `airflow_tasks.source_schedule`, which reads the packaged defaults.toml with tomllib
(or VCSE__SOURCES__<SOURCE>__SCHEDULE). Everything else happens when a task runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, task

from vcse_pipeline import airflow_tasks
from vcse_pipeline.sources import SOURCE_NAMES  # a tuple in a module that imports nothing: parsing stays cheap

START = datetime(2026, 1, 1)

def source_dag(source: str):
    asset = Asset(uri=airflow_tasks.STAGING_ASSET_URI.format(source=source), name=f"vcse_staging_{source}")

    @dag(
        dag_id=f"vcse_source_{source}",
        schedule=airflow_tasks.source_schedule(source),
        start_date=START,
        catchup=False,
        max_active_runs=1,  # one writer per staging file
        dagrun_timeout=timedelta(hours=6),
        # Gaps of 2-4, 4-8, 8-16 minutes ride out a register's outage or rate limit; a bad file or setting fails
        # at once (retry_policy). A task failed for good: the refresh is no longer in progress (the register's
        # sensor stops waiting for it), and the [alerts] destinations hear of it.
        default_args=airflow_tasks.default_args(
            retries=3, retry_delay=timedelta(minutes=2), max_retry_delay=timedelta(minutes=30),
            execution_timeout=timedelta(hours=2),
            on_failure_callback=[airflow_tasks.end_refresh_on_failure, airflow_tasks.alert_on_failure(source)]),
        tags=["vcse", "source", source],
        params={"force": Param(False, type="boolean",
                               description="Stage again even when no file changed since the last stage."),
                "accept": Param([], type="array", items={"type": "string", "minLength": 1}, uniqueItems=True,
                                description="Staging gates to let through for this run only, when the change is "
                                            f"real: staged_rows:{source} or source_empty:{source}.")},
        doc_md=f"""### {source}
Downloads the `{source}` register (conditional requests: unchanged files are not fetched again), checks
the files and stages them into `data/staging/{source}.duckdb` (replaced atomically). Emits
`{asset.uri}` only when new data was staged, which triggers `vcse_register`.
Trigger with `{{"force": true}}` to restage unchanged files.""",
    )
    def source_pipeline():
        @task(doc_md="Mark the source as refreshing, fetch the files into data/downloads/<source>/ and list those "
                     "newer than the staging file.")
        def download(run_id=None) -> dict:
            return airflow_tasks.download(source, run_id)

        @task.short_circuit(doc_md="Skip verify and stage (and the Asset event) when no file is new and the "
                                    "staging was made from these files, settings and code.")
        def new_data(result: dict, params=None) -> bool:
            return airflow_tasks.continue_refresh(result, force=bool(params and params.get("force")))

        @task(retries=0, doc_md="Check each file's format; a bad file fails here, naming the file, row and column.")
        def verify(result: dict) -> None:
            airflow_tasks.verify(source, result["files"], result.get("storage_id"))

        @task(outlets=[asset], doc_md="Load the files into a new staging file and swap it in atomically; the asset "
                                      "event carries the staged release's fingerprint and the data folder's id.")
        def stage(result: dict, params=None, outlet_events=None) -> dict:
            counts = airflow_tasks.stage(source, result["files"], result.get("storage_id"),
                                         (params or {}).get("accept"))
            outlet_events[asset].extra = airflow_tasks.staging_event(source)
            return counts

        fetched = download()
        new_data(fetched) >> verify(fetched) >> stage(fetched)

    return source_pipeline()


for _source in SOURCE_NAMES:
    globals()[f"vcse_source_{_source}"] = source_dag(_source)
