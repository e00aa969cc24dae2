"""Companies House loader on the real 87-row sample, its zip/part layouts, and each kind of bad input."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.errors import SourceError
from vcse_pipeline.postcode import register_macros
from vcse_pipeline.sources import companies_house as ch

SAMPLE = Path(__file__).parent / "fixtures" / "companies_house" / "companies-house-BasicCompanyData-sample.csv"
VCSE_ROWS = 77  # the sample's 87 rows less its 10 private limited companies


@pytest.fixture
def cfg(tmp_path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}})


@pytest.fixture
def con():
    con = duckdb.connect()
    register_macros(con)
    yield con
    con.close()


def sample_lines() -> list[bytes]:
    return SAMPLE.read_bytes().splitlines(keepends=True)


def line_of(lines: list[bytes], company_number: str) -> int:
    """1-based line (header = 1) of a company in the sample."""
    return next(i for i, line in enumerate(lines, start=1) if f'"{company_number}"'.encode() in line)


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def zipped(path: Path, csv_path: Path, member: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(csv_path, member or csv_path.name)
    return path


def test_stages_the_real_sample_with_types_and_values(con, cfg):
    ch.verify([SAMPLE])
    counts = ch.stage(con, [SAMPLE], cfg)
    assert counts == {"company": VCSE_ROWS, "company_sic": 32, "company_previous_name": 2, "all_company": 87}

    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'company'").fetchall())
    assert types["incorporation_date"] == "DATE"
    assert types["num_mort_charges"] == "INTEGER"
    assert types["company_name"] == "VARCHAR"

    row = con.execute("SELECT company_name, company_category, incorporation_date, postcode, address_line1, "
                      "conf_stmt_next_due_date FROM company WHERE company_number = '12172257'").fetchone()
    assert row[0] == "WITH AMI COMMUNITY INTEREST COMPANY"
    assert row[1] == "Community Interest Company"
    assert row[2] == dt.date(2019, 8, 23)
    assert row[3] == "OX1 2EP"

    sic = con.execute("SELECT position, sic_code, sic_description FROM company_sic "
                      "WHERE company_number = '12172257'").fetchall()
    assert sic == [(1, "88990", "Other social work activities without accommodation n.e.c.")]

    previous = con.execute("SELECT position, change_date, previous_name FROM company_previous_name "
                           "WHERE company_number = '00169392' ORDER BY position").fetchall()
    assert previous[0] == (1, dt.date(2010, 9, 2), "BLC RESEARCH")
    assert previous[1][2] == "BLC LEATHER TECHNOLOGY CENTRE"


def test_empty_strings_become_null_and_none_supplied_gives_no_sic(con, cfg):
    ch.stage(con, [SAMPLE], cfg)
    assert con.execute("SELECT count(*) FROM company WHERE care_of = '' OR dissolution_date IS NOT NULL"
                       ).fetchone()[0] == 0
    # The 37 CIOs, SCIOs, registered societies and charter companies all say "None Supplied".
    cios = con.execute("SELECT count(*) FROM company_sic s JOIN company c USING (company_number) "
                       "WHERE c.company_category = 'Charitable Incorporated Organisation'").fetchone()[0]
    assert cios == 0
    assert con.execute("SELECT count(*) FROM company_sic WHERE length(sic_code) <> 5").fetchone()[0] == 0


def test_only_configured_categories_are_staged(con, cfg):
    only_cics = cfg.with_overrides({"sources": {"companies_house": {"categories": ["Community Interest Company"]}}})
    counts = ch.stage(con, [SAMPLE], only_cics)
    assert counts["company"] == 10
    assert con.execute("SELECT DISTINCT company_category FROM company").fetchall() == [("Community Interest Company",)]
    assert con.execute("SELECT count(*) FROM company WHERE company_number = '11990344'").fetchone()[0] == 0


def test_header_names_with_leading_spaces_are_matched(con, cfg):
    header = SAMPLE.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert " CompanyNumber" in header and " PreviousName_1.CompanyName" in header
    ch.stage(con, [SAMPLE], cfg)
    assert con.execute("SELECT count(*) FROM company WHERE company_number IS NULL").fetchone()[0] == 0


def test_single_file_zip_and_parts_stage_the_same_rows(con, cfg, tmp_path):
    one = zipped(tmp_path / "BasicCompanyDataAsOneFile-2026-11-01.zip", SAMPLE,
                 "BasicCompanyDataAsOneFile-2026-11-01.csv")
    ch.verify([one])
    assert ch.stage(con, [one], cfg)["company"] == VCSE_ROWS
    assert not list(tmp_path.glob(".extract-*")), "the extracted CSV is removed after staging"

    lines = sample_lines()
    parts = []
    for n, body in enumerate((lines[1:40], lines[40:]), start=1):
        csv_path = write(tmp_path / f"BasicCompanyData-2026-11-01-part{n}_2.csv", [lines[0], *body])
        parts.append(zipped(tmp_path / f"BasicCompanyData-2026-11-01-part{n}_2.zip", csv_path))
    con2 = duckdb.connect()
    register_macros(con2)
    ch.verify(parts)
    assert ch.stage(con2, parts, cfg) == ch.stage(con, [SAMPLE], cfg)


def test_renamed_column_is_named(con, cfg, tmp_path):
    lines = sample_lines()
    lines[0] = lines[0].replace(b" CompanyNumber,", b"CompanyNo,")
    bad = write(tmp_path / "renamed.csv", lines)
    with pytest.raises(SourceError) as err:
        ch.verify([bad])
    assert err.value.column == "CompanyNumber"
    assert "renamed.csv" in str(err.value) and "'CompanyNumber'" in str(err.value)
    with pytest.raises(SourceError, match="CompanyNumber"):
        ch.stage(con, [bad], cfg)


def test_missing_column_is_named(con, cfg, tmp_path):
    lines = sample_lines()
    lines[0] = lines[0].replace(b"SICCode.SicText_3,", b"")
    with pytest.raises(SourceError) as err:
        ch.verify([write(tmp_path / "short.csv", lines)])
    assert err.value.column == "SICCode.SicText_3"


def test_non_utf8_byte_names_file_and_row(con, cfg, tmp_path):
    lines = sample_lines()
    row = line_of(lines, "12172257")
    lines[row - 1] = lines[row - 1].replace(b"WITH AMI", b"WITH \xc9MI")  # Windows-1252 E acute
    bad = write(tmp_path / "latin1.csv", lines)
    with pytest.raises(SourceError) as err:
        ch.stage(con, [bad], cfg)
    assert err.value.file == "latin1.csv"
    assert err.value.row == row
    assert "0xc9" in str(err.value)


def test_bad_date_names_row_and_column(con, cfg, tmp_path):
    lines = sample_lines()
    row = line_of(lines, "12172257")
    assert b'"23/08/2019"' in lines[row - 1]
    lines[row - 1] = lines[row - 1].replace(b'"23/08/2019"', b'"2019-08-23"')
    bad = write(tmp_path / "baddate.csv", lines)
    with pytest.raises(SourceError) as err:
        ch.stage(con, [bad], cfg)
    assert (err.value.row, err.value.column) == (row, "IncorporationDate")
    assert "2019-08-23" in str(err.value) and "baddate.csv" in str(err.value)


def test_a_stray_quote_names_zip_member_row_column_reason_and_next_step(con, cfg, tmp_path):
    """A quote in a name that was not doubled: DuckDB's "CSV Error on Line: N" alone said neither where nor why."""
    lines = sample_lines()
    row = line_of(lines, "12172257")
    lines[row - 1] = lines[row - 1].replace(b"WITH AMI", b'WITH "AMI', 1)
    bad = zipped(tmp_path / "BasicCompanyDataAsOneFile-2026-11-01.zip", write(tmp_path / "part.csv", lines),
                 "BasicCompanyDataAsOneFile-2026-11-01.csv")
    with pytest.raises(SourceError) as err:
        ch.stage(con, [bad], cfg)
    assert err.value.file == "BasicCompanyDataAsOneFile-2026-11-01.zip:BasicCompanyDataAsOneFile-2026-11-01.csv"
    assert (err.value.row, err.value.column) == (row, "CompanyName")
    assert "Expected Number of Columns: 55 Found:" in err.value.detail and "not doubled" in err.value.detail
    assert "fetch the file again (`vcse refresh companies_house`)" in err.value.detail
    assert not list(tmp_path.glob(".extract-*"))


