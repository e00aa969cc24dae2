"""The CCEW register extract loader, run on the real sample zips and on broken copies made from them."""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.errors import SourceError
from vcse_pipeline.sources import charity_commission as cc

FIXTURES = Path(__file__).parent / "fixtures" / "ccew"
ALL_TABLES = sorted(p.name.split(".")[1] for p in FIXTURES.glob("publicextract.*.zip"))
CONFIG_TABLES = Config.load(environ={}).source("charity_commission")["tables"]


# ------------------------------------------------------------------------------------------------ helpers

def sample_zip(table: str) -> Path:
    return FIXTURES / f"publicextract.{table}.zip"


def local_copy(tmp_path: Path, table: str) -> Path:
    """The sample zip copied under tmp_path: staging writes its work files next to the zip."""
    dest = tmp_path / f"publicextract.{table}.zip"
    dest.write_bytes(sample_zip(table).read_bytes())
    return dest


def sample_lines(table: str) -> list[bytes]:
    """The sample .txt split on its CRLF line ends (no trailing empty piece)."""
    with zipfile.ZipFile(sample_zip(table)) as zf:
        data = zf.read(f"publicextract.{table}.txt")
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    return lines[:-1]


def write_zip(dest: Path, member: str, data: bytes) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    return dest


def rewritten_zip(tmp_path: Path, table: str, transform) -> Path:
    """A copy of the sample zip for `table` whose lines (header first) went through `transform`."""
    lines = transform(sample_lines(table))
    return write_zip(tmp_path / f"publicextract.{table}.zip", f"publicextract.{table}.txt",
                     b"\r\n".join(lines) + b"\r\n")


def set_field(lines: list[bytes], row: int, column: str, value: bytes) -> list[bytes]:
    """Replace one value; row is 1-based with the header as row 1, as in error messages."""
    header = lines[0].split(b"\t")
    fields = lines[row - 1].split(b"\t")
    fields[header.index(column.encode())] = value
    return [*lines[:row - 1], b"\t".join(fields), *lines[row:]]


def config(tmp_path: Path, tables: list[str]) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                              "sources": {"charity_commission": {"tables": tables}}})


