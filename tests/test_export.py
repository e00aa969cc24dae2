"""Exports are safe to open in a spreadsheet: formula-like text is neutralised in CSV and Excel."""

import csv

import duckdb
import openpyxl
import pytest
from procurement_fixtures import AREA, ORGS, build_register
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.procurement.export import safe_text

runner = CliRunner()
HOSTILE = '=HYPERLINK("http://evil","click")'


@pytest.fixture(scope="module")
def register(tmp_path_factory):
    path = build_register(tmp_path_factory.mktemp("export") / "register.duckdb")
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
    ws = openpyxl.load_workbook(out).active
    header = [c.value for c in ws[1]]
    assert header[:4] == ["name", "based", "legal_form", "ward_name"]
    assert ws.max_row == len(ORGS) + 2  # header + every active organisation + the hostile one
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{ws.max_row}"
    assert ws["A1"].font.bold
    names = {ws.cell(r, 1).value: ws.cell(r, 1) for r in range(2, ws.max_row + 1)}
    cell = names["'" + HOSTILE]
    assert cell.data_type == "s"          # a string, not a formula
    assert HOSTILE not in names
    income_col = header.index("latest_income") + 1
    row = cell.row
    assert ws.cell(row, income_col).value == 12345 and "£" in ws.cell(row, income_col).number_format
    assert ws.cell(row, header.index("website") + 1).value == "'@evil.example"
    services = ws.cell(2, header.index("service_areas") + 1).value
    assert isinstance(services, str) and services  # lists become "a; b"


def test_csv_export_round_trip(register, tmp_path):
    out = tmp_path / "providers.csv"
    result = runner.invoke(app, ["find", "--register", str(register), "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(ORGS) + 1
    hostile = [r for r in rows if "HYPERLINK" in r["name"]]
    assert [r["name"] for r in hostile] == ["'" + HOSTILE]
    assert hostile[0]["website"] == "'@evil.example"
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values() if v)
