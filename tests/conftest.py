"""Shared fixtures. `demo_register` builds the real pipeline once per test session on a small demo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

# `register` / `con`: the hand-made procurement register (a path, and a read-only connection), built once per test
# module that asks for them; a module may define its own fixture of the same name instead.
from procurement_fixtures import con, register  # noqa: F401
from register_fixtures import wirral_build  # noqa: F401  (one session build for test_register_build/_links)

from vcse_pipeline.config import Config

# rich wraps a CLI message at the console's width (80 columns when output is not a terminal), so a long temporary
# path could split the phrase a test looks for. Every test runs on a console wide enough for any message; a test
# about narrow terminals sets COLUMNS itself (CliRunner's env= overrides this).
CONSOLE_COLUMNS = "1000"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", CONSOLE_COLUMNS)


DEMO_SCALE = 0.3  # about 450 Wirral VCSEs: every code path, a fraction of the time


@pytest.fixture(scope="session")
def session_demo_sources(tmp_path_factory) -> Path:
    """The demo registers' files (`generate_demo` at DEMO_SCALE), generated once per session. Copy them before use
    (`shutil.copytree`): downloads hard-link the files they fetch, and a test may release new ones."""
    from vcse_pipeline.demo.generate import generate_demo

    out = tmp_path_factory.mktemp("demo-sources-master") / "demo-sources"
    generate_demo(out, scale=DEMO_SCALE)
    return out


@dataclass(frozen=True)
class DemoRegister:
    cfg: Config
    path: Path          # the published register file
    output: str         # what `vcse demo` printed


@pytest.fixture(scope="session")
def demo_register(tmp_path_factory) -> DemoRegister:
    """Run README command 1's job (`vcse demo`) end to end into a temporary data folder."""
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app

    data_dir = tmp_path_factory.mktemp("demo") / "data"
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(data_dir), "--scale", str(DEMO_SCALE)],
                                env={"VCSE__DOWNLOAD__PROGRESS": "false", "COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}})
    return DemoRegister(cfg, cfg.register_path, result.output)
