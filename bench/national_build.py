"""Benchmark: staging and building every English area on national-size inputs (issue 15).

    .venv/bin/python bench/national_inputs.py /tmp/natgen_025 --scale 0.25
    .venv/bin/python bench/national_inputs.py /tmp/natgen_025r --scale 0.25 --perturb 0.01
    .venv/bin/python bench/national_build.py --inputs /tmp/natgen_025 --refresh-inputs /tmp/natgen_025r \\
        --work /tmp/natgen_work --counts 1 10 50 all --workers 2

Each measurement runs in its own process, on its own data folder (the staging shared, read-only, by symlinks):

- `stage`: every source staged from the generated files by the real loaders, as `vcse refresh` stages them
  (pipeline.stage_sources: [download] stage_workers sources at once, each in a worker process); `--staged DIR`
  reuses a data folder already staged from the same inputs instead (staging does not depend on the build code);
- `bare`: bench/build_areas.py's bare DuckDB query selecting Wirral's records (the least a build must do);
- `areas N` / `areas all`: `vcse publish` (publish.build_and_publish: build, changes, quality gates, the switch) of
  the first N English areas (Wirral first) or `all-england`, from no national state, no tag cache and no published
  register (a first build), with `[register] build_workers` set to each `--workers` value (1: the build in the
  publishing process; code without that setting always builds there, and the figure says so). Gates a synthetic
  input fails are accepted (named in the result), as an operator would with `--accept`. `--warm` publishes the
  same areas again on unchanged staging (national state and tags reused);
- `refresh`: the `--refresh-inputs` files (the same inputs with about 1% of organisations changed) staged over the
  last (largest) build's data folder, only the sources whose files changed (as a refresh downloads only those), then
  the same areas published again over that build's register and caches.

`--mode build` measures pipeline.build_register alone, in one process (no gates, no publish): the measure of the
figures before issue 15's parallel build.

Every case is measured from outside its process, children included: wall time from start to exit; CPU as the
user+system time of the process and every descendant it waited for (getrusage RUSAGE_CHILDREN), or the sampled
CPU times of the process tree when larger (a descendant nobody waited for); peak memory as the largest sum of
the tree's resident sets, sampled every 0.1 s (a worker's pages shared with its parent count twice: an upper
bound). ru_maxrss would give only the largest single process. The case's own figures (its CPU in the publishing
process, the national state's wall time, the publish timings) are kept under `inner`. The load average at the
start and end of each case is recorded: the machine may be shared, so compare CPU seconds.

Results: a table on stdout and bench/out/national_build.json (one entry per input scale and run, merged into the
file). Targets (issue 15): all areas <= 5 minutes wall and <= 2 GB peak; the 1% refresh <= 1 minute; Wirral alone
<= 3x the bare query's CPU and <= 1 GB; no term growing with areas x national size.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from build_areas import WIRRAL, fresh_copy, measure, run_bare, staged_areas  # noqa: E402

OUT = ROOT / "bench" / "out"
SAMPLE_SECONDS = 0.1


class TreeMonitor:
    """The summed resident memory of a process and all its descendants (peak over samples), and the last CPU
    times seen of each: a worker pool's children run concurrently, so the tree's peak is their sum."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_processes = 0
        self.cpu_seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> user+system seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        """Sum the tree's resident memory now (bytes); update the peak and each process's CPU times."""
        total, count = 0, 0
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:  # the root has exited
            return 0
        for process in processes:
            try:
                with process.oneshot():
                    rss = process.memory_info().rss
                    cpu = process.cpu_times()
                    key = (process.pid, process.create_time())
            except psutil.Error:  # exited between the listing and the reading
                continue
            total += rss
            count += 1
            self.cpu_seen[key] = cpu.user + cpu.system
        if total > self.peak_rss:
            self.peak_rss, self.peak_processes = total, count
        return total

    def sampled_cpu(self) -> float:
        return sum(self.cpu_seen.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> TreeMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run cmd to its end, measured from outside: wall, CPU of it and its descendants, peak summed RSS of the tree.
    The command's last stdout line (its JSON result) is returned under `inner`."""
    load_start = load_average()
    cpu_before = children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=cwd, env=env)
    monitor = TreeMonitor(process.pid).start()
    stdout, stderr = process.communicate()
    monitor.stop()
    wall = time.perf_counter() - started
    waited = children_cpu() - cpu_before
    if process.returncode:
        raise SystemExit(f"{' '.join(cmd[1:4])} failed:\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    return {"wall_s": round(wall, 2), "cpu_s": round(max(waited, monitor.sampled_cpu()), 2),
            "peak_rss_mb": round(monitor.peak_rss / 2**20), "processes_at_peak": monitor.peak_processes,
            "load": [load_start, load_average()], "inner": json.loads(lines[-1]) if lines else None}


