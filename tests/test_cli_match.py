"""`vcse match` on a small CSV against a small list, and its errors."""

import io
import os
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.errors import PipelineError

LIST = """org_id,name,postcode,other_names
GB-CHC-1128267,AGE UK,WC1H 9NA,
GB-CHC-1110522,THE TRUSSELL TRUST,SP2 7HL,
GB-CHC-1110853,Hyndburn Citizens Advice Bureau,,
GB-CHC-1024324,Herts Aid,,
GB-CHC-1130366,Herts Aid,,
GB-CHC-1144758,Harrogate and Area Council for voluntary Services Limited,,Harrogate & Area CVS Ltd
"""

INPUT = """grantee,postcode,amount
Trussell Trust,SP2 7HL,5000
Hyndburn - CAB,BB5 1PB,1200
Herts Aid,SG12 9DH,300
Harrogate and  Area CVS,HG1 5RR,800
Acme Widgets Holdings,,10
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "list.csv").write_text(LIST, encoding="utf-8")
    (tmp_path / "in.csv").write_text(INPUT, encoding="utf-8")
    return tmp_path


def test_match_writes_statuses_and_summary(files):
    out = files / "out.csv"
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--against", str(files / "list.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["grantee", "postcode", "amount", "org_id", "register_name", "matched_name", "score",
                                 "status", "other_candidate", "review_reason", "is_active", "date_removed"]
    by_name = frame.set_index("grantee")
    assert by_name.loc["Trussell Trust", "status"] == "matched"
    assert by_name.loc["Trussell Trust", "org_id"] == "GB-CHC-1110522"
    assert by_name.loc["Hyndburn - CAB", "org_id"] == "GB-CHC-1110853"
    assert by_name.loc["Herts Aid", "status"] == "review"          # two organisations share the name
    other = by_name.loc["Herts Aid", "other_candidate"]
    assert by_name.loc["Herts Aid", "review_reason"] == f"{other} scores within 4 points: name, postcode and status " \
                                                        "cannot tell them apart"
    assert by_name.loc["Trussell Trust", "review_reason"] == by_name.loc["Acme Widgets Holdings", "review_reason"] == ""
    assert by_name.loc["Acme Widgets Holdings", "status"] == "no match"
    assert by_name.loc["Acme Widgets Holdings", "org_id"] == ""
    for word in ("matched", "review", "no match", "Trussell Trust", "wrote 5 rows"):
        assert word in result.output
    # the title counts the matched names, not every row; scores read as in the file (100, not 100.0)
    matched = int((frame.status == "matched").sum())
    assert f"Matched {matched} of 5 names" in result.output and matched < 5
    trussell = by_name.loc["Trussell Trust", "score"]
    assert trussell == "100" and "100.0" not in result.output
    assert re.search(r"Trussell Trust .*│\s+100 │ matched", result.output), result.output
    # counts and scores line up on the right (a left-aligned "3" would read "│ 3    │")
    assert re.search(r"│ matched\s+│ +\d+ │", result.output) and re.search(r"│ no match │ +\d+ │", result.output)

def test_csv_without_output_goes_to_standard_output(files):
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--against", str(files / "list.csv"), "-f", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ("grantee,postcode,amount,org_id,register_name,matched_name,score,status,"
                                             "other_candidate,review_reason,is_active,date_removed")
    frame = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False).set_index("grantee")
    assert len(frame) == 5 and frame.loc["Trussell Trust", "org_id"] == "GB-CHC-1110522"
    assert "Matched" in result.stderr and "Matched" not in result.stdout   # the summary stays off the pipe


FUZZY = """grantee
Trussel Trust Foodbank
Hyndburn Citizens Advice
Harrogate Area CVS
Age UK Wirral
"""


def test_thresholds_from_the_command_line(files):
    # scores against LIST: 84.6, 86.9, 94.3 and 70 (review, review, matched, no match at the defaults 90/75):
    # Age UK Wirral is a member of the federation, not the national AGE UK on the list (85 less the penalty)
    (files / "fuzzy.csv").write_text(FUZZY, encoding="utf-8")

    def statuses(*thresholds):
        out = files / "strict.csv"
        result = CliRunner().invoke(app, ["match", str(files / "fuzzy.csv"), "--name-column", "grantee",
                                          "--against", str(files / "list.csv"), "-o", str(out), *thresholds])
        assert result.exit_code == 0, result.output
        return pd.read_csv(out, dtype=str, keep_default_na=False)["status"].tolist()

    assert statuses() == ["review", "review", "matched", "no match"]
    assert statuses("--link-threshold", "85", "--review-threshold", "80") == ["review", "matched", "matched",
                                                                              "no match"]
    assert statuses("--link-threshold", "100", "--review-threshold", "90") == ["no match", "no match", "review",
                                                                               "no match"]


@pytest.mark.parametrize(("thresholds", "message"), [
    (["--link-threshold", "100.5"], "--link-threshold 100.5: give a score from 0 to 100"),
    (["--review-threshold", "-1"], "--review-threshold -1: give a score from 0 to 100"),
    (["--link-threshold", "80", "--review-threshold", "85"], "--review-threshold 85 is above --link-threshold 80"),
    (["--link-threshold", "70"], "the configured review threshold 75 is above --link-threshold 70"),
])
def test_thresholds_out_of_range_or_crossed_are_errors(files, thresholds, message):
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee", "--against",
                                      str(files / "list.csv"), *thresholds])
    assert result.exit_code == 1 and isinstance(result.exception, PipelineError)   # not a usage box (exit 2)
    assert message in str(result.exception)


def test_missing_name_column_is_named(files):
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--against", str(files / "list.csv")])
    assert isinstance(result.exception, PipelineError)
    assert "'name'" in str(result.exception) and "grantee" in str(result.exception)


def test_missing_postcode_column_is_named(files):
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--postcode-column", "pc", "--against", str(files / "list.csv")])
    assert isinstance(result.exception, PipelineError) and "'pc'" in str(result.exception)


def test_missing_register_and_unreadable_csv(files):
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--register", str(files / "nowhere.duckdb")])
    assert isinstance(result.exception, PipelineError) and "nowhere.duckdb" in str(result.exception)
    # 0x81 is neither UTF-8 nor Windows-1252 (one of its five unassigned bytes): the error names file and line
    (files / "bad.csv").write_bytes(b"name\nHerts Aid\n\x81 broken\n")
    result = CliRunner().invoke(app, ["match", str(files / "bad.csv"), "--against", str(files / "list.csv")])
    assert isinstance(result.exception, PipelineError)
    assert "bad.csv line 3" in str(result.exception) and "CSV UTF-8" in str(result.exception)


def test_match_against_a_published_register(files):
    import duckdb

    path = files / "vcse_register.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE organisation (area_code VARCHAR, org_id VARCHAR, name VARCHAR, postcode VARCHAR)")
    con.execute("CREATE TABLE organisation_name (area_code VARCHAR, org_id VARCHAR, name VARCHAR)")
    con.execute("INSERT INTO organisation VALUES ('E08000015', 'GB-CHC-1110522', 'THE TRUSSELL TRUST', 'SP2 7HL'),"
                " ('E08000015', 'GB-COH-01234568', 'WIRRAL TOY LIBRARY LIMITED', 'CH41 1AA')")
    con.execute("INSERT INTO organisation_name VALUES ('E08000015', 'GB-COH-01234568', 'Hyndburn CAB')")
    con.close()
    out = files / "reg.csv"
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--register", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("grantee")
    assert frame.loc["Trussell Trust", "org_id"] == "GB-CHC-1110522"
    assert frame.loc["Hyndburn - CAB", "org_id"] == "GB-COH-01234568"   # found by its other name


# -- identical names: the active organisation is preferred over a removed namesake ----------------------------

def test_against_list_with_an_active_column_settles_the_tie(files):
    # The list's status column: blank (unknown) for most, as an exported grants list often has.
    listing = """org_id,name,postcode,other_names,active
