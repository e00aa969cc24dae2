"""Publishing: gates stop a bad register, the switch is atomic, history and changes are recorded."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline import publish, run_history, versions
from vcse_pipeline.config import Config
from vcse_pipeline.db import run_sql_dir
from vcse_pipeline.errors import PipelineError, QualityGateError
from vcse_pipeline.quality import run_gates

WIRRAL = "E08000015"

# Realistic Wirral rows: real org-id forms and Wirral postcodes; names are made up.
BASE_ORGS = [
    dict(org_id="GB-CHC-1090301", name="Birkenhead Foodbank", legal_form="Charitable incorporated organisation",
         postcode="CH41 5EF", lad_code=WIRRAL, latest_income=125000.0, status="Registered"),
    dict(org_id="GB-CHC-505925", name="Wirral Mind", legal_form="Charitable company",
         postcode="CH41 6AL", lad_code=WIRRAL, latest_income=1850000.0, company_number="01424640",
         status="Registered"),
    dict(org_id="GB-CHC-505925-1", name="Wirral Mind Trading", legal_form="Linked charity",
         postcode="CH41 6AL", lad_code=WIRRAL, parent_org_id="GB-CHC-505925", status="Registered"),
    dict(org_id="GB-COH-11223344", name="Leasowe Community Garden CIC", legal_form="Community interest company",
         postcode="CH46 2QT", lad_code=WIRRAL, company_number="11223344", status="Active"),
    dict(org_id="GB-MPR-31067R", name="Hoylake Community Energy Limited", legal_form="Community benefit society",
         postcode="CH47 2AB", lad_code=WIRRAL, society_number="31067R", status="Registered"),
    dict(org_id="GB-COH-CE012345", name="West Kirby Arts Centre", legal_form="Charitable incorporated organisation",
         postcode="CH48 4HA", lad_code=WIRRAL, company_number="CE012345", status="Active"),
]
SCHEMES = {"GB-CHC": "charity_commission", "GB-COH": "companies_house", "GB-MPR": "fca_mutuals"}


def org_row(area: str, org: dict) -> dict:
    row = dict(area_code=area, is_active=True, in_area_by_postcode=True, in_area_by_operation=False,
               area_basis="postcode", source_count=1)
    row.update(org)
    return row


def make_register(path: Path, orgs: list[dict], area: str = WIRRAL, service_area: bool = True) -> Path:
    """A small real register: sql/core tables, organisation and identifier rows, a service-area table."""
    con = duckdb.connect(str(path))
    run_sql_dir(con, "core")
    for org in orgs:
        row = org_row(area, org)
        columns = ", ".join("? AS " + k for k in row)
        con.execute(f"INSERT INTO organisation BY NAME SELECT {columns}", list(row.values()))
        scheme = "-".join(org["org_id"].split("-")[:2])
        con.execute("INSERT INTO organisation_identifier VALUES (?, ?, ?, ?, ?, ?, TRUE)",
                    [area, org["org_id"], org["org_id"], scheme, SCHEMES[scheme], f"{SCHEMES[scheme]}:{org['org_id']}"])
    if service_area:
        con.execute("INSERT INTO organisation_service_area BY NAME SELECT area_code, org_id, "
                    "'community_development' AS service_area, 'ukcat CD' AS evidence, 0.8 AS strength "
                    "FROM organisation")
    run_sql_dir(con, "views")  # provider_directory: what the commands that read a register look for
    con.execute("CHECKPOINT")
    con.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                              "register": {"keep_versions": 3}})


def new_version(cfg: Config, run_id: str, orgs: list[dict], **kw) -> Path:
    path = versions.version_path_for(cfg, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_register(path, orgs, **kw)


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_first_publish_records_everything_as_new_and_writes_history(cfg):
    result = publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    assert cfg.register_path.exists()
    assert result.counts == {WIRRAL: 6} and result.active_counts == {WIRRAL: 6}
    assert result.changes == {"new": 6}
    assert all(g.passed for g in result.gates)
    assert query(cfg.register_path, "SELECT count(*) FROM organisation") == [(6,)]
    history = query(cfg.register_path, "SELECT run_id, status, areas FROM run_history")
    assert history == [("run1", "published", json.dumps([WIRRAL]))]
    gates = dict(query(cfg.register_path, "SELECT gate, bool_and(passed) FROM quality_gate GROUP BY 1"))
    assert {"row_count_band", "required_not_null", "org_id_unique", "org_id_format", "identifier_format",
            "postcode_mapped_share", "service_area_share"} <= set(gates)
    lines = run_history.read_history(cfg)
    assert [(r["run_id"], r["status"]) for r in lines] == [("run1", "published")]
    assert lines[0]["counts"]["organisations"] == {WIRRAL: 6}


def test_run_history_json_has_one_key_order_whichever_path_passed_the_results(cfg, tmp_path):
    """The gate results `vcse publish` records and those that crossed Airflow's XCom (which gives their keys back
    in another order) are written alike, so the same run publishes the same run_history either way."""
    gate = {"name": "min_organisations", "passed": True, "value": 6.0, "threshold": 1.0, "area_code": WIRRAL,
            "message": "6 organisations (at least 1 required)", "source": None, "accepted": False}
    stored = []
    for order in (list(gate), sorted(gate)):   # as the build made it; as XCom gives it back
        con = duckdb.connect(str(tmp_path / f"{len(stored)}.duckdb"))
        run_sql_dir(con, "publish")
        record = {"run_id": "run1", "status": "published", "areas": [WIRRAL],
                  "counts": {"organisations": {WIRRAL: 6}, "changes": {"new": 6}},
                  "gates": [{key: gate[key] for key in order}]}
        run_history.write_history_table(con, cfg, None, record)
        stored.append(con.execute("SELECT areas, counts, gates FROM run_history").fetchall())
        con.close()
    assert stored[0] == stored[1]
    assert json.loads(stored[0][0][2]) == [gate]


def test_second_publish_records_new_closed_and_changed_rows(cfg):
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    orgs = [dict(o) for o in BASE_ORGS if o["org_id"] != "GB-COH-11223344"]  # gone from the register
    orgs[0].update(name="Birkenhead Foodbank CIO", latest_income=131500.0)  # renamed, new accounts
    orgs[1].update(is_active=False, status="Removed")  # removed charity, kept but inactive
    orgs.append(dict(org_id="GB-CHC-1201234", name="Seacombe Youth Club", legal_form="Charitable trust",
                     postcode="CH44 6QJ", lad_code=WIRRAL, status="Registered"))
    result = publish.publish_version(cfg, new_version(cfg, "run2", orgs), "run2", [WIRRAL])
    rows = set(query(cfg.register_path, "SELECT org_id, change_type, field, old_value, new_value FROM register_change "
                                        "WHERE run_id = 'run2'"))
    assert ("GB-CHC-1201234", "new", None, None, None) in rows
    assert ("GB-COH-11223344", "closed", None, None, None) in rows
    assert ("GB-CHC-505925", "closed", "is_active", "true", "false") in rows
    assert ("GB-CHC-505925", "changed", "status", "Registered", "Removed") in rows
    assert ("GB-CHC-1090301", "changed", "name", "Birkenhead Foodbank", "Birkenhead Foodbank CIO") in rows
    assert ("GB-CHC-1090301", "changed", "latest_income", "125000.0", "131500.0") in rows
    assert result.changes == {"new": 1, "closed": 2, "changed": 2}
    # Unchanged organisations produce no rows.
    assert not [r for r in rows if r[0] == "GB-MPR-31067R"]
    history = query(cfg.register_path, "SELECT run_id, status FROM run_history ORDER BY finished_at, run_id")
    assert history == [("run1", "published"), ("run2", "published")]


def test_failed_gate_leaves_published_register_byte_for_byte_untouched(cfg):
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    before = sha256(cfg.register_path)
    # Half the organisations vanish and nobody has a service area: two gates must fail.
    bad = new_version(cfg, "run2", BASE_ORGS[:3], service_area=False)
    with pytest.raises(QualityGateError) as info:
        publish.publish_version(cfg, bad, "run2", [WIRRAL])
    message = str(info.value)
    assert "row_count_band [E08000015]" in message and "-50.0%" in message
    assert "service_area_share [E08000015]" in message and "0 of 3 active organisations have a service area" in message
    assert sha256(cfg.register_path) == before
    assert not bad.exists() and (cfg.versions_dir / "rejected" / bad.name).exists()
    failed = run_history.read_history(cfg)[-1]
    assert failed["status"] == "failed_quality" and failed["run_id"] == "run2"
    # The three kept are charities: the company and the society sources went empty too.
    assert {g["name"] for g in failed["gates"] if not g["passed"]} == {"row_count_band", "service_area_share",
                                                                       "source_empty"}
    # The failed run shows up in the next published register's history.
    publish.publish_version(cfg, new_version(cfg, "run3", BASE_ORGS), "run3", [WIRRAL])
    assert query(cfg.register_path, "SELECT run_id, status FROM run_history ORDER BY run_id") == [
        ("run1", "published"), ("run2", "failed_quality"), ("run3", "published")]


def test_gates_catch_malformed_and_duplicate_identifiers_and_unmapped_postcodes(cfg, tmp_path):
    orgs = [dict(o) for o in BASE_ORGS]
    orgs[3].update(org_id="GB-COH-1122334")  # 7 characters: not a company number
    orgs += [dict(org_id=f"GB-CHC-70000{i}", name=f"Unmapped {i}", legal_form="Charitable trust", postcode=None,
                  lad_code=None) for i in range(3)]
    path = make_register(tmp_path / "bad.duckdb", orgs)
    con = duckdb.connect(str(path))
    # A table copied without its primary key (as a merge of area files could be) lets a duplicate in.
    con.execute("CREATE OR REPLACE TABLE organisation_identifier AS SELECT * FROM organisation_identifier")
    con.execute("INSERT INTO organisation_identifier VALUES (?, 'GB-CHC-1090301', 'GB-CHC-505925', 'GB-CHC', "
                "'charity_commission', 'charity_commission:505925', FALSE)", [WIRRAL])
    results = {g.name: g for g in run_gates(con, cfg, [WIRRAL])}
    con.close()
    assert not results["org_id_format"].passed and "'GB-COH-1122334'" in results["org_id_format"].message
    assert not results["identifier_format"].passed
    assert not results["identifier_unique"].passed  # GB-CHC-505925 now claimed by two organisations
    assert not results["postcode_mapped_share"].passed
    assert results["postcode_mapped_share"].value == pytest.approx(6 / 9, abs=1e-4)
    assert results["required_not_null"].passed and results["org_id_unique"].passed


def test_gates_of_many_areas_are_each_areas_own(cfg, tmp_path):
    """The per-area gates are computed for all areas in one grouped query each: every area gets what a run of
    that area alone gets, against a previous publish where one area shrank and the other did not exist."""
    liverpool = "E08000012"
    new, previous = tmp_path / "new.duckdb", tmp_path / "previous.duckdb"
    make_register(new, BASE_ORGS)
    make_register(new, BASE_ORGS[:3], area=liverpool)
    make_register(previous, BASE_ORGS[:4])
    con = duckdb.connect(str(new))
    con.execute(f"ATTACH '{previous}' AS previous (READ_ONLY)")
    try:
        together = [g.as_dict() for g in run_gates(con, cfg, [WIRRAL, liverpool], "previous") if g.area_code]
        alone = [g.as_dict() for area in (WIRRAL, liverpool) for g in run_gates(con, cfg, [area], "previous")
                 if g.area_code]
    finally:
        con.close()
    key = lambda g: (g["area_code"], g["name"], g["source"] or "")  # noqa: E731
    assert sorted(together, key=key) == sorted(alone, key=key)
    by_key = {key(g): g for g in together}
    assert by_key[(WIRRAL, "row_count_band", "")]["message"] == (
        f"{len(BASE_ORGS):,} organisations against 4 before (+{(len(BASE_ORGS) - 4) / 4:.1%}, allowed +/-20%)")
    assert by_key[(liverpool, "row_count_band", "")]["message"] == (
        "3 organisations; no previous publish of this area to compare")
    assert by_key[(liverpool, "min_organisations", "")]["value"] == 3.0


def test_gates_fail_clearly_without_an_organisation_table(cfg, tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    results = run_gates(con, cfg, [WIRRAL])
    con.close()
    assert [(r.name, r.passed) for r in results] == [("organisation_table", False)]
    assert "table organisation is missing" in results[0].message


def test_reader_holding_the_register_open_keeps_reading_old_data_during_publish(cfg):
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    # A BI tool in another process holds the published file open, read-only.
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(cfg.register_path)!r}, read_only=True)
            print(con.execute("SELECT count(*) FROM organisation").fetchone()[0], flush=True)
            sys.stdin.readline()
            print(con.execute("SELECT count(*), max(name) FROM organisation").fetchone(), flush=True)
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "6"
    more = BASE_ORGS + [dict(org_id="GB-CHC-1201234", name="Seacombe Youth Club", legal_form="Charitable trust",
                             postcode="CH44 6QJ", lad_code=WIRRAL)]
    publish.publish_version(cfg, new_version(cfg, "run2", more), "run2", [WIRRAL])
    out, err = reader.communicate("go\n", timeout=30)
    assert reader.returncode == 0, err
    assert out.strip() == "(6, 'Wirral Mind Trading')"
    assert query(cfg.register_path, "SELECT count(*) FROM organisation") == [(7,)]


def test_versions_are_pruned_to_keep_versions_and_rollback_switches_back(cfg):
    paths = []
    for i in range(5):
        orgs = [dict(o) for o in BASE_ORGS]
        orgs[0]["latest_income"] = 100000.0 + i
        paths.append(new_version(cfg, f"run{i}", orgs))
        publish.publish_version(cfg, paths[-1], f"run{i}", [WIRRAL])
    kept = versions.version_files(cfg)
    assert [p.name for p in kept] == [p.name for p in reversed(paths[-3:])]
    assert not paths[0].exists() and not paths[1].exists()
    assert [v["published"] for v in versions.list_versions(cfg)] == [True, False, False]
    back = versions.rollback(cfg)
    assert back == paths[3]
    assert query(cfg.register_path, "SELECT latest_income FROM organisation WHERE org_id = 'GB-CHC-1090301'") == [
        (100003.0,)]
    assert run_history.read_history(cfg)[-1]["status"] == "rolled_back"


def test_failed_build_is_recorded_and_leaves_register_untouched(cfg, monkeypatch):
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    before = sha256(cfg.register_path)

    def broken_build(cfg, out_path, areas, as_of=None):
        make_register(out_path, BASE_ORGS[:1])  # a half-written file, then the build dies
        raise RuntimeError("staging for postcodes not found")

    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", broken_build)
    with pytest.raises(RuntimeError):
        publish.build_and_publish(cfg, run_id="manual__2026-03-01T06:00:00+00:00")
    assert sha256(cfg.register_path) == before
    assert len(versions.version_files(cfg)) == 1
    last = run_history.read_history(cfg)[-1]
    assert last["run_id"] == "manual__2026-03-01T06-00-00-00-00"
    assert last["status"] == "failed" and "staging for postcodes not found" in last["message"]


@pytest.mark.parametrize("stop, message", [(KeyboardInterrupt(), "build failed: interrupted (Ctrl-C)"),
                                           (MemoryError(), "build failed: MemoryError")],
                         ids=["ctrl-c", "error without text"])
def test_a_build_stopped_without_a_message_says_what_stopped_it(cfg, monkeypatch, stop, message):
    """Ctrl-C during the build was recorded as "build failed: " (str(KeyboardInterrupt()) is empty)."""
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])

    def stopped_build(cfg, out_path, areas, as_of=None):
        make_register(out_path, BASE_ORGS[:1])
        raise stop

    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", stopped_build)
    with pytest.raises(type(stop)):
        publish.build_and_publish(cfg, run_id="run2")
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"], last["message"]) == ("run2", "failed", message)
    assert len(versions.version_files(cfg)) == 1


def test_assemble_version_merges_per_area_files(cfg, tmp_path):
    sefton = "E08000014"
    a = make_register(tmp_path / "a.duckdb", BASE_ORGS[:2])
    b = make_register(tmp_path / "b.duckdb", [dict(BASE_ORGS[0], postcode="L20 3AB", lad_code=sefton)], area=sefton)
    version = publish.assemble_version(cfg, "merge", [a, b])
    assert query(version, "SELECT area_code, count(*) FROM organisation GROUP BY 1 ORDER BY 1") == [
        (sefton, 1), (WIRRAL, 2)]
    # The views and macros of sql/views work over the merged tables (views built on views included).
    assert query(version, "SELECT area_code, count(*) FROM provider_directory GROUP BY 1 ORDER BY 1") == [
        (sefton, 1), (WIRRAL, 2)]
    assert query(version, "SELECT count(*) FROM provider_readiness") == [(3,)]
    assert query(version, "SELECT count(*) FROM organisation_service_area") == [(3,)]
    # The first file is copied, not moved or changed: a retried assemble task finds the files as they were.
    assert query(a, "SELECT count(*) FROM organisation") == [(2,)]
    again = publish.assemble_version(cfg, "merge-again", [a, b])
    assert query(again, "SELECT area_code, count(*) FROM organisation GROUP BY 1 ORDER BY 1") == [
        (sefton, 1), (WIRRAL, 2)]


def test_airflow_task_chain_publishes_and_a_threshold_param_can_stop_it(tmp_path, monkeypatch):
    """The functions the vcse_register tasks call, in DAG order, with a run dict as XCom would carry it."""
    from vcse_pipeline import airflow_tasks

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VCSE_CONFIG", raising=False)
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    cfg = airflow_tasks.load_config()

    def run_chain(airflow_run_id: str, orgs: list[dict], thresholds: dict | None = None) -> dict:
        run = airflow_tasks.start_register_run(airflow_run_id)
        assert run["areas"] == [WIRRAL]
        area_file = make_register(Path(run["work_dir"]) / f"area-{WIRRAL}.duckdb", orgs)  # what build_area writes
        version = airflow_tasks.assemble(run, [str(area_file)])
        changed = airflow_tasks.record_changes(run, version)
        try:
            gates = airflow_tasks.check_quality(run, version, thresholds)
        except QualityGateError:
            return {"finish": airflow_tasks.finish_register_run(run, version, None), "run": run}
        published = airflow_tasks.publish(run, version, changed, gates)
        return {"finish": airflow_tasks.finish_register_run(run, version, published), "run": run,
                "published": published}

    first = run_chain("manual__2026-03-01T06:00:00+00:00", BASE_ORGS)
    assert first["finish"] == "published" and first["published"]["counts"] == {WIRRAL: 6}
    assert not Path(first["run"]["work_dir"]).exists()
    before = sha256(cfg.register_path)
    # One organisation more is +16.7%: within the configured 20% band, but not within a 10% band set as a param.
    more = BASE_ORGS + [dict(org_id="GB-CHC-1201234", name="Seacombe Youth Club", legal_form="Charitable trust",
                             postcode="CH44 6QJ", lad_code=WIRRAL)]
    second = run_chain("scheduled__2026-03-02T06:00:00+00:00", more, {"row_count_band": 0.1, "min_organisations": None})
    assert second["finish"] == "failure already recorded"
    assert sha256(cfg.register_path) == before
    assert run_history.read_history(cfg)[-1]["status"] == "failed_quality"
    third = run_chain("scheduled__2026-03-03T06:00:00+00:00", more)
    assert third["finish"] == "published" and third["published"]["changes"] == {"new": 1}
    # A threshold param that is not a number fails the run with its own message.
    from vcse_pipeline.errors import PipelineError

    after = sha256(cfg.register_path)
    run = airflow_tasks.start_register_run("scheduled__2026-03-04T06:00:00+00:00")
    version = airflow_tasks.assemble(run, [str(make_register(Path(run["work_dir"]) / "a.duckdb", more))])
    with pytest.raises(PipelineError, match=r"^\[quality\] row_count_band = 'abc': expected a number$"):
        airflow_tasks.check_quality(run, version, {"row_count_band": "abc"})
    assert airflow_tasks.finish_register_run(run, version, None) == "failure already recorded"
    # The same typo in the deployment's environment stops the run at its first task, naming the variable.
    monkeypatch.setenv("VCSE__QUALITY__ROW_COUNT_BAND", "abc")
    with pytest.raises(PipelineError, match=r"^environment variable VCSE__QUALITY__ROW_COUNT_BAND: \[quality\] "
                                            r"row_count_band = 'abc': expected a number$"):
        airflow_tasks.start_register_run("scheduled__2026-03-05T06:00:00+00:00")
    # It stops before anything is recorded: the last record is still the 03-04 run's (the bad param).
    last = run_history.read_history(cfg)[-1]
    assert last["run_id"] == run["run_id"] and "03-04" in last["run_id"] and last["status"] == "failed"
    assert not Path(version).exists() and sha256(cfg.register_path) == after


def test_publish_settings_and_commands_are_documented():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    cfg = Config.load(environ={})
    for key in cfg.section("quality"):
        assert key in docs, f"[quality] {key} is not in docs/operations.md"
    for command in ("vcse publish", "vcse history", "vcse versions", "vcse rollback", "vcse changes"):
        assert command in docs, command


def test_publish_before_any_staging_names_the_missing_file(cfg):
    """The real build (no monkeypatch) on a data dir with no staging: a PipelineError, recorded, no traceback."""
    from vcse_pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match=r"staging for charity_commission not found at .*charity_commission\.duckdb"
                                            r": run `vcse refresh charity_commission`"):
        publish.build_and_publish(cfg, run_id="first-run")
    assert not cfg.register_path.exists()
    last = run_history.read_history(cfg)[-1]
    assert last["status"] == "failed" and "vcse refresh charity_commission" in last["message"]


def test_crash_after_the_version_is_written_rejects_it_and_rollback_never_publishes_it(cfg, monkeypatch):
    """Not a gate verdict but a crash (disk, bug) after the build wrote its file: the run is recorded as failed and
    its half-finished version moves to rejected/, so the default rollback goes to the last good version."""
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    publish.publish_version(cfg, new_version(cfg, "run2", BASE_ORGS), "run2", [WIRRAL])
    good = sha256(cfg.register_path)

    def build(cfg, out_path, areas, as_of=None):
        make_register(out_path, BASE_ORGS)

    def broken_record_gates(con, run_id, results):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", build)
    monkeypatch.setattr("vcse_pipeline.quality.record_gates", broken_record_gates)
    with pytest.raises(OSError, match="No space left"):
        publish.build_and_publish(cfg, run_id="run3")
    assert sha256(cfg.register_path) == good
    names = [p.name for p in versions.version_files(cfg)]
    assert len(names) == 2 and not any("run3" in n for n in names)
    rejected = list((cfg.versions_dir / "rejected").glob("*run3*.duckdb"))
    assert len(rejected) == 1
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"], last["version_file"]) == ("run3", "failed", rejected[0].name)
    assert "No space left on device" in last["message"]
    back = versions.rollback(cfg)
    assert "run1" in back.name
    with pytest.raises(PipelineError, match="no version named 'register-.*run3"):
        versions.rollback(cfg, rejected[0].name)


def test_rollback_refuses_a_version_whose_gates_did_not_pass(cfg):
    """A file an older pipeline left in versions/ after crashing mid-publish (publish tables, no gate results)."""
    cfg = cfg.with_overrides({"register": {"keep_versions": 5}})
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    publish.publish_version(cfg, new_version(cfg, "run2", BASE_ORGS), "run2", [WIRRAL])
    crashed = new_version(cfg, "crashed", BASE_ORGS[:2])
    publish.record_version_changes(cfg, crashed, "crashed", [WIRRAL])  # how far the crashed run got
    failed = new_version(cfg, "failedgates", BASE_ORGS[:2], service_area=False)
    publish.check_version(cfg, failed, "failedgates", [WIRRAL])  # gates ran and failed, file never moved
    with pytest.raises(PipelineError, match=r"refusing to publish register-\S+-crashed\.duckdb: it records no "
                                            r"quality gate results"):
        versions.rollback(cfg, crashed.name)
    with pytest.raises(PipelineError, match=r"refusing .*failedgates.*failed \d+ quality gate\(s\) "
                                            r"\(.*service_area_share.*\)"):
        versions.rollback(cfg, failed.name)
    # The next publish's pruning counts neither as a version, and removes them.
    publish.publish_version(cfg, new_version(cfg, "run4", BASE_ORGS), "run4", [WIRRAL])
    assert not crashed.exists() and not failed.exists()
    back = versions.rollback(cfg)  # back to the last version that passed
    assert "run2" in back.name
    # Two runs can finish in one second: the later row (this version's own run) is the one, as `vcse changes` reads.
    published_run = query(cfg.register_path, "SELECT run_id FROM run_history WHERE status = 'published' "
                                             "ORDER BY finished_at DESC, rowid DESC LIMIT 1")
    assert published_run == [("run2",)]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("ROW_COUNT_BAND", "abc", "[quality] row_count_band = 'abc': expected a number"),
    ("MIN_POSTCODE_MAPPED_SHARE", "1.5", "[quality] min_postcode_mapped_share = 1.5 is out of range: it must be "
                                         "between 0 and 1"),
    ("MIN_ORGANISATIONS", "2.5", "[quality] min_organisations = 2.5: expected a whole number"),
    ("MIN_SERVICE_AREA_SHARE", "true", "[quality] min_service_area_share = True: expected a number"),
])
def test_a_bad_quality_threshold_fails_before_the_build_naming_key_and_value(tmp_path, monkeypatch, key, value,
                                                                               message):
    """Thresholds set after loading (Airflow's DAG params) are checked before the build too."""
    from vcse_pipeline.config import _parse_env_value

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}}).with_overrides(
        {"quality": {key.lower(): _parse_env_value(value)}})
    built = []
    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", lambda *a, **kw: built.append(a))
    with pytest.raises(PipelineError) as info:
        publish.build_and_publish(cfg, run_id="badconfig")
    assert str(info.value) == message
    assert not built and not versions.version_files(cfg)
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"], last["message"]) == ("badconfig", "failed", message)
    # The gates read the same checked values: a version checked directly fails the same way.
    version = new_version(cfg, "direct", BASE_ORGS)
    with pytest.raises(PipelineError, match=re.escape(message)):
        publish.check_version(cfg, version, "direct", [WIRRAL])


