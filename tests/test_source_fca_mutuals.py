"""FCA Mutuals loader on a SocietyList.csv in the register's layout, its encodings and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.errors import SourceError
from vcse_pipeline.sources import fca_mutuals as fca

SAMPLE = Path(__file__).parent / "fixtures" / "fca_mutuals" / "SocietyList.csv"


@pytest.fixture
def cfg(tmp_path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}})


def stage(path: Path, cfg: Config) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    fca.verify([path])
    assert fca.stage(con, [path], cfg) == {"society": 15}
    return con


def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_stages_typed_society_rows(cfg):
    con = stage(SAMPLE, cfg)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'society'").fetchall())
    assert types["registration_date"] == types["deregistration_date"] == "DATE"
    assert types["society_number"] == types["registration_number"] == "VARCHAR"
    row = con.execute("SELECT society_number, society_suffix, society_name, postcode, registration_date, "
                      "deregistration_date, sic_code, society_status FROM society "
                      "WHERE registration_number = '31245R'").fetchone()
    assert row == ("31245", "R", "Heswall Allotment Society Limited", "CH60 4RW", dt.date(2009, 4, 7),
                   dt.date(2021, 11, 12), "01130", "Deregistered")
    # A 7000-numbered community benefit society has no suffix: an empty field becomes NULL.
    assert con.execute("SELECT society_suffix, registered_as FROM society WHERE registration_number = '7485'"
                       ).fetchone() == (None, "Community Benefit Society")


def test_postcode_is_taken_from_the_end_of_the_address(cfg):
    con = stage(SAMPLE, cfg)
    postcodes = dict(con.execute("SELECT registration_number, postcode FROM society").fetchall())
    assert postcodes["7890"] == "CH47 7BW"      # "..., Hoylake, Wirral, ch477bw"
    assert postcodes["4301"] == "CH44 2DA"      # trailing space after the postcode
    assert postcodes["29874R"] is None          # "The Village Hall, Church Lane, Little Neston"
    assert fca.postcode_from_address("Unit 5, Greenland Street, Liverpool, L1 0BS") == "L1 0BS"


def test_utf8_with_bom_and_whole_file_windows_1252_stage_alike(cfg, tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    cp1252 = tmp_path / "cp1252.csv"
    cp1252.write_bytes(sample_text().encode("cp1252"))
    assert b"M\xf4n" in cp1252.read_bytes()
    names = [stage(p, cfg).execute("SELECT society_name FROM society WHERE registration_number = '7712'"
                                   ).fetchone()[0] for p in (SAMPLE, bom, cp1252)]
    assert names == ["Cymdeithas Tai Cymunedol Môn Cyf"] * 3


def test_invalid_byte_in_a_utf8_file_names_the_row(cfg, tmp_path):
    text = sample_text()
    row = line_of(text, "Liverpool Wholefoods")
    raw = text.encode("utf-8").replace(b"Liverpool Wholefoods", b"Liverpool Wholef\xf6ods")
    bad = tmp_path / "SocietyList.csv"
    bad.write_bytes(raw)
    with pytest.raises(SourceError) as err:
        fca.verify([bad])
    assert (err.value.file, err.value.row) == ("SocietyList.csv", row)
    assert "0xf6" in str(err.value)


def test_renamed_column_is_named_and_corrected_spelling_accepted(cfg, tmp_path):
    text = sample_text()
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text.replace("Society Status", "Status", 1), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        fca.verify([renamed])
    assert err.value.column == "Society Status"
    corrected = tmp_path / "corrected.csv"
    corrected.write_text(text.replace("Full Registation Number", "Full Registration Number", 1), encoding="utf-8")
    assert stage(corrected, cfg).execute("SELECT count(registration_number) FROM society").fetchone()[0] == 15


def test_bad_date_names_row_and_column(cfg, tmp_path):
    text = sample_text()
    row = line_of(text, "Seacombe Ferry")
    bad = tmp_path / "SocietyList.csv"
    bad.write_text(text.replace("25/08/1964", "1964-08-25"), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        fca.stage(duckdb.connect(), [bad], cfg)
    assert (err.value.row, err.value.column) == (row, "Registration Date")
    assert "1964-08-25" in str(err.value)


def test_short_row_is_named(tmp_path):
    lines = sample_text().splitlines(keepends=True)
    lines[3] = lines[3].replace(",Registered\n", "\n")
    bad = tmp_path / "SocietyList.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SourceError, match="expected 12 fields, found 11") as err:
        fca.verify([bad])
    assert err.value.row == 4


def test_empty_file_and_html_page_are_refused(tmp_path):
    empty = tmp_path / "SocietyList.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        fca.verify([empty])
    html = tmp_path / "page.csv"
    html.write_text("<?xml version='1.0'?><Error><Code>BlobNotFound</Code></Error>")
    with pytest.raises(SourceError, match="HTML"):
        fca.verify([html])


def test_header_only_file_stages_an_empty_typed_table(cfg, tmp_path):
    header_only = tmp_path / "SocietyList.csv"
    header_only.write_text(sample_text().splitlines(keepends=True)[0], encoding="utf-8")
    con = duckdb.connect()
    assert fca.stage(con, [header_only], cfg) == {"society": 0}
    assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'society' "
                       "AND column_name = 'registration_date'").fetchone() == ("DATE",)


def test_download_then_stage(cfg):
    cfg = cfg.with_overrides({"sources": {"fca_mutuals": {"url": SAMPLE.as_uri()}}, "download": {"progress": False}})
    [result] = fca.download(cfg)
    assert result.path.name == "SocietyList.csv"
    stage(result.path, cfg)