GB-CHC-1110522,THE TRUSSELL TRUST,SP2 7HL,,
GB-CHC-1110853,Hyndburn Citizens Advice Bureau,,,true
GB-CHC-1024324,Herts Aid,,,no
GB-CHC-1130366,Herts Aid,,,Yes
"""
    (files / "status.csv").write_text(listing, encoding="utf-8")
    out = files / "status-out.csv"
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--against", str(files / "status.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("grantee")
    assert (frame.loc["Herts Aid", "org_id"], frame.loc["Herts Aid", "status"]) == ("GB-CHC-1130366", "matched")
    assert frame.loc["Trussell Trust", "status"] == "matched"   # blank status: nothing else changes
    # Both marked active: still a coin flip, so review.
    (files / "both.csv").write_text(listing.replace(",,,no", ",,,1"), encoding="utf-8")
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--against", str(files / "both.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, dtype=str).set_index("grantee").loc["Herts Aid", "status"] == "review"



def test_a_name_held_by_one_organisation_and_as_another_name_by_another(files):
    # A funder's "Vision North Somerset": the register name of a CIO, and the working name of an older charity.
    listing = """org_id,name,postcode,other_names
GB-CHC-270331,Woodspring Association For Blind People,{woodspring},Vision North Somerset
GB-CHC-1165364,Vision North Somerset,,
GB-CHC-1110522,THE TRUSSELL TRUST,SP2 7HL,
"""
    (files / "vision.csv").write_text("grantee,postcode\nVision North Somerset,BS23 1YD\n", encoding="utf-8")

    def matched(woodspring_postcode):
        (files / "vision-list.csv").write_text(listing.format(woodspring=woodspring_postcode), encoding="utf-8")
        out = files / "vision-out.csv"
        result = CliRunner().invoke(app, ["match", str(files / "vision.csv"), "--name-column", "grantee",
                                          "--against", str(files / "vision-list.csv"), "-o", str(out)])
        assert result.exit_code == 0, result.output
        return pd.read_csv(out, dtype=str, keep_default_na=False).iloc[0]

    # Nothing tells them apart: review, with both organisations in the file.
    row = matched("")
    assert row.status == "review"
    assert {f"{row.org_id} {row.register_name}", row.other_candidate} == {
        "GB-CHC-1165364 Vision North Somerset", "GB-CHC-270331 Woodspring Association For Blind People"}
    # The older charity at the grant's postcode: matched through its other name, shown by its register name.
    row = matched("BS23 1YD")
    assert (row.status, row.org_id, row.register_name, row.matched_name, row.other_candidate) == (
        "matched", "GB-CHC-270331", "Woodspring Association For Blind People", "Vision North Somerset", "")

def test_an_unreadable_active_value_is_named(files):
    listing = "org_id,name,active\nGB-CHC-1024324,Herts Aid,false\nGB-CHC-1130366,Herts Aid,removed\n"
    (files / "bad-status.csv").write_text(listing, encoding="utf-8")
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--against", str(files / "bad-status.csv")])
    assert isinstance(result.exception, PipelineError)
    message = str(result.exception)
    assert "bad-status.csv row 3" in message and "'active'" in message and "removed" in message


def add_organisation(con, org_id, name, is_active, area="E08000015", postcode=None):
    con.execute("INSERT INTO organisation (area_code, org_id, name, legal_form, is_active, postcode, "
                "in_area_by_postcode, in_area_by_operation, area_basis, source_count) "
                "VALUES (?, ?, ?, 'Charitable incorporated organisation', ?, ?, false, true, 'area of operation', 1)",
                [area, org_id, name, is_active, postcode])
    con.execute("INSERT INTO organisation_name VALUES (?, ?, ?, 'registered', 'charity_commission', ?)",
                [area, org_id, name, name.lower()])


def test_default_register_supplies_organisation_status(files, monkeypatch):
    from vcse_pipeline.config import Config
    from vcse_pipeline.db import connect, run_sql_dir

    monkeypatch.chdir(files)
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(files / "data"))
    con = connect(Config.load().register_path)
    run_sql_dir(con, "core")
    add_organisation(con, "GB-CHC-1024324", "HERTS AID", False)              # removed in 2012
    add_organisation(con, "GB-CHC-1130366", "HERTS AID", True)
    add_organisation(con, "GB-CHC-1130366", "HERTS AID", True, area="E07000242")   # a second area's row
    add_organisation(con, "GB-CHC-1110522", "THE TRUSSELL TRUST", True, postcode="SP2 7HL")
    add_organisation(con, "GB-CHC-1110853", "HYNDBURN CITIZENS ADVICE BUREAU", True)
    add_organisation(con, "GB-CHC-1110854", "HYNDBURN CITIZENS ADVICE BUREAU", True)   # both active: no pick
    con.close()
    out = files / "default.csv"
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee", "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("grantee")
    assert (frame.loc["Herts Aid", "org_id"], frame.loc["Herts Aid", "status"]) == ("GB-CHC-1130366", "matched")
    assert frame.loc["Hyndburn - CAB", "status"] == "review"
    assert frame.loc["Trussell Trust", "status"] == "matched"


# -- which register: --data-dir and --config choose it as for `vcse find`; --register beats both ----------------

def write_register(path, trussell_id):
    """A core-schema register at `path` holding The Trussell Trust under `trussell_id`."""
    from vcse_pipeline.db import connect, run_sql_dir

    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    run_sql_dir(con, "core")
    add_organisation(con, trussell_id, "THE TRUSSELL TRUST", True, postcode="SP2 7HL")
    add_organisation(con, "GB-CHC-1110853", "HYNDBURN CITIZENS ADVICE BUREAU", True)
    con.close()
    return path


@pytest.fixture
def default_register(files, monkeypatch):
    """A decoy register where the packaged defaults point (./data/register/), so a test that passes proves the
    command did not fall back to it."""
    monkeypatch.chdir(files)
    for name in [n for n in os.environ if n == "VCSE_CONFIG" or n.startswith("VCSE__")]:
        monkeypatch.delenv(name)
    return write_register(files / "data" / "register" / "vcse_register.duckdb", "GB-CHC-9999999")


def matched_ids(files, *options):
    out = files / "which.csv"
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee", "-o", str(out),
                                      *options])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, dtype=str, keep_default_na=False).set_index("grantee")


def test_data_dir_picks_the_register_under_it(files, default_register):
    write_register(files / "elsewhere" / "register" / "vcse_register.duckdb", "GB-CHC-1110522")
    assert matched_ids(files).loc["Trussell Trust", "org_id"] == "GB-CHC-9999999"
    frame = matched_ids(files, "--data-dir", str(files / "elsewhere"))
    assert (frame.loc["Trussell Trust", "org_id"], frame.loc["Trussell Trust", "status"]) == ("GB-CHC-1110522",
                                                                                              "matched")
    # --register names the file outright, whatever the data folder.
    frame = matched_ids(files, "--data-dir", str(files / "elsewhere"), "--register", str(default_register))
    assert frame.loc["Trussell Trust", "org_id"] == "GB-CHC-9999999"


def test_config_file_supplies_register_and_thresholds(files, default_register):
    from vcse_pipeline.db import connect

    configured = files / "configured"
    write_register(configured / "reg" / "wirral.duckdb", "GB-CHC-1110522")
    con = connect(configured / "reg" / "wirral.duckdb")
    add_organisation(con, "GB-CHC-1144758", "HARROGATE AND AREA COUNCIL FOR VOLUNTARY SERVICES LIMITED", True)
    con.close()
    config = files / "vcse-test.toml"
    config.write_text(f'[paths]\ndata_dir = "{configured.as_posix()}"\nregister_file = "reg/wirral.duckdb"\n\n'
                      "[linking]\nlink_threshold = 100\nreview_threshold = 100\n", encoding="utf-8")
    frame = matched_ids(files, "--config", str(config))
    # The file's register_file under its data_dir, and its thresholds: only a perfect score counts at all, so the
    # abbreviated "Harrogate and  Area CVS", found with the packaged thresholds, is no match here.
    assert (frame.loc["Trussell Trust", "org_id"], frame.loc["Trussell Trust", "status"]) == ("GB-CHC-1110522",
                                                                                              "matched")
    assert frame.loc["Harrogate and  Area CVS", "status"] == "no match"
    assert float(frame.loc["Harrogate and  Area CVS", "score"]) < 100
    # the same register with the packaged thresholds finds it
    assert matched_ids(files, "--register", str(configured / "reg" / "wirral.duckdb")).loc[
        "Harrogate and  Area CVS", "status"] in ("matched", "review")
    # --data-dir replaces the file's data folder and keeps its register_file; none there, and the error says
    # which file it looked for.
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--config", str(config), "--data-dir", str(files / "empty")])
    assert isinstance(result.exception, PipelineError)
    assert str(files / "empty" / "reg" / "wirral.duckdb") in str(result.exception)


# -- officers' files: Windows CSV and Excel in, formula-safe CSV or Excel out ---------------------------------------

def test_windows_csv_and_xlsx_inputs_and_a_hostile_name(files):
    import openpyxl

    hostile = "=HYPERLINK(\"http://x\",\"Trussell Trust\")"
    rows = [("Birkenhead Women’s Refuge", "CH41 5AB"), ("Trussell Trust", "SP2 7HL"), (hostile, "")]
    text = "grantee,postcode\r\n" + "".join(f'"{n.replace(chr(34), chr(34) * 2)}",{p}\r\n' for n, p in rows)
    (files / "excel-windows.csv").write_bytes(text.encode("cp1252"))   # Excel's "CSV (Comma delimited)"
    out = files / "results" / "2025" / "matched.csv"                     # folders that do not exist yet
    result = CliRunner().invoke(app, ["match", str(files / "excel-windows.csv"), "--name-column", "grantee",
                                      "--against", str(files / "list.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Windows-1252" in result.output                                # the officer is told
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert frame["grantee"].tolist() == [rows[0][0], "Trussell Trust", "'" + hostile]   # neutralised
    assert frame.set_index("grantee").loc["Trussell Trust", "org_id"] == "GB-CHC-1110522"

    book = openpyxl.Workbook()
    book.active.append(["grantee", "postcode", "amount"])
    for name, postcode in rows:
        book.active.append([name, postcode or None, 5000])
    book.active["A4"].data_type = "s"     # text that looks like a formula, as a pasted hostile name is
    book.save(files / "suppliers.xlsx")
    out = files / "matched.xlsx"
    result = CliRunner().invoke(app, ["match", str(files / "suppliers.xlsx"), "--name-column", "grantee",
                                      "--against", str(files / "list.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out).active                              # a real workbook
    assert [c.value for c in ws[1]] == ["grantee", "postcode", "amount", "org_id", "register_name", "matched_name",
                                        "score", "status", "other_candidate", "review_reason", "is_active",
                                        "date_removed"]
    assert (ws["A4"].value, ws["A4"].data_type) == ("'" + hostile, "s")
    assert ws["C2"].value == 5000 and ws["H3"].value == "matched"        # a number stays a number


@pytest.mark.parametrize("output,fmt,words", [
    ("{tmp}", None, "is a folder"),
    ("{tmp}/out.txt", None, "unknown extension .txt"),
    ("{tmp}/out.xlsx", "csv", "named .xlsx but --format is csv"),
    (None, "xlsx", "--format xlsx needs --output"),
])
def test_output_mistakes_fail_before_matching(files, output, fmt, words):
    options = (["-o", output.format(tmp=files)] if output else []) + (["--format", fmt] if fmt else [])
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee",
                                      "--against", str(files / "list.csv"), *options])
    assert isinstance(result.exception, PipelineError) and words in str(result.exception)
    assert "Matched" not in result.output


def test_missing_input_wording_is_shared_with_tag(files):
    for command in (["match", str(files / "missing.csv"), "--against", str(files / "list.csv")],
                    ["tag", str(files / "missing.csv"), "--rules-only"]):
        result = CliRunner().invoke(app, command)
        assert isinstance(result.exception, PipelineError)
        assert str(result.exception) == f"input file {files / 'missing.csv'} not found"


# -- rows as the officer wrote them -------------------------------------------------------------------------------

def test_an_unquoted_comma_in_the_first_row_is_an_error_not_shifted_columns(files):
    # pandas read the names as row labels: every row "no match", one row lost, exit 0
    (files / "suppliers.csv").write_text("name,postcode\nBrown, Smith and Co Solicitors,L1 1AA\n"
                                         "Liscard Young Carers,\nMeols Men's Shed,CH47 5AF\n", encoding="utf-8")
    out = files / "out.csv"
    result = CliRunner().invoke(app, ["match", str(files / "suppliers.csv"), "--against", str(files / "list.csv"),
                                      "-o", str(out)])
    assert isinstance(result.exception, PipelineError), result.output
    assert "suppliers.csv line 2 has 3 fields but the header row names 2 columns" in str(result.exception)
    assert not out.exists()


def test_output_has_one_row_per_input_row_in_order_with_blank_rows(files):
    import openpyxl

    names = ["Trussell Trust", None, "Herts Aid", None, None, "Acme Widgets Holdings", "Hyndburn - CAB"]
    book = openpyxl.Workbook()
    book.active.append(["grantee", "amount"])
    for name in names:
        book.active.append([name, 10 if name else None])
    book.active["B40"].value = ""          # a cell written well below the list: not a row of it
    book.save(files / "suppliers.xlsx")
    (files / "suppliers.csv").write_text("grantee,amount\n" + "".join(f"{n or ''},{10 if n else ''}\n" if n or i % 2
                                                                      else "\n" for i, n in enumerate(names)) + "\n\n",
                                         encoding="utf-8")
    for source in ("suppliers.xlsx", "suppliers.csv"):
        out = files / f"{source}.out.csv"
        result = CliRunner().invoke(app, ["match", str(files / source), "--name-column", "grantee",
                                          "--against", str(files / "list.csv"), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {len(names)} rows" in result.output
        frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert frame["grantee"].tolist() == [n or "" for n in names], source
        assert frame["status"].tolist()[1::2] == ["no match", "no match", "no match"]   # the blank rows
        assert frame.loc[0, "org_id"] == "GB-CHC-1110522" and frame.loc[6, "org_id"] == "GB-CHC-1110853"


@pytest.mark.parametrize("margin", ["0", "-1", "nan"])
def test_a_margin_of_zero_or_less_is_refused(files, margin):
    # a lead of 0 (two organisations the evidence cannot tell apart, or a rule that never matches) passed margin 0
    out = files / "out.csv"
    result = CliRunner().invoke(app, ["match", str(files / "in.csv"), "--name-column", "grantee", "--margin", margin,
                                      "--against", str(files / "list.csv"), "-o", str(out)])
    assert isinstance(result.exception, PipelineError)
    assert str(result.exception).startswith(f"--margin {margin}: give a number of points above 0")
    assert not out.exists()


def test_a_match_to_a_removed_organisation_says_so(files):
    from vcse_pipeline.db import connect, run_sql_dir

    path = files / "status.duckdb"
    con = connect(path)
    run_sql_dir(con, "core")
    add_organisation(con, "GB-CHC-1023081", "Lower Heswall Credit Union", False)
    add_organisation(con, "GB-CHC-1023081", "Lower Heswall Credit Union", False, area="E07000242")
    con.execute("UPDATE organisation SET date_removed = DATE '2008-01-08' WHERE org_id = 'GB-CHC-1023081'")
    add_organisation(con, "GB-CHC-1110522", "THE TRUSSELL TRUST", True, postcode="SP2 7HL")
    con.close()
    (files / "credit.csv").write_text("name\nLower Heswall Credit Union\nTrussell Trust\nAcme Widgets Holdings\n",
                                      encoding="utf-8")
    out = files / "status.csv"
    result = CliRunner().invoke(app, ["match", str(files / "credit.csv"), "--register", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    assert frame.loc["Lower Heswall Credit Union", ["status", "is_active", "date_removed"]].tolist() == [
        "matched", "false", "2008-01-08"]
    assert frame.loc["Trussell Trust", ["status", "is_active", "date_removed"]].tolist() == ["matched", "true", ""]
    assert frame.loc["Acme Widgets Holdings", ["status", "is_active", "date_removed"]].tolist() == ["no match", "", ""]
    assert "1 matched name is an organisation removed from its register or dissolved" in " ".join(result.output.split())
    # an --against list gives status from its active column, and no dates
    (files / "against.csv").write_text("org_id,name,active\nGB-CHC-1023081,Lower Heswall Credit Union,no\n",
                                       encoding="utf-8")
    result = CliRunner().invoke(app, ["match", str(files / "credit.csv"), "--against", str(files / "against.csv"),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out, dtype=str, keep_default_na=False).iloc[0]
    assert (row.status, row.is_active, row.date_removed) == ("matched", "false", "")