def test_a_line_longer_than_duckdb_reads_gives_duckdbs_reason(tmp_path):
    """The slim all_company scan reads lines up to ALL_COMPANY_LINE_BYTES: a longer one is named with the reason."""
    from vcse_pipeline.sources._csv import raise_for_scan_error, read_csv_sql

    lines = sample_lines()
    row = line_of(lines, "12172257")
    path = write(tmp_path / "companies.csv", lines)
    header = ch.read_header(path, ch.NAME)
    with duckdb.connect() as scan, pytest.raises(duckdb.Error) as failed:
        scan.execute(f"SELECT count(*) FROM {read_csv_sql(path, header, max_line_size=len(lines[row - 1]) - 10)}")
    with pytest.raises(SourceError) as err:
        raise_for_scan_error(failed.value, path, ch.NAME)
    assert err.value.file == "companies.csv" and err.value.column is None and err.value.row is not None
    assert re.search(r"unreadable CSV \(Maximum line size of \d+ bytes exceeded", err.value.detail), err.value.detail


def test_bad_date_in_an_unstaged_category_is_ignored(con, cfg, tmp_path):
    lines = sample_lines()
    row = line_of(lines, "11990344")  # a private limited company: filtered out before typing
    lines[row - 1] = lines[row - 1].replace(b'"10/05/2019"', b'"not a date"')
    assert ch.stage(con, [write(tmp_path / "ok.csv", lines)], cfg)["company"] == VCSE_ROWS