def config(data_dir: Path, inputs: Path | None = None, workers: int | None = None):
    from vcse_pipeline.config import Config
    from vcse_pipeline.demo.generate import demo_source_overrides

    overrides: dict = {"paths": {"data_dir": str(data_dir)}}
    if inputs:
        overrides.update(demo_source_overrides(inputs))
    if workers is not None and has_build_workers():
        overrides["register"] = {"build_workers": workers}
    return Config.load(environ={}, overrides=overrides)


def has_build_workers() -> bool:
    """Whether this code builds areas in worker processes (`[register] build_workers`)."""
    from vcse_pipeline.config import Config

    return "build_workers" in Config.load(environ={}).section("register")


def input_paths(cfg, name: str) -> list[Path]:
    """The generated files of a source, as its download would leave them."""
    url = cfg.source(name)["url"]
    if "{table}" in url:
        return [Path(url.format(table=table)) for table in cfg.source(name)["tables"]]
    return [Path(url)]


def changed_sources(inputs: Path, changed: Path) -> list[str]:
    """The sources whose generated files differ between two input folders (what a refresh would download)."""
    from vcse_pipeline.sources import SOURCE_NAMES

    before, after = config(Path("unused"), inputs), config(Path("unused"), changed)
    return [name for name in SOURCE_NAMES
            if any(not filecmp.cmp(a, b, shallow=False)
                   for a, b in zip(input_paths(before, name), input_paths(after, name), strict=True))]


def run_stage(inputs: Path, data_dir: Path, sources: list[str] | None = None) -> dict:
    """Stage the sources as `vcse refresh` stages the ones with new files: pipeline.stage_sources, [download]
    stage_workers at once (each in a worker process; one source, or one worker, in this process)."""
    from vcse_pipeline.pipeline import stage_sources, stage_worker_count
    from vcse_pipeline.sources import SOURCE_NAMES

    cfg = config(data_dir, inputs)
    names = list(sources or SOURCE_NAMES)

    def stage():
        outcomes = stage_sources(cfg, names, paths={name: input_paths(cfg, name) for name in names})
        failed = [outcome for outcome in outcomes.values() if isinstance(outcome, Exception)]
        if failed:
            raise failed[0]
        return {"sources": names, "at_once": stage_worker_count(cfg, len(names))}

    return measure(stage)


def timed_national_state() -> dict:
    """Count the wall time of the national state (register/national.ensure_national_state) however it is called."""
    from vcse_pipeline.register import national

    spent = {"national_s": 0.0}
    original = national.ensure_national_state

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent["national_s"] += time.perf_counter() - started

    national.ensure_national_state = timed
    return spent


def ordered_areas(cfg, areas: list[str]) -> list[str]:
    from vcse_pipeline.pipeline import resolve_areas

    codes = resolve_areas(cfg, areas)
    return [WIRRAL] + [c for c in codes if c != WIRRAL] if WIRRAL in codes else codes


def run_build(data_dir: Path, areas: list[str], out: Path) -> dict:
    """pipeline.build_register in this process (the national state first, timed apart)."""
    from vcse_pipeline.pipeline import build_register
    from vcse_pipeline.register.national import ensure_national_state

    cfg = config(data_dir)
    codes = ordered_areas(cfg, areas)

    def build():
        started = time.perf_counter()
        national = ensure_national_state(cfg, codes)
        national_s = round(time.perf_counter() - started, 1)
        summary = build_register(cfg, out, codes, national=national)
        per_area = [a["seconds"] for a in summary["areas"].values()]
        first = summary["areas"][codes[0]]
        return {"areas": len(codes), "national_s": national_s, "area_s_total": round(sum(per_area), 1),
                "area_s_max": round(max(per_area), 2),
                "organisations": sum(a["organisations"] for a in summary["areas"].values()),
                "first_area": codes[0], "first_area_records": first["source_records"],
                "staged_records": first["staged_records"]}

    return measure(build)


