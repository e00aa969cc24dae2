"""Each source's age against `[sources.<name>] max_age_days`: computed in vcse_pipeline.freshness, flagged by
`vcse status`, the HTML report and `stale_sources` (what the stale-source alert sends).

Every age is measured against a fixed `now` or from a release date that is already past the limit, so no
assertion depends on the day the tests run.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_source_companies_house import SAMPLE
from typer.testing import CliRunner

from vcse_pipeline import pipeline
from vcse_pipeline.cli import app
from vcse_pipeline.config import Config
from vcse_pipeline.freshness import published_sources, source_freshness, stale_sources

NOW = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)


def staged(files: list[tuple[str, str]], release: dict | None = None) -> dict:
    """A source as publish.source_versions records it: (file, fetched_at) pairs and the release found."""
    return {"staged": True, "staged_at": "2026-12-19T06:10:00+00:00", "row_counts": {"t": 1}, "release": release,
            "files": [{"file": f, "url": f"https://example.org/{f}", "fetched_at": at, "status": "not_modified"}
                      for f, at in files]}


RECORD = {
    "charity_commission": staged([("publicextract.charity.zip", "2026-12-19T06:00:00+00:00"),
                                  ("publicextract.charity_classification.zip", "2026-12-18T06:00:00+00:00")]),
    "companies_house": staged([("BasicCompanyDataAsOneFile-2026-11-01.zip", "2026-12-19T06:00:00+00:00")],
                              {"name": "BasicCompanyDataAsOneFile-2026-11-01", "date": "2026-11-01"}),
    "postcodes": staged([("ONSPD_AUG_2026_UK.zip", "2026-12-14T06:00:00+00:00")],
                        {"name": "ONS Postcode Directory (August 2026) for the UK", "date": "2026-08-01"}),
    "fca_mutuals": {"staged": False},
    "ukcat": staged([("ukcat.csv", "2026-01-05T06:00:00+00:00")]),
}


@pytest.fixture
def cfg(tmp_path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                              "download": {"progress": False},
                                              "sources": {"ukcat": {"max_age_days": 0}}})


def test_each_source_is_aged_from_its_release_date_or_its_last_download(cfg):
    checks = {c.source: c for c in source_freshness(cfg, sources=RECORD, now=NOW, of="published register")}
    assert list(checks) == ["charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat"]
    # Dated releases: from the release's date. November's product is 49 days old on 20 December: past 45.
    ch = checks["companies_house"]
    assert (ch.basis, ch.age_from, ch.age_days, ch.max_age_days, ch.stale) == (
        "release date", "2026-11-01T00:00:00+00:00", 49, 45, True)
    assert ch.describe() == ("companies_house: STALE, release BasicCompanyDataAsOneFile-2026-11-01 is 49 days old "
                             "(release date 2026-11-01; expected at most 45) in the published register")
    assert (checks["postcodes"].age_days, checks["postcodes"].stale) == (141, False)
    # Undated files: from the oldest of their last downloads (the classification table, two days ago).
    cc = checks["charity_commission"]
    assert (cc.basis, cc.age_days, cc.stale) == ("last download", 2, False)
    assert cc.release == "publicextract.charity.zip, publicextract.charity_classification.zip"
    # Not staged: the register has nothing from it, which is stale whatever its limit.
    assert checks["fca_mutuals"].stale and checks["fca_mutuals"].age_days is None
    assert checks["fca_mutuals"].describe().startswith("fca_mutuals: not staged")
    # max_age_days = 0: never flagged, however old (ukcat is 349 days old here).
    assert (checks["ukcat"].age_days, checks["ukcat"].stale) == (349, False)
    assert "no limit set" in checks["ukcat"].describe()
    assert ch.as_dict()["description"] == ch.describe() and ch.as_dict()["stale"] is True


def fetched_on(monkeypatch, moment: str) -> None:
    """Downloads from here on record `moment` as their fetched_at (the manifest's time is clock.now_iso's)."""
    from vcse_pipeline import download

    monkeypatch.setattr(download, "now_iso", lambda: moment)


def test_a_download_that_finds_the_published_file_unchanged_restarts_its_age(cfg, tmp_path, monkeypatch):
    """Published on 20 November, refreshed on 4 December with every file unchanged: on 10 December the FCA list is
    6 days old, not 20 (the published run copied the manifest's times once, at publish; the later line counts)."""
    from test_changes import publish_orgs
    from test_publish import BASE_ORGS
    from test_source_fca_mutuals import SAMPLE as SOCIETIES

    society_list = tmp_path / "SocietyList.csv"
    society_list.write_bytes(SOCIETIES.read_bytes())
    cfg = cfg.with_overrides({"sources": {"fca_mutuals": {"url": str(society_list)}}})
    fetched_on(monkeypatch, "2026-11-20T06:00:00+00:00")
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    publish_orgs(cfg, "run1", BASE_ORGS)
    assert published_sources(cfg.register_path)["fca_mutuals"]["files"][0]["fetched_at"] == \
        "2026-11-20T06:00:00+00:00"

    fetched_on(monkeypatch, "2026-12-04T06:00:00+00:00")
    assert pipeline.download_source(cfg, "fca_mutuals")[0].sha256 == \
        published_sources(cfg.register_path)["fca_mutuals"]["files"][0]["sha256"]  # the same file again
    fca = {c.source: c for c in source_freshness(cfg, now=datetime(2026, 12, 10, 9, 0, tzinfo=UTC))}["fca_mutuals"]
    assert (fca.of, fca.basis, fca.age_from, fca.age_days, fca.max_age_days, fca.stale) == (
        "published register", "last download", "2026-12-04T06:00:00+00:00", 6, 14, False)
    assert "fca_mutuals" not in {s.source for s in stale_sources(cfg, now=datetime(2026, 12, 10, 9, tzinfo=UTC))}

    # A later download of other content confirms nothing the register holds: its age stays from 4 December.
    society_list.write_text(SOCIETIES.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    fetched_on(monkeypatch, "2026-12-08T06:00:00+00:00")
    pipeline.download_source(cfg, "fca_mutuals")
    fca = {c.source: c for c in source_freshness(cfg, now=datetime(2026, 12, 20, 9, 0, tzinfo=UTC))}["fca_mutuals"]
    assert (fca.age_from, fca.age_days, fca.stale) == ("2026-12-04T06:00:00+00:00", 16, True)
    # A record that kept no sha256 (older code) goes by the staging when it is the record's content (its fingerprint),
    # else by the time the record itself copied.
    record = published_sources(cfg.register_path)
    record["fca_mutuals"]["files"] = [{k: v for k, v in f.items() if k != "sha256"}
                                      for f in record["fca_mutuals"]["files"]]
    on = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    assert {c.source: c for c in source_freshness(cfg, sources=record, now=on)}["fca_mutuals"].age_from == \
        "2026-12-04T06:00:00+00:00"
    record["fca_mutuals"]["fingerprint"] = "another staging's"
    assert {c.source: c for c in source_freshness(cfg, sources=record, now=on)}["fca_mutuals"].age_from == \
        "2026-11-20T06:00:00+00:00"

    # `vcse status` shows the same: the last download that confirmed the published file.
    result = CliRunner().invoke(app, ["status", "--data-dir", str(cfg.data_dir)],
                                env={"VCSE__SOURCES__FCA_MUTUALS__URL": str(society_list)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    freshness = lines[next(i for i, line in enumerate(lines) if line.startswith("Freshness")):]
    row = next(line for line in freshness if line.startswith("│ fca_mutuals "))
    assert row.split("│")[2].strip() == "download 2026-12-04"


def test_the_limits_are_settings_checked_like_any_other(tmp_path):
    from vcse_pipeline.errors import PipelineError

    defaults = Config.load(environ={})
    assert {name: defaults.source(name)["max_age_days"] for name in RECORD} == {
        "charity_commission": 4, "companies_house": 45, "postcodes": 150, "fca_mutuals": 14, "ukcat": 100}
    cfg = Config.load(environ={"VCSE__SOURCES__COMPANIES_HOUSE__MAX_AGE_DAYS": "60"})
    assert cfg.source("companies_house")["max_age_days"] == 60
    with pytest.raises(PipelineError, match=r"\[sources\.postcodes\] max_age_days = -1 is out of range"):
        Config.load(environ={"VCSE__SOURCES__POSTCODES__MAX_AGE_DAYS": "-1"})


def test_staged_sources_are_judged_from_staging_until_a_register_is_published(cfg, tmp_path):
    october = tmp_path / "BasicCompanyDataAsOneFile-2026-10-01.zip"
    with zipfile.ZipFile(october, "w") as zf:
        zf.write(SAMPLE, "BasicCompanyDataAsOneFile-2026-10-01.csv")
    cfg = cfg.with_overrides({"sources": {"companies_house": {"url": str(october)}}})
    pipeline.download_source(cfg, "companies_house")
    pipeline.stage_source(cfg, "companies_house")

    assert published_sources(cfg.register_path) is None
    checks = {c.source: c for c in source_freshness(cfg, now=NOW)}
    ch = checks["companies_house"]
    assert (ch.of, ch.release, ch.release_date, ch.age_days, ch.stale) == (
        "staging", "BasicCompanyDataAsOneFile-2026-10-01", "2026-10-01", 80, True)
    # The alert's list: Companies House (too old) and the sources not staged yet but ukcat (max_age_days = 0 here),
    # each a single line.
    stale = stale_sources(cfg, now=NOW)
    assert [s.source for s in stale] == ["charity_commission", "companies_house", "postcodes", "fca_mutuals"]
    assert all("\n" not in s.describe() for s in stale)
    assert stale_sources(cfg.with_overrides({"sources": {"companies_house": {"max_age_days": 90}}}), now=NOW)[1] \
        .source == "postcodes"


# ---------------------------------------------------------------------------------------------- status and report

STALE_POSTCODES = {  # the demo's postcode directory is the November 2025 release: always past a 30-day limit
    "VCSE__SOURCES__POSTCODES__MAX_AGE_DAYS": "30",
    **{f"VCSE__SOURCES__{s.upper()}__MAX_AGE_DAYS": "100000"
       for s in ("charity_commission", "companies_house", "fca_mutuals", "ukcat")},
}


def test_status_flags_a_stale_source_of_the_published_register(demo_register):
    result = CliRunner().invoke(app, ["status", "--data-dir", str(demo_register.cfg.data_dir)], env=STALE_POSTCODES)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:6]]
            for line in lines[next(i for i, line in enumerate(lines) if line.startswith("Freshness")):]
            if line.startswith("│ ") and "measured from" not in line}
    assert rows["postcodes"][0] == "release 2025-11-01" and rows["postcodes"][2:] == ["30", "STALE"]
    assert rows["companies_house"][0] == "release 2026-11-01" and rows["companies_house"][3] == "fresh"
    assert rows["ukcat"][0].startswith("download ") and rows["ukcat"][3] == "fresh"
    text = " ".join(result.output.split())
    assert "postcodes: STALE, release ONSPD_NOV_2025_UK is " in text
    assert "(release date 2025-11-01; expected at most 30) in the published register" in text
    assert "postcodes from " in text and "ONSPD_NOV_2025_UK.zip (local), release ONSPD_NOV_2025_UK" in text
    assert text.count("STALE") == 2  # the table's row and the line that explains it: nothing else is flagged

    fresh = CliRunner().invoke(app, ["status", "--data-dir", str(demo_register.cfg.data_dir)],
                               env={**STALE_POSTCODES, "VCSE__SOURCES__POSTCODES__MAX_AGE_DAYS": "100000"})
    assert "STALE" not in fresh.output


def test_the_report_flags_a_stale_source_and_lists_every_source(demo_register, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "-o", str(out), "--data-dir", str(demo_register.cfg.data_dir)],
                                env=STALE_POSTCODES)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    notice = html[html.index('id="stale-sources"'):html.index("</div>", html.index('id="stale-sources"'))]
    assert "postcodes: STALE, release ONSPD_NOV_2025_UK" in notice and "companies_house" not in notice
    table = html[html.index('id="freshness"'):html.index("</table>", html.index('id="freshness"'))]
    rows = table.split("<tr")[2:]
    assert [r.split("<td>")[1].split("</td>")[0] for r in rows] == [
        "charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat"]
    assert [("stale" in r.split(">")[0]) for r in rows] == [False, False, True, False, False]
    assert "release date 2025-11-01" in rows[2] and "<b>stale</b>" in rows[2]


def test_the_report_of_a_register_without_run_history_has_no_source_section(register, tmp_path):
    """The hand-made procurement register records no runs: the report says nothing about source ages."""
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "-o", str(out), "--register", str(register)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert 'id="freshness"' not in html and 'id="stale-sources"' not in html


def test_published_sources_reads_the_register_not_the_staging(demo_register):
    sources = published_sources(demo_register.path)
    assert sources["postcodes"]["release"]["date"] == "2025-11-01"
    assert sources["postcodes"]["release"]["found_by"] == "configured"
    assert Path(sources["companies_house"]["files"][0]["file"]).name == "BasicCompanyDataAsOneFile-2026-11-01.zip"
    assert {c.of for c in source_freshness(demo_register.cfg)} == {"published register"}
