"""Payment files fetched over HTTP from a local server with faults (spend/fetch.py through download.fetch): retried,
resumed, refused when an HTML page comes instead, fetched conditionally the second time, then loaded."""

from __future__ import annotations

import pytest
from http_fault_server import FaultServer

from vcse_pipeline import download
from vcse_pipeline.config import Config
from vcse_pipeline.errors import DownloadError, SourceError
from vcse_pipeline.spend.fetch import fetch_spend_files
from vcse_pipeline.spend.layouts import BUILT_IN
from vcse_pipeline.spend.load import load_files, open_spend_db

HEADER = "Body Name,Service Area,Expenses Type,Invoice Payment Date,Transaction Number,Net Amount,Supplier Name\r\n"


def month(n: int, rows: int = 400) -> bytes:
    """A Windows-1252 monthly file, big enough to be cut mid-body."""
    lines = [f"Council,Adult Social Care,Care,{day % 28 + 1:02d}/{n:02d}/2025,T{n}{day},\"£1,{day:03d}.50\","
             f"Wirral Care Partnership {day % 9} Ltd\r\n" for day in range(rows)]
    return (HEADER + "".join(lines)).encode("cp1252")


@pytest.fixture()
def served(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "sleep", lambda seconds: None)
    files = {"/spend/april.csv": month(4), "/spend/may.csv": month(5)}
    with FaultServer(files) as server:
        cfg = Config.load(environ={}, overrides={
            "paths": {"data_dir": str(tmp_path / "data")},
            "download": {"progress": False, "retries": 3, "backoff_seconds": 0.0},
            "spend": {"files": [server.url(p) for p in files]}})
        yield server, cfg


def test_files_fetch_through_faults_and_load(served):
    server, cfg = served
    server.fail("/spend/april.csv", status=503, times=2)        # two server errors, then the file
    server.cut("/spend/may.csv", after_bytes=5_000)              # the connection drops mid-body once: resumed
    results = fetch_spend_files(cfg)
    assert [r.status for r in results] == ["downloaded", "downloaded"]
    assert [r.path.read_bytes() for r in results] == [month(4), month(5)]
    assert "Range" in server.requests_for("/spend/may.csv")[-1].headers

    con = open_spend_db(cfg.data_dir / "spend" / "spend.duckdb")
    summaries = load_files(con, [r.path for r in results], list(BUILT_IN))
    assert [(s["file"], s["layout"], s["lines"]) for s in summaries] == [
        ("april.csv", "manchester", 400), ("may.csv", "manchester", 400)]
    assert con.execute("SELECT sum(amount) FROM spend_line").fetchone()[0] == 2 * sum(
        1000 + day + 0.5 for day in range(400))
    con.close()

    # the next run asks conditionally: nothing is downloaded again
    again = fetch_spend_files(cfg)
    assert [r.status for r in again] == ["not_modified", "not_modified"]
    assert "If-None-Match" in server.requests_for("/spend/april.csv")[-1].headers


def test_an_html_page_instead_of_the_file_keeps_the_previous_one(served):
    server, cfg = served
    [april, _] = fetch_spend_files(cfg)
    server.replace("/spend/april.csv", month(4, rows=401))
    server.html_error("/spend/april.csv")
    with pytest.raises(DownloadError, match="HTML page"):
        fetch_spend_files(cfg)
    assert april.path.read_bytes() == month(4)


def test_a_folder_is_fetched_file_by_file_and_nothing_given_is_an_error(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "june.csv").write_bytes(month(6, rows=3))
    (folder / "notes.docx").write_bytes(b"not a payment file")
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                             "download": {"progress": False}})
    [result] = fetch_spend_files(cfg, [str(folder)])
    assert result.path.parent.parent == cfg.download_dir("spend") and result.path.name == "june.csv"
    assert result.path.read_bytes() == month(6, rows=3) and result.url == str((folder / "june.csv").resolve())
    with pytest.raises(SourceError, match="no payment files given"):
        fetch_spend_files(cfg)
    assert not list(cfg.download_dir("spend").rglob("notes.docx"))


def test_files_of_one_name_from_two_places_are_both_fetched_and_loaded(tmp_path, monkeypatch):
    """a/payments.csv and b/payments.csv (and two URLs ending in payments.csv) are four files, not one overwritten:
    each is fetched to its own path and loaded under its own source."""
    monkeypatch.setattr(download, "sleep", lambda seconds: None)
    for folder, n in (("a", 4), ("b", 5)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "payments.csv").write_bytes(month(n, rows=2))
    files = {"/2025/payments.csv": month(6, rows=3), "/2026/payments.csv": month(7, rows=4)}
    with FaultServer(files) as server:
        cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                                 "download": {"progress": False}})
        given = [str(tmp_path / "a" / "payments.csv"), str(tmp_path / "b"), *(server.url(p) for p in files)]
        results = fetch_spend_files(cfg, given)
        assert [r.path.read_bytes() for r in results] == [month(4, rows=2), month(5, rows=2), *files.values()]
        assert len({r.path for r in results}) == 4
        # a second run fetches to the same paths (so it is conditional) and loads nothing again
        assert [r.path for r in fetch_spend_files(cfg, given)] == [r.path for r in results]
    con = open_spend_db(cfg.data_dir / "spend" / "spend.duckdb")
    try:
        summaries = load_files(con, [r.path for r in results], list(BUILT_IN), [r.url for r in results])
        assert [(s["file"], s["lines"]) for s in summaries] == [("payments.csv", n) for n in (2, 2, 3, 4)]
        assert con.execute("SELECT count(DISTINCT source), count(*) FROM spend_line").fetchone() == (4, 11)
        assert sorted(r[0] for r in con.execute("SELECT source FROM spend_file").fetchall()) == sorted(
            [str((tmp_path / "a" / "payments.csv").resolve()), str((tmp_path / "b" / "payments.csv").resolve()),
             *(server.url(p) for p in files)])
    finally:
        con.close()


