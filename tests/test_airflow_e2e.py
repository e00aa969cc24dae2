"""End to end through Airflow: every source DAG then the register DAG, with dag.test(), on the demo registers.

Runs in a subprocess with its own AIRFLOW_HOME (a migrated SQLite metadata database in tmp_path) and its own
VCSE_CONFIG pointing every source at the generated demo files, so nothing outside tmp_path is touched.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from airflow_runs import airflow_env

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat")
NEEDED = ("vcse_pipeline.demo.generate", "vcse_pipeline.register.build", "vcse_pipeline.tagging.apply",
          *(f"vcse_pipeline.sources.{s}" for s in SOURCES))


def _missing() -> list[str]:
    missing = []
    for name in NEEDED:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except ModuleNotFoundError:
            missing.append(name)
    return missing


MISSING = _missing()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason="needs modules not written yet: " + ", ".join(MISSING)),
]

# Runs inside the subprocess: each source DAG, a second run of one (nothing new -> skipped), then the register.
RUN_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
out = {}
def run(dag_id, key=None):
    dr = bag.dags[dag_id].test()
    tasks = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    out[key or dag_id] = {"state": str(dr.state), "tasks": tasks}
for source in sys.argv[2].split(","):
    run("vcse_source_" + source)
run("vcse_source_fca_mutuals", "fca_mutuals_again")
run("vcse_register")
print("RESULT " + json.dumps(out))
"""


def _toml(overrides: dict, data_dir: Path) -> str:
    lines = ["[paths]", f"data_dir = {json.dumps(str(data_dir))}", "[download]", "progress = false"]
    for source, settings in overrides["sources"].items():
        lines.append(f"[sources.{source}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def test_dag_chain_publishes_the_demo_register(tmp_path):
    from vcse_pipeline.demo.generate import demo_source_overrides, generate_demo

    demo_dir, data_dir = tmp_path / "demo-sources", tmp_path / "data"
    generate_demo(demo_dir, scale=0.3)
    config = tmp_path / "vcse.toml"
    config.write_text(_toml(demo_source_overrides(demo_dir), data_dir), encoding="utf-8")
    env = airflow_env(tmp_path)  # its own AIRFLOW_HOME and migrated metadata database
    env["VCSE_CONFIG"] = str(config)

    proc = subprocess.run([sys.executable, "-c", RUN_DAGS, str(ROOT / "dags"), ",".join(SOURCES)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    result_line = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and result_line, (proc.stdout + proc.stderr)[-5000:]
    runs = json.loads(result_line[0][len("RESULT "):])

    for source in SOURCES:
        run = runs[f"vcse_source_{source}"]
        assert run["state"] == "success", (source, run)
        assert run["tasks"] == {"download": "success", "new_data": "success", "verify": "success",
                                "stage": "success"}, source
        assert (data_dir / "staging" / f"{source}.duckdb").exists()
    # Unchanged files: the short-circuit skips verify and stage, so no asset event is emitted.
    again = runs["fca_mutuals_again"]
    assert again["state"] == "success" and again["tasks"]["stage"] == "skipped"
    register = runs["vcse_register"]
    assert register["state"] == "success", (register, proc.stderr[-5000:])
    assert {t: s for t, s in register["tasks"].items() if s != "success"} == {}

    published = data_dir / "register" / "vcse_register.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    try:
        organisations = con.execute("SELECT count(*) FROM organisation WHERE area_code = 'E08000015'").fetchone()[0]
        assert organisations > 0
        history = con.execute("SELECT status, areas FROM run_history").fetchall()
        assert history == [("published", '["E08000015"]')]
        assert con.execute("SELECT count(*) FROM quality_gate WHERE NOT passed").fetchone()[0] == 0
        changes = con.execute("SELECT change_type, count(*) FROM register_change GROUP BY 1").fetchall()
        assert changes == [("new", organisations)]
        sources = json.loads(con.execute("SELECT sources FROM run_history").fetchone()[0])
        assert all(sources[s]["staged"] for s in SOURCES)
        assert sources["fca_mutuals"]["files"][0]["sha256"]
    finally:
        con.close()
    assert not list((data_dir / "register" / "work").glob("*"))  # the teardown removed the area files
