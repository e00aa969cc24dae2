"""Exports are safe to open in a spreadsheet: formula-like text is neutralised in CSV and Excel."""

import csv
import io

import duckdb
import openpyxl
import pytest
from procurement_fixtures import AREA, ORGS, copy_register
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.procurement.export import safe_text

runner = CliRunner()
HOSTILE = '=HYPERLINK("http://evil","click")'


@pytest.fixture(scope="module")
def register(register_master, tmp_path_factory):
    path = copy_register(register_master, tmp_path_factory.mktemp("export") / "register.duckdb")
    con = duckdb.connect(str(path))
    con.execute("""INSERT INTO organisation (area_code, org_id, name, legal_form, is_active, postcode, lad_code,
                       ward_code, ward_name, in_area_by_postcode, in_area_by_operation, area_basis, website,
                       latest_income, source_count)
                   VALUES (?, 'GB-CHC-1999999', ?, 'Charity', TRUE, 'CH41 7AA', ?, 'E05000952',
                           'Birkenhead and Tranmere', TRUE, FALSE, 'postcode', '@evil.example', 12345.0, 1)""",
                [AREA, HOSTILE, AREA])
    con.close()
    return path


@pytest.mark.parametrize("text", ["=1+1", "+44 151", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_triggers_get_a_quote(text):
    assert safe_text(text) == "'" + text


def test_plain_text_is_unchanged():
    assert safe_text("Wirral Mind") == "Wirral Mind"


def test_excel_export_round_trip(register, tmp_path):
    out = tmp_path / "providers.xlsx"
    result = runner.invoke(app, ["find", "--register", str(register), "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    ws = wb.active
    header = [c.value for c in ws[1]]
    # Headings for people in Excel; the "Columns" sheet gives each one's data-dictionary column name.
    assert header[:4] == ["Provider", "Where", "Legal form", "Ward"]
    assert {"Readiness", "Based in area", "Latest income"} <= set(header)
    about = {row[0]: row[1] for row in wb["Columns"].iter_rows(min_row=2, values_only=True)}
    assert about["Readiness"] == "readiness_level" and about["Based in area"] == "based_in_area"
    assert ws.max_row == len(ORGS) + 2  # header + every active organisation + the hostile one
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{ws.max_row}"
    assert ws["A1"].font.bold
    names = {ws.cell(r, 1).value: ws.cell(r, 1) for r in range(2, ws.max_row + 1)}
    cell = names["'" + HOSTILE]
    assert cell.data_type == "s"          # a string, not a formula
    assert HOSTILE not in names
    income_col = header.index("Latest income") + 1
    row = cell.row
    assert ws.cell(row, income_col).value == 12345 and "£" in ws.cell(row, income_col).number_format
    assert ws.cell(row, header.index("Website") + 1).value == "'@evil.example"
    assert ws.cell(row, header.index("Based in area") + 1).value == "Yes"
    based = {ws.cell(r, header.index("Based in area") + 1).value for r in range(2, ws.max_row + 1)}
    assert based == {"Yes", "No"}         # the fixture has providers operating from outside too
    services = ws.cell(2, header.index("Service areas") + 1).value
    assert isinstance(services, str) and services  # lists become "a; b"


def test_csv_export_round_trip(register, tmp_path):
    out = tmp_path / "providers.csv"
    result = runner.invoke(app, ["find", "--register", str(register), "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")   # BOM: Excel reads it as UTF-8
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(ORGS) + 1
    # CSV keeps the data dictionary's column names and machine values: true/false, whole pounds.
    assert list(rows[0])[:4] == ["name", "based", "legal_form", "ward_name"]
    hostile = [r for r in rows if "HYPERLINK" in r["name"]]
    assert [r["name"] for r in hostile] == ["'" + HOSTILE]
    assert hostile[0]["website"] == "'@evil.example"
    assert hostile[0]["based_in_area"] == "true" and hostile[0]["latest_income"] == "12345"
    assert {r["based_in_area"] for r in rows} == {"true", "false"}
    assert not any(r["latest_income"].endswith(".0") for r in rows)
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values() if v)


# -- where and how find writes: the format from --format or the extension, folders created, clear errors --------

def test_find_creates_folders_and_takes_the_format_from_the_extension(register, tmp_path):
    out = tmp_path / "newdir" / "sub" / "carers.xlsx"
    result = runner.invoke(app, ["find", "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(out).active["A1"].value == "Provider"   # a real workbook, not CSV text
    out = tmp_path / "other" / "carers.CSV"
    result = runner.invoke(app, ["find", "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8-sig").startswith("name,based,")


@pytest.mark.parametrize("options,words", [
    (["-o", "{tmp}"], ["is a folder"]),
    (["-o", "{tmp}/fm.txt"], ["unknown extension .txt", ".csv or .xlsx"]),
    (["-o", "{tmp}/noext"], ["no file extension"]),
    (["-f", "table", "-o", "{tmp}/t.txt"], ["--format table is shown on screen"]),
    (["-f", "csv", "-o", "{tmp}/mh.xlsx"], ["named .xlsx but --format is csv", "mh.csv"]),
    (["-f", "xlsx", "-o", "{tmp}/mh.csv"], ["named .csv but --format is xlsx"]),
    (["-f", "xlsx"], ["needs --output"]),                       # Excel cannot go to the screen (CSV can)
])
def test_find_output_mistakes_are_clear_errors(register, tmp_path, options, words):
    from vcse_pipeline.errors import PipelineError

    result = runner.invoke(app, ["find", "--register", str(register),
                                 *[o.format(tmp=tmp_path) for o in options]])
    assert isinstance(result.exception, PipelineError), result.output
    for word in words:
        assert word in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # nothing written


def test_exports_carry_every_directory_column_the_docs_promise(register, tmp_path):
    """docs/procurement.md: every provider_directory column except lad_code and postcode_district."""
    con = duckdb.connect(str(register), read_only=True)
    try:
        directory = [r[0] for r in con.execute("DESCRIBE provider_directory").fetchall()]
        registered = dict(con.execute("SELECT name, date_registered FROM provider_directory "
                                      "WHERE date_registered IS NOT NULL").fetchall())
    finally:
        con.close()
    out = tmp_path / "all.csv"
    assert runner.invoke(app, ["find", "--register", str(register), "-o", str(out)]).exit_code == 0
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    renamed = {"service_area_labels": "service_areas", "readiness": "readiness_level"}
    missing = {renamed.get(c, c) for c in directory} - set(rows[0]) - {"lad_code", "postcode_district"}
    assert not missing
    assert registered, "the fixture has registration dates"
    for row in rows:
        if row["name"] in registered:
            assert row["date_registered"] == registered[row["name"]].isoformat()   # yyyy-mm-dd
    xlsx = tmp_path / "all.xlsx"
    assert runner.invoke(app, ["find", "--register", str(register), "-o", str(xlsx)]).exit_code == 0
    ws = openpyxl.load_workbook(xlsx).active
    header = [c.value for c in ws[1]]
    column = header.index("Registered on") + 1
    dated = [ws.cell(r, column) for r in range(2, ws.max_row + 1) if ws.cell(r, column).value is not None]
    assert dated and all("yy" in c.number_format for c in dated)


def test_emit_table_to_standard_output_a_file_or_an_error(tmp_path, capsys):
    from vcse_pipeline.errors import PipelineError
    from vcse_pipeline.procurement.export import emit_table, write_text_file

    rows = [["=HYPERLINK(\"x\")", 5640.0], ["Wirral Mind", None]]
    assert emit_table(["name", "latest_income"], rows, None, "csv", money_columns=["latest_income"]) == "csv"
    assert capsys.readouterr().out == "name,latest_income\n\"'=HYPERLINK(\"\"x\"\")\",5640\nWirral Mind,\n"
    out = tmp_path / "new" / "providers.xlsx"
    assert emit_table(["name", "latest_income"], rows, out, None, sheet_title="Providers") == "xlsx"
    assert openpyxl.load_workbook(out).active["A2"].value == "'=HYPERLINK(\"x\")"
    # one wording for Excel without a file, whichever command asks
    with pytest.raises(PipelineError, match=r"^--format xlsx needs --output FILE.xlsx \(e.g. -o shortlist.xlsx\)"):
        emit_table(["name"], [], None, "xlsx", sheet_title="Shortlist")
    # opportunities' JSON is written like a table: folder created, a failure names the file
    write_text_file(tmp_path / "deep" / "notices.json", "[]\n")
    assert (tmp_path / "deep" / "notices.json").read_text() == "[]\n"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PipelineError, match="cannot create the folder"):
        write_text_file(tmp_path / "afile" / "notices.json", "[]\n")
    with pytest.raises(PipelineError, match=r"cannot write .*notices\.json/\.\.: "):   # a folder in disguise
        write_text_file(tmp_path / "notices.json" / "..", "[]\n")


@pytest.mark.parametrize("text", ["\r=1+1", "\n=1+1", "Wirral\r\n=SUM(A1)", "a\rb"])
def test_csv_to_standard_output_quotes_line_breaks_as_a_file_does(text, tmp_path, capsys):
    """A bare carriage return went out unquoted on standard output, so "\\r=1+1" read back as a formula row."""
    from vcse_pipeline.procurement.export import emit_table

    rows = [[text, 1.0], ["Wirral Mind", None]]
    emit_table(["name", "latest_income"], rows, None, "csv")
    piped = capsys.readouterr().out
    emit_table(["name", "latest_income"], rows, tmp_path / "out.csv", "csv")
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as fh:
        in_file = fh.read()
    for written in (piped, in_file):
        read_back = list(csv.reader(io.StringIO(written, newline="")))
        assert read_back == [["name", "latest_income"], [safe_text(text), "1"], ["Wirral Mind", ""]]
    assert piped.endswith("Wirral Mind,\n") and "\r\n" not in piped.replace(f'"{safe_text(text)}"', "")


def test_notice_values_keep_their_pennies_in_csv_as_in_excel(tmp_path):
    """`opportunities list -o notices.csv` wrote £71,220.31 as 71220 and £0.01 as 0, where the workbook keeps them."""
    from pathlib import Path

    reference = Path(__file__).parent / "fixtures" / "ocds" / "contracts-finder-releases.json"
    for name in ("notices.csv", "notices.xlsx"):
        result = runner.invoke(app, ["opportunities", "list", str(reference), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    with (tmp_path / "notices.csv").open(encoding="utf-8-sig", newline="") as fh:
        in_csv = {r["id"]: r["value"] for r in csv.DictReader(fh)}
    ws = openpyxl.load_workbook(tmp_path / "notices.xlsx").active
    header = [c.value for c in ws[1]]
    in_excel = {row[header.index("Release ID")]: row[header.index("Value")]
                for row in ws.iter_rows(min_row=2, values_only=True)}
    assert in_csv.keys() == in_excel.keys() and len(in_csv) == 290
    for release_id, value in in_excel.items():
        assert (float(in_csv[release_id]) if in_csv[release_id] else None) == value, release_id
    assert in_csv["ocds-kuma6s-148440-release-148440"] == "0.01"                  # a nominal value, not 0
    assert "71220.31" in in_csv.values()
    assert not any(v.endswith(".0") for v in in_csv.values())                     # whole pounds stay whole
    assert sum("." in v for v in in_csv.values()) == sum(isinstance(v, float) and not v.is_integer()
                                                         for v in in_excel.values()) > 0