def test_empty_file_and_html_page_are_refused(con, cfg, tmp_path):
    empty = tmp_path / "BasicCompanyDataAsOneFile.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        ch.verify([empty])
    with pytest.raises(SourceError, match="empty"):
        ch.stage(con, [empty], cfg)

    html = tmp_path / "BasicCompanyDataAsOneFile-2026-11-01.zip"
    html.write_text("<!DOCTYPE html><html><body>Service unavailable</body></html>")
    with pytest.raises(SourceError, match="HTML") as err:
        ch.verify([html])
    assert err.value.file == html.name
    with pytest.raises(SourceError, match="HTML"):
        ch.stage(con, [html], cfg)


def test_zip_without_a_csv_is_refused(tmp_path):
    path = tmp_path / "BasicCompanyDataAsOneFile.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(SourceError, match=r"\*\.csv"):
        ch.verify([path])


def test_line_prefilter_is_used_and_matches_a_full_parse(con, cfg, tmp_path, monkeypatch):
    header = ch.read_header(SAMPLE, "companies_house")
    kept = ch._prefilter_lines(con, SAMPLE, header, cfg.source("companies_house")["categories"], tmp_path / "k.csv")
    assert kept is not None
    assert len(kept.read_bytes().splitlines()) == VCSE_ROWS  # private limited companies dropped early

    ch.stage(con, [SAMPLE], cfg)
    fast = con.execute("SELECT * FROM company ORDER BY company_number").fetchall()
    monkeypatch.setattr(ch, "_prefilter_lines", lambda *args: None)
    full_con = duckdb.connect()
    register_macros(full_con)
    ch.stage(full_con, [SAMPLE], cfg)
    assert full_con.execute("SELECT * FROM company ORDER BY company_number").fetchall() == fast


