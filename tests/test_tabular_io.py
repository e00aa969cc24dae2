"""Officers' lists as Excel saves them (CSV UTF-8, Windows CSV, .xlsx) and the one way results are written."""

from datetime import date

import openpyxl
import pytest

from vcse_pipeline.errors import PipelineError
from vcse_pipeline.procurement.export import output_format, write_table
from vcse_pipeline.tabular_io import read_table

ROWS = [("Birkenhead Women’s Refuge", "CH41 5AB", "5000"), ("Café Créole Wallasey", "CH44 8ED", "1200")]


def csv_bytes(encoding: str, bom: bool = False) -> bytes:
    text = "name,postcode,amount\r\n" + "".join(f"{n},{p},{a}\r\n" for n, p, a in ROWS)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


@pytest.mark.parametrize("encoding,bom", [("utf-8", False), ("utf-8", True), ("cp1252", False)])
def test_csv_in_utf8_with_or_without_bom_and_windows_1252(tmp_path, encoding, bom):
    path = tmp_path / "grants.csv"
    path.write_bytes(csv_bytes(encoding, bom))
    notes = []
    frame = read_table(path, note=notes.append)
    assert list(frame.columns) == ["name", "postcode", "amount"]   # no BOM glued to the first header
    assert frame["name"].tolist() == [ROWS[0][0], ROWS[1][0]]       # the curly apostrophe and accents survive
    if encoding == "cp1252":
        assert b"\x92" in path.read_bytes()                           # really Excel's Windows CSV
        assert len(notes) == 1 and "Windows-1252" in notes[0] and "grants.csv" in notes[0] and "line 2" in notes[0]
    else:
        assert notes == []


def test_bytes_neither_utf8_nor_windows_1252_name_the_line(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"name\r\nWirral Mind\r\nSt Luke\x81s\r\n")
    with pytest.raises(PipelineError, match=r"input file .*odd.csv line 3: byte 0x81 .*CSV UTF-8"):
        read_table(path)


def test_xlsx_first_sheet_with_numbers_dates_and_blank_rows(tmp_path):
    path = tmp_path / "suppliers.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["name", "postcode", "amount", "awarded"])
    ws.append([ROWS[0][0], "CH41 5AB", 5000, date(2025, 4, 1)])
    ws.append([None, None, None, None])                      # a formatted but empty row Excel keeps
    ws.append([ROWS[1][0], "CH44 8ED", 1200.5, None])
    wb.create_sheet("Notes").append(["not read"])
    wb.save(path)
    frame = read_table(path)
    assert list(frame.columns) == ["name", "postcode", "amount", "awarded"]
    assert frame.values.tolist() == [[ROWS[0][0], "CH41 5AB", "5000", "2025-04-01"],
                                     [ROWS[1][0], "CH44 8ED", "1200.5", ""]]


def test_xlsx_error_cell_names_row_and_column(tmp_path):
    path = tmp_path / "broken.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["name", "postcode"])
    ws.append(["Wirral Mind", "CH41 1AA"])
    ws.append(["Age UK Wirral", None])
    ws["B3"].value, ws["B3"].data_type = "#REF!", "e"   # what Excel stores for a broken reference
    wb.save(path)
    with pytest.raises(PipelineError, match=r"broken.xlsx row 3 column 'postcode' \(sheet 'Sheet', cell B3\): "
                                            "Excel error #REF!"):
        read_table(path)


def test_xlsx_formula_without_a_saved_value_names_the_cell(tmp_path):
    # openpyxl (like most programs that write workbooks) saves a formula without calculating it; Excel would show
    # 2400, but the file holds no value, and reading it as blank would give a wrong "no match" row
    path = tmp_path / "generated.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Grants 2025"
    ws.append(["name", "postcode", "amount", "total"])
    ws.append(["Wirral Mind", "CH41 1AA", 1200, 1200])
    ws.append(["Age UK Wirral", "CH41 5AB", 1200, "=C2+C3"])
    wb.save(path)
    with pytest.raises(PipelineError, match=r"generated.xlsx row 3 column 'total' \(sheet 'Grants 2025', cell D3\): "
                                            r"the formula =C2\+C3 has no calculated value saved"):
        read_table(path)


