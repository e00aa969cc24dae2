"""Local spend: each real payment layout and each quirk of published files is read into the canonical lines
(vcse_pipeline/spend/layouts.py, read.py, load.py, grants.py), and bad values fail naming file, row and column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from vcse_pipeline.errors import PipelineError, SourceError
from vcse_pipeline.spend.layouts import BUILT_IN, load_layouts
from vcse_pipeline.spend.load import duplicate_lines, load_files, loaded_files, open_spend_db, remove_files

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GRANTS = FIXTURES / "360giving" / "power-to-change-grants-slice.json"
LGA_HEADER = ("Body,Organisation Name,Date,Internal Ref Number,Invoice Number,Net Amount,Irrecoverable VAT,"
              "Supplier(Beneficiary) Name,Supplier Registered Company Number,Supplier Registered Charity Number,"
              "Supplier ID,VAT Registration Number,Expense Area,Procurement Classification: Council's Procurement "
              "Category Name,Expense Code,BVACOP,Proclass,Extended Description,Source,Subsource,Definition,"
              "Purpose of Spend (Summary),Voluntary Community and Social Enterprise Supplier")
# One line of each real layout's header (docs/spend.md), as published, and a row in it.
LAYOUT_FILES = {
    "lga": (LGA_HEADER, "http://statistics.data.gov.uk/doc/local-authority-district/00CY,Calderdale,03/04/2025,R1,"
                        "I1,1200.50,0,Acme Builders Ltd,01234568,,S1,,Highways,Construction,E1,,,,,,,Repairs,"),
    "lga_early": ("Body name,Body,Service area categorisation,Responsible unit,Expenses type,Date,Transaction number,"
                  "Amount,Supplier name", "Council,x,Highways,Roads,Construction,03/04/2025,T1,1200.50,Acme Builders"),
    "lga_full": ("Service_Area_Categorisation,Service_Division_Categorisation,Responsible_Unit,Expenses_Type,"
                 "Detailed_Expenses_Type,Expense_Code,Narrative,Date,Transaction_Number,Amount,Capital_Revenue,"
                 "Supplier_Name,Supplier_ID,Contract_ID",
                 "Highways,Roads,Unit,Construction,Repairs,E1,Pothole repairs,03/04/2025,T1,1200.50,Revenue,"
                 "Acme Builders,S1,C1"),
    "manchester": ("\ufeffBody Name,Service Area,Expenses Type,Invoice Payment Date,Transaction Number,Net Amount,"
                   "Supplier Name",
                   "Manchester City Council,Highways,Construction,03/04/2025,T1,1200.50,Acme Builders"),
    "bradford": ("Service Code,Service Label,Expenditure code,Expenditure category,Payment date,Transaction Number,"
                 "Net Amount,Supplier Number,Supplier Name", "S1,Highways,E1,Construction,03/04/2025,T1,1200.50,S1,"
                 "Acme Builders"),
    "harrogate": ("Body Name,Expenditure Category,Capital / Revenue,Service Label,Service Code,Expenditure Code,"
                  "Payment Date,Supplier Name,Transaction No.,Net Amount,Narrative",
                  "Harrogate,Construction,Revenue,Highways,S1,E1,03/04/2025,Acme Builders,T1,1200.50,Repairs"),
    "newcastle": ("Directorate,Service Area,Group Description,Paid Date,Supplier Name,Internal Ref,Cap/Rev,Cost Centre,"
                  "Cost Centre Name,Total (excludes VAT)",
                  "Place,Highways,Construction,03/04/2025,Acme Builders,T1,Rev,C1,Roads,1200.50"),
    "north_tyneside": ("Payment Date,Transaction Number,Net Amount,Supplier (Beneficiary) Name,Local Supplier "
                       "Internal Reference,Directorate / Service Where Expenditure Incurred,Service Category Label,"
                       "Service Category URI,SeRCOP Expenditure Category,SeRCOP Expenditure Code,Purpose of Spend,"
                       "SeRCOP Detailed Expenditure Code,Capital/Revenue,Procurement Classification",
                       "03/04/2025,T1,1200.50,Acme Builders,S1,Highways,Roads,,Construction,E1,Repairs,,Revenue,"),
    "gla": ("Vendor ID,Vendor Name,Cost Element,Expenditure Account Code Description,Document No,Amount,Clearing Date,"
            "Directorate,Service Expenditure Analysis", "S1,Acme Builders,E1,Construction,T1,1200.50,03/04/2025,"
                                                       "Highways,Roads"),
}


@pytest.fixture()
def con(tmp_path):
    connection = open_spend_db(tmp_path / "spend.duckdb")
    yield connection
    connection.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def lines(con, file: str) -> list[dict]:
    cursor = con.execute("SELECT * FROM spend_line WHERE file = ? ORDER BY row_number", [file])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize("layout", sorted(LAYOUT_FILES))
def test_each_real_layout_is_detected_and_mapped(con, tmp_path, layout):
    header, row = LAYOUT_FILES[layout]
    path = write(tmp_path / f"{layout}.csv", f"{header}\r\n{row}\r\n")
    [summary] = load_files(con, [path], list(BUILT_IN))
    assert (summary["layout"], summary["lines"]) == (layout, 1)
    [line] = lines(con, path.name)
    assert line["payment_date"] == dt.date(2025, 4, 3)
    assert line["amount"] == Decimal("1200.50")
    assert line["supplier_name"].startswith("Acme Builders")
    assert line["expense_area"] == "Highways"
    assert line["amount_basis"] == ("gross" if layout == "lga_early" else "net")


def test_windows_1252_title_rows_blank_leading_column_and_trailing_commas(con, tmp_path):
    """A title row and a blank row above the header, a blank first column, £ and thousands separators in
    Windows-1252 bytes, a trailing comma on every row: all read."""
    header, _ = LAYOUT_FILES["lga"]
    text = ("Wirral Council payments over £500,,,\r\n,,,\r\n"
            f",{header},\r\n"
            ",x,Wirral,01/04/2025,R1,I1,\"£12,345.67\",0,Café Nouveau Ltd,,,S9,,Leisure,Food,E1,,,,,,,Catering,,\r\n")
    path = write(tmp_path / "april.csv", text, "cp1252")
    [summary] = load_files(con, [path], list(BUILT_IN))
    assert summary["lines"] == 1
    [line] = lines(con, path.name)
    assert line["row_number"] == 4      # the row a person sees in the file
    assert line["amount"] == Decimal("12345.67")
    assert line["supplier_name"] == "Café Nouveau Ltd"
    file = con.execute("SELECT encoding, header_row FROM spend_file").fetchone()
    assert file == ("cp1252", 3)


def test_utf8_byte_order_mark_and_latin1_bytes(con, tmp_path):
    header, row = LAYOUT_FILES["manchester"]
    bom = write(tmp_path / "bom.csv", f"{header}\n{row}\n", "utf-8")   # the header starts with \ufeff
    # 0x81 is undefined in Windows-1252: the file can only be ISO-8859-1
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(f"{header[1:]}\nM,Highways,Construction,03/04/2025,T1,10.00,Acme\xe9".encode("latin-1")
                       + b"\x81\n")
    load_files(con, [bom, latin1], list(BUILT_IN))
    assert con.execute("SELECT file, encoding FROM spend_file ORDER BY file").fetchall() == [
        ("bom.csv", "utf-8-sig"), ("latin1.csv", "latin-1")]
    assert lines(con, "latin1.csv")[0]["supplier_name"] == "Acmeé\x81"


def test_credit_notes_date_forms_redactions_na_and_onetime_ids(con, tmp_path):
    header = LAYOUT_FILES["gla"][0]
    rows = ["ONETIME,Joe Bloggs Window Cleaning,E1,Cleaning,D1,-150.00,01/04/2025,#N/A,x",
            "S2,REDACTED PERSONAL DATA,E1,Fostering,D2,(1 234.00),02-Apr-25,Children,x",
            "S3,Redacted Commercial Data,E1,Care,D3,500.00-,2025-04-03,Adults,x",
            "S4,Acme Builders,E1,Construction,D4,£2500,04 April 2025,Highways,x",
            "one-off,Hoylake Taxis,E1,Transport,D5,600,05.04.2025,N/A,x",
            "S4,ACME BUILDERS LIMITED,E1,Construction,D6,\"£1,000.00\",2025-04-06 00:00:00,Highways,x",
            ",,,,,,,,"]   # a blank row at the end, as spreadsheets export
    path = write(tmp_path / "gla.csv", header + "\n" + "\n".join(rows) + "\n")
    load_files(con, [path], list(BUILT_IN))
    got = lines(con, path.name)
    assert [g["amount"] for g in got] == [Decimal(v) for v in ("-150", "-1234", "-500", "2500", "600", "1000")]
    assert [g["is_credit"] for g in got] == [True, True, True, False, False, False]
    assert [g["payment_date"].day for g in got] == [1, 2, 3, 4, 5, 6]
    assert [g["is_redacted"] for g in got] == [False, True, True, False, False, False]
    assert got[0]["supplier_id"] is None and got[4]["supplier_id"] is None   # ONETIME, one-off: no one supplier
    assert got[0]["expense_area"] is None and got[4]["expense_area"] is None  # #N/A, N/A
    # the same supplier id is one supplier whatever the spelling; one-off payees are keyed by name
    assert got[3]["supplier_key"] == got[5]["supplier_key"] == "id:S4"
    assert got[0]["supplier_key"] == "name:JOE BLOGGS WINDOW CLEANING"


def test_currency_before_a_credit_note_two_digit_years_and_excel_serial_dates(con, tmp_path):
    """The sign of a credit note is read after its currency ("£(300.00)", "GBP -100"); "25" is 2025, not the year
    25; a date cell exported as General (45753) is the day Excel numbers it."""
    header = LAYOUT_FILES["manchester"][0]
    rows = ["M,Care,Care,10/04/25,T1,£(300.00),Wirral Mind",
            "M,Care,Care,11/04/2025,T2,GBP -100.00,Wirral Mind",
            "M,Care,Care,12.04.25,T3,GBP (100),Wirral Mind",
            "M,Care,Care,45753,T4,\"£1,000\",Wirral Mind",
            "M,Care,Care,13/04/2025,T5,.5,Wirral Mind"]
    path = write(tmp_path / "april.csv", header + "\n" + "\n".join(rows) + "\n")
    load_files(con, [path], list(BUILT_IN))
    got = lines(con, path.name)
    assert [g["amount"] for g in got] == [Decimal(v) for v in ("-300", "-100", "-100", "1000", "0.50")]
    assert [g["payment_date"] for g in got] == [dt.date(2025, 4, d) for d in (10, 11, 12, 6, 13)]


@pytest.mark.parametrize(("column", "value"), [
    ("Net Amount", "2025-04-01"), ("Net Amount", "07-700-123"), ("Net Amount", "(1,000.00"), ("Net Amount", "-150-"),
    ("Invoice Payment Date", "01/04/0025"), ("Invoice Payment Date", "12345")])
def test_a_value_that_only_looks_like_an_amount_or_a_date_is_refused(con, tmp_path, column, value):
    """Digits left over once the currency, separators and sign are read are no amount (a date or a phone number in
    the amount column was £20,250,401); a year outside 1990-2099 is no payment date."""
    header = LAYOUT_FILES["manchester"][0]
    cells = {"Invoice Payment Date": "03/04/2025", "Net Amount": "10", column: value}
    path = write(tmp_path / "odd-values.csv", f"{header}\nM,Care,Care,{cells['Invoice Payment Date']},T1,"
                                              f"\"{cells['Net Amount']}\",Wirral Mind\n")
    with pytest.raises(SourceError) as caught:
        load_files(con, [path], list(BUILT_IN))
    message = str(caught.value)
    assert "odd-values.csv" in message and "row 2" in message and column in message and value in message


def test_xlsx_payments_with_dates_and_numbers_as_cells(con, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Payments to suppliers, quarter 1"])
    ws.append([])
    ws.append(LAYOUT_FILES["bradford"][0].split(","))
    ws.append(["S1", "Adult Social Care", "E1", "Care", dt.datetime(2025, 6, 30), "T1", 2500.5, 77, "Wirral Mind"])
    ws.append(["S1", "Adult Social Care", "E1", "Care", dt.datetime(2025, 6, 30), "T2", -20, 77, "Wirral Mind"])
    path = tmp_path / "q1.xlsx"
    wb.save(path)
    [summary] = load_files(con, [path], list(BUILT_IN))
    assert (summary["layout"], summary["lines"]) == ("bradford", 2)
    got = lines(con, path.name)
    assert [(g["payment_date"], g["amount"], g["supplier_id"]) for g in got] == [
        (dt.date(2025, 6, 30), Decimal("2500.50"), "77"), (dt.date(2025, 6, 30), Decimal("-20.00"), "77")]
    assert con.execute("SELECT encoding, header_row FROM spend_file").fetchone() == ("xlsx", 3)


def test_a_bad_amount_names_file_row_and_column_and_keeps_the_previous_lines(con, tmp_path):
    header, row = LAYOUT_FILES["manchester"]
    path = write(tmp_path / "may.csv", f"{header}\n{row}\n")
    load_files(con, [path], list(BUILT_IN))
    write(path, f"{header}\n{row}\nM,Highways,Construction,04/04/2025,T2,twelve pounds,Acme\n")
    with pytest.raises(SourceError) as caught:
        load_files(con, [path], list(BUILT_IN))
    message = str(caught.value)
    assert "may.csv" in message and "row 3" in message and "Net Amount" in message and "twelve pounds" in message
    assert len(lines(con, "may.csv")) == 1    # the earlier load is untouched


def test_a_bad_date_and_an_unknown_layout_are_clear_errors(con, tmp_path):
    header, _ = LAYOUT_FILES["newcastle"]
    path = write(tmp_path / "june.csv", f"{header}\nPlace,Highways,Works,31/02/2025,Acme,T1,Rev,C1,Roads,10\n")
    with pytest.raises(SourceError, match=r"june\.csv.*row 2.*Paid Date.*31/02/2025"):
        load_files(con, [path], list(BUILT_IN))
    odd = write(tmp_path / "odd.csv", "When,Who,How much\n01/04/2025,Acme,10\n")
    with pytest.raises(PipelineError, match=r"odd\.csv: no known payment layout.*When, Who, How much"):
        load_files(con, [odd], list(BUILT_IN))


def test_a_layouts_file_maps_a_new_publishers_header(con, tmp_path):
    layouts = write(tmp_path / "layouts.toml", '[layouts.wirral_2027]\nbasis = "gross"\npayment_date = "When"\n'
                                               'supplier_name = "Who"\namount = "How much"\n')
    odd = write(tmp_path / "odd.csv", "When,Who,How much\n01/04/2025,Acme,10\n")
    [summary] = load_files(con, [odd], load_layouts(layouts))
    assert summary["layout"] == "wirral_2027"
    assert lines(con, "odd.csv")[0]["amount_basis"] == "gross"
    bad = write(tmp_path / "bad.toml", '[layouts.x]\npayment_date = "When"\nwho = "Who"\n')
    with pytest.raises(PipelineError, match=r"bad\.toml.*\[layouts\.x\] unknown field\(s\) who"):
        load_layouts(bad)


def test_an_unchanged_file_is_skipped_and_a_changed_one_replaces_its_lines(con, tmp_path):
    header, row = LAYOUT_FILES["manchester"]
    path = write(tmp_path / "july.csv", f"{header}\n{row}\n")
    assert load_files(con, [path], list(BUILT_IN))[0]["skipped"] is False
    assert load_files(con, [path], list(BUILT_IN))[0]["skipped"] is True
    write(path, f"{header}\n{row}\n{row}\n")
    assert load_files(con, [path], list(BUILT_IN))[0]["lines"] == 2
    assert len(lines(con, "july.csv")) == 2


def test_360giving_json_grants_are_lines_with_their_numbers(con):
    [summary] = load_files(con, [GRANTS], list(BUILT_IN))
    assert (summary["layout"], summary["lines"]) == ("360giving_json", 12)
    got = {g["transaction_ref"]: g for g in lines(con, GRANTS.name)}
    assert all(g["kind"] == "grant" for g in got.values())
    coop = next(g for g in got.values() if g["supplier_name"] == "HENRY JENKINS COMMUNITY COOP Limited")
    assert (coop["company_number"], coop["amount"], coop["payment_date"]) == (
        "10889655", Decimal("2467.27"), dt.date(2017, 9, 1))
    society = next(g for g in got.values() if g["supplier_id"] == "GB-COH-RS007783")
    assert society["company_number"] == "RS007783"
    ruskin = next(g for g in got.values() if g["supplier_name"] == "Friends of Ruskin Park")
    assert ruskin["charity_number"] == "1166358" and ruskin["company_number"] is None


def test_360giving_flat_csv_is_a_layout(con, tmp_path):
    header = ("Identifier,Title,Description,Currency,Amount Awarded,Award Date,Recipient Org:Identifier,"
              "Recipient Org:Name,Recipient Org:Charity Number,Recipient Org:Company Number,"
              "Recipient Org:Postal Code,Funding Org:Identifier,Funding Org:Name")
    row = ("360G-x-1,Pub,Buy the pub,GBP,14600,2017-03-01,GB-CHC-1052626,OASIS Community Church (Workshop),1052626,,"
           "SE1 7HR,GB-CHC-1159982,Power to Change Trust")
    path = write(tmp_path / "grants.csv", f"{header}\n{row}\n")
    [summary] = load_files(con, [path], list(BUILT_IN))
    assert summary["layout"] == "360giving_flat"
    [line] = lines(con, path.name)
    assert (line["kind"], line["charity_number"], line["supplier_postcode"], line["amount"]) == (
        "grant", "1052626", "SE1 7HR", Decimal("14600"))


MANCHESTER = LAYOUT_FILES["manchester"][0].lstrip("\ufeff")


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def month_sheet(day: dt.datetime, amount, ref: str, title: bool = False) -> list[list]:
    return ([["Payments over £500"]] if title else []) + [
        MANCHESTER.split(","), ["Manchester City Council", "Highways", "Works", day, ref, amount, "Acme Builders"]]


def test_every_payment_sheet_of_a_workbook_is_read_and_a_notes_sheet_is_skipped(con, tmp_path):
    """A quarter published as one sheet per month, after a notes sheet: every month is read, rows numbered as in
    their sheet, the notes sheet reported as skipped."""
    path = workbook(tmp_path / "q1.xlsx", {
        "Notes": [["These are the council's payments over £500."], ["Contact: transparency@example.gov.uk"]],
        "2025-04": month_sheet(dt.datetime(2025, 4, 1), 4000, "T1"),
        "2025-05": month_sheet(dt.datetime(2025, 5, 1), 5000, "T2", title=True),
        "2025-06": month_sheet(dt.datetime(2025, 6, 1), 6000, "T3")})
    [summary] = load_files(con, [path], list(BUILT_IN))
    assert (summary["layout"], summary["lines"], summary["skipped_sheets"]) == ("manchester", 3, ["Notes"])
    got = con.execute("SELECT sheet, row_number, payment_date, amount FROM spend_line ORDER BY payment_date"
                      ).fetchall()
    assert got == [("2025-04", 2, dt.date(2025, 4, 1), Decimal("4000")),
                   ("2025-05", 3, dt.date(2025, 5, 1), Decimal("5000")),
                   ("2025-06", 2, dt.date(2025, 6, 1), Decimal("6000"))]
    assert con.execute("SELECT line_count FROM spend_file").fetchone()[0] == 3


def test_a_bad_value_in_a_later_sheet_names_the_sheet_and_a_workbook_of_notes_is_refused(con, tmp_path):
    bad = workbook(tmp_path / "q1.xlsx", {"2025-04": month_sheet(dt.datetime(2025, 4, 1), 4000, "T1"),
                                          "2025-05": month_sheet(dt.datetime(2025, 5, 1), "twelve pounds", "T2",
                                                                 title=True)})
    with pytest.raises(SourceError) as caught:
        load_files(con, [bad], list(BUILT_IN))
    assert "q1.xlsx, sheet '2025-05', row 3, column 'Net Amount'" in str(caught.value)
    notes = workbook(tmp_path / "notes.xlsx", {"Notes": [["Nothing here yet"]], "Contacts": [["Ann", "x"]]})
    with pytest.raises(PipelineError, match=r"notes\.xlsx, sheet 'Notes': no known payment layout.*Nothing here"):
        load_files(con, [notes], list(BUILT_IN))


def manchester_file(path: Path, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path, MANCHESTER + "\n" + "".join(r + "\n" for r in rows))


def test_two_files_of_one_name_from_two_folders_are_both_kept(con, tmp_path):
    april = manchester_file(tmp_path / "a" / "payments.csv", "MCC,Food,Grant,01/04/2025,1,1000,Tranmere Mind")
    may = manchester_file(tmp_path / "b" / "payments.csv", "MCC,Food,Grant,01/05/2025,2,7000,Chester Motors Ltd")
    summaries = load_files(con, [april, may], list(BUILT_IN))
    assert [(s["file"], s["lines"], s["skipped"]) for s in summaries] == [
        ("payments.csv", 1, False), ("payments.csv", 1, False)]
    assert con.execute("SELECT sum(amount) FROM spend_line").fetchone()[0] == Decimal("8000")
    # unchanged: both skipped; April changed: only April's lines replaced
    assert [s["skipped"] for s in load_files(con, [april, may], list(BUILT_IN))] == [True, True]
    manchester_file(april, "MCC,Food,Grant,01/04/2025,1,1500,Tranmere Mind")
    load_files(con, [april, may], list(BUILT_IN))
    assert con.execute("SELECT source, amount FROM spend_line ORDER BY source").fetchall() == [
        (str(april.resolve()), Decimal("1500")), (str(may.resolve()), Decimal("7000"))]


def test_the_same_bytes_under_another_name_are_not_counted_twice(con, tmp_path):
    rows = ["MCC,Food,Grant,01/04/2025,1,1000,Tranmere Mind", "MCC,Food,Grant,02/04/2025,2,2000,Wirral Mind"]
    month = manchester_file(tmp_path / "payments-2025-04.csv", *rows)
    quarter = tmp_path / "payments-Q1-2025-26.csv"
    quarter.write_bytes(month.read_bytes())
    first, second = load_files(con, [month, quarter], list(BUILT_IN))
    assert (first["lines"], first["duplicate_of"]) == (2, None)
    assert (second["lines"], second["duplicate_of"]) == (0, str(month.resolve()))
    assert con.execute("SELECT sum(amount), count(DISTINCT file) FROM spend_line").fetchone() == (Decimal("3000"), 1)


def test_identical_lines_are_reported_with_their_rows_and_all_counted(con, tmp_path):
    april = manchester_file(tmp_path / "april.csv", "MCC,Food,Grant,01/04/2025,T1,1000,Tranmere Mind",
                            "MCC,Food,Grant,01/04/2025,T2,1000,Tranmere Mind",
                            "MCC,Food,Grant,01/04/2025,T1,1000,Tranmere Mind")
    may = manchester_file(tmp_path / "may.csv", "MCC,Food,Grant,03/05/2025,T9,250,Wirral Mind",
                          "MCC,Food,Grant,01/04/2025,T1,1000,Tranmere Mind")
    summaries = load_files(con, [april, may], list(BUILT_IN))
    [repeat] = duplicate_lines(con, [s["source"] for s in summaries])
    assert (repeat["payment_date"], repeat["amount"], repeat["supplier_name"], repeat["transaction_ref"],
            repeat["lines"]) == (dt.date(2025, 4, 1), Decimal("1000"), "Tranmere Mind", "T1", 3)
    assert repeat["places"] == "april.csv row 2; april.csv row 4; may.csv row 3"
    assert con.execute("SELECT sum(amount) FROM spend_line").fetchone()[0] == Decimal("4250")   # reported, kept
    assert duplicate_lines(con, [str(may.resolve())])[0]["lines"] == 3       # may's line repeats april's
    assert duplicate_lines(con, []) == []


def test_every_loaded_file_is_listed_with_its_money_and_one_can_be_removed(con, tmp_path):
    pta = manchester_file(tmp_path / "pta.csv", "MCC,Food,Grant,01/04/2025,1,5000,Tranmere Mind")
    opreg = manchester_file(tmp_path / "opreg.csv", "MCC,Food,Grant,01/05/2025,2,4000,Wirral Mind",
                            "MCC,Food,Grant,02/05/2025,3,2500,Wirral Mind",
                            "MCC,Food,Grant,03/05/2025,4,(500),Wirral Mind")
    other = manchester_file(tmp_path / "b" / "pta.csv", "MCC,Food,Grant,01/06/2025,5,10,Acme")
    load_files(con, [pta], list(BUILT_IN))
    load_files(con, [opreg, other], list(BUILT_IN))   # a later run: pta.csv is still in the figures
    listed = [(f["file"], f["source"], f["lines"], f["amount"], f["credits"]) for f in loaded_files(con)]
    assert listed == [("opreg.csv", str(opreg.resolve()), 3, Decimal("6000"), 1),
                      ("pta.csv", str(other.resolve()), 1, Decimal("10"), 0),
                      ("pta.csv", str(pta.resolve()), 1, Decimal("5000"), 0)]
    with pytest.raises(SourceError, match="several loaded files have this name"):
        remove_files(con, ["pta.csv"])
    assert remove_files(con, ["opreg.csv", str(pta.resolve())]) == [
        {"file": "opreg.csv", "source": str(opreg.resolve()), "lines": 3},
        {"file": "pta.csv", "source": str(pta.resolve()), "lines": 1}]
    assert con.execute("SELECT source, sum(amount) FROM spend_line GROUP BY source").fetchall() == [
        (str(other.resolve()), Decimal("10"))]
    with pytest.raises(SourceError, match="no such file in the spend database"):
        remove_files(con, ["opreg.csv"])


def test_a_database_from_before_sources_keeps_its_files_and_replaces_them_by_name(tmp_path):
    """spend_file was keyed on the name alone: its files keep their lines, and loading the same name from a full
    path replaces them rather than counting them twice."""
    import duckdb

    old = duckdb.connect(str(tmp_path / "spend.duckdb"))
    old.execute("CREATE TABLE spend_file (file VARCHAR PRIMARY KEY, sha256 VARCHAR, kind VARCHAR, layout VARCHAR, "
                "amount_basis VARCHAR, encoding VARCHAR, header_row INTEGER, line_count INTEGER, "
                "loaded_at TIMESTAMP)")
    old.execute("""CREATE TABLE spend_line (
        file VARCHAR, row_number INTEGER, kind VARCHAR, payment_date DATE, amount DECIMAL(18, 2),
        amount_basis VARCHAR, vat DECIMAL(18, 2), is_credit BOOLEAN, supplier_name VARCHAR, supplier_id VARCHAR,
        company_number VARCHAR, charity_number VARCHAR, supplier_postcode VARCHAR, expense_area VARCHAR,
        expense_type VARCHAR, description VARCHAR, transaction_ref VARCHAR, is_redacted BOOLEAN,
        supplier_key VARCHAR)""")
    old.execute("INSERT INTO spend_file VALUES ('july.csv', 'x', 'payment', 'manchester', 'net', 'utf-8', 1, 1, "
                "current_timestamp)")
    old.execute("INSERT INTO spend_line (file, row_number, amount) VALUES ('july.csv', 2, 900)")
    old.close()
    con = open_spend_db(tmp_path / "spend.duckdb")
    try:
        assert con.execute("SELECT file, source FROM spend_file").fetchall() == [("july.csv", "july.csv")]
        assert con.execute("SELECT source, amount FROM spend_line").fetchall() == [("july.csv", Decimal("900"))]
        july = manchester_file(tmp_path / "july.csv", "MCC,Food,Grant,01/07/2025,1,1000,Tranmere Mind")
        load_files(con, [july], list(BUILT_IN))
        assert con.execute("SELECT source, sum(amount) FROM spend_line GROUP BY source").fetchall() == [
            (str(july.resolve()), Decimal("1000"))]
        assert con.execute("SELECT count(*) FROM spend_file").fetchone()[0] == 1
    finally:
        con.close()