def test_records_spanning_lines_and_escaped_quotes_are_staged(con, cfg, tmp_path):
    lines = sample_lines()
    riding = line_of(lines, "06140728")  # a VCSE company
    lines[riding - 1] = lines[riding - 1].replace(b'"FELTON\'S LODGE BARROW HILL"', b'"FELTON\'S LODGE\nBARROW HILL"')
    cic = line_of(lines, "12172257")
    lines[cic - 1] = lines[cic - 1].replace(b'"WITH AMI COMMUNITY', b'"WITH ""AMI"" COMMUNITY')
    path = write(tmp_path / "multiline.csv", lines)
    header = ch.read_header(path, "companies_house")
    assert ch._prefilter_lines(con, path, header, cfg.source("companies_house")["categories"],
                               tmp_path / "k.csv") is None, "a record spanning lines forces the full parse"
    assert ch.stage(con, [path], cfg)["company"] == VCSE_ROWS
    assert con.execute("SELECT address_line1 FROM company WHERE company_number = '06140728'").fetchone() == (
        "FELTON'S LODGE\nBARROW HILL",)
    assert con.execute("SELECT company_name FROM company WHERE company_number = '12172257'").fetchone() == (
        'WITH "AMI" COMMUNITY INTEREST COMPANY',)

    lines[riding - 1] = sample_lines()[riding - 1]
    only_quotes = write(tmp_path / "quotes.csv", lines)
    assert ch._prefilter_lines(con, only_quotes, header, cfg.source("companies_house")["categories"],
                               tmp_path / "k2.csv") is not None
    assert ch.stage(con, [only_quotes], cfg)["company"] == VCSE_ROWS
    assert con.execute("SELECT company_name FROM company WHERE company_number = '12172257'").fetchone() == (
        'WITH "AMI" COMMUNITY INTEREST COMPANY',)


def test_windows_line_endings(con, cfg, tmp_path):
    crlf = write(tmp_path / "crlf.csv", [line.replace(b"\n", b"\r\n") for line in sample_lines()])
    header = ch.read_header(crlf, "companies_house")
    assert ch._prefilter_lines(con, crlf, header, cfg.source("companies_house")["categories"],
                               tmp_path / "k.csv") is not None
    assert ch.stage(con, [crlf], cfg)["company"] == VCSE_ROWS
    # The last column is a date: a stray carriage return would have failed its conversion.
    assert con.execute("SELECT count(conf_stmt_last_made_up_date) FROM company").fetchone()[0] > 0


def test_download_fetches_each_configured_part_then_stages(con, cfg, tmp_path):
    lines = sample_lines()
    urls = []
    for n, body in enumerate((lines[1:50], lines[50:]), start=1):
        csv_path = write(tmp_path / f"BasicCompanyData-2026-11-01-part{n}_2.csv", [lines[0], *body])
        urls.append(str(zipped(tmp_path / f"BasicCompanyData-2026-11-01-part{n}_2.zip", csv_path)))
    cfg = cfg.with_overrides({"sources": {"companies_house": {"url": urls}}, "download": {"progress": False}})
    results = ch.download(cfg)
    paths = [r.path for r in results]
    assert [p.name for p in paths] == ["BasicCompanyData-2026-11-01-part1_2.zip",
                                       "BasicCompanyData-2026-11-01-part2_2.zip"]
    assert all(p.parent == cfg.download_dir("companies_house") for p in paths)
    ch.verify(paths)
    assert ch.stage(con, paths, cfg)["company"] == VCSE_ROWS


def test_header_only_file_is_refused(tmp_path):
    header_only = write(tmp_path / "BasicCompanyDataAsOneFile.csv", sample_lines()[:1])
    with pytest.raises(SourceError, match="no data rows"):
        ch.verify([header_only])
    with pytest.raises(SourceError, match="no data rows"):
        ch.verify([zipped(tmp_path / "BasicCompanyDataAsOneFile.zip", header_only)])


def test_all_company_keeps_every_category_slim(con, cfg):
    """Local spend resolves businesses against every company: all 87 rows, VCSE categories or not."""
    ch.stage(con, [SAMPLE], cfg)
    columns = [r[0] for r in con.execute("DESCRIBE all_company").fetchall()]
    assert columns == ["company_number", "company_name", "postcode", "company_category", "company_status",
                       "accounts_category", "sic_code"]
    categories = dict(con.execute("SELECT company_category, count(*) FROM all_company GROUP BY 1").fetchall())
    assert categories["Private Limited Company"] == 87 - VCSE_ROWS
    row = con.execute("SELECT company_name, postcode, sic_code FROM all_company "
                      "WHERE company_number = '12172257'").fetchone()
    assert row == ("WITH AMI COMMUNITY INTEREST COMPANY", "OX1 2EP", "88990")
