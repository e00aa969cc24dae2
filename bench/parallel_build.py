"""Benchmark: one machine's cores. The same areas built in one process and in several worker processes.

    .venv/bin/python bench/parallel_build.py --data-dir /tmp/d025 --areas 10 --workers 1 2

DATA_DIR is a data folder with every source staged (a copy: the builds write DATA_DIR/cache/). The first N English
areas of its postcode directory (Wirral first) are built by pipeline.build_register (1 worker) and by
parallel_build.build_register_in_workers (more), each in a process of its own, after one warm-up build that makes
the national state and fills the tag cache, so every measured build starts warm, as a refresh does (--cold: with an
empty tag cache, as a first build). For each: wall seconds; CPU seconds of the build process and its workers
together; the CPU seconds of the busiest worker, the least wall time the build can take on idle cores (on a shared
machine the wall time says more about the neighbours than about the build); and the peak memory of the whole process
tree (the sum of their RSS, sampled every 0.1 s, since a worker's peak is not the tree's). Every parallel register
is compared table by table with the one-process register (bench/compare_registers.py): they must be the same.

Results: a table on stdout and bench/out/parallel_build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
WIRRAL = "E08000015"

# Run in a fresh interpreter: builds `areas` into `out` with `workers` processes, prints its own and its children's
# CPU seconds as JSON. The national state is the warm-up's (reused: same staging and settings).
BUILD = """
import json, resource, sys, time
from pathlib import Path
from vcse_pipeline.config import Config
from vcse_pipeline.pipeline import build_register
from vcse_pipeline.parallel_build import build_register_in_workers

def main():
    data, out, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    areas = sys.argv[4].split(",")
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data)}})
    longest = None
    if workers == 1:
        build_register(cfg, out, areas)
    else:
        summary = build_register_in_workers(cfg, out, areas, out.with_name(out.stem + "-work"), workers)
        longest = max(w["cpu_seconds"] for w in summary["workers"])
    cpu = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        cpu += usage.ru_utime + usage.ru_stime
    print(json.dumps({"cpu_seconds": round(cpu, 1), "longest_worker_cpu_seconds": longest}))

if __name__ == "__main__":  # spawned workers import this file as their __main__: they must not build again
    main()
"""


def english_areas(data: Path, count: int) -> list[str]:
    from vcse_pipeline.config import Config
    from vcse_pipeline.pipeline import english_local_authorities, staged_areas

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data)}})
    codes = english_local_authorities(staged_areas(cfg))
    return [WIRRAL] + [c for c in codes if c != WIRRAL][:count - 1]


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a worker that just ended
            pass
    return total


def measure(script: Path, data: Path, out: Path, workers: int, areas: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script), str(data), str(out), str(workers), ",".join(areas)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        watched = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                peak = max(peak, tree_rss(watched))
            except psutil.Error:
                return
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"build with {workers} worker(s) failed:\n{stderr[-3000:]}")
    cpu = json.loads(stdout.strip().splitlines()[-1])
    return {"workers": workers, "wall_seconds": round(wall, 1), "cpu_seconds": cpu["cpu_seconds"],
            "longest_worker_cpu_seconds": cpu["longest_worker_cpu_seconds"], "peak_mb": peak // 2**20}


def main(argv: list[str] | None = None) -> int:
    from compare_registers import compare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--areas", type=int, default=10, help="how many English areas, Wirral first")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts; 1 is the baseline")
    parser.add_argument("--cold", action="store_true", help="empty the tag cache before each build (a first build: "
                                                              "every text tagged, the model loaded by each worker)")
    parser.add_argument("--keep", type=Path, help="copy each register here (workers-N.duckdb) to compare further")
    args = parser.parse_args(argv)
    areas = english_areas(args.data_dir, args.areas)
    counts = sorted(set(args.workers) | {1})
    results = []
    with tempfile.TemporaryDirectory(prefix="parallel-build-") as tmp:
        script = Path(tmp) / "build.py"
        script.write_text(BUILD)
        warm = measure(script, args.data_dir, Path(tmp) / "warm-up.duckdb", 1, areas)
        print(f"warm-up (national state, tag cache): {warm['wall_seconds']} s wall, {warm['cpu_seconds']} s CPU",
              flush=True)
        outputs = {}
        for workers in counts:
            if args.cold:
                shutil.rmtree(args.data_dir / "cache" / "tagging", ignore_errors=True)
            outputs[workers] = Path(tmp) / f"workers-{workers}.duckdb"
            results.append(measure(script, args.data_dir, outputs[workers], workers, areas))
            print(results[-1], flush=True)
        for result in results:
            problems = compare(outputs[1], outputs[result["workers"]]) if result["workers"] != 1 else []
            result["same_as_one_process"] = not problems
            if problems:
                print("\n".join(problems))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(outputs[result["workers"]], args.keep)
    base = results[0]
    cpus = len(os.sched_getaffinity(0))
    kind = "cold" if args.cold else "warm"
    print(f"\n{len(areas)} areas, {kind} builds, {platform.machine()} with {cpus} usable CPUs")
    print(f"{'workers':>7} {'wall s':>8} {'CPU s':>8} {'busiest':>8} {'peak MB':>8} {'wall ratio':>10} "
          f"{'CPU ratio':>9}  same")
    for r in results:
        busiest = r["longest_worker_cpu_seconds"] or r["cpu_seconds"]
        print(f"{r['workers']:>7} {r['wall_seconds']:>8} {r['cpu_seconds']:>8} {busiest:>8} {r['peak_mb']:>8} "
              f"{r['wall_seconds'] / base['wall_seconds']:>10.2f} {r['cpu_seconds'] / base['cpu_seconds']:>9.2f}  "
              f"{'SAME' if r['same_as_one_process'] else 'DIFFERENT'}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "parallel_build.json").write_text(json.dumps({"areas": areas, "cold": args.cold, "results": results},
                                                        indent=2) + "\n")
    return 0 if all(r["same_as_one_process"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