def test_xlsx_formula_excel_calculated_to_blank_is_blank(tmp_path):
    """Excel saves =IF(...,"",...) that came out empty as an empty text value: a blank cell, not an error."""
    import zipfile

    plain = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["name", "postcode"])
    wb.active.append(["Wirral Mind", "CH41 1AA"])
    wb.active.append(["Age UK Wirral", "placeholder"])
    wb.save(plain)
    path = tmp_path / "from-excel.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<c r="B3"')
                end = text.index("</c>", start) + len("</c>")
                data = (text[:start] + '<c r="B3" t="str"><f>IF(1,"","x")</f><v></v></c>' + text[end:]).encode()
            out.writestr(item, data)
    assert read_table(path).values.tolist() == [["Wirral Mind", "CH41 1AA"], ["Age UK Wirral", ""]]


def test_xlsx_text_columns_only_and_other_cells_as_written(tmp_path):
    path = tmp_path / "suppliers.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["name", "postcode", "amount", "awarded", "ref"])
    ws.append([1999, "CH41 5AB", 123, date(2025, 4, 1), "0042"])   # a name Excel stored as a number
    ws.append([ROWS[1][0], None, 1200.5, None, None])
    wb.save(path)
    frame = read_table(path, text_columns=["name", "postcode"])
    assert frame.values.tolist() == [["1999", "CH41 5AB", 123, date(2025, 4, 1), "0042"],
                                     [ROWS[1][0], "", 1200.5, None, None]]
    # a CSV is text whatever is asked
    (tmp_path / "same.csv").write_text("name,amount\nWirral Mind,123\n", encoding="utf-8")
    assert read_table(tmp_path / "same.csv", text_columns=["name"]).values.tolist() == [["Wirral Mind", "123"]]


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: None, "input file .* not found"),
    (lambda p: p.write_bytes(b'name,postcode\nWirral Mind,CH41 1AA\n"Age UK, Wirral,CH41\n'), "not a readable CSV"),
])
def test_unreadable_inputs_name_the_file(tmp_path, make, message):
    path = tmp_path / "list.csv"
    make(path)
    with pytest.raises(PipelineError, match=message) as caught:
        read_table(path)
    assert "list.csv" in str(caught.value)


def test_a_workbook_saved_as_csv_says_so(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["name"])
    wb.save(tmp_path / "book.csv")
    with pytest.raises(PipelineError, match="is an Excel workbook, not CSV text; rename it to .xlsx"):
        read_table(tmp_path / "book.csv")


@pytest.mark.parametrize("lines,line", [
    # an unquoted comma in the first name: pandas took the names as row labels and shifted every column
    (["Brown, Smith and Co Solicitors,L1 1AA", "Liscard Young Carers,", "Meols Men's Shed,CH47 5AF"], 2),
    (["Liscard Young Carers,", "Brown, Smith and Co Solicitors,L1 1AA", "Meols Men's Shed,CH47 5AF"], 3),
    (["Liscard Young Carers,", "", '"Meols Men\'s Shed\nHoylake",CH47 5AF', "Brown, Smith and Co,L1 1AA"], 6),
])
def test_a_row_with_more_fields_than_the_header_names_the_line(tmp_path, lines, line):
    path = tmp_path / "suppliers.csv"
    path.write_text("name,postcode\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=rf"input file .*suppliers.csv line {line} has 3 fields but the header "
                                            "row names 2 columns; .*double quotes"):
        read_table(path)


def test_quoted_commas_and_short_rows_still_read(tmp_path):
    path = tmp_path / "suppliers.csv"
    path.write_text('name,postcode\n"Brown, Smith and Co Solicitors",L1 1AA\nLiscard Young Carers\n', encoding="utf-8")
    assert read_table(path).values.tolist() == [["Brown, Smith and Co Solicitors", "L1 1AA"],
                                                ["Liscard Young Carers", ""]]


def test_blank_rows_between_rows_kept_on_request_and_dropped_below(tmp_path):
    csv_path = tmp_path / "suppliers.csv"
    csv_path.write_text("\nname,postcode\nWirral Mind,CH41 1AA\n\n,\nAge UK Wirral,CH41 5AB\n\n,\n\n",
                        encoding="utf-8")
    xlsx_path = tmp_path / "suppliers.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["name", "postcode"], ["Wirral Mind", "CH41 1AA"], [None, None], [None, None],
                ["Age UK Wirral", "CH41 5AB"]):
        ws.append(row)
    ws["A9"].value, ws["B30"].value = "", None          # cells written below the list, as formatting leaves them
    wb.save(xlsx_path)
    for path in (csv_path, xlsx_path):
        kept = read_table(path, keep_blank_rows=True)
        assert kept.values.tolist() == [["Wirral Mind", "CH41 1AA"], ["", ""], ["", ""],
                                        ["Age UK Wirral", "CH41 5AB"]], path
    # without keep_blank_rows, as before: a workbook's blank rows and a CSV's blank lines left out
    assert read_table(xlsx_path).values.tolist() == [["Wirral Mind", "CH41 1AA"], ["Age UK Wirral", "CH41 5AB"]]
    assert read_table(csv_path).values.tolist() == [["Wirral Mind", "CH41 1AA"], ["", ""],
                                                    ["Age UK Wirral", "CH41 5AB"], ["", ""]]


