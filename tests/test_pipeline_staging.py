"""pipeline.download_source / stage_source: the per-source staging file is replaced only on success."""

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline import pipeline
from vcse_pipeline.config import Config
from vcse_pipeline.errors import SourceError

FIXTURE = Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cfg(tmp_path):
    source_copy = tmp_path / "incoming" / "SocietyList.csv"
    source_copy.parent.mkdir()
    shutil.copy(FIXTURE, source_copy)
    return Config.load(environ={}, overrides={
        "paths": {"data_dir": str(tmp_path / "data")},
        "download": {"progress": False},
        "sources": {"fca_mutuals": {"url": str(source_copy)}},
    }), source_copy


def test_download_then_stage_records_what_was_loaded(cfg):
    cfg, _ = cfg
    results = pipeline.download_source(cfg, "fca_mutuals")
    assert [r.status for r in results] == ["local"]
    counts = pipeline.stage_source(cfg, "fca_mutuals")
    rows_in_fixture = len(FIXTURE.read_text(encoding="utf-8").splitlines()) - 1
    assert counts == {"society": rows_in_fixture}
    con = duckdb.connect(str(cfg.staging_path("fca_mutuals")), read_only=True)
    staged = con.execute("SELECT source, row_counts FROM _staged").fetchone()
    assert staged[0] == "fca_mutuals" and str(rows_in_fixture) in staged[1]
    assert con.execute("SELECT count(*) FROM society").fetchone()[0] == rows_in_fixture
    con.close()
    assert not cfg.staging_path("fca_mutuals").with_suffix(".duckdb.tmp").exists()


def test_a_failed_stage_leaves_the_previous_staging_untouched_and_queryable(cfg):
    cfg, source_copy = cfg
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    staged = cfg.staging_path("fca_mutuals")
    before = _sha256(staged)

    # The next release arrives with a renamed column: the refresh must fail and lose nothing.
    text = source_copy.read_text(encoding="utf-8").replace("Society Name", "Name Of Society", 1)
    source_copy.unlink()  # a new file, not an edit of the hard-linked download
    source_copy.write_text(text, encoding="utf-8")
    pipeline.download_source(cfg, "fca_mutuals")
    with pytest.raises(SourceError) as err:
        pipeline.stage_source(cfg, "fca_mutuals")
    assert "fca_mutuals" in str(err.value) and "Society Name" in str(err.value)

    assert _sha256(staged) == before
    assert not staged.with_suffix(".duckdb.tmp").exists()
    con = duckdb.connect(str(staged), read_only=True)
    assert con.execute("SELECT count(*) FROM society").fetchone()[0] > 0
    con.close()


def _limit_file_size(limit: int):
    """For a child process: no file it writes may grow past `limit` bytes (a write beyond fails as on a full disk,
    SIGXFSZ ignored so the write returns the error instead of killing the process)."""
    def limit_in_child():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_in_child