def test_a_pruning_failure_after_the_switch_never_loses_the_run_record(cfg, monkeypatch, caplog):
    """Pruning runs after the run is recorded: a failure there is a warning, the publish stands."""
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])

    def broken_prune(folder, keep, protect, **kw):
        raise PermissionError(f"cannot delete files in {folder}")

    monkeypatch.setattr(versions, "_prune", broken_prune)
    version = new_version(cfg, "run2", BASE_ORGS[:5])
    result = publish.publish_version(cfg, version, "run2", [WIRRAL])
    assert os.path.samefile(cfg.register_path, version) and result.pruned == []
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"], last["version_file"]) == ("run2", "published", version.name)
    assert "could not prune old register versions" in caplog.text and "PermissionError" in caplog.text


def stage_postcode_directory(cfg: Config) -> None:
    """The staged postcode directory's local authorities (the real ONSPD codes and names)."""
    path = cfg.staging_path("postcodes")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE postcode (postcode VARCHAR, postcode_key VARCHAR, lad_code VARCHAR)")
    con.execute("INSERT INTO postcode VALUES ('CH41 1AA', 'CH411AA', 'E08000015'), ('L1 8JQ', 'L18JQ', 'E08000012')")
    con.execute("CREATE TABLE local_authority (lad_code VARCHAR, lad_name VARCHAR)")
    con.execute("INSERT INTO local_authority VALUES ('E08000015', 'Wirral'), ('E08000012', 'Liverpool')")
    con.close()


