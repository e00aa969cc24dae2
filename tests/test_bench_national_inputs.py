"""bench/national_inputs.py at a tiny scale: the real loaders stage every file it writes, and the national state
built from them has every English area, most records outside any one area, the registers' cross-links, and each
area's membership as the per-area SQL finds it."""

from __future__ import annotations

from bench_scripts import load_bench

from vcse_pipeline.db import attach_staging, connect
from vcse_pipeline.pipeline import english_local_authorities, stage_source, staged_areas
from vcse_pipeline.postcode import register_macros
from vcse_pipeline.register.area import AREA_TABLE, MEMBERSHIP_TABLE, build_area_membership
from vcse_pipeline.register.national import write_national_tables
from vcse_pipeline.sources import SOURCE_NAMES

WIRRAL = "E08000015"


def test_national_inputs_stage_with_the_real_loaders(tmp_path):
    inputs, bench = load_bench("national_inputs"), load_bench("national_build")
    manifest = inputs.generate(tmp_path / "inputs", scale=0.0005, threads=1)
    rows = manifest["rows"]
    cfg = bench.config(tmp_path / "data", tmp_path / "inputs")
    staged = {name: stage_source(cfg, name, paths=bench.input_paths(cfg, name)) for name in SOURCE_NAMES}

    # every generated line is a staged row
    for table, count in staged["charity_commission"].items():
        assert count == rows[f"charity_commission.{table}"], table
    assert staged["postcodes"]["postcode"] == rows["postcodes.postcode"]
    assert staged["fca_mutuals"]["society"] == rows["fca_mutuals.society"]
    assert staged["companies_house"]["all_company"] == rows["companies_house.company"]
    vcse_share = staged["companies_house"]["company"] / rows["companies_house.company"]
    assert 0.05 < vcse_share < 0.12  # the VCSE-relevant categories, about 8% as nationally

    english = english_local_authorities(staged_areas(cfg))
    assert len(english) == 295 and WIRRAL in english
    assert len(staged_areas(cfg)) == 295 + 22  # and Wales's, which all-england leaves out

    con = connect()
    try:
        register_macros(con)
        attach_staging(con, cfg)
        con.execute("ATTACH ':memory:' AS national")
        write_national_tables(con, cfg, "national")
        methods = dict(con.execute("SELECT method, count(*) FROM national.exact_link GROUP BY 1").fetchall())
        assert methods.get("charity company number", 0) > 0 and methods.get("society number", 0) > 0
        vcse, in_wirral = con.execute(f"""
            SELECT (SELECT count(*) FROM national.register_record WHERE is_vcse),
                   (SELECT count(*) FROM national.{MEMBERSHIP_TABLE} WHERE area_code = ?)""", [WIRRAL]).fetchone()
        assert 0 < in_wirral < vcse * 0.05  # most organisations are outside any one area

        # an area's rows of the national membership are what the same SQL finds for that area alone
        columns = "record_id, in_area_by_postcode, in_area_by_operation, operation_areas"
        build_area_membership(con, WIRRAL, False)
        from_national = con.execute(f"SELECT {columns} FROM {AREA_TABLE} ORDER BY 1").fetchall()
        con.execute("DETACH national")
        build_area_membership(con, WIRRAL, False)
        assert con.execute(f"SELECT {columns} FROM {AREA_TABLE} ORDER BY 1").fetchall() == from_national
        assert any(row[2] for row in from_national)  # some by area of operation
    finally:
        con.close()
