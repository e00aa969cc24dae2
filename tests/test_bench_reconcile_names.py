"""bench/reconcile_names.py on the demo register: the service's answers and the baseline's (every organisation
scored) agree name by name, and a service answering otherwise is reported."""

from __future__ import annotations

from bench_scripts import load_bench


def test_the_bench_finds_the_services_answers_the_same_as_scoring_every_organisation(demo_register):
    bench = load_bench("reconcile_names")
    result = bench.run(demo_register.path, 20, 11)
    assert result["names"] >= 20 + len(bench.FEDERATION_NAMES)
    assert result["same_answers"], [r["name"] for r in result["rows"] if not r["same_answer"]]
    assert any(r["candidates"] == 5 for r in result["rows"]) and any(r["types"] for r in result["rows"])
    assert result["cpu_ratio"] > 0 and result["index_build_s"] > 0
    assert "answers THE SAME both ways" in bench.report(result)
    # what the index leaves the process holding, the register open as the app holds it (Linux's /proc)
    assert isinstance(result["held_mb"], float) and f"{result['held_mb']:,.0f} MB bigger" in bench.report(result)


def test_a_service_answering_otherwise_is_reported(demo_register, monkeypatch, capsys):
    bench = load_bench("reconcile_names")
    candidates = bench.reconcile.candidates
    monkeypatch.setattr(bench.reconcile, "candidates", lambda index, query: candidates(index, query)[:-1])
    assert bench.main([str(demo_register.path), "--names", "10"]) == 1
    out = capsys.readouterr().out
    assert "answers DIFFERENT both ways" in out and "DIFFERENT: " in out