def test_an_unknown_area_fails_before_the_build_and_names_are_accepted(cfg, monkeypatch):
    from vcse_pipeline.errors import PipelineError
    from vcse_pipeline.pipeline import resolve_areas

    stage_postcode_directory(cfg)
    assert resolve_areas(cfg, ["Wirral", "e08000012", "wirral"]) == [WIRRAL, "E08000012"]
    built = []
    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", lambda *a, **kw: built.append(a))
    with pytest.raises(PipelineError) as info:
        publish.build_and_publish(cfg, run_id="typo", areas=["E99999999"])
    assert str(info.value).startswith("unknown area 'E99999999'")
    assert "Liverpool (E08000012), Wirral (E08000015)" in str(info.value) and "postcodes.duckdb" in str(info.value)
    with pytest.raises(PipelineError, match=r"unknown area 'Wiral'.*did you mean Wirral \(E08000015\)\?"):
        publish.build_and_publish(cfg, run_id="typo2", areas=["Wiral"])
    assert not built and not versions.version_files(cfg)
    assert run_history.read_history(cfg)[-1]["status"] == "failed"


def test_airflow_run_resolves_area_names_and_stops_on_an_unknown_area(tmp_path, monkeypatch):
    from vcse_pipeline import airflow_tasks
    from vcse_pipeline.errors import PipelineError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VCSE_CONFIG", raising=False)
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    cfg = airflow_tasks.load_config()
    stage_postcode_directory(cfg)
    run = airflow_tasks.start_register_run("manual__2026-04-01T06:00:00+00:00", ["wirral", "Liverpool"])
    assert run["areas"] == [WIRRAL, "E08000012"]
    airflow_tasks.finish_register_run(run, None, None)  # the teardown releases the run lock
    with pytest.raises(PipelineError, match=r"unknown area 'Wiral' .*did you mean Wirral \(E08000015\)\?"):
        airflow_tasks.start_register_run("manual__2026-04-02T06:00:00+00:00", ["Wiral"])
    last = run_history.read_history(cfg)[-1]
    assert last["status"] == "failed" and last["run_id"] == "manual__2026-04-02T06-00-00-00-00"
    assert not (cfg.register_path.parent / "work" / last["run_id"]).exists()


