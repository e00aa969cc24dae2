"""Every day: new contract notices from Find a Tender and Contracts Finder, matched to local providers.

harvest (each service from its high-water mark up to the run's data interval end, in windows of a few hours) ->
match (fold each procurement's releases into one notice; keep those that concern the area; shortlist providers) ->
deliver (the digest by HTML file and email; the feed published atomically beside the register). Each step is safe to
rerun: a release already stored is not stored twice and the mark moves only past windows stored in full.
Settings: [feed] (docs/feed.md). Parse-time work: one parse_time_setting read of the schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from vcse_pipeline import airflow_tasks


@dag(
    dag_id="vcse_opportunity_feed",
    schedule=airflow_tasks.parse_time_setting("feed", "schedule"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    # A rate limit or outage: come back later, from the mark. The alert's error names the service.
    default_args=airflow_tasks.default_args(retries=3, retry_delay=timedelta(minutes=10),
                                            max_retry_delay=timedelta(hours=2), execution_timeout=timedelta(hours=2)),
    tags=["vcse", "feed", "opportunities"],
    doc_md=__doc__,
)
def vcse_opportunity_feed():
    @task(doc_md="Harvest both services' new releases from each high-water mark to the data interval end.")
    def harvest() -> dict:
        return airflow_tasks.feed_harvest(get_current_context()["data_interval_end"].isoformat())

    @task(doc_md="Fold releases into notices, keep the area's, shortlist local providers.")
    def match() -> dict:
        return airflow_tasks.feed_match()

    @task(doc_md="Write and email the digest, then publish the feed beside the register.")
    def deliver() -> dict:
        return airflow_tasks.feed_deliver(get_current_context()["data_interval_end"].isoformat())

    harvest() >> match() >> deliver()


vcse_opportunity_feed()
