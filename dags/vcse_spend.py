"""Local spend: fetch the council's payment files, and when one is new or changed, load, resolve and measure.

Schedule: [spend] schedule (VCSE__SPEND__SCHEDULE, read at parse time like a source's). Logic: vcse_pipeline.spend.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from vcse_pipeline import airflow_tasks


@dag(
    dag_id="vcse_spend",
    schedule=airflow_tasks.parse_time_setting("spend", "schedule"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one writer of the spend database
    dagrun_timeout=timedelta(hours=8),  # two tasks of at most 2 h each, and their retries' gaps
    # The source DAGs' gaps: 2-4, 4-8, 8-16 minutes (docs/operations.md).
    default_args=airflow_tasks.default_args(retries=3, retry_delay=timedelta(minutes=2),
                                            max_retry_delay=timedelta(minutes=30),
                                            execution_timeout=timedelta(hours=2)),
    params={"force": Param(False, type="boolean", description="Resolve and measure even when no file changed.")},
    tags=["vcse", "spend"],
    doc_md="""### vcse_spend
Fetches `[spend] files` into `data/downloads/spend/` (conditional requests), and when a file is new or changed
loads it into `data/spend/spend.duckdb`, resolves every supplier (the overrides file first) and rebuilds the
local spend measures (docs/spend.md).""",
)
def vcse_spend():
    @task(doc_md="Fetch the payment files; list those not loaded in this form.")
    def fetch_files() -> dict:
        from vcse_pipeline.spend import tasks

        return tasks.fetch_files()

    @task.short_circuit(doc_md="Go on only when a file is new or changed (or the force param is set).")
    def new_files(result: dict, params=None) -> bool:
        from vcse_pipeline.spend import tasks

        return tasks.has_new_files(result, bool((params or {}).get("force")))

    @task(doc_md="Load, resolve every supplier and measure local spend.")
    def measure(result: dict) -> dict:
        from vcse_pipeline.spend import tasks

        return tasks.measure(result)

    fetched = fetch_files()
    new_files(fetched) >> measure(fetched)


vcse_spend()