def stage_one(tmp_path: Path, table: str, path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    cc.stage(con, [path], config(tmp_path, [table]))
    return con


@pytest.fixture(scope="module")
def staged_counts(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    """Every sample table staged once, as the pipeline does: verify, then stage."""
    tmp = tmp_path_factory.mktemp("ccew")
    paths = [local_copy(tmp, t) for t in ALL_TABLES]
    cc.verify(paths)
    con = duckdb.connect()
    counts = cc.stage(con, paths, config(tmp, ALL_TABLES))
    return con, counts


@pytest.fixture(scope="module")
def staged(staged_counts) -> duckdb.DuckDBPyConnection:
    return staged_counts[0]


# ------------------------------------------------------------------------------------------ good input

def test_fixtures_hold_all_thirteen_tables_and_config_asks_for_a_subset():
    assert len(ALL_TABLES) == 13
    assert set(CONFIG_TABLES) <= set(ALL_TABLES)


def test_expected_columns_match_the_published_field_list():
    # ccew-fields.csv is the Commission's field list; the files add date_of_extract in front.
    fields: dict[str, list[str]] = {}
    with (FIXTURES / "ccew-fields.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            fields.setdefault(row["Table"], []).append(row["Field"])
    expected = sorted(sorted(["date_of_extract", *cols]) for cols in fields.values())
    assert sorted(sorted(cols) for cols in cc.TABLE_COLUMNS.values()) == expected


@pytest.mark.parametrize("table", ALL_TABLES)
def test_each_table_stages_one_row_per_record(staged_counts, table):
    staged, counts = staged_counts
    # Every record starts with its date_of_extract; a line that does not continues the one before.
    records = sum(1 for line in sample_lines(table)[1:] if re.match(rb"\d{4}-\d\d-\d\d ", line))
    assert counts[table] == records
    assert staged.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == records


@pytest.mark.parametrize("table", ALL_TABLES)
def test_each_table_keeps_the_file_header_and_types_its_columns(staged, table):
    header = sample_lines(table)[0].decode().split("\t")
    described = staged.execute(f"DESCRIBE {table}").fetchall()
    assert [row[0] for row in described] == header
    types = {row[0]: row[1] for row in described}
    assert types["date_of_extract"] == "DATE"
    assert types["organisation_number"] == "BIGINT"
    for column, kind in types.items():
        if re.search(r"(^|_)date(_|$)", column):
            assert kind == "DATE", column
    # Whatever came in as True/False is now BOOLEAN: check against the raw values.
    lines = [line.split(b"\t") for line in sample_lines(table)[1:]]
    for i, column in enumerate(header):
        raw = {f[i] for f in lines if len(f) == len(header)} - {b""}
        if raw and raw <= {b"True", b"False"}:
            assert types[column] == "BOOLEAN", column


def test_charity_types_by_kind(staged):
    types = dict(staged.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                "WHERE table_name = 'charity'").fetchall())
    assert types["latest_income"] == "DOUBLE"
    assert types["linked_charity_number"] == "BIGINT"
    assert types["charity_is_cio"] == "BOOLEAN"
    assert types["date_cio_dissolution_notice"] == "DATE"
    assert types["charity_company_registration_number"] == "VARCHAR"  # letters and leading zeros
    partb = dict(staged.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                "WHERE table_name = 'charity_annual_return_partb'").fetchall())
    assert partb["consolidated_accounts"] == "BOOLEAN"  # 'date' inside a word is not a date column
    assert partb["count_employees"] == "BIGINT"
    assert partb["funds_total"] == "DOUBLE"


def test_known_cio_values_parse(staged):
    row = staged.execute(
        "SELECT charity_name, registered_charity_number, linked_charity_number, date_of_registration, "
        "charity_is_cio, latest_income, charity_contact_postcode, date_of_extract, charity_contact_address3 "
        "FROM charity WHERE organisation_number = 5073549").fetchone()
    assert row == ("Tom haven Poverty Group", 1169308, 0, date(2016, 9, 21), True, 2886494.0, "L2J 0PA",
                   date(2023, 9, 7), None)


def test_non_cio_and_empty_values_are_null(staged):
    row = staged.execute(
        "SELECT charity_is_cio, charity_insolvent, date_of_registration, charity_activities "
        "FROM charity WHERE organisation_number = 201935").fetchone()
    assert row[:3] == (False, False, date(1962, 3, 23))
    assert staged.execute("SELECT count(*) FROM charity WHERE charity_contact_address3 = ''").fetchone()[0] == 0
    # The raw file has empty strings for a removed linked charity's dates and flags: NULLs here.
    assert staged.execute("SELECT date_of_removal, charity_is_cio, latest_income FROM charity "
                          "WHERE organisation_number = 1666").fetchone() == (date(2018, 11, 6), None, None)


def test_main_and_linked_charities(staged):
    raw = [line.split(b"\t") for line in sample_lines("charity")[1:]]
    main_raw = sum(1 for f in raw if f[3] == b"0")
    assert staged.execute("SELECT count(*) FROM charity WHERE linked_charity_number = 0").fetchone()[0] == main_raw
    # 203460 is a main charity with linked charities 1..n that share its registered number.
    rows = staged.execute("SELECT organisation_number, linked_charity_number, charity_name FROM charity "
                          "WHERE registered_charity_number = 203460 ORDER BY linked_charity_number").fetchall()
    assert rows[0][:2] == (203460, 0)
    assert rows[1] == (1666, 1, "Amy haven Crime and Justice Charity")
    assert [r[1] for r in rows] == list(range(len(rows)))
    assert len(rows) > 2


def test_other_names_and_classification_values(staged):
    rows = staged.execute("SELECT registered_charity_number, linked_charity_number, charity_name_id, "
                          "charity_name_type, charity_name FROM charity_other_names "
                          "WHERE organisation_number = 525394").fetchall()
    assert rows == [(525394, 0, 8316, "Working name", "Joyce borough Disaster Relief CIO")]
    assert staged.execute("SELECT classification_code, classification_type, classification_description "
                          "FROM charity_classification WHERE organisation_number = 201935 ORDER BY 1 LIMIT 1"
                          ).fetchone() == (109, "What", "Arts/culture/heritage/science")


def test_record_split_by_a_line_break_is_rejoined(staged):
    # The real sample's second published report has a CRLF inside report_location.
    rows = staged.execute("SELECT report_name, report_location, date_published FROM charity_published_report "
                          "ORDER BY report_name").fetchall()
    assert rows == [("INTERIM MANAGER", "https://www.example.com/fake-report-link", date(2023, 2, 10)),
                    ("STATEMENT OF INQUIRY", "https://www.example.com/fake-report-link", date(2022, 4, 25))]


def test_quotes_and_line_breaks_in_free_text_are_kept(tmp_path):
    activities = b'"Friends" of the park say "hello\tthere'
    quote_text = activities.replace(b"\t", b" ")

    def edit(lines):
        lines = set_field(lines, 5, "charity_activities", quote_text)
        return set_field(lines, 6, "charity_activities", b"First line\r\nsecond line")

    con = stage_one(tmp_path, "charity", rewritten_zip(tmp_path, "charity", edit))
    rows = con.execute("SELECT charity_activities FROM charity").fetchall()
    assert rows[3][0] == quote_text.decode()
    assert rows[4][0] == "First line\nsecond line"
    assert len(rows) == len(sample_lines("charity")) - 1


@pytest.mark.parametrize("chunk_bytes", [None, 997])
def test_stray_carriage_return_and_bare_line_feed_in_text(tmp_path, monkeypatch, chunk_bytes):
    if chunk_bytes:
        monkeypatch.setattr(cc, "_CHUNK_BYTES", chunk_bytes)

    def edit(lines):
        lines = set_field(lines, 10, "charity_activities", b"one\rtwo")
        return set_field(lines, 300, "charity_activities", b"three\nfour")

    con = stage_one(tmp_path, "charity", rewritten_zip(tmp_path, "charity", edit))
    rows = con.execute("SELECT charity_activities FROM charity").fetchall()
    assert len(rows) == len(sample_lines("charity")) - 1
    assert (rows[8][0], rows[298][0]) == ("one\rtwo", "three\nfour")


def test_line_break_in_the_last_column_is_rejoined(tmp_path):
    # area_of_benefit is the last column: a break there leaves a complete first line and a tail line.
    def edit(lines):
        return set_field(lines, 3, "area_of_benefit", b"NATIONAL\r\nAND OVERSEAS")

    con = stage_one(tmp_path, "charity_governing_document",
                    rewritten_zip(tmp_path, "charity_governing_document", edit))
    assert con.execute("SELECT count(*) FROM charity_governing_document").fetchone()[0] == \
        len(sample_lines("charity_governing_document")) - 1
    assert con.execute("SELECT area_of_benefit FROM charity_governing_document LIMIT 1 OFFSET 1").fetchone()[0] \
        == "NATIONAL\nAND OVERSEAS"


def test_stage_leaves_no_work_files(tmp_path):
    path = local_copy(tmp_path, "charity_policy")
    stage_one(tmp_path, "charity_policy", path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["publicextract.charity_policy.zip"]


def test_streaming_in_small_chunks_gives_the_same_rows(tmp_path, monkeypatch, staged):
    monkeypatch.setattr(cc, "_CHUNK_BYTES", 997)  # many chunk boundaries inside lines
    con = stage_one(tmp_path, "charity", local_copy(tmp_path, "charity"))
    assert con.execute("SELECT * FROM charity ORDER BY organisation_number").fetchall() == \
        staged.execute("SELECT * FROM charity ORDER BY organisation_number").fetchall()


def test_download_fetches_each_configured_table(tmp_path):
    pytest.importorskip("vcse_pipeline.download")
    cfg = config(tmp_path, ["charity", "charity_other_names"]).with_overrides(
        {"sources": {"charity_commission": {"url": str(FIXTURES / "publicextract.{table}.zip")}},
         "download": {"progress": False}})
    results = cc.download(cfg)
    assert [r.path.name for r in results] == ["publicextract.charity.zip", "publicextract.charity_other_names.zip"]
    assert all(r.path.parent == cfg.download_dir("charity_commission") for r in results)
    assert results[0].path.read_bytes() == sample_zip("charity").read_bytes()


def test_pipeline_stage_source_writes_the_staging_file(tmp_path):
    pipeline = pytest.importorskip("vcse_pipeline.pipeline")
    cfg = config(tmp_path, CONFIG_TABLES)
    counts = pipeline.stage_source(cfg, "charity_commission", [local_copy(tmp_path, t) for t in CONFIG_TABLES])
    assert set(counts) == set(CONFIG_TABLES)
    with duckdb.connect(str(cfg.staging_path("charity_commission")), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM charity").fetchone()[0] == counts["charity"] == 572


# ------------------------------------------------------------------------------------------- bad input

def test_html_error_page_instead_of_zip(tmp_path):
    path = tmp_path / "publicextract.charity.zip"
    path.write_bytes(b"<!DOCTYPE html>\n<html><body><h1>503 Service Unavailable</h1></body></html>\n")
    with pytest.raises(SourceError, match="HTML") as err:
        cc.verify([path])
    assert err.value.file == "publicextract.charity.zip"
    assert "charity_commission" in str(err.value)


def test_truncated_zip(tmp_path):
    data = sample_zip("charity").read_bytes()
    path = tmp_path / "publicextract.charity.zip"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="truncated or corrupt") as err:
        cc.verify([path])
    assert err.value.file == "publicextract.charity.zip"


def test_corrupt_zip_central_directory(tmp_path):
    data = bytearray(sample_zip("charity").read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end:end + 4] = b"XXXX"  # no end-of-central-directory record
    path = tmp_path / "publicextract.charity.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="truncated or corrupt"):
        cc.verify([path])


def test_corrupt_zip_data_fails_staging_naming_the_file(tmp_path):
    data = bytearray(sample_zip("charity").read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A  # scramble compressed bytes mid-member; the header still reads
    path = tmp_path / "publicextract.charity.zip"
    path.write_bytes(bytes(data))
    cc.verify([path])
    with pytest.raises(SourceError, match="truncated or corrupt") as err:
        stage_one(tmp_path, "charity", path)
    assert "publicextract.charity.zip" in err.value.file


def test_empty_download(tmp_path):
    path = tmp_path / "publicextract.charity.zip"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        cc.verify([path])


def test_zip_holding_an_empty_txt(tmp_path):
    path = write_zip(tmp_path / "publicextract.charity.zip", "publicextract.charity.txt", b"")
    with pytest.raises(SourceError, match="empty") as err:
        cc.verify([path])
    assert err.value.row == 1
    with pytest.raises(SourceError, match="empty"):
        stage_one(tmp_path, "charity", path)


def test_zip_entry_with_parent_path(tmp_path):
    data = b"\r\n".join(sample_lines("charity")) + b"\r\n"
    path = write_zip(tmp_path / "publicextract.charity.zip", "../publicextract.charity.txt", data)
    # archive.open_zip refuses it, saying what to do (docs/operations.md, "Bad input")
    says = (r"file publicextract\.charity\.zip: zip entry '\.\./publicextract\.charity\.txt' has a path outside the "
            r"target directory; refusing to extract: fetch the file again \(`vcse refresh charity_commission`\); if a "
            r"fresh copy is the same, report it to the publisher$")
    with pytest.raises(SourceError, match=says):
        cc.verify([path])
    with pytest.raises(SourceError, match=says):
        stage_one(tmp_path, "charity", path)


def test_zip_with_two_txt_files(tmp_path):
    path = tmp_path / "publicextract.charity.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("publicextract.charity.txt", b"\r\n".join(sample_lines("charity")))
        zf.writestr("old/publicextract.charity.txt", b"\r\n".join(sample_lines("charity")))
    with pytest.raises(SourceError, match="exactly one"):
        cc.verify([path])


def test_renamed_column(tmp_path):
    def rename(lines):
        return [lines[0].replace(b"\tcharity_is_cio\t", b"\tis_cio\t"), *lines[1:]]

    path = rewritten_zip(tmp_path, "charity", rename)
    with pytest.raises(SourceError, match="charity_is_cio") as err:
        cc.verify([path])
    assert err.value.column == "charity_is_cio"
    assert err.value.file == "publicextract.charity.zip:publicextract.charity.txt"
    assert "is_cio" in err.value.detail  # the unexpected name is reported as a hint


def test_missing_column(tmp_path):
    def drop_postcode(lines):
        i = lines[0].split(b"\t").index(b"charity_contact_postcode")
        return [b"\t".join(f for j, f in enumerate(line.split(b"\t")) if j != i) for line in lines]

    path = rewritten_zip(tmp_path, "charity", drop_postcode)
    with pytest.raises(SourceError) as err:
        cc.verify([path])
    assert err.value.column == "charity_contact_postcode"
    assert "charity_contact_postcode" in str(err.value)


def test_first_column_must_be_date_of_extract(tmp_path):
    path = rewritten_zip(tmp_path, "charity_policy", lambda lines: [lines[0][len(b"date_of_extract\t"):] + b"\tx",
                                                                     *lines[1:]])
    with pytest.raises(SourceError, match="date_of_extract"):
        cc.verify([path])


@pytest.mark.parametrize("chunk_bytes", [None, 997])
def test_non_utf8_byte_names_the_row(tmp_path, monkeypatch, chunk_bytes):
    if chunk_bytes:
        monkeypatch.setattr(cc, "_CHUNK_BYTES", chunk_bytes)

    def bad_byte(lines):
        return set_field(lines, 123, "charity_name", b"Caf\xff Society")

    path = rewritten_zip(tmp_path, "charity", bad_byte)
    cc.verify([path])  # the header is fine
    with pytest.raises(SourceError, match="byte 0xff is not valid UTF-8") as err:
        stage_one(tmp_path, "charity", path)
    assert (err.value.row, err.value.column) == (123, "charity_name")
    assert err.value.file == "publicextract.charity.zip:publicextract.charity.txt"


def test_unparseable_date_names_row_and_column(tmp_path):
    path = rewritten_zip(tmp_path, "charity",
                         lambda lines: set_field(lines, 40, "date_of_registration", b"2019-02-30 00:00:00.0000000"))
    with pytest.raises(SourceError, match="2019-02-30") as err:
        stage_one(tmp_path, "charity", path)
    assert (err.value.row, err.value.column) == (40, "date_of_registration")


def test_unparseable_number_names_row_and_column(tmp_path):
    path = rewritten_zip(tmp_path, "charity_annual_return_partb",
                         lambda lines: set_field(lines, 200, "funds_total", b"12,000"))
    with pytest.raises(SourceError) as err:
        stage_one(tmp_path, "charity_annual_return_partb", path)
    assert (err.value.row, err.value.column) == (200, "funds_total")


def test_fractional_identifier_is_an_error(tmp_path):
    path = rewritten_zip(tmp_path, "charity_other_names",
                         lambda lines: set_field(lines, 7, "organisation_number", b"1234.5"))
    with pytest.raises(SourceError, match="whole number") as err:
        stage_one(tmp_path, "charity_other_names", path)
    assert (err.value.row, err.value.column) == (7, "organisation_number")


def test_unknown_boolean_names_row_and_column(tmp_path):
    path = rewritten_zip(tmp_path, "charity_trustee",
                         lambda lines: set_field(lines, 11, "trustee_is_chair", b"Yes"))
    with pytest.raises(SourceError, match="True or False") as err:
        stage_one(tmp_path, "charity_trustee", path)
    assert (err.value.row, err.value.column) == (11, "trustee_is_chair")


def test_extra_field_names_the_row(tmp_path):
    path = rewritten_zip(tmp_path, "charity_policy",
                         lambda lines: set_field(lines, 30, "policy_name", b"Risk\tmanagement"))
    with pytest.raises(SourceError, match="6 fields, expected 5") as err:
        stage_one(tmp_path, "charity_policy", path)
    assert err.value.row == 30


def test_truncated_last_record(tmp_path):
    path = rewritten_zip(tmp_path, "charity_policy", lambda lines: [*lines[:-1], lines[-1].rsplit(b"\t", 1)[0]])
    with pytest.raises(SourceError, match="4 fields, expected 5") as err:
        stage_one(tmp_path, "charity_policy", path)
    assert err.value.row == len(sample_lines("charity_policy"))


def test_configured_table_missing_from_paths(tmp_path):
    with pytest.raises(SourceError, match="charity_other_names"):
        cc.stage(duckdb.connect(), [local_copy(tmp_path, "charity")],
                 config(tmp_path, ["charity", "charity_other_names"]))


def test_unknown_file_name(tmp_path):
    path = tmp_path / "export.zip"
    path.write_bytes(sample_zip("charity").read_bytes())
    with pytest.raises(SourceError, match="not a known CCEW extract file"):
        cc.verify([path])


def test_a_failed_table_does_not_half_stage(tmp_path):
    path = rewritten_zip(tmp_path, "charity",
                         lambda lines: set_field(lines, 400, "latest_income", b"n/a"))
    con = duckdb.connect()
    with pytest.raises(SourceError):
        cc.stage(con, [path], config(tmp_path, ["charity"]))
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'charity'").fetchone()[0] == 0


def test_runaway_line_is_refused_without_buffering_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cc, "_CHUNK_BYTES", 997)
    monkeypatch.setattr(cc, "_MAX_LINE_BYTES", 5000)
    path = rewritten_zip(tmp_path, "charity", lambda lines: set_field(lines, 3, "charity_activities", b"x" * 6000))
    with pytest.raises(SourceError, match="no line break") as err:
        stage_one(tmp_path, "charity", path)
    assert err.value.row == 3