def test_rollback_and_roll_forward_are_recorded_with_counts(cfg):
    first = new_version(cfg, "run1", BASE_ORGS)
    publish.publish_version(cfg, first, "run1", [WIRRAL])
    second = new_version(cfg, "run2", BASE_ORGS[:5])
    publish.publish_version(cfg, second, "run2", [WIRRAL])
    versions.rollback(cfg)
    back = run_history.read_history(cfg)[-1]
    assert back["status"] == "rolled_back" and back["version_file"] == first.name
    assert back["counts"] == {"organisations": {WIRRAL: 6}, "active_organisations": {WIRRAL: 6}}
    assert back["message"].startswith(f"register switched back to {first.name} (was {second.name}) by ")
    versions.rollback(cfg, second.name)
    forward = run_history.read_history(cfg)[-1]
    assert forward["status"] == "rolled_forward" and forward["counts"]["organisations"] == {WIRRAL: 5}
    assert forward["message"].startswith(f"register switched forward to {second.name} (was {first.name}) by ")
    assert run_history.latest_switch(cfg) == forward
    # The version already published: said so, nothing switched or recorded.
    runs = len(run_history.read_history(cfg))
    with pytest.raises(PipelineError, match=rf"^{second.name} is already the published register; nothing changed"):
        versions.rollback(cfg, second.name[:-10])  # a prefix naming it alone
    # A prefix that names both versions is an error listing them, never the newest picked silently.
    with pytest.raises(PipelineError) as info:
        versions.rollback(cfg, "register-")
    assert str(info.value) == (f"'register-' is the start of 2 versions: {second.name}, {first.name}; "
                               "give more of the name")
    assert len(run_history.read_history(cfg)) == runs and os.path.samefile(cfg.register_path, second)


