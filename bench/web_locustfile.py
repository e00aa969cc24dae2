"""Locust users for bench/web_load.py: officers searching, opening profiles, and OpenRefine reconciling batches.

Not run on its own: web_load.py starts the app, writes the sample (real names, ids and wards of the register served)
to the file named by VCSE_BENCH_SAMPLE and runs locust headless with this file. Each user does one thing about once a
second (wait 0.5-1.5 s after each answer), picking a task by weight: searches and profiles as an officer clicks
through them, and a reconciliation batch of 10 names as OpenRefine sends it (form-encoded `queries=`).
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, task

SAMPLE = json.loads(open(os.environ["VCSE_BENCH_SAMPLE"], encoding="utf-8").read())  # noqa: SIM115
BATCH = 10   # OpenRefine's default reconciliation batch


class Officer(HttpUser):
    wait_time = between(0.5, 1.5)

    @task(4)
    def search(self) -> None:
        """The Find providers page with a service area and a ward, as an officer narrows a search."""
        params = {"service": random.choice(SAMPLE["services"]), "ward": random.choice(SAMPLE["wards"])}
        self.client.get("/providers", params=params, name="search (page)")

    @task(2)
    def search_api(self) -> None:
        params = {"service": random.choice(SAMPLE["services"]), "keyword": random.choice(SAMPLE["keywords"])}
        self.client.get("/api/providers", params=params, name="search (API)")

    @task(4)
    def profile(self) -> None:
        area_code, org_id = random.choice(SAMPLE["organisations"])
        self.client.get(f"/organisations/{area_code}/{org_id}", name="profile (page)")

    @task(1)
    def reconcile(self) -> None:
        names = random.sample(SAMPLE["names"], BATCH)
        queries = {f"q{i}": {"query": name, "properties": [{"pid": "postcode", "v": postcode}] if postcode else []}
                   for i, (name, postcode) in enumerate(names)}
        with self.client.post("/reconcile", data={"queries": json.dumps(queries)}, name="reconcile (10 names)",
                              catch_response=True) as response:
            if response.status_code == 200 and len(response.json()) != BATCH:
                response.failure(f"{len(response.json())} answers for {BATCH} queries")
