"""Benchmark: what the Airflow register DAG's mapped build_area tasks cost, one area a task against groups of areas.

    .venv/bin/python bench/airflow_area_tasks.py --data-dir /tmp/d025 --areas 40 --tasks 0 8

DATA_DIR is a data folder with every source staged (a copy: the run writes DATA_DIR/cache/ and DATA_DIR/register/).
A register run is started as the DAG's start_run task starts it (airflow_tasks.start_register_run, forced), its
national state built once (national_state, not measured), then for each `--tasks` value ([register] build_tasks; 0:
one task per area, as the DAG mapped them before build_tasks) the list_areas task's groups are each built by
airflow_tasks.build_area_file in a fresh interpreter, as a worker runs a task, one after another. Measured: the CPU
seconds of those processes together, and their wall seconds end to end. Airflow's own start of each task (its
supervisor, parsing the DAG file, the API calls) is not included: it adds to every task, so to the one-area tasks
most. The files of each setting are assembled (publish.assemble_version's parallel_build.assemble_register) and
compared table by table with the one-area tasks' (bench/compare_registers.py): they must be the same.

Results: a table on stdout and bench/out/airflow_area_tasks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
WIRRAL = "E08000015"

# One build_area task in a fresh interpreter: argv = the run (JSON), the group (JSON), the national state's path.
TASK = """
import json, sys
from vcse_pipeline import airflow_tasks
print(airflow_tasks.build_area_file(json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]))
"""


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tasks(run: dict, groups: list[list[str]], national: str) -> tuple[list[Path], float, float]:
    """Each group built as one task process, one after another: (their files, CPU seconds, wall seconds)."""
    cpu, started, files = cpu_of_children(), time.monotonic(), []
    for group in groups:
        done = subprocess.run([sys.executable, "-c", TASK, json.dumps(run), json.dumps(group), national],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"build_area {' '.join(group)} failed:\n{done.stderr[-3000:]}")
        files.append(Path(done.stdout.strip().splitlines()[-1]))
    return files, round(cpu_of_children() - cpu, 1), round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> int:
    from compare_registers import compare

    from vcse_pipeline import airflow_tasks
    from vcse_pipeline.parallel_build import assemble_register

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--areas", default="40", help="how many English areas (Wirral first), or 'all'")
    parser.add_argument("--tasks", type=int, nargs="+", default=[0, 8],
                        help="[register] build_tasks values; 0 = one task per area, the baseline")
    args = parser.parse_args(argv)
    # One environment for this process's tasks (start_run, list_areas) and the task processes, which inherit it:
    # only the data folder set, whatever VCSE settings the shell has.
    for key in [k for k in os.environ if k.startswith("VCSE")]:
        del os.environ[key]
    os.environ.update(VCSE__PATHS__DATA_DIR=str(args.data_dir.resolve()), PYTHONPATH=str(ROOT))

    from vcse_pipeline.pipeline import resolve_areas

    codes = [c for c in resolve_areas(airflow_tasks.load_config(), ["all-england"]) if c != WIRRAL]
    areas = [WIRRAL] + (codes if args.areas == "all" else codes[:int(args.areas) - 1])
    settings = sorted(set(args.tasks) | {0})
    run = airflow_tasks.start_register_run(f"manual__bench-area-tasks-{os.getpid()}", areas, force=True)
    results = []
    try:
        national = airflow_tasks.build_national_state(run)
        with tempfile.TemporaryDirectory(prefix="area-tasks-") as tmp:
            versions = {}
            for tasks in settings:
                os.environ["VCSE__REGISTER__BUILD_TASKS"] = str(tasks or len(areas))
                groups = airflow_tasks.area_task_groups(run, national)
                files, cpu, wall = run_tasks(run, groups, national)
                versions[tasks] = assemble_register(Path(tmp) / f"tasks-{tasks}.duckdb", files)
                for file in files:
                    file.unlink()
                results.append({"build_tasks": tasks or "one per area", "tasks": len(groups), "cpu_seconds": cpu,
                                "wall_seconds": wall})
                print(results[-1], flush=True)
            for result, tasks in zip(results, settings, strict=True):
                problems = compare(versions[0], versions[tasks]) if tasks else []
                result["same_as_one_area_tasks"] = not problems
                if problems:
                    print("\n".join(problems))
    finally:
        airflow_tasks.finish_register_run(run, None, None)
    base = results[0]
    print(f"\n{len(areas)} areas, warm (national state built, tag cache as the data folder has it), "
          f"{platform.machine()} with {len(os.sched_getaffinity(0))} usable CPUs; tasks run one after another")
    print(f"{'build_tasks':>12} {'tasks':>6} {'CPU s':>8} {'wall s':>8} {'CPU ratio':>9} {'CPU s a task':>12}  same")
    for r in results:
        print(f"{r['build_tasks']!s:>12} {r['tasks']:>6} {r['cpu_seconds']:>8} {r['wall_seconds']:>8} "
              f"{r['cpu_seconds'] / base['cpu_seconds']:>9.2f} {r['cpu_seconds'] / r['tasks']:>12.2f}  "
              f"{'SAME' if r['same_as_one_area_tasks'] else 'DIFFERENT'}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "airflow_area_tasks.json").write_text(json.dumps({"areas": areas, "results": results}, indent=2) + "\n")
    return 0 if all(r["same_as_one_area_tasks"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