def test_a_recording_failure_after_the_switch_is_logged_and_recorded_as_published(cfg, monkeypatch, caplog):
    """The register was switched, then writing run_history.jsonl failed: the version stays published (not
    rejected), the error is logged, and a retry leaves a 'published, but recording failed' record."""
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    real_append = run_history.append_history
    calls = []

    def full_disk_once(cfg, record):
        calls.append(record["status"])
        if calls.count("published") == 1 and record["status"] == "published":  # the record after the switch
            raise OSError(28, "No space left on device")
        real_append(cfg, record)

    monkeypatch.setattr(publish, "append_history", full_disk_once)
    version = new_version(cfg, "run2", BASE_ORGS[:5])
    with pytest.raises(OSError, match="No space left"):
        publish.publish_version(cfg, version, "run2", [WIRRAL])
    assert os.path.samefile(cfg.register_path, version) and version.exists()
    assert not list((cfg.versions_dir / "rejected").glob("*run2*"))
    last = run_history.read_history(cfg)[-1]
    assert (last["run_id"], last["status"], last["version_file"]) == ("run2", "published", version.name)
    assert last["message"] == "published, but recording failed: OSError: [Errno 28] No space left on device"
    assert last["counts"]["active_organisations"] == {WIRRAL: 5}
    assert "is published as" in caplog.text and "recording the run failed" in caplog.text


