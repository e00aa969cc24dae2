"""The operator's commands: status, history, versions, changes, and demo's argument checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from test_publish import BASE_ORGS, WIRRAL, make_register
from typer.testing import CliRunner

from vcse_pipeline import publish
from vcse_pipeline.cli import app
from vcse_pipeline.config import Config
from vcse_pipeline.run_history import read_history
from vcse_pipeline.versions import rollback, version_files, version_path_for

UKCAT_URL = "https://raw.githubusercontent.com/charity-classification/ukcat/main/data/ukcat.csv"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def stage_ukcat(cfg: Config, staged_at: str) -> None:
    """What `vcse refresh ukcat` leaves behind: a manifest line for the download and a staging file's _staged row."""
    download = cfg.download_dir("ukcat")
    download.mkdir(parents=True, exist_ok=True)
    (download / "manifest.jsonl").write_text(json.dumps({
        "url": UKCAT_URL, "path": "ukcat.csv", "status": "downloaded", "size": 151234, "sha256": "ab" * 32,
        "etag": '"0x8DCC"', "fetched_at": "2026-11-20T06:00:03+00:00"}) + "\n")
    staging = cfg.staging_path("ukcat")
    staging.parent.mkdir(parents=True, exist_ok=True)
    staging.unlink(missing_ok=True)
    con = duckdb.connect(str(staging))
    con.execute("CREATE TABLE _staged AS SELECT 'ukcat' AS source, ? AS staged_at, ? AS files, ? AS row_counts, "
                "0.4 AS seconds",
                [staged_at, json.dumps([str(download / "ukcat.csv")]), json.dumps({"ukcat_tag": 254})])
    con.close()


@pytest.fixture
def published(tmp_path: Path) -> Config:
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}})
    stage_ukcat(cfg, "2026-11-20T06:05:00+00:00")
    orgs = BASE_ORGS + [dict(org_id="GB-CHC-1201234", name="Seacombe Youth Club", legal_form="Charitable trust",
                             postcode="CH44 6QJ", lad_code=WIRRAL, is_active=False, status="Removed")]
    version = version_path_for(cfg, "run1")
    version.parent.mkdir(parents=True)
    publish.publish_version(cfg, make_register(version, orgs), "run1", [WIRRAL])
    return cfg


def test_status_shows_publish_run_freshness_and_active_against_all(published):
    result = run("status", "--data-dir", str(published.data_dir))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "by run run1" in out and "Version:   register-" in out
    assert "Organisations: E08000015 6 active / 7 all" in out
    ukcat = next(line for line in out.splitlines() if line.startswith("│ ukcat"))
    assert ukcat.split("│")[2:5] == [" 2026-11-20 06:05 ", " 2026-11-20 06:00 ", "  254 "]
    assert "ukcat from raw.githubusercontent.com: ukcat.csv" in out
    assert next(line for line in out.splitlines() if line.startswith("│ postcodes")).split("│")[2].strip() == \
        "not staged"
    # Numbers are right-aligned under their headings.
    legal = next(line for line in out.splitlines() if "Charitable trust" in line)
    assert legal.split("│")[3] == " " * (len(legal.split("│")[3]) - 2) + "0 "
    assert "not yet published" not in out
    # Staging again without publishing: status says the register is behind.
    stage_ukcat(published, "2026-11-21T06:05:00+00:00")
    out = run("status", "--data-dir", str(published.data_dir)).output
    assert "ukcat: staged again at 2026-11-21 06:05, not yet published" in out


