"""What the published register changed (changes.published_changes, the query behind `vcse changes`)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from test_publish import BASE_ORGS, WIRRAL, make_register

from vcse_pipeline import publish, versions
from vcse_pipeline.changes import published_changes
from vcse_pipeline.config import Config
from vcse_pipeline.status import published_run

SEACOMBE = dict(org_id="GB-CHC-1201234", name="Seacombe Youth Club", legal_form="Charitable trust",
                postcode="CH44 6QJ", lad_code=WIRRAL, is_active=True, status="Registered")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}})


def publish_orgs(cfg: Config, run_id: str, orgs: list[dict]) -> Path:
    version = versions.version_path_for(cfg, run_id)
    version.parent.mkdir(parents=True, exist_ok=True)
    publish.publish_version(cfg, make_register(version, orgs), run_id, [WIRRAL])
    return version


def read(cfg: Config) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(cfg.register_path), read_only=True)


def test_published_changes_are_the_publishing_runs_rows_by_name(cfg):
    publish_orgs(cfg, "run1", BASE_ORGS + [SEACOMBE])
    renamed = [dict(o, name="Birkenhead Food Bank") if o["org_id"] == "GB-CHC-1090301" else o for o in BASE_ORGS]
    publish_orgs(cfg, "run2", renamed + [dict(SEACOMBE, is_active=False, status="Removed")])
    with read(cfg) as con:
        every = published_changes(con)
        closed = published_changes(con, "closed")
        one = published_changes(con, limit=1)
    assert every.run_id == "run2"  # the published register's own run, not run1's rows
    # organisations by type: the renamed food bank and the club (its status) changed, the club closed
    assert every.by_type == {"changed": 2, "closed": 1}
    name_change = next(r for r in every.rows if r["field"] == "name")
    assert name_change == {"area_code": WIRRAL, "org_id": "GB-CHC-1090301", "name": "Birkenhead Food Bank",
                           "change_type": "changed", "field": "name", "old_value": "Birkenhead Foodbank",
                           "new_value": "Birkenhead Food Bank"}
    assert [r["change_type"] for r in every.rows] == sorted(r["change_type"] for r in every.rows)
    assert every.total == len(every.rows) >= 3  # the name, the status and is_active of the closed club
    assert {(r["org_id"], r["field"]) for r in closed.rows} == {("GB-CHC-1201234", "is_active")}
    assert closed.total == 1 and closed.by_type == every.by_type  # counts by type whatever type was asked
    assert len(one.rows) == 1 and one.total == every.total  # the limit cuts the rows, never the total


def test_published_changes_of_a_register_without_a_published_run(cfg, tmp_path):
    path = make_register(tmp_path / "built.duckdb", BASE_ORGS)  # built, never published: no run_history row
    with duckdb.connect(str(path), read_only=True) as con:
        found = published_changes(con)
        assert published_run(con) is None
    assert (found.run_id, found.rows, found.total, found.by_type) == (None, [], 0, {})
