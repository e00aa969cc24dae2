"""`vcse tag` on small lists with their own column names: CSV (UTF-8 or Windows) or Excel in and out."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.errors import PipelineError

HOSTILE = '=HYPERLINK("http://x","Wirral Food Bank")'


@pytest.fixture
def clean_folder(tmp_path, monkeypatch):
    """Run from an empty folder with no VCSE settings, so a test can see nothing is left in it."""
    import os

    for name in [n for n in os.environ if n == "VCSE_CONFIG" or n.startswith("VCSE__")]:
        monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_vcse_tag_writes_codes_areas_and_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "orgs.csv"
    pd.DataFrame({
        "Organisation": ["Wirral Food Bank", "Birkenhead Youth Theatre", "Zzq Ltd"],
        "What they do": ["Emergency food parcels", "Drama workshops for young people", ""],
    }).to_csv(src, index=False)
    out = tmp_path / "tagged.csv"
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(out), "--name-column", "Organisation",
                                      "--activities-column", "What they do", "--rules-only"])
    assert result.exit_code == 0, result.output
    assert "Tagged 2 of 3 rows" in result.output and "Food and poverty" in result.output
    tagged = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(tagged.columns) == ["Organisation", "What they do", "ukcat_codes", "service_areas",
                                    "service_area_labels"]
    assert {"SW301", "SW300", "SW"} <= set(tagged.loc[0, "ukcat_codes"].split(";"))
    assert "food_poverty" in tagged.loc[0, "service_areas"].split(";")
    assert "arts_culture" in tagged.loc[1, "service_areas"].split(";")
    assert "children_young_people" in tagged.loc[1, "service_areas"].split(";")
    # the labels sit beside the codes, one for each, in the same order, split by the same ";"
    codes, labels = tagged.loc[1, "service_areas"].split(";"), tagged.loc[1, "service_area_labels"].split(";")
    assert len(codes) == len(labels) and "Children and young people" in labels
    assert tagged.loc[2, "ukcat_codes"] == "" and tagged.loc[2, "service_area_labels"] == ""


def test_vcse_tag_missing_column(tmp_path):
    src = tmp_path / "orgs.csv"
    src.write_text("title,notes\nWirral Food Bank,food\n")
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(tmp_path / "o.csv"), "--rules-only"])
    assert isinstance(result.exception, PipelineError)
    assert "no column 'name'" in str(result.exception) and "title, notes" in str(result.exception)
    assert not (tmp_path / "o.csv").exists()


def test_windows_csv_in_excel_out_formula_safe(tmp_path):
    rows = [("Birkenhead Women’s Refuge", "Refuge and support for women escaping domestic abuse"), (HOSTILE, "")]
    text = "name,activities\r\n" + "".join(f'"{n.replace(chr(34), chr(34) * 2)}",{a}\r\n' for n, a in rows)
    src = tmp_path / "from-excel.csv"
    src.write_bytes(text.encode("cp1252"))
    out = tmp_path / "out" / "tagged.xlsx"
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(out), "--rules-only",
                                      "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "Windows-1252" in result.output
    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]] == ["name", "activities", "ukcat_codes", "service_areas", "service_area_labels"]
    assert ws["A2"].value == rows[0][0]                       # the curly apostrophe read right
    assert "domestic_abuse" in ws["D2"].value.split(";")
    assert (ws["A3"].value, ws["A3"].data_type) == ("'" + HOSTILE, "s")   # text, never a formula


def test_csv_out_neutralises_a_hostile_name(tmp_path):
    src = tmp_path / "orgs.csv"
    pd.DataFrame({"name": [HOSTILE, "+44 151 666 0000 Wirral Mind"]}).to_csv(src, index=False)
    out = tmp_path / "tagged.csv"
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(out), "--rules-only"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert back["name"].tolist() == ["'" + HOSTILE, "'+44 151 666 0000 Wirral Mind"]


def test_xlsx_input_table_on_screen_and_config_from_file(tmp_path, clean_folder):
    src = tmp_path / "suppliers.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Supplier", "Service"])
    book.active.append(["Wallasey Community Food Pantry", "Community pantry and food bank"])
    book.active.append(["Hoylake Cottage Hospice", None])
    book.save(src)
    # The config's [tagging] use_model = false means rules alone: no model trained, nothing cached anywhere.
    config = tmp_path / "vcse-test.toml"
    config.write_text(f'[paths]\ndata_dir = "{(tmp_path / "configured").as_posix()}"\n\n[tagging]\nuse_model = false\n',
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", str(src), "--name-column", "Supplier", "--activities-column", "Service",
                                      "--config", str(config)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Tagged 2 of 2 rows" in result.output
    assert "Wallasey Community Food Pantry" in result.output and "Food and poverty" in result.output
    assert "-o FILE.csv" in result.output
    assert list(clean_folder.iterdir()) == [] and not (tmp_path / "configured").exists()


@pytest.mark.parametrize("options,words", [
    (["-o", "{tmp}"], "is a folder"),
    (["-o", "{tmp}/tagged.txt"], "unknown extension .txt"),
    (["-o", "{tmp}/t.xlsx", "-f", "csv"], "named .xlsx but --format is csv"),
    (["-f", "xlsx"], "--format xlsx needs --output"),
])
def test_output_mistakes_are_clear(tmp_path, options, words):
    src = tmp_path / "orgs.csv"
    src.write_text("name\nWirral Food Bank\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", str(src), "--rules-only", *[o.format(tmp=tmp_path) for o in options]])
    assert isinstance(result.exception, PipelineError) and words in str(result.exception)


def test_csv_without_output_goes_to_standard_output(tmp_path):
    src = tmp_path / "orgs.csv"
    src.write_text("name,activities\nWirral Food Bank,Emergency food parcels\nZzq Ltd,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", str(src), "-f", "csv", "--rules-only",
                                      "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    # standard output is the CSV alone (no BOM, no summary), ready for a pipe; the summary is on standard error
    assert result.stdout.splitlines()[0] == "name,activities,ukcat_codes,service_areas,service_area_labels"
    back = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert back["name"].tolist() == ["Wirral Food Bank", "Zzq Ltd"]
    assert "food_poverty" in back.loc[0, "service_areas"].split(";")
    assert "Tagged 1 of 2 rows" in result.stderr and "Tagged" not in result.stdout


def test_summary_counts_are_right_aligned(tmp_path):
    src = tmp_path / "orgs.csv"
    rows = ["Wirral Food Bank"] * 12 + ["Birkenhead Youth Theatre"]
    src.write_text("name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", str(src), "--rules-only", "--data-dir", str(tmp_path / "data")],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "Food and poverty" in line or "Arts, culture" in line]
    counts = [line.rstrip().rstrip("│").rstrip() for line in lines[:2]]
    # "12" and "1" end in the same column: numbers line up on the right
    assert len(counts) == 2 and len({len(c) for c in counts}) == 1, lines


def test_xlsx_numbers_come_back_as_numbers(tmp_path):
    from datetime import date

    src = tmp_path / "suppliers.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["name", "spend", "since", "ref"])
    book.active.append(["Wirral Food Bank", 123, date(2024, 4, 1), "0042"])
    book.active.append([1999, 45.5, None, None])   # a name Excel stored as a number is still a name
    book.save(src)
    out = tmp_path / "tagged.xlsx"
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(out), "--rules-only",
                                      "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out).active
    assert [ws["A2"].value, ws["B2"].value, ws["C2"].value.date(), ws["D2"].value] == [
        "Wirral Food Bank", 123, date(2024, 4, 1), "0042"]
    assert (ws["A3"].value, ws["B3"].value, ws["C3"].value) == ("1999", 45.5, None)


def test_missing_name_column_is_worded_as_match_words_it(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("grantee,postcode\nWirral Mind,CH41 1AA\n", encoding="utf-8")
    words = []
    for command in (["tag", "--rules-only"], ["match", "--against", str(src)]):
        result = CliRunner().invoke(app, [*command, str(src), "--data-dir", str(tmp_path)])
        words.append(str(result.exception))
    assert words[0] == words[1] == (f"input file {src} has no column 'name' (its columns are grantee, postcode); "
                                    "name the right column with --name-column")


def test_blank_rows_between_rows_stay_so_the_output_lines_up_with_the_input(tmp_path, monkeypatch):
    """A list pasted with gaps (blank lines in a CSV, empty rows in a workbook): every row between filled ones comes
    back, untagged, where it was; before, they were left out and every later row moved up one."""
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "orgs.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["name", "activities"], ["Wirral Food Bank", "Emergency food parcels"], [None, None],
                ["Birkenhead Youth Theatre", "Drama workshops for young people"], [None, None]):
        ws.append(row)
    wb.save(src)
    out = tmp_path / "tagged.csv"
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(out), "--activities-column", "activities",
                                      "--rules-only"])
    assert result.exit_code == 0, result.output
    tagged = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert tagged["name"].tolist() == ["Wirral Food Bank", "", "Birkenhead Youth Theatre"]   # the trailing row dropped
    assert "food_poverty" in tagged.loc[0, "service_areas"] and tagged.loc[1, "service_areas"] == ""
    assert "arts_culture" in tagged.loc[2, "service_areas"]
