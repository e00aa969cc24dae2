"""Benchmark: building areas of the register against a bare DuckDB query that selects the same records.

    .venv/bin/python bench/build_areas.py --data-dir /tmp/demo5          # a data folder with every source staged
    .venv/bin/python bench/build_areas.py --data-dir /tmp/demo5 --counts 1 3 9

Make the data folder with `vcse demo --scale 5 --data-dir /tmp/demo5` (the demo's nine local authorities). Each
measurement runs in its own process (so peak RSS is its own), on a copy of the data folder's caches as the case
needs:

- `bare`: one DuckDB script over the attached staging (staging models, postcode join, area membership, exact links
  and their transitive closure by a recursive CTE) selecting the area's source records: the least any build must do;
- `cold`: pipeline.build_register for the area with no national state and no tag cache (a first build);
- `warm`: the same again with the national state and tag cache of the cold build (a rebuild on unchanged staging);
- `areas N`: cold builds of the first N areas (time against number of areas).

The warm build also counts the CPU seconds of each step of the per-area path (the functions in STEPS, wrapped with a
process-time counter; "the rest" is what no step accounts for: SQL writes, the source records, area membership,
views), printed as a second table: where a rebuild's time goes.

The cold and warm builds are checked to select exactly the bare query's records. Results: a table on stdout and
bench/out/build_areas.json. Targets (issue 15): a single area at most 3x the bare query's CPU and under 1 GB; no
term growing with areas x national size.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
WIRRAL = "E08000015"

BARE_SQL = """
CREATE TEMP TABLE _closure AS
WITH RECURSIVE pairs AS (
    SELECT left_record AS a, right_record AS b FROM _exact_links
    UNION ALL SELECT right_record, left_record FROM _exact_links
), reach(record_id) AS (
    SELECT record_id FROM _area_membership
    UNION
    SELECT p.b FROM reach r JOIN pairs p ON p.a = r.record_id
)
SELECT DISTINCT record_id FROM reach
"""


# Steps of a build whose CPU the warm run counts: (label, module, function). Each is called from its module's
# namespace by build_area / build_register / tag_areas, so wrapping the attribute there counts every call. The
# top-level steps do not overlap; "tagging:" sub-steps are inside "tagging".
STEPS = [
    ("fuzzy name links", "vcse_pipeline.register.build", "_fuzzy"),
    ("successor links", "vcse_pipeline.register.build", "successor_links"),
    ("clusters and survivorship", "vcse_pipeline.register.build", "_organisations"),
    ("organisation names", "vcse_pipeline.register.build", "organisation_names"),
    ("enrich (finance, filing, classification)", "vcse_pipeline.register.build", "enrich"),
    ("reference tables", "vcse_pipeline.register.reference_copy", "copy_area_reference"),
    ("national state (reused)", "vcse_pipeline.register.national", "ensure_national_state"),
    ("the build's area tables (once per build)", "vcse_pipeline.register.area_facts", "hold_area_tables"),
    ("tagging", "vcse_pipeline.tagging.apply", "tag_areas"),
    ("tagging: tags (cache lookup, tagger)", "vcse_pipeline.tagging.apply", "_ukcat_tags"),
    ("tagging: service-area placement", "vcse_pipeline.tagging.apply", "_place"),
    ("tagging: name evidence", "vcse_pipeline.tagging.apply", "name_evidence"),
]


def count_steps() -> dict[str, float]:
    """Wrap each STEPS function with a process-time counter; returns the counters (label -> CPU seconds)."""
    import functools
    import importlib

    spent = dict.fromkeys([label for label, _, _ in STEPS], 0.0)
    for label, module_name, name in STEPS:
        module = importlib.import_module(module_name)
        fn = getattr(module, name)

        def counted(*args, _fn=fn, _label=label, **kwargs):
            start = time.process_time()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_label] += time.process_time() - start

        setattr(module, name, functools.wraps(fn)(counted))
    return spent


def measure(fn) -> dict:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    return {"wall_s": round(time.perf_counter() - start_wall, 2), "cpu_s": round(time.process_time() - start_cpu, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "result": result}


def run_bare(data_dir: Path, area: str) -> dict:
    from vcse_pipeline.config import Config
    from vcse_pipeline.db import attach_staging, connect
    from vcse_pipeline.postcode import register_macros
    from vcse_pipeline.register.area import build_area_membership
    from vcse_pipeline.register.exact_links import find_exact_links
    from vcse_pipeline.register.records import build_records

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}})

    def bare():
        con = connect()
        register_macros(con)
        attach_staging(con, cfg)
        vcse, linking = cfg.section("vcse"), cfg.section("linking")
        build_records(con, vcse, list(linking.get("placeholder_company_numbers", [])))
        build_area_membership(con, area, bool(vcse.get("count_national_area_of_operation", False)))
        find_exact_links(con, linking)
        con.execute(BARE_SQL)
        records = sorted(r[0] for r in con.execute("SELECT record_id FROM _closure").fetchall())
        con.close()
        return records

    return measure(bare)


def run_build(data_dir: Path, areas: list[str], out: Path, steps: bool = False) -> dict:
    from vcse_pipeline.config import Config
    from vcse_pipeline.db import connect
    from vcse_pipeline.pipeline import build_register

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}})
    spent = count_steps() if steps else None

    def build():
        build_register(cfg, out, areas)
        con = connect(out, read_only=True)
        records = sorted(r[0] for r in con.execute("SELECT record_id FROM source_record WHERE area_code = ?",
                                                   [areas[0]]).fetchall())
        orgs = con.execute("SELECT count(*) FROM organisation").fetchall()[0][0]
        con.close()
        return {"records": records, "organisations": orgs}

    run = measure(build)
    if spent is not None:
        top = sum(v for k, v in spent.items() if not k.startswith("tagging:"))
        run["steps"] = {**{k: round(v, 2) for k, v in spent.items()}, "the rest": round(run["cpu_s"] - top, 2)}
    return run


def child(args) -> None:
    data_dir = Path(args.data_dir)
    if args.child == "bare":
        result = run_bare(data_dir, args.areas[0])
    else:
        result = run_build(data_dir, args.areas, Path(args.out), args.steps)
    print(json.dumps(result))


def in_child(kind: str, data_dir: Path, areas: list[str], out: Path | None = None, steps: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--data-dir", str(data_dir), "--areas", *areas]
    if out:
        cmd += ["--out", str(out)]
    if steps:
        cmd += ["--steps"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_copy(data_dir: Path, work: Path, name: str) -> Path:
    """A data folder sharing the staging (symlinked) with no caches: a first build."""
    copy = work / name
    (copy / "staging").mkdir(parents=True)
    for path in (data_dir / "staging").glob("*.duckdb"):
        (copy / "staging" / path.name).symlink_to(path)
    return copy


def staged_areas(data_dir: Path) -> list[str]:
    from vcse_pipeline.config import Config
    from vcse_pipeline.pipeline import english_local_authorities, staged_areas

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}})
    return english_local_authorities(staged_areas(cfg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--areas", nargs="*", default=None)
    parser.add_argument("--counts", nargs="*", type=int, default=None)
    parser.add_argument("--child", choices=["bare", "build"])
    parser.add_argument("--out")
    parser.add_argument("--steps", action="store_true", help="count each build step's CPU (child runs)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    data_dir = Path(args.data_dir).resolve()
    areas = args.areas or staged_areas(data_dir)
    if WIRRAL in areas:
        areas = [WIRRAL] + [a for a in areas if a != WIRRAL]
    counts = sorted(set(args.counts or [1, len(areas)]))
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}", "data_dir": str(data_dir),
                     "areas": areas}
    with tempfile.TemporaryDirectory(prefix="vcse-bench-") as tmp:
        work = Path(tmp)
        bare = in_child("bare", data_dir, areas[:1])
        cold_dir = fresh_copy(data_dir, work, "cold")
        cold = in_child("build", cold_dir, areas[:1], work / "cold.duckdb")
        warm = in_child("build", cold_dir, areas[:1], work / "warm.duckdb", steps=True)
        for name, run in (("cold", cold), ("warm", warm)):
            if run["result"]["records"] != bare["result"]:
                raise SystemExit(f"{name} build selected {len(run['result']['records'])} records, the bare query "
                                 f"{len(bare['result'])}: not the same output")
        rows = [("bare DuckDB selection", bare, len(bare["result"])),
                ("build, first (cold caches)", cold, cold["result"]["organisations"]),
                ("build, unchanged staging (warm)", warm, warm["result"]["organisations"])]
        for count in counts:
            run_dir = fresh_copy(data_dir, work, f"areas-{count}")
            run = in_child("build", run_dir, areas[:count], work / f"areas-{count}.duckdb")
            rows.append((f"{count} area(s), cold", run, run["result"]["organisations"]))
            shutil.rmtree(run_dir)
    print(f"{'measure':34} {'wall s':>8} {'CPU s':>8} {'CPU x bare':>10} {'peak MB':>8} {'rows':>8}")
    table = []
    for name, run, size in rows:
        ratio = run["cpu_s"] / bare["cpu_s"] if bare["cpu_s"] else float("nan")
        print(f"{name:34} {run['wall_s']:8.2f} {run['cpu_s']:8.2f} {ratio:10.2f} {run['peak_rss_mb']:8} {size:8}")
        table.append({"measure": name, "wall_s": run["wall_s"], "cpu_s": run["cpu_s"], "cpu_vs_bare": round(ratio, 2),
                      "peak_rss_mb": run["peak_rss_mb"], "rows": size})
    results["table"] = table
    print(f"\nwhere the warm build's CPU goes ({areas[0]})")
    print(f"{'step':42} {'CPU s':>8} {'share':>6}")
    for step, cpu in warm["steps"].items():
        print(f"{step:42} {cpu:8.2f} {cpu / warm['cpu_s']:6.0%}")
    results["warm_steps"] = warm["steps"]
    OUT.mkdir(exist_ok=True)
    (OUT / "build_areas.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
