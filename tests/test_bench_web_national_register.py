"""bench/web_national_register.py on the procurement register spread over three areas: it loads the register both
ways (the app's ranges, one statement per view) in processes of their own, finds the view tables the same, builds
a working copy of one area alone, and compares that area's searches in both."""

from __future__ import annotations

import shutil

import duckdb
from bench_scripts import load_bench
from procurement_fixtures import spread_over_areas

AREAS = ["E08000012", "E08000014", "E08000015"]
WIRRAL = "E08000015"


def test_the_bench_loads_the_register_both_ways_and_compares_one_areas_searches(register, tmp_path):
    bench = load_bench("web_national_register")
    three_areas = tmp_path / "three-areas.duckdb"
    shutil.copyfile(register, three_areas)
    spread_over_areas(three_areas, AREAS)
    con = duckdb.connect(str(three_areas), read_only=True)
    providers = con.execute("SELECT count(*) FROM provider_directory").fetchone()[0]
    in_wirral = con.execute("SELECT count(*) FROM provider_directory WHERE area_code = ?", [WIRRAL]).fetchone()[0]
    con.close()
    work = tmp_path / "work"
    work.mkdir()

    result = bench.run(three_areas, WIRRAL, "1GB", "1GB", repeats=1, work=work)

    assert [(case["way"], case["loaded"], case["providers"]) for case in result["loads"]] == [
        ("ranges", True, providers), ("one statement", True, providers), ("one statement", True, providers)]
    assert all(case["peak_rss_mb"] > 0 for case in result["loads"])
    differ = result["tables_differ_from_one_statement"]
    assert set(differ) >= {"provider_directory", "provider_readiness"} and not any(differ.values())
    alone = duckdb.connect(str(work / "area-alone.duckdb"), read_only=True)
    assert alone.execute("SELECT DISTINCT area_code FROM provider_directory").fetchall() == [(WIRRAL,)]
    assert alone.execute("SELECT count(*) FROM provider_directory").fetchone()[0] == in_wirral
    alone.close()
    assert len(result["searches"]) == 5
    assert all(s["same_rows"] for s in result["searches"]), result["searches"]
    assert any(s["providers"] > 0 for s in result["searches"])
    text = bench.report(result)
    assert "view tables, ranges against one statement: SAME" in text and "| NO |" not in text


def test_a_search_that_reads_other_areas_is_reported(register, tmp_path, monkeypatch):
    """What the comparison is for: a search whose rows differ once other areas are in the register."""
    bench = load_bench("web_national_register")
    three_areas = tmp_path / "three-areas.duckdb"
    shutil.copyfile(register, three_areas)
    spread_over_areas(three_areas, AREAS)
    work = tmp_path / "work"
    work.mkdir()
    bench.view_tables(three_areas, work / "ranged.duckdb", "1GB", 1)
    bench.area_alone(three_areas, WIRRAL, work / "alone.duckdb", "1GB")
    leaky = {"every area": bench.FindQuery(service_areas=["mental_health"])}   # no area: every area's providers
    monkeypatch.setattr(bench, "searches", lambda con, area: leaky)
    [found] = bench.compare_searches(work / "ranged.duckdb", work / "alone.duckdb", WIRRAL, 1)
    assert found["same_rows"] is False