def test_a_gate_failure_is_recorded_with_the_rejected_versions_counts(cfg):
    publish.publish_version(cfg, new_version(cfg, "run1", BASE_ORGS), "run1", [WIRRAL])
    with pytest.raises(QualityGateError):
        publish.publish_version(cfg, new_version(cfg, "run2", BASE_ORGS[:2]), "run2", [WIRRAL])
    failed = run_history.read_history(cfg)[-1]
    assert failed["status"] == "failed_quality"
    assert failed["counts"] == {"organisations": {WIRRAL: 2}, "active_organisations": {WIRRAL: 2}}


def test_a_run_that_would_drop_a_published_area_or_reuse_a_run_id_is_refused(cfg, monkeypatch):
    from vcse_pipeline import airflow_tasks
    from vcse_pipeline.errors import PipelineError

    stage_postcode_directory(cfg)
    publish.publish_version(cfg, new_version(cfg, "wirral-1", BASE_ORGS), "wirral-1", [WIRRAL])
    before = sha256(cfg.register_path)
    built = []
    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", lambda *a, **kw: built.append(a))
    with pytest.raises(PipelineError, match=r"the published register holds Wirral \(E08000015\), which this run "
                                            r"would drop \(it builds only E08000012\).*--drop-areas"):
        publish.build_and_publish(cfg, run_id="liverpool-1", areas=["Liverpool"])
    with pytest.raises(PipelineError, match=r"run id 'wirral-1' already published a register"):
        publish.build_and_publish(cfg, run_id="wirral-1")
    assert not built and sha256(cfg.register_path) == before
    # Airflow's first task applies the same rule (a DAG param allows the drop)
    monkeypatch.setattr(airflow_tasks, "load_config", lambda overrides=None: cfg)
    with pytest.raises(PipelineError, match="would drop"):
        airflow_tasks.start_register_run("manual__2026-05-01T06:00:00+00:00", ["Liverpool"])
    refused = run_history.read_history(cfg)[-1]
    assert refused["status"] == "failed" and "would drop" in refused["message"]
    run = airflow_tasks.start_register_run("manual__2026-05-02T06:00:00+00:00", ["Liverpool"], drop_areas=True)
    assert run["areas"] == ["E08000012"]
    airflow_tasks.finish_register_run(run, None, None)  # the teardown releases the run lock
    # and the command line: --drop-areas publishes Liverpool alone (its build stubbed out here)
    monkeypatch.setattr("vcse_pipeline.publish.publish_version", lambda cfg, version, run_id, areas, **kw: areas)
    assert publish.build_and_publish(cfg, run_id="liverpool-2", areas=["Liverpool"], drop_areas=True) == ["E08000012"]