def test_a_stage_that_cannot_write_its_file_fails_in_one_line_and_keeps_the_previous_staging(cfg, tmp_path):
    """DuckDB writes a table to its WAL first and to the file at the checkpoint; close() checkpoints without a word
    when it cannot write. With room for the small WAL but not the file (as on a nearly full disk), the stage
    reported success and renamed a file without tables into place, its rows left in an orphaned WAL."""
    cfg, _ = cfg
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    staged = cfg.staging_path("fca_mutuals")
    before = _sha256(staged)
    env = {**os.environ, "VCSE__PATHS__DATA_DIR": str(cfg.data_dir), "VCSE__DOWNLOAD__PROGRESS": "false",
           "VCSE__SOURCES__FCA_MUTUALS__URL": str(cfg.section("sources")["fca_mutuals"]["url"]), "COLUMNS": "300"}
    result = subprocess.run(
        [sys.executable, "-c", "from vcse_pipeline.cli import main; main()", "stage", "fca_mutuals"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        preexec_fn=_limit_file_size(200_000))   # a staging file takes 256 KB at least; its WAL here far less
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Could not write file" in result.stderr and "fca_mutuals.duckdb.tmp" in result.stderr
    assert "free some space" in result.stderr
    assert _sha256(staged) == before
    assert not [p.name for p in staged.parent.iterdir() if p != staged]   # no .tmp, no orphaned WAL
    con = duckdb.connect(str(staged), read_only=True)
    assert con.execute("SELECT count(*) FROM society").fetchone()[0] > 0
    con.close()


def test_stale_downloads_from_an_earlier_configuration_are_removed(cfg):
    cfg, source_copy = cfg
    pipeline.download_source(cfg, "fca_mutuals")
    renamed = source_copy.with_name("SocietyList-2026-12.csv")
    shutil.copy(source_copy, renamed)
    cfg = cfg.with_overrides({"sources": {"fca_mutuals": {"url": str(renamed)}}})
    pipeline.download_source(cfg, "fca_mutuals")
    assert [p.name for p in pipeline.downloaded_paths(cfg, "fca_mutuals")] == ["SocietyList-2026-12.csv"]


def test_staging_before_any_download_says_what_to_run(cfg):
    cfg, _ = cfg
    with pytest.raises(SourceError) as err:
        pipeline.stage_source(cfg, "fca_mutuals")
    assert "nothing downloaded yet" in str(err.value) and "vcse download fca_mutuals" in str(err.value)
    assert not cfg.staging_path("fca_mutuals").exists()


def test_staged_already_only_for_the_same_files_settings_and_code(cfg, monkeypatch):
    """A refresh skips staging a source only when its staging was made from these very files (by content), with
    these settings, by this code; anything else stages again."""
    cfg, source_copy = cfg
    assert pipeline.staged_already(cfg, "fca_mutuals") is None  # nothing downloaded or staged yet
    pipeline.download_source(cfg, "fca_mutuals")
    assert pipeline.staged_already(cfg, "fca_mutuals") is None  # downloaded, not staged
    pipeline.stage_source(cfg, "fca_mutuals")
    con = duckdb.connect(str(cfg.staging_path("fca_mutuals")), read_only=True)
    staged_at = con.execute("SELECT staged_at FROM _staged").fetchone()[0]
    con.close()
    assert pipeline.staged_already(cfg, "fca_mutuals") == staged_at
    # The same file downloaded again (a new copy, the same bytes): still the staged content.
    text = source_copy.read_text(encoding="utf-8")
    source_copy.unlink()
    source_copy.write_text(text, encoding="utf-8")
    pipeline.download_source(cfg, "fca_mutuals")
    assert pipeline.staged_already(cfg, "fca_mutuals") == staged_at
    # Other settings for the source, or other code: stage again.
    assert pipeline.staged_already(cfg.with_overrides({"sources": {"fca_mutuals": {"max_age_days": 3}}}),
                                   "fca_mutuals") is None
    monkeypatch.setattr(pipeline, "stage_code", lambda: "other-code")
    assert pipeline.staged_already(cfg, "fca_mutuals") is None
    monkeypatch.undo()
    # A changed row upstream: stage again.
    source_copy.unlink()
    source_copy.write_text(text.replace("Limited", "Ltd", 1), encoding="utf-8")
    pipeline.download_source(cfg, "fca_mutuals")
    assert pipeline.staged_already(cfg, "fca_mutuals") is None


def test_staging_recorded_by_older_code_is_staged_again(cfg):
    """A staging file from before `_staged.stage_code` was recorded cannot say which code made it."""
    cfg, _ = cfg
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    con = duckdb.connect(str(cfg.staging_path("fca_mutuals")))
    con.execute("ALTER TABLE _staged DROP COLUMN stage_code")
    con.close()
    assert pipeline.staged_already(cfg, "fca_mutuals") is None


def test_stage_workers_are_the_usable_cpus_capped_by_the_sources(monkeypatch):
    """[download] stage_workers resolves as [register] build_workers does (worker_processes.workers_for); a bad value
    set in code is refused naming the setting."""
    from vcse_pipeline import worker_processes
    from vcse_pipeline.errors import PipelineError

    cfg = Config.load(environ={})
    assert cfg.section("download")["stage_workers"] == "auto"
    monkeypatch.setattr(worker_processes, "usable_cpus", lambda: 2)
    assert pipeline.stage_worker_count(cfg, 5) == 2
    assert pipeline.stage_worker_count(cfg, 1) == 1
    assert pipeline.stage_worker_count(cfg.with_overrides({"download": {"stage_workers": 4}}), 3) == 3
    with pytest.raises(PipelineError, match=r"^\[download\] stage_workers = 0 is out of range"):
        pipeline.stage_worker_count(cfg.with_overrides({"download": {"stage_workers": 0}}), 3)
