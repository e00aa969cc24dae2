"""The pinned locks: what README's first command installs (requirements.lock, no deployment extras) is enough to
serve the register it builds. `make test` and CI install the deployment set as well (requirements-deploy.lock), so
a package the product needs at run time that only a deployment package brings in would pass every other test and
fail a newcomer's `make serve`: pytz, which DuckDB imports to hand TIMESTAMP WITH TIME ZONE values to Python, came
only through flask-babel and flower, and the web app answered 503 on every page."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def locked(lock: Path) -> set[str]:
    """The normalised names of the distributions a lock file pins."""
    names = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def deployment_only_modules() -> set[str]:
    """Top-level modules installed here that only distributions outside requirements.lock provide."""
    base = locked(ROOT / "requirements.lock")
    deploy_only = locked(ROOT / "requirements-deploy.lock") - base
    return {module for module, dists in importlib.metadata.packages_distributions().items()
            if dists and all(re.sub(r"[-_.]+", "-", d).lower() in deploy_only for d in dists)}


# Run in a process of its own with the deployment-only modules made unimportable: the base install, as far as
# imports go, in the test venv.
SERVE_WITHOUT_DEPLOYMENT = """
import json, sys
from importlib.abc import MetaPathFinder

blocked = set(json.loads(sys.argv[1]))

class Blocked(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in requirements.lock)", name=name)
        return None

sys.meta_path.insert(0, Blocked())
from fastapi.testclient import TestClient
from vcse_pipeline.config import Config
from vcse_pipeline.web.app import create_app

cfg = Config.load(environ={}, overrides={"paths": {"data_dir": sys.argv[2]}})
with TestClient(create_app(cfg, register_path=sys.argv[3]), raise_server_exceptions=False) as client:
    health, providers = client.get("/healthz"), client.get("/providers")
    print(json.dumps({"health": [health.status_code, health.json()], "providers": providers.status_code}))
"""


def test_the_base_lock_serves_the_register_without_the_deployment_packages(demo_register, tmp_path):
    blocked = deployment_only_modules()
    assert "celery" in blocked   # the check blocks something real: the Celery profile's packages
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_DEPLOYMENT, json.dumps(sorted(blocked)), str(tmp_path),
         str(demo_register.path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["health"][0] == 200, (answer, result.stderr[-3000:])
    assert answer["health"][1]["published_at"]   # read from run_history.finished_at, a TIMESTAMPTZ
    assert answer["providers"] == 200
