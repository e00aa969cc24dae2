"""Reconciliation against a register: the answers the web service gives (reconcile.candidates, which scores in full
only what can change them: MatchIndex.leading) against scoring every organisation each name blocks with (the
baseline, as the service did before), name by name: the same answers, and how much less CPU.

    .venv/bin/python bench/reconcile_names.py REGISTER.duckdb [--names 60] [--seed 11] [--json out.json]

REGISTER is a published register: the demo's, or the one `bench/national_build.py --counts all` publishes for
every English area. The names are a seeded sample of the register's own names, each also cut to its first two
words (a name as people shorten it), and a few federation names ("Age UK Wirral", "Wirral Mind"); each asked
with a limit of 5 candidates (OpenRefine's default), every third of a type (charity).

Reports: the index's build time, the memory the process holds once it is built with the register still open (as
the app holds it: the index and whatever DuckDB kept) and its peak; per name, both ways' answers compared (they
must be equal: the JSON the service returns) and their CPU time; the ratio of the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcse_pipeline.matching import MATCHED  # noqa: E402
from vcse_pipeline.web import reconcile  # noqa: E402

FEDERATION_NAMES = ["Age UK Wirral", "Wirral Mind", "Citizens Advice Wirral", "Home-Start Wirral", "Mind"]
THRESHOLDS = (90.0, 75.0)


def every_organisation(index: reconcile.ReconcileIndex, query: reconcile.NameQuery) -> list[dict]:
    """reconcile.candidates as it was before MatchIndex.leading: every organisation the name blocks with scored."""
    matcher = index.matcher
    every = matcher.candidates(query.name, query.postcode, limit=None)
    decision = matcher.match(query.name, query.postcode, link_threshold=index.link_threshold,
                             review_threshold=index.review_threshold, margin=reconcile.DEFAULT_MARGIN, found=every)
    matched = decision.org_id if decision.status == MATCHED else None
    accept = reconcile._type_filter(index, query.types)
    found = [c for c in every if accept is None or accept(c.org_id)]
    found.sort(key=lambda c: c.org_id != matched)
    return [reconcile.candidate_json(index, c, c.org_id == matched) for c in found[:query.limit]]


def sample_names(con: duckdb.DuckDBPyConnection, count: int, seed: int) -> list[str]:
    names = [row[0] for row in con.execute(
        f"SELECT name FROM (SELECT DISTINCT name FROM organisation ORDER BY name) "
        f"USING SAMPLE {int(count)} ROWS (reservoir, {int(seed)}) ORDER BY name").fetchall()]
    shortened = [" ".join(name.split()[:2]) for name in names if len(name.split()) > 2]
    return list(dict.fromkeys(names + shortened + FEDERATION_NAMES))


def cpu() -> float:
    return time.process_time()


def resident_mb() -> float | None:
    """This process's resident memory now (Linux's /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return None


def run(register: Path, names: int, seed: int) -> dict:
    con = duckdb.connect(str(register), read_only=True)
    try:
        con.execute("SELECT count(*) FROM organisation").fetchall()
        before = resident_mb()
        started = time.perf_counter()
        index = reconcile.ReconcileIndex.build(con, THRESHOLDS)
        build = time.perf_counter() - started
        after = resident_mb()
        asked = sample_names(con, names, seed)
    finally:
        con.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = []
    for number, name in enumerate(asked):
        types = frozenset({"charity"}) if number % 3 == 2 else frozenset()
        query = reconcile.NameQuery(name, None, types, reconcile.DEFAULT_CANDIDATES)
        before = cpu()
        baseline = every_organisation(index, query)
        baseline_cpu = cpu() - before
        before = cpu()
        answer = reconcile.candidates(index, query)
        answer_cpu = cpu() - before
        rows.append({"name": name, "types": sorted(types), "same_answer": answer == baseline,
                     "every_organisation_ms": baseline_cpu * 1000, "service_ms": answer_cpu * 1000,
                     "candidates": len(answer)})
    total_baseline = sum(r["every_organisation_ms"] for r in rows)
    total_service = sum(r["service_ms"] for r in rows)
    return {"register": str(register), "organisations": len(index.entities), "names": len(rows),
            "index_build_s": build, "peak_rss_mb": rss, "rows": rows,
            "held_mb": after - before if before is not None and after is not None else None,
            "same_answers": all(r["same_answer"] for r in rows),
            "every_organisation_ms_per_name": total_baseline / max(len(rows), 1),
            "service_ms_per_name": total_service / max(len(rows), 1),
            "cpu_ratio": total_service / total_baseline if total_baseline else None,
            "slowest": sorted(rows, key=lambda r: -r["service_ms"])[:5], "cpus": os.cpu_count()}


def report(result: dict) -> str:
    held = f"{result['held_mb']:,.0f} MB" if result["held_mb"] is not None else "not measured"
    lines = [f"register {result['register']}: {result['organisations']:,} organisations; index built in "
             f"{result['index_build_s']:.1f} s, the process then {held} bigger with the register open, "
             f"peak memory {result['peak_rss_mb']:,.0f} MB",
             f"{result['names']} names: answers {'THE SAME' if result['same_answers'] else 'DIFFERENT'} both ways",
             "", "| way | CPU per name |", "|---|---|",
             f"| every organisation each name blocks with | {result['every_organisation_ms_per_name']:.1f} ms |",
             f"| the service (MatchIndex.leading) | {result['service_ms_per_name']:.1f} ms |",
             "", f"ratio (service / baseline, total CPU): {result['cpu_ratio']:.3f}", "", "slowest names (service):"]
    lines += [f"  {r['service_ms']:.0f} ms (baseline {r['every_organisation_ms']:.0f} ms): {r['name']}"
              for r in result["slowest"]]
    lines += [f"DIFFERENT: {r['name']}" for r in result["rows"] if not r["same_answer"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("register", type=Path)
    parser.add_argument("--names", type=int, default=60, help="registered names sampled (each also shortened)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.register, args.names, args.seed)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["same_answers"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
