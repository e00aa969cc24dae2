"""Content fingerprints: a staged release is its files and settings, not its time; a build is its releases, settings
and code; a run whose fingerprint equals the published register's records 'unchanged' and touches nothing."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from test_publish import BASE_ORGS, WIRRAL, make_register, sha256

from vcse_pipeline import fingerprint, pipeline, publish
from vcse_pipeline.config import SQL_DIR, Config
from vcse_pipeline.run_history import read_history
from vcse_pipeline.sources import SOURCE_NAMES
from vcse_pipeline.versions import version_files

FCA_FIXTURE = Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv"


@pytest.fixture
def fca(tmp_path):
    """A config whose fca_mutuals source is a local copy of the real-format fixture, and that copy."""
    incoming = tmp_path / "incoming" / "SocietyList.csv"
    incoming.parent.mkdir()
    shutil.copy(FCA_FIXTURE, incoming)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                             "download": {"progress": False},
                                             "sources": {"fca_mutuals": {"url": str(incoming)}}})
    return cfg, incoming


def staged_row(cfg: Config, source: str) -> dict:
    con = duckdb.connect(str(cfg.staging_path(source)), read_only=True)
    try:
        staged_at, content, fp = con.execute("SELECT staged_at, content, fingerprint FROM _staged").fetchone()
    finally:
        con.close()
    return {"staged_at": staged_at, "content": json.loads(content), "fingerprint": fp}


def refresh(cfg: Config, source: str = "fca_mutuals") -> dict:
    pipeline.download_source(cfg, source)
    pipeline.stage_source(cfg, source)
    return staged_row(cfg, source)


def test_a_staged_release_is_its_files_and_settings_not_when_it_was_staged(fca):
    cfg, incoming = fca
    first = refresh(cfg)
    assert first["content"]["files"] == [{"name": "SocietyList.csv", "size": FCA_FIXTURE.stat().st_size,
                                          "sha256": sha256(FCA_FIXTURE)}]
    assert fingerprint.staging_fingerprint(cfg, "fca_mutuals") == first["fingerprint"]
    time.sleep(1.1)  # staged_at has one-second resolution: the restage must carry another time
    again = refresh(cfg)
    assert again["staged_at"] != first["staged_at"] and again["fingerprint"] == first["fingerprint"]

    # The same file fetched from elsewhere (a new URL, a new schedule) is the same release.
    moved = incoming.parent / "mirror" / "SocietyList.csv"
    moved.parent.mkdir()
    shutil.copy(incoming, moved)
    elsewhere = cfg.with_overrides({"sources": {"fca_mutuals": {"url": str(moved), "schedule": "@daily"}}})
    assert refresh(elsewhere)["fingerprint"] == first["fingerprint"]

    # Next week's list: one society renamed. A new release, a new fingerprint.
    text = incoming.read_text(encoding="utf-8")
    assert "Wirral Community Energy Limited" in text
    incoming.unlink()  # a new file, not an edit of the hard-linked download
    incoming.write_text(text.replace("Wirral Community Energy Limited", "Wirral Community Power Limited"),
                        encoding="utf-8")
    assert refresh(cfg)["fingerprint"] != first["fingerprint"]


def fake_staging(cfg: Config, releases: dict[str, str]) -> None:
    """Staging files that record only their release fingerprint (what the decision reads), for each source."""
    for source, fp in releases.items():
        path = cfg.staging_path(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE _staged AS SELECT ? AS source, ? AS staged_at, '[]' AS files, '{}' AS row_counts, "
                    "0.1 AS seconds, '{}' AS content, ? AS fingerprint",
                    [source, time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), fp])
        con.close()


RELEASES = {s: f"{i}" * 64 for i, s in enumerate(SOURCE_NAMES)}


@pytest.fixture
def cfg(tmp_path):
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                              "register": {"keep_versions": 2}})


def test_the_build_fingerprint_follows_releases_settings_and_code_but_not_time(cfg, tmp_path, monkeypatch):
    fake_staging(cfg, RELEASES)
    base = fingerprint.inputs_fingerprint(fingerprint.build_inputs(cfg, [WIRRAL]))
    assert base and len(base) == 64

    def fp(c: Config = cfg, areas=(WIRRAL,)) -> str | None:
        return fingerprint.inputs_fingerprint(fingerprint.build_inputs(c, list(areas)))

    fake_staging(cfg, RELEASES)  # staged again from the same files: another staged_at, the same content
    assert fp() == base
    assert fp(cfg.with_overrides({"download": {"retries": 9}, "register": {"keep_versions": 7}})) == base
    assert fp(cfg.with_overrides({"linking": {"link_threshold": 91.0}})) != base
    assert fp(cfg.with_overrides({"quality": {"row_count_band": 0.3}})) != base
    assert fp(cfg.with_overrides({"vcse": {"include_royal_charter_companies": True}})) != base
    assert fp(areas=(WIRRAL, "E08000012")) != base
    fake_staging(cfg, {"companies_house": "f" * 64})
    assert fp() != base
    cfg.staging_path("companies_house").unlink()
    assert fp() is None  # a missing release is unknown: never 'unchanged'
    fake_staging(cfg, RELEASES)
    assert fp() == base

    # An edited vcse_pipeline/sql file is new code: a view, or a macro in a subfolder the views never read.
    sql_copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_copy)
    monkeypatch.setattr(fingerprint, "SQL_DIR", sql_copy)
    fingerprint.code_version.cache_clear()
    try:
        assert fp() == base
        seen = {base}
        for name in ("views/10_provider_directory.sql", "macros/20_identifiers.sql"):
            edited = sql_copy / name
            edited.write_text(edited.read_text(encoding="utf-8") + "\n-- a changed file\n", encoding="utf-8")
            fingerprint.code_version.cache_clear()
            assert fp() not in seen
            seen.add(fp())
    finally:
        fingerprint.code_version.cache_clear()


def fake_build(built: list):
    def build(cfg, out_path, areas, as_of=None):
        built.append(out_path.name)
        make_register(out_path, BASE_ORGS)
    return build


def test_a_run_with_the_published_inputs_is_unchanged_and_touches_nothing(cfg, monkeypatch):
    built: list = []
    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", fake_build(built))
    fake_staging(cfg, RELEASES)
    first = publish.build_and_publish(cfg, run_id="first")
    assert first.status == "published" and first.fingerprint and len(built) == 1
    register_sha, versions = sha256(cfg.register_path), [p.name for p in version_files(cfg)]

    fake_staging(cfg, RELEASES)  # the sources refreshed with nothing new
    for run_id in ("second", "third"):  # keep_versions = 2: identical copies would have pushed 'first' out
        result = publish.build_and_publish(cfg, run_id=run_id)
        assert result.status == "unchanged" and result.fingerprint == first.fingerprint
    assert len(built) == 1
    assert sha256(cfg.register_path) == register_sha and [p.name for p in version_files(cfg)] == versions
    history = read_history(cfg)
    assert [(r["run_id"], r["status"]) for r in history] == [("first", "published"), ("second", "unchanged"),
                                                             ("third", "unchanged")]
    assert history[1]["version_file"] == versions[0] and history[1]["fingerprint"] == first.fingerprint
    assert "identical to the published register (run first)" in history[1]["message"]
    con = duckdb.connect(str(cfg.register_path), read_only=True)
    recorded = con.execute("SELECT fingerprint, inputs FROM run_history WHERE run_id = 'first'").fetchone()
    con.close()
    assert recorded[0] == first.fingerprint and json.loads(recorded[1])["sources"] == RELEASES

    forced = publish.build_and_publish(cfg, run_id="forced", force=True)
    assert forced.status == "published" and len(built) == 2
    fake_staging(cfg, {"fca_mutuals": "e" * 64})  # a new FCA list
    fresh = publish.build_and_publish(cfg, run_id="new-fca")
    assert fresh.status == "published" and fresh.fingerprint != first.fingerprint and len(built) == 3
    # The history of the published register carries the unchanged runs too.
    con = duckdb.connect(str(cfg.register_path), read_only=True)
    statuses = con.execute("SELECT run_id, status FROM run_history ORDER BY finished_at, rowid").fetchall()
    con.close()
    assert ("second", "unchanged") in statuses and statuses[-1] == ("new-fca", "published")


def test_a_source_staged_again_during_the_build_fails_the_run(cfg, monkeypatch):
    fake_staging(cfg, RELEASES)

    def build_while_fca_restages(cfg, out_path, areas, as_of=None):
        make_register(out_path, BASE_ORGS)
        fake_staging(cfg, {"fca_mutuals": "e" * 64})

    monkeypatch.setattr("vcse_pipeline.pipeline.build_register", build_while_fca_restages)
    with pytest.raises(publish.PipelineError, match=r"^build: the staging this task reads is not the staging this "
                                                    r"run started from \(fca_mutuals: expected 333333333333"):
        publish.build_and_publish(cfg, run_id="raced")
    assert not cfg.register_path.exists() and not version_files(cfg)
    assert read_history(cfg)[-1]["status"] == "failed"
