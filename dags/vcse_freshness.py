"""Once a day: is any source older than it should be? One alert lists every stale source.

A source DAG that fails alerts by itself (on_failure_callback); this catches the quiet failures: a publisher
that stopped releasing, a schedule paused by hand, a listing that keeps answering with last quarter's file.
Ages and limits: [sources.<name>] max_age_days; destinations: [alerts] (docs/operations.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from vcse_pipeline import airflow_tasks


@dag(
    dag_id="vcse_freshness",
    schedule="0 7 * * *",  # after the overnight source refreshes, before officers start work
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),  # a check that reads a few files and sends one alert
    default_args=airflow_tasks.default_args(retries=1, retry_delay=timedelta(minutes=5),
                                            execution_timeout=timedelta(minutes=15)),
    tags=["vcse", "freshness", "alerts"],
    doc_md="""### vcse_freshness
Reads how old each source's data is (the published register's sources, or staging before the first publish)
and sends one alert through `[alerts]` naming every source older than its `max_age_days`. Read-only.""",
)
def vcse_freshness():
    @task(doc_md="Alert on every source older than its max_age_days; returns the stale sources.")
    def check_freshness() -> dict:
        return airflow_tasks.check_freshness()

    check_freshness()


vcse_freshness()
