"""Benchmark: staging and building every English area on national-size inputs (issue 15).

    .venv/bin/python bench/national_inputs.py /tmp/natgen_025 --scale 0.25
    .venv/bin/python bench/national_inputs.py /tmp/natgen_025r --scale 0.25 --perturb 0.01
    .venv/bin/python bench/national_build.py --inputs /tmp/natgen_025 --refresh-inputs /tmp/natgen_025r \\
        --work /tmp/natgen_work --counts 1 10 50 all

Each measurement runs in its own process (peak RSS is its own), on its own copy of the data folder:

- `stage`: every source staged from the generated files by the real loaders (pipeline.stage_source);
- `bare`: bench/build_areas.py's bare DuckDB query selecting Wirral's records (the least a build must do);
- `areas N` / `areas all`: pipeline.build_register for the first N English areas (Wirral first) or every one
  (`all-england`, resolve_areas), from no national state and no tag cache (a first build); the national state's
  own time is measured inside it;
- `refresh`: the `--refresh-inputs` files (the same inputs with about 1% of organisations changed) staged over the
  last (largest) build's data folder, then the same areas built again with that build's caches.

Results: a table on stdout and bench/out/national_build.json (one entry per input scale, merged into the file).
Targets (issue 15): all areas <= 5 minutes wall and <= 2 GB peak; the 1% refresh <= 1 minute; Wirral alone
<= 3x the bare query's CPU and <= 1 GB; no term growing with areas x national size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from build_areas import WIRRAL, fresh_copy, measure, run_bare, staged_areas  # noqa: E402

OUT = ROOT / "bench" / "out"


def config(data_dir: Path, inputs: Path | None = None):
    from vcse_pipeline.config import Config
    from vcse_pipeline.demo.generate import demo_source_overrides

    overrides = {"paths": {"data_dir": str(data_dir)}}
    if inputs:
        overrides.update(demo_source_overrides(inputs))
    return Config.load(environ={}, overrides=overrides)


def input_paths(cfg, name: str) -> list[Path]:
    """The generated files of a source, as its download would leave them."""
    url = cfg.source(name)["url"]
    if "{table}" in url:
        return [Path(url.format(table=table)) for table in cfg.source(name)["tables"]]
    return [Path(url)]


def run_stage(inputs: Path, data_dir: Path) -> dict:
    from vcse_pipeline.pipeline import stage_source
    from vcse_pipeline.sources import SOURCE_NAMES

    cfg = config(data_dir, inputs)

    def stage():
        seconds = {}
        for name in SOURCE_NAMES:
            started = time.perf_counter()
            stage_source(cfg, name, paths=input_paths(cfg, name))
            seconds[name] = round(time.perf_counter() - started, 1)
        return seconds

    return measure(stage)


def run_areas(data_dir: Path, areas: list[str], out: Path) -> dict:
    from vcse_pipeline.pipeline import build_register, resolve_areas
    from vcse_pipeline.register.national import ensure_national_state

    cfg = config(data_dir)
    codes = resolve_areas(cfg, areas)
    if WIRRAL in codes:
        codes = [WIRRAL] + [c for c in codes if c != WIRRAL]

    def build():
        started = time.perf_counter()
        national = ensure_national_state(cfg)
        national_s = round(time.perf_counter() - started, 1)
        summary = build_register(cfg, out, codes, national=national)
        per_area = [a["seconds"] for a in summary["areas"].values()]
        first = summary["areas"][codes[0]]
        return {"areas": len(codes), "national_s": national_s, "area_s_total": round(sum(per_area), 1),
                "area_s_max": round(max(per_area), 2), "organisations": sum(a["organisations"]
                                                                          for a in summary["areas"].values()),
                "first_area": codes[0], "first_area_records": first["source_records"],
                "staged_records": first["staged_records"]}

    return measure(build)


def child(args) -> None:
    if args.child == "stage":
        result = run_stage(Path(args.inputs), Path(args.data_dir))
    elif args.child == "bare":
        result = run_bare(Path(args.data_dir), WIRRAL)
        result["result"] = len(result["result"])
    else:
        result = run_areas(Path(args.data_dir), args.areas, Path(args.out))
    print(json.dumps(result))


def in_child(kind: str, data_dir: Path, *, inputs: Path | None = None, areas: list[str] | None = None,
             out: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--data-dir", str(data_dir)]
    if inputs:
        cmd += ["--inputs", str(inputs)]
    if areas:
        cmd += ["--areas", *areas]
    if out:
        cmd += ["--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def english_areas(data_dir: Path) -> list[str]:
    codes = staged_areas(data_dir)  # bench/build_areas.py's: the staged English local authorities
    return [WIRRAL] + [c for c in codes if c != WIRRAL] if WIRRAL in codes else codes


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", help="a folder bench/national_inputs.py wrote")
    parser.add_argument("--refresh-inputs", help="the same inputs with --perturb (for the refresh case)")
    parser.add_argument("--work", default="/tmp/natgen_work", help="scratch folder for the data folders")
    parser.add_argument("--counts", nargs="*", default=["1", "10", "50", "all"])
    parser.add_argument("--child", choices=["stage", "bare", "areas"])
    parser.add_argument("--data-dir")
    parser.add_argument("--areas", nargs="*")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    inputs = Path(args.inputs).resolve()
    manifest = json.loads((inputs / "manifest.json").read_text(encoding="utf-8"))
    scale = manifest["scale"]
    work = Path(args.work) / f"scale-{scale}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows: list[tuple[str, dict, str]] = []

    def record(name: str, run: dict, note: str = "") -> None:
        rows.append((name, run, note))
        print(f"{name:28} {run['wall_s']:8.1f} {run['cpu_s']:8.1f} {run['peak_rss_mb']:8}  {note}  "
              f"[load {load_average()}]", flush=True)

    print(f"scale {scale}: {manifest['rows']}")
    print(f"{'measure':28} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}")
    staged = work / "staged"
    stage = in_child("stage", staged, inputs=inputs)
    record("stage all sources", stage, json.dumps(stage["result"]))
    areas = english_areas(staged)
    bare = in_child("bare", staged)
    record("bare Wirral selection", bare, f"{bare['result']} records")
    last_dir, last_areas = None, None
    for count in args.counts:
        chosen = areas if count == "all" else areas[:int(count)]
        run_dir = fresh_copy(staged, work, f"areas-{count}")
        run = in_child("areas", run_dir, areas=["all-england"] if count == "all" else chosen,
                       out=work / f"areas-{count}.duckdb")
        result = run["result"]
        note = (f"national {result['national_s']} s, areas {result['area_s_total']} s (max {result['area_s_max']}), "
                f"{result['organisations']:,} organisations; {result['first_area']} {result['first_area_records']:,}"
                f" of {result['staged_records']:,} records")
        if count == "1":
            note += f"; CPU {run['cpu_s'] / bare['cpu_s']:.1f}x bare" if bare["cpu_s"] else ""
        record(f"areas {count} ({result['areas']}), cold", run, note)
        (work / f"areas-{count}.duckdb").unlink(missing_ok=True)
        if last_dir:
            shutil.rmtree(last_dir)
        last_dir, last_areas = run_dir, (["all-england"] if count == "all" else chosen)
    if args.refresh_inputs and last_dir:
        # the last (largest) build's data folder, its caches kept: restage the changed inputs, build the same areas
        restage = in_child("stage", last_dir, inputs=Path(args.refresh_inputs).resolve())
        record("refresh: restage 1% changed", restage, json.dumps(restage["result"]))
        rebuild = in_child("areas", last_dir, areas=last_areas, out=work / "refresh.duckdb")
        result = rebuild["result"]
        record(f"refresh: {result['areas']} areas, warm", rebuild,
               f"national {result['national_s']} s, areas {result['area_s_total']} s")
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "scale": scale, "input_rows": manifest["rows"],
               "table": [{"measure": name, "wall_s": run["wall_s"], "cpu_s": run["cpu_s"],
                          "peak_rss_mb": run["peak_rss_mb"], "note": note} for name, run, note in rows]}
    OUT.mkdir(exist_ok=True)
    path = OUT / "national_build.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    previous[str(scale)] = results
    path.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
