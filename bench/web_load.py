"""Load the web app as officers and OpenRefine would: p50/p95 answer times at 1, 10 and 50 concurrent users, and a
run during which a new register version is built and published (no request may fail).

    .venv/bin/python bench/web_load.py                        # the demo register (scale 1), 30 s per level
    .venv/bin/python bench/web_load.py --workdir /tmp/webload --seconds 60 --users 1 10 50
    .venv/bin/python bench/web_load.py --workdir /tmp/webload --skip-publish

It builds the demo register (`vcse demo`, once per --workdir), starts the app for real (`vcse serve`: uvicorn on
127.0.0.1, one process, as an officer's machine or the compose service runs it), and drives it with locust
(bench/web_locustfile.py, headless, in its own process). Each user searches (the Find providers page, and the
JSON API), opens profiles and sends reconciliation batches of 10 names, waiting 0.5-1.5 s between requests.
During the publish run 10 users keep going from 10 s before `vcse publish --force` starts (a rebuild from staging,
the quality gates and the switch of the published file) until 20 s after it ends; the app must answer every
request and serve the new version after.

Locust, the app and the publish share this machine's cores, so the numbers include their contention; the machine
and its load are printed with the results. Results also go to bench/out/web_load.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from web_server import running_server  # noqa: E402  (the tests' way of starting `vcse serve`)

LOCUSTFILE = Path(__file__).with_name("web_locustfile.py")
TARGET_P95_MS = 200   # at 10 users, for search and profile (issue 14)


def vcse(*args: str, data_dir: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VCSE__DOWNLOAD__PROGRESS": "false", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", "from vcse_pipeline.cli import main; main()", *args,
                           "--data-dir", str(data_dir)], env=env, cwd=ROOT, check=True, **kwargs)


def build_demo(data_dir: Path, scale: float) -> Path:
    register = data_dir / "register" / "vcse_register.duckdb"
    if not register.exists():
        print(f"building the demo register (scale {scale}) in {data_dir} ...", flush=True)
        vcse("demo", "--scale", str(scale), data_dir=data_dir, stdout=subprocess.DEVNULL)
    return register


def write_sample(register: Path, path: Path) -> dict:
    """Real values of the register for the users to ask for: orgs, names with postcodes, wards, services."""
    con = duckdb.connect(str(register), read_only=True)
    try:
        sample = {
            "organisations": con.execute("SELECT area_code, org_id FROM provider_directory ORDER BY org_id").fetchall(),
            "names": con.execute("SELECT name, postcode FROM organisation ORDER BY org_id").fetchall(),
            "wards": [r[0] for r in con.execute("SELECT ward_name FROM area_ward ORDER BY 1").fetchall()],
            "services": [r[0] for r in con.execute("SELECT service_area FROM service_area ORDER BY 1").fetchall()],
            "keywords": ["community", "support", "youth", "health", "sport", "advice", "food", "arts"],
        }
    finally:
        con.close()
    path.write_text(json.dumps(sample), encoding="utf-8")
    return sample


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:   # noqa: S310 (127.0.0.1 only)
        return json.loads(response.read())


def start_locust(host: str, users: int, seconds: int, out: Path, sample: Path, label: str) -> subprocess.Popen:
    """Locust headless in its own process for `seconds` (or until finish_locust stops it)."""
    for old in out.glob(f"{label}_*.csv"):   # a run that writes nothing must not be read as the last one's
        old.unlink()
    env = {**os.environ, "VCSE_BENCH_SAMPLE": str(sample)}
    return subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
                             "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
                             "--csv", str(out / label), "--only-summary", "--loglevel", "WARNING",
                             "--stop-timeout", "30"],
                            env=env, stdout=subprocess.DEVNULL, stderr=(out / f"{label}.log").open("w"))


def finish_locust(process: subprocess.Popen, out: Path, label: str, *, stop: bool = False) -> dict[str, dict]:
    """Wait for locust to end its run (with `stop`, end it now: SIGTERM, and it finishes the requests in flight
    and writes its stats); its per-endpoint stats (name -> requests, failures, p50, p95, requests/s)."""
    if stop and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait()
    stats = {}
    with open(out / f"{label}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["50%"] == "N/A":   # no request finished
                continue
            stats[row["Name"]] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                                  "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
                                  "per_second": round(float(row["Requests/s"]), 1)}
    return stats


def run_locust(host: str, users: int, seconds: int, out: Path, sample: Path) -> dict[str, dict]:
    label = f"users{users}"
    return finish_locust(start_locust(host, users, seconds, out, sample, label), out, label)


def print_table(title: str, stats: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(f"| {'endpoint':<22} | requests | failures | p50 ms | p95 ms | req/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in stats.items():
        print(f"| {name:<22} | {s['requests']:,} | {s['failures']} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | "
              f"{s['per_second']} |")


def publish_under_load(host: str, data_dir: Path, out: Path, sample: Path) -> dict:
    """10 users from before `vcse publish --force` starts until 20 s after it has switched the register."""
    before = get_json(f"{host}/healthz")["version"]
    load = start_locust(host, 10, 3600, out, sample, "publish")
    time.sleep(10)
    started = time.monotonic()
    with (out / "publish.log").open("w") as log:
        vcse("publish", "--force", data_dir=data_dir, stdout=log, stderr=subprocess.STDOUT)
    took = time.monotonic() - started
    time.sleep(20)
    stats = finish_locust(load, out, "publish", stop=True)
    after = get_json(f"{host}/healthz")["version"]
    print_table(f"10 users from 10 s before `vcse publish --force` (a rebuild from staging, the gates and the "
                f"switch: {took:.0f} s) to 20 s after it", stats)
    print(f"version before: {before}\nversion after:  {after}")
    failures = sum(s["failures"] for s in stats.values())
    print("no failed requests" if failures == 0 else f"{failures} FAILED requests")
    return {"before": before, "after": after, "switched": before != after, "publish_seconds": round(took, 1),
            "failures": failures, "stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="keep the demo register here (built once) and the results")
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale (1 = about 1,470 organisations)")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=int, default=30, help="length of each run")
    parser.add_argument("--skip-publish", action="store_true", help="leave out the run with a publish")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vcse-webload-"))
    data_dir = workdir / "data"
    out = ROOT / "bench" / "out" / "web_load"
    out.mkdir(parents=True, exist_ok=True)
    register = build_demo(data_dir, args.scale)
    sample_path = workdir / "sample.json"
    sample = write_sample(register, sample_path)
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                                 "python": platform.python_version()},
                     "register": {"scale": args.scale, "providers": len(sample["organisations"])}, "runs": {}}
    with running_server(data_dir, timeout=120) as host:   # `vcse serve` on 127.0.0.1 and a free port
        # requests of each kind first, so the runs measure a warm app (the reconciliation index is built on the
        # first batch of each register version)
        run_locust(host, 2, 15, out, sample_path)
        for users in args.users:
            stats = run_locust(host, users, args.seconds, out, sample_path)
            results["runs"][f"{users} users"] = stats
            print_table(f"{users} concurrent users, {args.seconds} s", stats)
        if not args.skip_publish:
            results["publish"] = publish_under_load(host, data_dir, out, sample_path)
            results["runs"]["10 users, publish during the run"] = results["publish"].pop("stats")
    results["machine"]["load_average_after"] = os.getloadavg()
    ten = results["runs"].get("10 users", {})
    for name in ("search (page)", "profile (page)", "search (API)"):
        if name in ten:
            verdict = "meets" if ten[name]["p95_ms"] < TARGET_P95_MS else "misses"
            print(f"{name}: p95 {ten[name]['p95_ms']:.0f} ms at 10 users {verdict} the {TARGET_P95_MS} ms target")
    print(f"\nmachine: {results['machine']}")
    (ROOT / "bench" / "out" / "web_load.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
