"""bench/national_build.py's measures from outside a process: a worker pool's memory is the sum of its processes'
(not the largest one's, as ru_maxrss of the children gives), its CPU includes its children's, and a refresh
restages only the sources whose files changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from test_bench_national_inputs import load_bench

from vcse_pipeline.demo.generate import demo_source_overrides
from vcse_pipeline.sources import SOURCE_NAMES

MB = 2**20
HELD_MB = 64

# A process starting two children; each (and the parent) holds HELD_MB of written memory, says "ready", burns some
# CPU, and waits for stdin to close. The parent prints the children's own CPU seconds as JSON at the end.
TREE = textwrap.dedent(f"""
    import json, subprocess, sys, time
    CHILD = '''
    import sys, time
    held = bytearray({HELD_MB} * 2**20)
    held[::4096] = b"x" * len(held[::4096])  # touch every page: resident, not just reserved
    sum(i * i for i in range(300_000))
    print("ready", flush=True)
    sys.stdin.read()
    print(time.process_time(), flush=True)
    '''
    held = bytearray({HELD_MB} * 2**20)
    held[::4096] = b"x" * len(held[::4096])
    children = [subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    for c in children:
        assert c.stdout.readline().strip() == "ready"
    print("ready", flush=True)
    sys.stdin.read()
    for c in children:
        c.stdin.close()
    seconds = [float(c.stdout.readline()) for c in children]
    for c in children:
        c.wait()
    print(json.dumps({{"children_cpu_s": seconds}}))
""")


def test_tree_memory_is_the_sum_of_concurrent_processes():
    bench = load_bench("national_build")
    tree = subprocess.Popen([sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert tree.stdout.readline().strip() == "ready"  # the three processes hold their memory until stdin closes
        monitor = bench.TreeMonitor(tree.pid)
        now = monitor.sample()
        assert monitor.peak_processes == 3
        assert now >= 3 * HELD_MB * MB  # any one process holds a third of it
        assert monitor.peak_rss == now
    finally:
        out, _ = tree.communicate("")
    assert tree.returncode == 0
    assert monitor.sample() == 0  # the root has exited: nothing to add, the peak stays
    assert monitor.peak_rss >= 3 * HELD_MB * MB


def test_measured_cpu_includes_the_children():
    bench = load_bench("national_build")
    run = bench.run_measured([sys.executable, "-c", TREE])  # its stdin is empty: it does not wait
    children = run["inner"]["children_cpu_s"]
    assert len(children) == 2 and all(s > 0 for s in children)
    assert run["cpu_s"] >= sum(children)  # the children's own CPU is counted, and the parent's on top
    assert run["wall_s"] > 0 and run["peak_rss_mb"] > 0 and len(run["load"]) == 2


def test_refresh_restages_only_the_sources_whose_files_changed(tmp_path):
    bench = load_bench("national_build")
    before, after = tmp_path / "inputs", tmp_path / "inputs-1pct"
    for folder in (before, after):
        cfg = bench.config(tmp_path / "data", folder)
        for name in SOURCE_NAMES:
            for path in bench.input_paths(cfg, name):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f"{name} {path.name}".encode())
    assert demo_source_overrides(before)  # the layout the generator writes and the refresh stages from
    assert bench.changed_sources(before, after) == []
    changed = bench.input_paths(bench.config(tmp_path / "data", after), "charity_commission")[-1]
    changed.write_bytes(changed.read_bytes().replace(b"charity", b"CHARITY"))  # same size, other bytes
    assert bench.changed_sources(before, after) == ["charity_commission"]
    assert bench.changed_sources(after, before) == ["charity_commission"]