def run_publish(data_dir: Path, areas: list[str], workers: int | None) -> dict:
    """`vcse publish` of the areas (build, changes, gates, switch), failed gates accepted and named."""
    spent = timed_national_state()
    from vcse_pipeline.publish import build_and_publish
    from vcse_pipeline.quality import ACCEPTABLE_GATES

    cfg = config(data_dir, workers=workers)
    codes = ordered_areas(cfg, areas)

    def publish():
        result = build_and_publish(cfg, areas=codes, accept=list(ACCEPTABLE_GATES), drop_areas=True, force=True)
        return {"areas": len(codes), "workers": workers if has_build_workers() else "in-process (no setting)",
                "national_s": round(spent["national_s"], 1), "timings": result.timings,
                "organisations": sum(result.counts.values()), "changes": result.changes,
                "accepted_gates": sorted({g.name for g in result.gates if g.accepted}), "first_area": codes[0]}

    return measure(publish)


def child(args) -> None:
    data_dir = Path(args.data_dir)
    if args.child == "stage":
        result = run_stage(Path(args.inputs), data_dir, args.sources)
    elif args.child == "bare":
        result = run_bare(data_dir, WIRRAL)
        result["result"] = len(result["result"])
    elif args.child == "build":
        result = run_build(data_dir, args.areas, Path(args.out))
    else:
        result = run_publish(data_dir, args.areas, args.workers[0] if args.workers else None)
    print(json.dumps(result))