def test_status_reads_a_named_register(published, tmp_path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(published.register_path.read_bytes())
    result = run("status", "--data-dir", str(tmp_path / "elsewhere"), "--register", str(copy))
    assert result.exit_code == 0, result.output
    assert f"Register: {copy}" in " ".join(result.output.split()) and "by run run1" in result.output


def test_status_history_versions_and_changes_on_a_fresh_data_folder(tmp_path):
    data = tmp_path / "fresh"
    result = run("history", "--data-dir", str(data))
    assert result.exit_code == 0
    assert result.output.strip() == f"No runs recorded yet in {data / 'register' / 'run_history.jsonl'}"
    # --json prints JSON lines on standard output, so none at all there; the note goes to standard error.
    result = run("history", "--json", "--data-dir", str(data))
    assert result.exit_code == 0 and result.stdout == ""
    assert " ".join(result.stderr.split()) == f"No runs recorded yet in {data / 'register' / 'run_history.jsonl'}"
    result = run("versions", "--data-dir", str(data))
    assert result.output.strip() == f"No register versions yet in {data / 'register' / 'versions'}"
    # status and changes word a missing register as find and report do (the CLI prints it after "error:"), each
    # naming only the options it has: status takes --register, changes does not.
    for command, advice in (("status", "pass --register"), ("changes", "pass the --data-dir that holds it")):
        result = run(command, "--data-dir", str(data))
        assert result.exit_code == 1 and str(result.exception) == (
            f"no register at {data / 'register' / 'vcse_register.duckdb'}: build one with `vcse run` "
            f"(or `vcse demo`), or {advice}")


def test_history_says_active_against_all(published):
    result = run("history", "--data-dir", str(published.data_dir))
    assert result.exit_code == 0
    assert "active / all" in result.output and "6 / 7" in result.output


def test_changes_explains_empty_results_and_rejects_unknown_types(published):
    data = str(published.data_dir)
    result = run("changes", "--data-dir", data, "--type", "bogus")  # an error in words, like find's unknown values
    assert result.exit_code == 1
    assert str(result.exception) == "unknown change type 'bogus'; choose from: new, closed, reopened, changed"
    result = run("changes", "--data-dir", data, "--type", "closed")
    assert result.exit_code == 0
    assert " ".join(result.output.split()) == "No register changes of type closed in run run1: it has new 7"
    assert "GB-CHC-1201234" in run("changes", "--data-dir", data, "--type", "new").output
    # A second publish that changes nothing.
    version = version_path_for(published, "run2")
    orgs = BASE_ORGS + [dict(org_id="GB-CHC-1201234", name="Seacombe Youth Club", legal_form="Charitable trust",
                             postcode="CH44 6QJ", lad_code=WIRRAL, is_active=False, status="Removed")]
    publish.publish_version(published, make_register(version, orgs), "run2", [WIRRAL])
    result = run("changes", "--data-dir", data)
    assert " ".join(result.output.split()) == ("No register changes in run run2: the published register changed "
                                               "nothing against the one before it")
    result = run("changes", "--data-dir", data, "--type", "new")
    assert " ".join(result.output.split()) == ("No register changes of type new in run run2: it changed nothing "
                                               "against the register before it")


@pytest.mark.parametrize(("args", "message"), [
    (("changes", "--limit", "-1"), "--limit -1: give a number of rows, 0 or more (0 lists them all)"),
    (("history", "-n", "-1"), "--limit -1: give a number of runs, 0 or more (0 lists them all)")])
def test_a_negative_limit_is_an_error_in_words(published, args, message):
    result = run(*args, "--data-dir", str(published.data_dir))
    assert result.exit_code == 1 and str(result.exception) == message


def test_changes_says_when_it_cuts_the_list_and_0_shows_all(published):
    data = str(published.data_dir)
    new_ids = {o["org_id"] for o in BASE_ORGS} | {"GB-CHC-1201234"}

    def shown(output: str) -> set[str]:
        return set(re.findall(r"GB-[A-Z]+-[A-Z0-9]+(?:-\d+)?", output))

    cut = run_at(200, "changes", "--data-dir", data, "-n", "3")
    assert cut.exit_code == 0 and "3 of 7 changes shown (`-n 0` shows them all)" in cut.output
    assert len(shown(cut.output)) == 3 and shown(cut.output) < new_ids
    every = run_at(200, "changes", "--data-dir", data, "-n", "0")
    assert every.exit_code == 0 and " of 7 changes shown" not in every.output
    assert shown(every.output) == new_ids
    assert " of 7 changes shown" not in run_at(200, "changes", "--data-dir", data).output  # 7 is under the 50


def test_history_limit_0_lists_every_run(published):
    data = str(published.data_dir)
    publish.publish_version(published, make_register(version_path_for(published, "run2"), BASE_ORGS),
                            "run2", [WIRRAL])
    assert "run1" not in run("history", "--data-dir", data, "-n", "1").output
    every = run("history", "--data-dir", data, "-n", "0").output
    assert "run1" in every and "run2" in every


def test_demo_rejects_a_zero_scale_and_a_data_dir_that_is_a_file(tmp_path):
    result = run("demo", "--data-dir", str(tmp_path / "d"), "--scale", "0")
    assert result.exit_code == 2 and "0.0 is not greater than 0" in result.output
    assert not (tmp_path / "d").exists()
    existing = tmp_path / "notes.txt"
    existing.write_text("not a folder")
    result = run("demo", "--data-dir", str(existing))
    assert result.exit_code == 2 and "is a file" in result.output
    assert existing.read_text() == "not a folder"


def test_a_bad_threshold_is_reported_with_its_section_name(published, monkeypatch, capsys):
    """The CLI prints the error as text: '[quality]' is not swallowed as rich markup."""
    from vcse_pipeline.cli import main

    monkeypatch.setenv("VCSE__QUALITY__ROW_COUNT_BAND", "abc")
    monkeypatch.setattr("sys.argv", ["vcse", "publish", "--data-dir", str(published.data_dir)])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    assert " ".join(capsys.readouterr().err.split()) == ("error: environment variable VCSE__QUALITY__ROW_COUNT_BAND: "
                                                         "[quality] row_count_band = 'abc': expected a number")
    assert read_history(published)[-1]["status"] == "published"  # refused at loading: no run started
    assert len(version_files(published)) == 1  # no new version was started


def run_at(columns: int, *args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def test_history_and_versions_read_at_80_columns_with_whole_version_names(published):
    data = str(published.data_dir)
    with pytest.raises(Exception):  # noqa: B017 - any gate failure: a run with a long message
        publish.publish_version(published, make_register(version_path_for(published, "run2"),
                                                         BASE_ORGS[:2]), "run2", [WIRRAL])
    result = run_at(80, "history", "--data-dir", data)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    names = [v.name for v in version_files(published)]
    assert any(line.strip() == f"version        {names[0]}" for line in lines)  # whole, on one line
    assert "organisations  6 / 7 (active / all)" in result.output
    message = read_history(published)[-1]["message"]
    body = [line.strip() for line in lines[lines.index(next(x for x in lines if "2 / 2 (active / all)" in x)) + 1:]]
    assert " ".join(body).startswith(" ".join(message.split())[:200])  # wrapped as a paragraph, nothing cut
    assert all(len(line) <= 80 for line in lines[1:] if "register-" not in line)  # [0] names the file
    assert max(len(line.split()) for line in body) > 3  # not one word a line
    versions = run_at(80, "versions", "--data-dir", data).output.splitlines()
    assert f"* {names[0]}" in versions


def test_history_json_prints_one_record_per_line(published):
    result = run_at(60, "history", "--json", "--data-dir", str(published.data_dir))
    lines = result.output.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["run_id"] == "run1"
    assert json.loads(lines[0])["counts"]["active_organisations"] == {WIRRAL: 6}


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_text("org_id,name\nGB-CHC-1,Wirral Foodbank\n"), "is not a register (not a DuckDB"),
    (lambda p: p.write_bytes(b""), "is an empty file, not a register"),
    (lambda p: p.mkdir(), "is a folder, not a register file"),
])
def test_status_on_a_file_that_is_not_a_register_says_what_it_is(published, tmp_path, make, message):
    target = tmp_path / "register.duckdb"
    make(target)
    result = run("status", "--register", str(target))
    assert result.exit_code == 1 and message in str(result.exception)