# -- writing -----------------------------------------------------------------------------------------------------

def test_output_format_rules(tmp_path):
    assert output_format(None, None) is None
    assert output_format(tmp_path / "a.XLSX") == "xlsx"
    assert output_format(tmp_path / "a.csv", "csv") == "csv"
    assert output_format(tmp_path / "a.json", None, formats=("csv", "xlsx", "json")) == "json"
    with pytest.raises(PipelineError, match="unknown extension .json"):
        output_format(tmp_path / "a.json")
    with pytest.raises(PipelineError, match="named .xlsx but --format is csv"):
        output_format(tmp_path / "a.xlsx", "csv")


def test_write_table_csv_and_xlsx_are_formula_safe(tmp_path):
    hostile = "=cmd|' /C calc'!A0"
    rows = [(hostile, 5640.0, True, None), ("Wirral Mind", 1200.4, False, date(2024, 3, 31))]
    columns = ["name", "latest_income", "based_in_area", "year_end"]
    assert write_table(columns, rows, tmp_path / "deep" / "out.csv", money_columns=["latest_income"]) == "csv"
    text = (tmp_path / "deep" / "out.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines() == ["name,latest_income,based_in_area,year_end",
                                 "'=cmd|' /C calc'!A0,5640,true,", "Wirral Mind,1200,false,2024-03-31"]
    assert write_table(columns, rows, tmp_path / "out.xlsx", headers={"name": "Provider"}) == "xlsx"
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    assert [c.value for c in ws[1]] == ["Provider", "latest_income", "based_in_area", "year_end"]
    assert (ws["A2"].value, ws["A2"].data_type, ws["C2"].value, ws["C3"].value) == ("'" + hostile, "s", "Yes", "No")


def test_xlsx_blank_cells_do_not_reread_the_workbook(tmp_path, monkeypatch):
    """Nearly every real list has blanks: only a cell the sheet holds without a value (a formula never calculated)
    is worth the second, slower read with formulas."""
    import vcse_pipeline.tabular_io as tabular_io

    path = tmp_path / "grants.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["name", "postcode", "amount"])
    ws.append(["Wirral Mind", None, 1200])
    ws.append(["Age UK Wirral", "CH41 5AB", None])
    wb.save(path)
    reads = []
    real = tabular_io._sheet_rows
    monkeypatch.setattr(tabular_io, "_sheet_rows", lambda *a, **k: reads.append(k) or real(*a, **k))
    frame = read_table(path)
    assert frame["postcode"].tolist()[1] == "CH41 5AB" and len(reads) == 1
    ws["C3"] = "=C2*2"   # a formula with no saved value: now the formulas are read, once, and named
    wb.save(path)
    reads.clear()
    with pytest.raises(PipelineError, match=r"cell C3\): the formula =C2\*2 has no calculated value saved"):
        read_table(path)
    assert [k["data_only"] for k in reads] == [True, False]


def test_a_title_row_above_the_column_names_is_named_as_one(tmp_path):
    path = tmp_path / "suppliers.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["Wirral suppliers 2025-26"], [], ["name", "postcode", "amount"], ["Wirral Mind", "CH41 1AA", 5000]):
        ws.append(row)
    wb.save(path)
    with pytest.raises(PipelineError, match=r"suppliers.xlsx: row 1 holds only 'Wirral suppliers 2025-26' and row 3 "
                                            r"fills 3 columns, so row 1 looks like a title: delete it"):
        read_table(path)
    (tmp_path / "suppliers.csv").write_text("Wirral suppliers 2025-26\nname,postcode\nWirral Mind,CH41 1AA\n",
                                            encoding="utf-8")
    with pytest.raises(PipelineError, match=r"suppliers.csv line 2 has 2 fields but the first line holds only "
                                            r"'Wirral suppliers 2025-26': if it is a title, delete it"):
        read_table(tmp_path / "suppliers.csv")
    # a header with an unnamed column is still told to name it
    wb = openpyxl.Workbook()
    for row in (["name", None, "amount"], ["Wirral Mind", "CH41 1AA", 5000]):
        wb.active.append(row)
    wb.save(path)
    with pytest.raises(PipelineError, match=r"suppliers.xlsx column B has values but no header in row 1; give it"):
        read_table(path)