def test_vcse_spend_lists_every_file_in_the_figures_and_removes_one(demo_register, tmp_path):
    """The measures count every file loaded on any run: `vcse spend` lists each with its lines, £ and credit notes
    (so the figures reconcile to files), and --remove takes one out."""
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app

    header = HEADER.strip()
    (tmp_path / "pta.csv").write_text(f"{header}\nMCC,Care,Care,01/04/2025,T1,5000,Wirral Mind\n", encoding="utf-8")
    (tmp_path / "opreg.csv").write_text(f"{header}\nMCC,Care,Care,01/05/2025,T2,4000,Wirral Mind\n"
                                        "MCC,Care,Care,02/05/2025,T3,2500,Wirral Mind\n"
                                        "MCC,Care,Care,03/05/2025,T4,-500,Wirral Mind\n", encoding="utf-8")
    env = {"VCSE__SPEND__DATABASE": str(tmp_path / "spend.duckdb"), "COLUMNS": "1000",
           "VCSE__DOWNLOAD__PROGRESS": "false"}

    def vcse_spend(*args: str) -> list[str]:
        result = CliRunner().invoke(app, ["spend", *args, "--data-dir", str(demo_register.cfg.data_dir)], env=env)
        assert result.exit_code == 0, result.output + repr(result.exception)
        return [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]

    vcse_spend(str(tmp_path / "pta.csv"))
    out = vcse_spend(str(tmp_path / "opreg.csv"))
    assert "opreg.csv: 3 lines (manchester)" in out
    assert f"opreg.csv 3 £6,000.00 1 {(tmp_path / 'opreg.csv').resolve()}" in out
    assert f"pta.csv 1 £5,000.00 0 {(tmp_path / 'pta.csv').resolve()}" in out
    assert any(line.startswith("Wirral £11,000") for line in out)
    assert not any("tier-2" in line for line in out)   # no tier-2 file: no "with declared tier-2 spend" row
    out = vcse_spend("--remove", "pta.csv")
    assert "pta.csv: removed (1 lines) [" + str((tmp_path / "pta.csv").resolve()) + "]" in out
    assert not any(line.startswith("pta.csv 1") for line in out)
    assert any(line.startswith("Wirral £6,000") for line in out)


def test_vcse_spend_lists_the_tier2_rows_not_counted_in_full_under_the_local_share(demo_register, tmp_path):
    """With a tier-2 file (the audit's, as tests/test_spend_measures.py loads it), `vcse spend` prints the
    with-tier-2 row and, under the local share, every declared row capped or ignored with why; the rows counted in
    full are not listed."""
    import csv

    import duckdb
    from test_spend_measures import TIER2, demo_suppliers, payments, write_payments
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app

    suppliers = demo_suppliers(demo_register)
    names = {part: t["supplier_name"] for part, t in suppliers.items()}
    with (tmp_path / "tier2.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("supplier", "financial_year", "local_amount"),
                                  *((supplier.format(**names), year, amount) for supplier, year, amount in TIER2)])
    env = {"VCSE__SPEND__DATABASE": str(tmp_path / "spend.duckdb"), "VCSE__SPEND__TIER2_FILE": str(tmp_path /
           "tier2.csv"), "VCSE__SPEND__OVERRIDES_FILE": str(tmp_path / "overrides.csv"), "COLUMNS": "1000",
           "VCSE__DOWNLOAD__PROGRESS": "false"}
    result = CliRunner().invoke(app, ["spend", str(write_payments(tmp_path / "payments.csv", payments(suppliers))),
                                      "--data-dir", str(demo_register.cfg.data_dir)], env=env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    out = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    con = duckdb.connect(str(tmp_path / "spend.duckdb"), read_only=True)
    try:
        checked = con.execute("SELECT supplier, financial_year, local_amount, counted_amount, status, reason, "
                              "row_number FROM spend_tier2_check ORDER BY row_number").fetchall()
        with_tier2 = con.execute("SELECT label, local_amount FROM spend_local_share "
                                 "WHERE definition = 'district_tier2'").fetchone()
    finally:
        con.close()
    assert {c[4] for c in checked} == {"counted", "capped", "ignored"}
    share = next(i for i, line in enumerate(out) if line.startswith(f"{with_tier2[0]} "))
    assert f"£{float(with_tier2[1]):,.0f}" in out[share]
    heading = out.index(f"Tier-2 spend not counted in full ({sum(c[4] != 'counted' for c in checked)} rows)")
    assert heading > share   # under the local-share table
    for supplier, year, declared, counted, status, reason, row_number in checked:
        line = (f"{supplier} {year} £{float(declared):,.0f} £{float(counted):,.0f} {status} {reason} "
                f"tier2.csv:{row_number}")
        assert (line in out[heading:]) == (status != "counted"), line