def test_status_on_a_register_held_by_a_writer_says_so(published):
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(published.register_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        result = run("status", "--data-dir", str(published.data_dir))
    finally:
        writer.kill()
        writer.wait()
    assert result.exit_code == 1 and "is open for writing by another program" in str(result.exception)


def test_status_says_when_the_register_was_rolled_back(published):
    version = version_path_for(published, "run2")
    publish.publish_version(published, make_register(version, BASE_ORGS), "run2", [WIRRAL])
    assert "Rolled back" not in run("status", "--data-dir", str(published.data_dir)).output
    rollback(published)
    out = " ".join(run_at(200, "status", "--data-dir", str(published.data_dir)).output.split())
    back = read_history(published)[-1]
    assert f"Rolled back: {back['finished_at'][:16].replace('T', ' ')} UTC by run {back['run_id']}" in out
    assert "by run run1" in out and f"register switched back to {version_files(published)[1].name}" in out



@pytest.fixture(scope="module")
def staged_postcodes(tmp_path_factory) -> Path:
    """A data folder whose only staging is the demo's postcode directory (real ONSPD format, Wirral's postcodes)."""
    from vcse_pipeline import pipeline
    from vcse_pipeline.demo import generate_demo

    root = tmp_path_factory.mktemp("staged-postcodes")
    generate_demo(root / "demo-sources", scale=0.05)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(root / "data")}})
    pipeline.stage_source(cfg, "postcodes", [root / "demo-sources" / "postcodes" / "ONSPD_NOV_2025_UK.zip"])
    return cfg.data_dir


@pytest.fixture
def downloads(monkeypatch) -> list[str]:
    """The sources `vcse run` goes on to download (none is fetched: the first one ends the run)."""
    from vcse_pipeline import pipeline

    fetched: list[str] = []

    def download_source(cfg, name):
        fetched.append(name)
        raise pipeline.SourceError(name, "no download in this test")

    monkeypatch.setattr(pipeline, "download_source", download_source)
    return fetched


