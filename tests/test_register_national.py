"""The national state (register/national.py): built once, reused while the staging and settings stay the same, and
the same register whether an area selects from it in a file or from tables built in the connection."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.pipeline import build_register
from vcse_pipeline.register import national

WIRRAL = "E08000015"
ORG_COLUMNS = "org_id, name, legal_form, postcode, is_active, area_basis, parent_org_id"


def rows(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def with_linking(cfg: Config, **linking) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(cfg.data_dir)}, "linking": linking})


def test_national_state_is_reused_until_its_inputs_change(demo_register, monkeypatch):
    cfg = demo_register.cfg
    first = national.ensure_national_state(cfg)  # every record and area (the demo's build made one for its areas)
    assert first.parent == cfg.data_dir / "cache" / "national" and first.exists()
    records = rows(first, "SELECT count(*) FROM register_record")[0][0]
    assert records > 500 and rows(first, "SELECT count(*) FROM exact_link")[0][0] > 0
    # every record of an exact link is in one cluster whose root is its smallest record id
    assert rows(first, """SELECT count(*) FROM exact_link e JOIN exact_cluster l ON l.record_id = e.left_record
                          JOIN exact_cluster r ON r.record_id = e.right_record WHERE l.root <> r.root""") == [(0,)]
    assert rows(first, "SELECT count(*) FROM exact_cluster WHERE root > record_id") == [(0,)]

    def no_rebuild(*_args):
        raise AssertionError("the national state was rebuilt for unchanged inputs")

    monkeypatch.setattr(national, "_build", no_rebuild)
    assert national.ensure_national_state(cfg) == first
    monkeypatch.undo()

    # A linking setting shapes the exact links: a new state is built and the old one removed.
    changed = with_linking(cfg, max_records_sharing_contact=3)
    second = national.ensure_national_state(changed)
    assert second != first and second.exists() and not first.exists()
    assert national.ensure_national_state(cfg) == first  # and back again
    assert not second.exists()


def test_a_state_for_some_areas_holds_what_they_need_and_builds_the_same_register(demo_register, tmp_path,
                                                                                   monkeypatch):
    """Built for the areas asked, the state holds their membership and, of the records, exact links and clusters,
    only what their members need: an area built from it is the one built from a complete state. It is reused for
    those areas or fewer, replaced for another, and a build handed it for another area fails at once; a complete
    state serves any area."""
    import shutil

    from vcse_pipeline.errors import PipelineError

    data = tmp_path / "data"
    shutil.copytree(demo_register.cfg.data_dir / "staging", data / "staging")
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data)}})
    areas = [WIRRAL, "E08000012"]
    scoped = national.ensure_national_state(cfg, areas)
    assert rows(scoped, "SELECT area_code FROM membership_area ORDER BY 1") == [(a,) for a in sorted(areas)]
    (national_records, complete), = rows(scoped, "SELECT national_records, complete FROM state")
    held = rows(scoped, "SELECT count(*) FROM register_record")[0][0]
    assert not complete and 0 < held < national_records
    # every member's whole exact-link cluster is held, with the exact links among them
    assert rows(scoped, """SELECT count(*) FROM area_membership m JOIN exact_cluster c1 USING (record_id)
                           JOIN exact_cluster c2 ON c2.root = c1.root
                           WHERE c2.record_id NOT IN (SELECT record_id FROM register_record)""") == [(0,)]
    assert rows(scoped, """SELECT count(*) FROM exact_link WHERE left_record NOT IN (SELECT record_id FROM
                           exact_cluster) OR right_record NOT IN (SELECT record_id FROM exact_cluster)""") == [(0,)]
    assert rows(scoped, "SELECT count(*) FROM exact_link")[0][0] > 0
    built = {"scoped": tmp_path / "scoped.duckdb", "complete": tmp_path / "complete.duckdb"}
    summary = build_register(cfg, built["scoped"], areas, scoped)
    assert summary["areas"][WIRRAL]["staged_records"] == national_records

    def no_rebuild(*_args):
        raise AssertionError("a state covering the areas was built again")

    monkeypatch.setattr(national, "_build", no_rebuild)
    assert national.ensure_national_state(cfg, [WIRRAL]) == scoped
    monkeypatch.undo()
    with pytest.raises(PipelineError, match=r"built for 2 other area\(s\) \(E08000012, E08000015\), not E08000014"):
        build_register(cfg, tmp_path / "other.duckdb", ["E08000014"], scoped)
    other = national.ensure_national_state(cfg, ["E08000014"])
    assert other != scoped and not scoped.exists()
    assert rows(other, "SELECT area_code FROM membership_area") == [("E08000014",)]

    complete = national.ensure_national_state(cfg)
    assert not other.exists()
    assert rows(complete, "SELECT national_records, complete FROM state") == [(national_records, True)]
    assert rows(complete, "SELECT count(*) FROM register_record")[0][0] == national_records
    monkeypatch.setattr(national, "_build", no_rebuild)
    assert national.ensure_national_state(cfg, areas) == complete
    monkeypatch.undo()
    build_register(cfg, built["complete"], areas, complete)
    assert area_tables(built["scoped"]) == area_tables(built["complete"])


def test_an_area_built_from_the_national_file_is_the_published_one(demo_register, tmp_path):
    out = tmp_path / "rebuilt.duckdb"
    summary = build_register(demo_register.cfg, out, [WIRRAL], national.ensure_national_state(demo_register.cfg))
    assert summary["areas"][WIRRAL]["staged_records"] == rows(
        national.ensure_national_state(demo_register.cfg), "SELECT count(*) FROM register_record")[0][0]
    for table, order in (("organisation", "org_id"), ("organisation_link", "left_record, right_record, method"),
                         ("organisation_tag", "ALL")):
        columns = ORG_COLUMNS if table == "organisation" else "*"
        sql = f"SELECT {columns} FROM {table} ORDER BY {order}"
        assert rows(out, sql) == rows(demo_register.path, sql), table


@pytest.mark.parametrize("typed", ["all-england", "All-England"])
def test_all_england_is_every_english_local_authority_staged(tmp_path, typed):
    from vcse_pipeline.pipeline import resolve_areas

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}})
    path = cfg.staging_path("postcodes")
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE postcode (postcode VARCHAR, postcode_key VARCHAR, lad_code VARCHAR)")
    codes = ["E06000001", "E07000008", "E08000015", "E09000001", "W06000001", "S12000033", "N09000001", "L99999999"]
    con.executemany("INSERT INTO postcode VALUES (?, ?, ?)", [(f"P{i}", f"P{i}", c) for i, c in enumerate(codes)])
    con.close()
    assert resolve_areas(cfg, [typed]) == ["E06000001", "E07000008", "E08000015", "E09000001"]
    # with other areas: each once, in the order given
    assert resolve_areas(cfg, ["E08000015", typed]) == ["E08000015", "E06000001", "E07000008", "E09000001"]


def test_airflow_builds_the_national_state_once_and_area_tasks_attach_it(demo_register, tmp_path, monkeypatch):
    """national_state then build_area, as the DAG runs them: the area file is the published Wirral, and the area
    task reads the national state the first task built rather than building its own."""
    import shutil

    from vcse_pipeline import airflow_tasks

    data = tmp_path / "data"
    shutil.copytree(demo_register.cfg.data_dir, data)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VCSE_CONFIG", raising=False)
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(data))
    run = airflow_tasks.start_register_run("manual__2026-05-01T06:00:00+00:00", [WIRRAL], force=True)
    assert run["as_of"] == date.today().isoformat()
    try:
        state = airflow_tasks.build_national_state(run)
        assert state.startswith(str(data / "cache" / "national"))

        def no_rebuild(*_args):
            raise AssertionError("an area task built the national state again")

        monkeypatch.setattr(national, "_build", no_rebuild)
        area_file = airflow_tasks.build_area_file({**run, "as_of": "2025-01-01"}, WIRRAL, state)
        sql = f"SELECT {ORG_COLUMNS} FROM organisation ORDER BY org_id"
        assert rows(area_file, sql) == rows(demo_register.path, sql)
        # the task counts overdue filings from the run's date (a task retried the next day counts the same)
        assert rows(area_file, "SELECT count(*) FROM organisation_filing WHERE ch_accounts_overdue AND "
                               "ch_accounts_next_due_date >= DATE '2025-01-01'") == [(0,)]
        assert rows(area_file, "SELECT count(*) > 0 FROM organisation_filing WHERE ch_accounts_next_due_date "
                               "BETWEEN DATE '2025-01-01' AND current_date") == [(True,)]
    finally:
        airflow_tasks.finish_register_run(run, None, None)


def test_airflow_builds_many_areas_in_at_most_build_tasks_groups_of_even_work(demo_register, tmp_path, monkeypatch):
    """list_areas splits a run's areas into at most [register] build_tasks groups weighed by their records (one area
    a task when they fit), and a build_area task builds its whole group into one file: the rows a one-process build
    of those areas gives."""
    import shutil

    from vcse_pipeline import airflow_tasks
    from vcse_pipeline.parallel_build import area_loads

    areas = [WIRRAL, "E08000012", "E06000050", "E08000014"]   # Wirral and three smaller demo neighbours
    data = tmp_path / "data"
    shutil.copytree(demo_register.cfg.data_dir, data)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VCSE_CONFIG", raising=False)
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(data))
    run = airflow_tasks.start_register_run("manual__2026-05-01T07:00:00+00:00", areas, force=True)
    try:
        state = airflow_tasks.build_national_state(run)
        assert airflow_tasks.area_task_groups(run, state) == [[area] for area in areas]  # 4 areas, 8 tasks allowed
        monkeypatch.setenv("VCSE__REGISTER__BUILD_TASKS", "2")
        groups = airflow_tasks.area_task_groups(run, state)
        loads = area_loads(Path(state), areas)
        assert loads[WIRRAL] > sum(loads[a] for a in areas[1:])  # so Wirral is a group of its own
        assert groups == [[WIRRAL], areas[1:]]
        group_file = airflow_tasks.build_area_file(run, groups[1], state)
        assert Path(group_file).name == f"areas-{areas[1]}-3.duckdb"
        one = build_register(Config.load(environ={}, overrides={"paths": {"data_dir": str(data)}}),
                             tmp_path / "one.duckdb", areas[1:], Path(state), date.fromisoformat(run["as_of"]))
        sql = f"SELECT area_code, {ORG_COLUMNS} FROM organisation ORDER BY ALL"
        assert rows(group_file, sql) == rows(tmp_path / "one.duckdb", sql)
        assert sorted({r[0] for r in rows(group_file, sql)}) == sorted(areas[1:])
        assert one["areas"].keys() == set(areas[1:])
    finally:
        airflow_tasks.finish_register_run(run, None, None)


def test_a_build_held_to_little_memory_publishes_the_same_areas(demo_register, tmp_path, monkeypatch):
    """Many areas in one process: DuckDB held to [register] build_memory_limit, each area tagged in a batch of its own
    (TAG_BATCH_ORGANISATIONS 1) and new tags written to the tag cache after every area (TAGS_HELD 1) give the same
    register as a build that holds everything until the end."""
    import shutil

    from vcse_pipeline import pipeline

    areas = ["E08000012", WIRRAL]
    built = {}
    for name, held, limit in (("held", 10**9, "2GB"), ("flushed", 1, "64MB")):
        data = tmp_path / name
        shutil.copytree(demo_register.cfg.data_dir / "staging", data / "staging")
        cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data)},
                                                 "register": {"build_memory_limit": limit}})
        monkeypatch.setattr(pipeline, "TAGS_HELD", held)
        monkeypatch.setattr(pipeline, "TAG_BATCH_ORGANISATIONS", held)
        built[name] = data / "register.duckdb"
        build_register(cfg, built[name], areas)
        tag_files = list((data / "cache" / "tagging").glob("tags-*/*.parquet"))
        assert len(tag_files) == (1 if name == "held" else 2), name  # one file per flush
    for table in ("organisation", "organisation_tag", "organisation_service_area", "organisation_finance"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert rows(built["flushed"], sql) == rows(built["held"], sql), table
    assert {r[0] for r in rows(built["flushed"], "SELECT DISTINCT area_code FROM organisation")} == set(areas)


def test_removing_a_build_file_removes_what_duckdb_spilled_beside_it(tmp_path):
    """A build killed while DuckDB spilled past [register] build_memory_limit leaves <file>.tmp: it goes too."""
    from vcse_pipeline.db import remove_database

    path = tmp_path / "version.duckdb"
    con = duckdb.connect(str(path))
    spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
    con.close()
    assert spill == tmp_path / "version.duckdb.tmp"  # where DuckDB spills for a file
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"spilled")
    remove_database(path)
    assert not path.exists() and not spill.exists()


def area_tables(path) -> dict[str, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT DISTINCT table_name FROM duckdb_columns() WHERE database_name = current_database() AND "
            "(column_name = 'area_code' OR table_name = 'postcode_location') ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables}
    finally:
        con.close()


def test_area_tables_a_build_holds_are_what_staging_gives(demo_register, tmp_path, monkeypatch):
    """A build selects, for its areas the national state covers, each area's records, exact links and staged facts
    (names, finances, filing, classifications, texts, postcodes) into tables of its connection; an area the state
    does not cover selects them from the national records and staging. Both give the same rows, fact by fact and in
    every register table, and the state itself holds nothing per area beyond membership."""
    from vcse_pipeline.db import attach_staging
    from vcse_pipeline.register import area, area_facts

    cfg, state = demo_register.cfg, national.ensure_national_state(demo_register.cfg)
    assert not [t for (t,) in rows(state, "SHOW TABLES") if t.startswith("area_") and t != "area_membership"]
    areas = [WIRRAL, "E08000012"]
    built = {"held": tmp_path / "held.duckdb", "staging": tmp_path / "from_staging.duckdb"}
    build_register(cfg, built["held"], areas, state)
    con = duckdb.connect(str(built["held"]), read_only=True)
    try:
        attach_staging(con, cfg)
        national.attach_national_state(con, state)
        assert area_facts.hold_area_tables(con, areas[:1]) == {WIRRAL}  # one area: only its rows
        assert con.execute(f"SELECT DISTINCT area_code FROM {area_facts.AREA_RECORD_TABLE}").fetchall() == [(WIRRAL,)]
        assert area_facts.hold_area_tables(con, [*areas, "E06000001"]) == set(areas)  # E06000001: not in the demo
        for code in areas:
            facts = {}
            for held in (True, False):
                area_facts.select_area_facts(con, [code], held)
                facts[held] = {name: con.execute(f"SELECT * FROM _area_{name} ORDER BY ALL").fetchall()
                               for name in area_facts.FACTS}
            assert facts[True] == facts[False], code
            assert facts[True]["charity"] and facts[True]["company"] and facts[True]["postcode"], code
            assert (con.execute(f"SELECT * EXCLUDE (area_code) FROM {area_facts.AREA_RECORD_TABLE} "
                                "WHERE area_code = ? ORDER BY ALL", [code]).fetchall()
                    == con.execute("SELECT * EXCLUDE (area_code) FROM source_record WHERE area_code = ? ORDER BY ALL",
                                   [code]).fetchall()), code
    finally:
        con.close()

    # no area covered: everything selected per area from the national records and staging
    monkeypatch.setattr(area_facts, "national_coverage", lambda *_a: set())
    monkeypatch.setattr(area, "national_covers", lambda *_a: False)
    build_register(cfg, built["staging"], areas, state)
    from_held, from_staging = area_tables(built["held"]), area_tables(built["staging"])
    assert from_held == from_staging
    assert all(from_held[t] for t in ("source_record", "organisation_link", "organisation_finance",
                                      "organisation_classification", "organisation_text", "postcode_location"))


def test_postcode_location_is_each_areas_live_postcodes_and_its_organisations(demo_register):
    """postcode_location, filled area by area (INSERT OR IGNORE on its key), is exactly what its rule gives straight
    from the staged directory: every live postcode of a built area plus every organisation's postcode the directory
    knows, once each."""
    from vcse_pipeline.db import sql_literal

    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        con.execute(f"ATTACH {sql_literal(demo_register.cfg.staging_path('postcodes'))} AS postcodes (READ_ONLY)")
        expected = con.execute("""
            SELECT DISTINCT p.postcode, p.lad_code, p.ward_code, p.lat, p.long FROM postcodes.postcode p
            WHERE p.lad_code IN (SELECT DISTINCT area_code FROM organisation) AND NOT p.is_terminated
               OR p.postcode IN (SELECT postcode FROM organisation)
            ORDER BY ALL""").fetchall()
        built = con.execute("SELECT * FROM postcode_location ORDER BY ALL").fetchall()
        outside = con.execute("""SELECT count(*) FROM organisation o JOIN postcode_location l USING (postcode)
                                 WHERE l.lad_code <> o.area_code""").fetchall()[0][0]
    finally:
        con.close()
    assert built == expected
    assert len({r[1] for r in built}) > 1 and outside > 0  # several areas, and organisations based outside one


def test_postcode_location_is_written_in_postcode_order(demo_register):
    """Areas add their postcodes with INSERT OR IGNORE, which loses the ORDER BY across DuckDB's parallel vectors:
    the build sorts the table at its end, so the same staging writes the same file."""
    postcodes = [postcode for (postcode,) in rows(demo_register.path, "SELECT postcode FROM postcode_location")]
    assert len(postcodes) > 2 * 2048  # more than one vector's worth, where the order was lost
    assert postcodes == sorted(postcodes)
    # rewritten as a new table, it keeps its key: a postcode added twice is refused
    with duckdb.connect(str(demo_register.path), read_only=True) as con:
        constraints = con.execute("SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
                                  "WHERE table_name = 'postcode_location'").fetchall()
    assert ("PRIMARY KEY", ["postcode"]) in constraints


def test_areas_are_tagged_in_batches_of_organisations_in_build_order():
    from vcse_pipeline.pipeline import tag_batches

    counts = {"E08000015": 5, "E08000012": 10, "E08000014": 30, "E06000050": 1, "E08000011": 19}
    assert tag_batches(counts, 20) == [["E08000015", "E08000012"], ["E08000014"], ["E06000050", "E08000011"]]
    assert tag_batches(counts, 1000) == [list(counts)]
    assert tag_batches(counts, 1) == [[area] for area in counts]
    assert tag_batches({}, 20) == []
