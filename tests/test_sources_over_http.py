"""Every source module fetches its real-format files over HTTP (a local server on 127.0.0.1) and stages
them; a second refresh sends conditional requests and is answered 304, and a fault mid-file is survived."""

import time
from pathlib import Path

import duckdb
import pytest
from http_fault_server import FaultServer
from spawned_workers import spawned_workers

from vcse_pipeline import pipeline
from vcse_pipeline.config import Config
from vcse_pipeline.demo import generate_demo
from vcse_pipeline.sources import SOURCE_NAMES

# Where each source's file(s) sit below the demo folder, as the publishers' URLs would name them.
URL_PATHS = {
    "charity_commission": "/charity_commission/publicextract.{table}.zip",
    "companies_house": "/companies_house/BasicCompanyDataAsOneFile-2026-11-01.zip",
    "postcodes": "/postcodes/ONSPD_NOV_2025_UK.zip",
    "fca_mutuals": "/fca_mutuals/SocietyList.csv",
    "ukcat": "/ukcat/ukcat.csv",
}


@pytest.fixture(scope="module")
def demo_sources(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo-sources")
    generate_demo(out, scale=0.1)
    return out


@pytest.fixture
def served(demo_sources, tmp_path):
    with FaultServer(demo_sources) as server:
        cfg = Config.load(environ={}, overrides={
            "paths": {"data_dir": str(tmp_path / "data")},
            "download": {"progress": False, "backoff_seconds": 0.01, "retries": 3},
            "sources": {name: {"url": server.url(path)} for name, path in URL_PATHS.items()},
        })
        yield server, cfg


def test_each_source_downloads_over_http_and_stages(served):
    server, cfg = served
    assert set(URL_PATHS) == set(SOURCE_NAMES)
    for name in SOURCE_NAMES:
        results = pipeline.download_source(cfg, name)
        assert results and all(r.status == "downloaded" for r in results), name
        counts = pipeline.stage_source(cfg, name)
        assert counts and all(rows > 0 for table, rows in counts.items()
                              if table not in ("ward", "local_authority")), (name, counts)
        con = duckdb.connect(str(cfg.staging_path(name)), read_only=True)
        assert con.execute("SELECT source FROM _staged").fetchone()[0] == name
        con.close()

    # The next scheduled refresh: nothing changed upstream, so every file is answered 304 Not Modified.
    for name in SOURCE_NAMES:
        assert {r.status for r in pipeline.download_source(cfg, name)} == {"not_modified"}, name
    conditional = [r for r in server.requests if "If-None-Match" in r.headers]
    assert len(conditional) >= len(SOURCE_NAMES)


def test_a_connection_cut_mid_file_is_resumed_and_staged(served):
    server, cfg = served
    path = URL_PATHS["companies_house"]
    server.cut(path, after_bytes=20_000)
    results = pipeline.download_source(cfg, "companies_house")
    assert results[0].status == "downloaded" and results[0].attempts >= 2
    assert any(r.headers.get("Range") for r in server.requests_for(path))
    assert pipeline.stage_source(cfg, "companies_house")["company"] > 0


def test_a_download_damaged_in_place_is_fetched_again_and_stages(served):
    """A byte of the Companies House zip flipped on disk, its size kept: the next refresh fetches the file again
    (it was answered 304 and then failed with "Bad CRC-32" on every try) and records the good file's sha256."""
    from vcse_pipeline.download import read_manifest
    from vcse_pipeline.fingerprint import file_sha256

    server, cfg = served
    first = pipeline.download_source(cfg, "companies_house")[0]
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    first.path.write_bytes(bytes(data))

    again = pipeline.download_source(cfg, "companies_house")[0]
    assert again.status == "downloaded" and "If-None-Match" not in server.requests[-1].headers
    assert file_sha256(first.path) == first.sha256 == read_manifest(cfg.download_dir("companies_house"))[-1]["sha256"]
    assert pipeline.stage_source(cfg, "companies_house")["company"] > 0


def test_a_second_download_of_a_source_is_refused_while_the_first_is_fetching(served, demo_sources):
    """A shell `vcse refresh` while the source DAG's download task (or another refresh) fetches the same source:
    the second is refused at once, naming the first, instead of truncating the first's .part file (which left the
    second failing "cannot use ....zip.part" and the first renaming a damaged zip into place)."""
    import os
    import threading
    import zipfile

    from vcse_pipeline.runlock import RunLockedError

    server, cfg = served
    path = URL_PATHS["companies_house"]
    body = (demo_sources / path.lstrip("/")).read_bytes()
    asked, release, calls = threading.Event(), threading.Event(), []

    def answer(query):  # the first request waits, as a slow publisher would, until the second download has run
        calls.append(query)
        if len(calls) == 1:
            asked.set()
            release.wait(60)
        return 200, {"Content-Type": "application/zip"}, body

    server.route(path, answer)
    first: list = []
    worker = threading.Thread(target=lambda: first.append(_outcome(pipeline.download_source, cfg, "companies_house")))
    worker.start()
    try:
        assert asked.wait(60), "the first download never asked for its file"
        with pytest.raises(RunLockedError, match=rf"another run holds the download-companies_house lock: run \S+ "
                                                 rf"\(download companies_house, pid {os.getpid()} on "):
            pipeline.download_source(cfg, "companies_house")
    finally:
        release.set()
        worker.join(120)
    assert not isinstance(first[0], Exception), first[0]
    (result,) = first[0]
    assert result.status == "downloaded" and len(calls) == 1
    with zipfile.ZipFile(result.path) as archive:
        assert archive.testzip() is None
    assert not (cfg.data_dir / "locks" / "download-companies_house.json").exists()
    assert pipeline.stage_source(cfg, "companies_house")["company"] > 0


def _outcome(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - handed to the test thread to assert on
        return exc


def test_a_csv_cut_short_upstream_is_never_installed(served):
    """The FCA list cut short at the publisher but served whole, with a matching Content-Length: the body is
    complete as HTTP goes, so only its content shows the cut. It was installed and published (90 of 118
    societies); now the download refuses it and the previous file and staging stay."""
    from vcse_pipeline.errors import DownloadError

    server, cfg = served
    path = URL_PATHS["fca_mutuals"]
    pipeline.download_source(cfg, "fca_mutuals")
    pipeline.stage_source(cfg, "fca_mutuals")
    installed = cfg.download_dir("fca_mutuals") / "SocietyList.csv"
    good, staged = installed.read_bytes(), cfg.staging_path("fca_mutuals").read_bytes()
    server.add(path, good[:len(good) * 3 // 4], last_modified=time.time())   # a new, cut, copy upstream
    with pytest.raises(DownloadError, match=r"source fca_mutuals, file SocietyList\.csv, row \d+: the CSV from http://127\.0\.0"
                                            r"\.1:\d+/fca_mutuals/SocietyList\.csv ends in the middle of a row"):
        pipeline.download_source(cfg, "fca_mutuals")
    assert installed.read_bytes() == good and cfg.staging_path("fca_mutuals").read_bytes() == staged
    assert not list(installed.parent.glob("*.part"))


def test_a_whole_csv_without_a_final_line_break_is_installed(served):
    """Not every publisher ends its last row with a line break: a last row that is whole (every field of the
    header, every quote closed) is taken, and staged with every row; only a row cut short is refused."""
    server, cfg = served
    path = URL_PATHS["fca_mutuals"]
    pipeline.download_source(cfg, "fca_mutuals")
    rows = pipeline.stage_source(cfg, "fca_mutuals")["society"]
    installed = cfg.download_dir("fca_mutuals") / "SocietyList.csv"
    whole = installed.read_bytes().rstrip(b"\r\n")
    server.add(path, whole, last_modified=time.time())
    assert pipeline.download_source(cfg, "fca_mutuals")[0].status == "downloaded"
    assert installed.read_bytes() == whole
    assert pipeline.stage_source(cfg, "fca_mutuals")["society"] == rows


def staged_at(cfg: Config, names=SOURCE_NAMES) -> dict[str, str]:
    found = {}
    for name in names:
        with duckdb.connect(str(cfg.staging_path(name)), read_only=True) as con:
            found[name] = con.execute("SELECT staged_at FROM _staged").fetchone()[0]
    return found


def test_a_refresh_stages_new_files_two_at_once_and_skips_what_it_staged(served, tmp_path, monkeypatch, capsys):
    """`vcse refresh`: every source downloaded, then staged in two worker processes at once; the next refresh,
    answered 304 everywhere, stages nothing again and says so; --force stages every source again."""
    import threading

    from vcse_pipeline.cli.pipeline_commands import refresh_sources

    _, cfg = served
    cfg = cfg.with_overrides({"download": {"stage_workers": 2}})
    release = tmp_path / "release"   # the first stage to load its tables waits here until the test looks
    monkeypatch.setenv("VCSE_PAUSE_AT", "stage_loaded")
    monkeypatch.setenv("VCSE_PAUSE_FILE", str(release))
    done: dict = {}
    thread = threading.Thread(target=lambda: done.setdefault("error", _refresh(refresh_sources, cfg)))
    thread.start()
    waited = threading.Event()
    while not Path(f"{release}.reached").exists() and thread.is_alive():
        waited.wait(0.05)
    workers = spawned_workers()
    release.touch()
    thread.join(300)
    assert not thread.is_alive() and done["error"] is None, done
    assert len(workers) == 2   # two sources were staging at once, each in its own process
    assert spawned_workers() == []
    first = staged_at(cfg)
    out = capsys.readouterr().out
    for name in SOURCE_NAMES:
        assert f"{name}: staged " in out
    monkeypatch.delenv("VCSE_PAUSE_AT")

    staging = {name: cfg.staging_path(name).read_bytes() for name in SOURCE_NAMES}
    refresh_sources(cfg, list(SOURCE_NAMES))
    raw = capsys.readouterr().out
    out = " ".join(raw.split())
    assert out.count("unchanged: staged from these files at ") == len(SOURCE_NAMES), out
    assert not [line for line in raw.splitlines() if line.lstrip().startswith(tuple(f"{n}: " for n in SOURCE_NAMES))]
    assert {name: cfg.staging_path(name).read_bytes() for name in SOURCE_NAMES} == staging

    refresh_sources(cfg, ["fca_mutuals", "ukcat"], force=True)
    again = staged_at(cfg)
    assert [name for name in SOURCE_NAMES if again[name] != first[name]] == ["fca_mutuals", "ukcat"]


def _refresh(refresh_sources, cfg) -> BaseException | None:
    try:
        refresh_sources(cfg, list(SOURCE_NAMES))
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        return exc
    return None


def test_a_source_failing_to_stage_stops_no_other(served, capsys):
    """Companies House's file has a row that is not UTF-8: its stage fails naming the file and row, its staging stays
    as it was, and the sources staging beside it are staged."""
    import zipfile

    from vcse_pipeline.cli.pipeline_commands import refresh_sources
    from vcse_pipeline.errors import SourceError

    server, cfg = served
    cfg = cfg.with_overrides({"download": {"stage_workers": 2}})
    sources = ["companies_house", "fca_mutuals", "ukcat"]
    refresh_sources(cfg, sources)
    before = staged_at(cfg, sources)
    good = cfg.staging_path("companies_house").read_bytes()
    capsys.readouterr()

    path = URL_PATHS["companies_house"]
    with zipfile.ZipFile(cfg.download_dir("companies_house") / Path(path).name) as z:
        member = z.namelist()[0]
        lines = z.read(member).split(b"\n")
    lines[3] = lines[3].replace(b"\"", b"\"\xff", 1)
    bad = tmp_zip(member, b"\n".join(lines))
    server.add(path, bad, last_modified=time.time())
    with pytest.raises(SourceError, match=r"source companies_house, file BasicCompanyDataAsOneFile-2026-11-01\.zip:"
                                          r"BasicCompanyDataAsOneFile-2026-11-01\.csv, row 4"):
        refresh_sources(cfg, sources, force=True)
    out = " ".join(capsys.readouterr().out.split())
    assert "companies_house: not staged, its staging is as it was" in out
    assert "fca_mutuals: staged " in out and "ukcat: staged " in out
    after = staged_at(cfg, sources)
    assert after["companies_house"] == before["companies_house"]
    assert cfg.staging_path("companies_house").read_bytes() == good
    assert after["fca_mutuals"] != before["fca_mutuals"] and after["ukcat"] != before["ukcat"]


def tmp_zip(member: str, data: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
    return buffer.getvalue()