@pytest.mark.parametrize("area", ["E08000099", "W06000015"])
def test_run_refuses_an_unknown_area_before_downloading_anything(staged_postcodes, downloads, area):
    result = run("run", "--data-dir", str(staged_postcodes), "--area", area)
    assert result.exit_code == 1 and downloads == []
    message = " ".join(str(result.exception).split())
    assert f"unknown area '{area}'" in message and "Wirral (E08000015)" in message
    assert "nothing was downloaded" in message and "`vcse refresh postcodes`" in message


def test_run_with_a_known_area_or_nothing_staged_goes_on_to_download(staged_postcodes, downloads, tmp_path):
    result = run("run", "--data-dir", str(staged_postcodes), "--area", "wirral")
    assert downloads == ["charity_commission"] and "no download in this test" in str(result.exception)
    # A first run has no postcode directory to check against: the refresh stages one, the publish checks the areas.
    result = run("run", "--data-dir", str(tmp_path / "fresh"), "--area", "E08000099")
    assert downloads == ["charity_commission"] * 2 and "no download in this test" in str(result.exception)


FCA_SAMPLE = Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv"


def test_a_refresh_that_fails_to_stage_or_download_is_one_failed_run_in_history_and_status(published, tmp_path):
    """A bad row in the FCA list (and then a file that is gone) fails `vcse refresh`: each is one `failed` record
    naming the step, the source and the error, which `history --json` lists and `status` shows as the latest run."""
    lines = FCA_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace(",Registered\n", "\n")  # row 4 one field short
    society_list = tmp_path / "SocietyList.csv"
    society_list.write_text("".join(lines), encoding="utf-8")
    data = str(published.data_dir)
    env = {"VCSE__SOURCES__FCA_MUTUALS__URL": str(society_list), "VCSE__DOWNLOAD__PROGRESS": "false"}

    result = CliRunner().invoke(app, ["refresh", "fca_mutuals", "--data-dir", data], env=env)
    assert result.exit_code == 1 and "expected 12 fields, found 11" in str(result.exception)
    records = [json.loads(line) for line in run("history", "--json", "--data-dir", data).output.splitlines()]
    assert [r["status"] for r in records] == ["published", "failed"]
    failed = records[-1]
    assert failed["message"] == f"stage fca_mutuals failed: {result.exception}"
    assert failed["message"].startswith("stage fca_mutuals failed: source fca_mutuals, file SocietyList.csv")
    assert failed["run_id"] != "run1" and failed["version_file"] is None
    status = " ".join(run("status", "--data-dir", data).output.split())
    assert f"Latest run: {failed['run_id']} failed at " in status
    assert "stage fca_mutuals failed: source fca_mutuals, file SocietyList.csv" in status

    society_list.unlink()  # a download that fails: recorded too, once
    result = CliRunner().invoke(app, ["refresh", "fca_mutuals", "--data-dir", data], env=env)
    assert result.exit_code == 1
    records = read_history(published)
    assert [r["status"] for r in records] == ["published", "failed", "failed"]
    assert records[-1]["message"] == f"download fca_mutuals failed: {result.exception}"
    assert "SocietyList.csv" in records[-1]["message"]
    assert f"Latest run: {records[-1]['run_id']} failed" in " ".join(run("status", "--data-dir", data).output.split())


def test_status_says_staged_again_only_when_the_staged_content_differs(tmp_path, monkeypatch):
    """A forced restage of the same FCA list is the published content: no "not yet published"; a changed list is."""
    from test_changes import publish_orgs

    from vcse_pipeline import pipeline

    society_list = tmp_path / "SocietyList.csv"
    society_list.write_bytes(FCA_SAMPLE.read_bytes())
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                             "download": {"progress": False},
                                             "sources": {"fca_mutuals": {"url": str(society_list)}}})
    monkeypatch.setattr(pipeline, "now_iso", lambda: "2026-11-20T06:05:00+00:00")  # the stage's clock
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    publish_orgs(cfg, "run1", BASE_ORGS)
    env = {"VCSE__SOURCES__FCA_MUTUALS__URL": str(society_list)}

    monkeypatch.setattr(pipeline, "now_iso", lambda: "2026-12-04T06:05:00+00:00")
    pipeline.stage_source(cfg, "fca_mutuals")  # what `vcse refresh --force` does with the same files
    assert pipeline.staged_already(cfg, "fca_mutuals") == "2026-12-04T06:05:00+00:00"  # staged again, later
    out = " ".join(CliRunner().invoke(app, ["status", "--data-dir", str(cfg.data_dir)], env=env).output.split())
    assert "by run run1" in out and "not yet published" not in out

    lines = FCA_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    society_list.write_text("".join(lines[:-1]), encoding="utf-8")  # a society gone from the list
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    out = " ".join(CliRunner().invoke(app, ["status", "--data-dir", str(cfg.data_dir)], env=env).output.split())
    assert "fca_mutuals: staged again at 2026-12-04 06:05, not yet published" in out