def in_child(kind: str, data_dir: Path, *, inputs: Path | None = None, areas: list[str] | None = None,
             out: Path | None = None, workers: int | None = None, sources: list[str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--data-dir", str(data_dir)]
    if inputs:
        cmd += ["--inputs", str(inputs)]
    if areas:
        cmd += ["--areas", *areas]
    if out:
        cmd += ["--out", str(out)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if sources:
        cmd += ["--sources", *sources]
    return run_measured(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def english_areas(data_dir: Path) -> list[str]:
    codes = staged_areas(data_dir)  # bench/build_areas.py's: the staged English local authorities
    return [WIRRAL] + [c for c in codes if c != WIRRAL] if WIRRAL in codes else codes


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def staged_copy(staged: Path, work: Path) -> Path:
    """A data folder sharing a staged folder's staging files (symlinked, read-only: builds never write them)."""
    if not all((staged / "staging" / f"{name}.duckdb").exists() for name in source_names()):
        raise SystemExit(f"{staged}/staging does not hold every source's staging file")
    return fresh_copy(staged, work, "staged")


def source_names() -> tuple[str, ...]:
    from vcse_pipeline.sources import SOURCE_NAMES

    return tuple(SOURCE_NAMES)


def processes(run: dict) -> str:
    """How the build ran: the workers the publish used (fewer than asked when there are fewer areas)."""
    workers = run["inner"]["result"].get("timings", {}).get("build_workers", 1)
    return f"{workers} workers" if workers > 1 else "in-process"


def build_note(run: dict) -> str:
    inner = run["inner"]["result"]
    timings = inner.get("timings", {})
    parts = [f"national {inner['national_s']} s"]
    if "area_s_total" in inner:
        parts.append(f"areas {inner['area_s_total']} s (max {inner['area_s_max']})")
    else:
        parts.append("build {build_seconds} s, changes {changes_seconds} s, gates {gates_seconds} s, "
                     "publish {publish_seconds} s".format_map({k: timings.get(k) for k in
                                                               ("build_seconds", "changes_seconds",
                                                                "gates_seconds", "publish_seconds")}))
    parts.append(f"{inner['organisations']:,} organisations")
    if inner.get("accepted_gates"):
        parts.append(f"accepted {', '.join(inner['accepted_gates'])}")
    parts.append(f"{run['processes_at_peak']} processes at peak")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", help="a folder bench/national_inputs.py wrote")
    parser.add_argument("--refresh-inputs", help="the same inputs with --perturb (for the refresh case)")
    parser.add_argument("--staged", help="a data folder already staged from --inputs (skips the stage case)")
    parser.add_argument("--work", default="/tmp/natgen_work", help="scratch folder for the data folders")
    parser.add_argument("--counts", nargs="*", default=["1", "10", "50", "all"])
    parser.add_argument("--workers", nargs="*", type=int, default=[1],
                        help="[register] build_workers for each build (1: in the publishing process)")
    parser.add_argument("--mode", choices=["publish", "build"], default="publish")
    parser.add_argument("--warm", action="store_true", help="publish each count again on unchanged staging")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare query")
    parser.add_argument("--label", default="", help="names this run in the results file")
    parser.add_argument("--child", choices=["stage", "bare", "build", "publish"])
    parser.add_argument("--data-dir")
    parser.add_argument("--areas", nargs="*")
    parser.add_argument("--sources", nargs="*")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    inputs = Path(args.inputs).resolve()
    manifest = json.loads((inputs / "manifest.json").read_text(encoding="utf-8"))
    scale = manifest["scale"]
    work = Path(args.work) / f"scale-{scale}{'-' + args.label if args.label else ''}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows: list[tuple[str, dict, str]] = []

    def record(name: str, run: dict, note: str = "") -> None:
        rows.append((name, run, note))
        print(f"{name:34} {run['wall_s']:8.1f} {run['cpu_s']:8.1f} {run['peak_rss_mb']:8}  {note}  "
              f"[load {run['load'][0]} -> {run['load'][1]}]", flush=True)

    print(f"scale {scale}: {manifest['rows']}")
    print(f"code: {'build_workers' if has_build_workers() else 'no build_workers setting (in-process builds)'}")
    print(f"{'measure':34} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}")
    if args.staged:
        staged = staged_copy(Path(args.staged).resolve(), work)
    else:
        staged = work / "staged"
        stage = in_child("stage", staged, inputs=inputs)
        record("stage all sources", stage, json.dumps(stage["inner"]["result"]))
    areas = english_areas(staged)
    bare = None
    if not args.no_bare:
        bare = in_child("bare", staged)
        record("bare Wirral selection", bare, f"{bare['inner']['result']} records")
    last_dir, last_areas, last_workers = None, None, None
    for count in args.counts:
        chosen = ["all-england"] if count == "all" else areas[:int(count)]
        for workers in (args.workers if args.mode == "publish" else [None]):
            run_dir = fresh_copy(staged, work, f"areas-{count}-{workers}")
            if args.mode == "build":
                run = in_child("build", run_dir, areas=chosen, out=work / f"areas-{count}.duckdb")
            else:
                run = in_child("publish", run_dir, areas=chosen, workers=workers)
            name = f"areas {count}, {processes(run)}"
            note = build_note(run)
            if count == "1" and bare and bare["cpu_s"]:
                note += f"; CPU {run['cpu_s'] / bare['cpu_s']:.1f}x bare"
            record(f"{name}, cold", run, note)
            if args.warm:
                again = (in_child("build", run_dir, areas=chosen, out=work / f"areas-{count}-warm.duckdb")
                         if args.mode == "build" else in_child("publish", run_dir, areas=chosen, workers=workers))
                record(f"{name}, warm", again, build_note(again))
            for path in work.glob("areas-*.duckdb"):
                path.unlink()
            if last_dir:
                shutil.rmtree(last_dir)
            last_dir, last_areas, last_workers = run_dir, chosen, workers
    if args.refresh_inputs and last_dir:
        # the last (largest) build's data folder, its caches and register kept: restage what changed, publish again
        refresh_inputs = Path(args.refresh_inputs).resolve()
        changed = changed_sources(inputs, refresh_inputs)
        restage = in_child("stage", last_dir, inputs=refresh_inputs, sources=changed)
        record("refresh: restage the changed sources", restage, json.dumps(restage["inner"]["result"]))
        if args.mode == "build":
            rebuild = in_child("build", last_dir, areas=last_areas, out=work / "refresh.duckdb")
        else:
            rebuild = in_child("publish", last_dir, areas=last_areas, workers=last_workers)
        note = build_note(rebuild)
        if args.mode == "publish":
            note += f"; changes {rebuild['inner']['result']['changes']}"
        record(f"refresh: {rebuild['inner']['result']['areas']} areas, {processes(rebuild)}, warm", rebuild, note)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "scale": scale, "input_rows": manifest["rows"], "mode": args.mode,
               "build_workers_setting": has_build_workers(),
               "table": [{"measure": name, **{k: v for k, v in run.items() if k != "inner"}, "note": note,
                          "inner": run["inner"]} for name, run, note in rows]}
    OUT.mkdir(exist_ok=True)
    path = OUT / "national_build.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    previous[f"{scale}{' ' + args.label if args.label else ''}"] = results
    path.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
