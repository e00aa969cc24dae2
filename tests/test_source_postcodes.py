"""ONS Postcode Directory loader on real rows of the pre-2025 and 2025 layouts, zipped or plain."""

from __future__ import annotations

import zipfile
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.errors import SourceError
from vcse_pipeline.postcode import register_macros
from vcse_pipeline.sources import postcodes as pc

FIXTURES = Path(__file__).parent / "fixtures" / "postcodes"
ONSPD_2024 = FIXTURES / "onspd-2024-columns-sample.csv"
ONSPD_2025 = FIXTURES / "onspd-2025-columns-sample.csv"
STAGED_COLUMNS = [
    ("postcode", "VARCHAR"), ("postcode_key", "VARCHAR"), ("lad_code", "VARCHAR"), ("ward_code", "VARCHAR"),
    ("lsoa_code", "VARCHAR"), ("region_code", "VARCHAR"), ("imd_rank", "INTEGER"), ("lat", "DOUBLE"),
    ("long", "DOUBLE"),
    ("date_introduced", "VARCHAR"), ("date_terminated", "VARCHAR"), ("is_terminated", "BOOLEAN"),
]
# Names lookups in the layout of the release's Documents/ folder (UTF-8 with a BOM, Welsh name column).
# The codes are the sample's; the reference data has no names lookup, so the ward names are illustrative.
WARD_NAMES = ("\ufeffWD25CD,WD25NM,WD25NMW\r\n"
              "E05013966,Clarence,\r\n"
              "E05013956,Ashley,\r\n"
              "S13002843,Airyhall/Broomhill/Garthdee,\r\n"
              "W05001493,Aberteifi/Cardigan-Mwldan,Aberteifi/Aberteifi-Mwldan\r\n")
LA_NAMES = ("\ufeffLAD25CD,LAD25NM,LAD25NMW\r\n"
            "E07000240,St Albans,\r\n"
            "E08000015,Wirral,\r\n"
            "S12000033,Aberdeen City,\r\n"
            "W06000001,Isle of Anglesey,Ynys Môn\r\n")


@pytest.fixture
def cfg(tmp_path) -> Config:
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}})


def new_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_macros(con)
    return con


def release_zip(path: Path, data: Path, names: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(data, "Data/ONSPD_MAY_2025_UK.csv")
        zf.write(data, "Data/multi_csv/ONSPD_MAY_2025_UK_AB.csv")  # the same rows split by area: ignored
        zf.writestr("User Guide/ONSPD User Guide May 2025.pdf", b"%PDF-1.7")
        if names:
            zf.writestr("Documents/Ward names and codes UK as at 05_25.csv", WARD_NAMES.encode("utf-8"))
            zf.writestr("Documents/LA_UA names and codes UK as at 04_25.csv", LA_NAMES.encode("utf-8"))
            zf.writestr("Documents/LA_UA names and codes UK as at 04_25.xlsx", b"PK not read")
    return path


def columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                       "ORDER BY ordinal_position", [table]).fetchall()


def test_pre_2025_layout_stages_real_values(cfg):
    con = new_con()
    pc.verify([ONSPD_2024])
    assert pc.stage(con, [ONSPD_2024], cfg) == {"postcode": 4, "ward": 0, "local_authority": 0}
    assert columns(con, "postcode") == STAGED_COLUMNS
    row = con.execute("SELECT postcode_key, lad_code, ward_code, lsoa_code, imd_rank, lat, long, date_introduced, "
                      "date_terminated, is_terminated FROM postcode WHERE postcode = 'AL1 1AA'").fetchone()
    assert row == ("AL11AA", "E07000240", "E05013966", "E01023743", 30564, 51.749084, -0.341337,
                   "199002", "199405", True)
    # the region (rgn), for local spend's "in the region" measure
    assert con.execute("SELECT region_code FROM postcode WHERE postcode = 'AL1 1AA'").fetchone() == ("E12000006",)


def test_2025_layout_stages_the_same_columns(cfg):
    con = new_con()
    pc.verify([ONSPD_2025])
    assert pc.stage(con, [ONSPD_2025], cfg)["postcode"] == 4
    assert columns(con, "postcode") == STAGED_COLUMNS
    row = con.execute("SELECT lad_code, ward_code, lsoa_code, imd_rank, lat FROM postcode "
                      "WHERE postcode_key = 'AB10AB'").fetchone()
    assert row == ("S12000033", "S13002843", "S01013490", 6715, 57.102539)
    # Scotland's rgn25cd is the pseudo code S99999999: no region
    assert con.execute("SELECT region_code FROM postcode WHERE postcode_key = 'AB10AB'").fetchone() == (None,)


def test_layouts_detected_from_the_header():
    assert pc.detect_layout(pc.read_header(ONSPD_2024, "postcodes"), "x")[0] == "pre-2025"
    layout, cols = pc.detect_layout(pc.read_header(ONSPD_2025, "postcodes"), "x")
    assert (layout, cols["lad"], cols["ward"], cols["imd"]) == ("2025", "lad25cd", "wd25cd", "imd20ind")


def test_pseudo_codes_and_missing_coordinates_keep_the_row_with_nulls(cfg):
    con = new_con()
    pc.stage(con, [ONSPD_2024], cfg)
    rows = con.execute("SELECT postcode, lad_code, ward_code, lsoa_code, imd_rank, lat, long, is_terminated "
                       "FROM postcode WHERE postcode LIKE 'IM%' ORDER BY postcode").fetchall()
    assert rows == [("IM1 1AA", None, None, None, None, None, None, True),
                    ("IM1 1AD", None, None, None, None, None, None, False)]


def test_release_zip_with_names_lookups(cfg, tmp_path):
    path = release_zip(tmp_path / "ONSPD_MAY_2025.zip", ONSPD_2025)
    pc.verify([path])
    con = new_con()
    assert pc.stage(con, [path], cfg) == {"postcode": 4, "ward": 4, "local_authority": 4}
    assert con.execute("SELECT lad_name FROM local_authority WHERE lad_code = 'W06000001'").fetchone() == (
        "Isle of Anglesey",)
    assert con.execute("SELECT w.ward_name, l.lad_name FROM postcode p JOIN ward w USING (ward_code) "
                       "JOIN local_authority l USING (lad_code) WHERE p.postcode = 'AB1 0AA'").fetchone() == (
        "Airyhall/Broomhill/Garthdee", "Aberdeen City")
    assert columns(con, "ward") == [("ward_code", "VARCHAR"), ("ward_name", "VARCHAR")]
    assert not list(tmp_path.glob(".extract-*"))


def test_release_zip_without_names_gives_empty_tables(cfg, tmp_path):
    path = release_zip(tmp_path / "ONSPD_FEB_2024.zip", ONSPD_2024, names=False)
    con = new_con()
    assert pc.stage(con, [path], cfg) == {"postcode": 4, "ward": 0, "local_authority": 0}
    assert columns(con, "local_authority") == [("lad_code", "VARCHAR"), ("lad_name", "VARCHAR")]


def test_plain_csvs_with_a_names_file(cfg, tmp_path):
    names = tmp_path / "LA_UA names and codes UK as at 04_25.csv"
    names.write_text(LA_NAMES, encoding="utf-8")
    con = new_con()
    assert pc.stage(con, [ONSPD_2025, names], cfg) == {"postcode": 4, "ward": 0, "local_authority": 4}


def test_header_matching_no_layout_names_missing_columns(cfg, tmp_path):
    lines = ONSPD_2024.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace(",osward,", ",ward,").replace(",imd,", ",imdrank,")
    bad = tmp_path / "onspd-renamed.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        pc.verify([bad])
    message = str(err.value)
    assert "onspd-renamed.csv" in message
    assert "pre-2025 layout lacks osward, imd" in message
    assert "2025 layout lacks ladNNcd" in message
    assert err.value.column == "osward"
    with pytest.raises(SourceError, match="osward"):
        pc.stage(new_con(), [bad], cfg)


def test_bad_number_names_row_and_column(cfg, tmp_path):
    lines = ONSPD_2025.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace(",6715,", ",n/a,")
    bad = tmp_path / "onspd-bad-imd.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        pc.stage(new_con(), [bad], cfg)
    assert (err.value.row, err.value.column, err.value.file) == (3, "imd20ind", "onspd-bad-imd.csv")


def test_empty_file_html_page_and_zip_without_directory(cfg, tmp_path):
    empty = tmp_path / "ONSPD.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        pc.verify([empty])
    html = tmp_path / "ONSPD.zip"
    html.write_text("<html><head><title>ArcGIS</title></head><body>Item not found</body></html>")
    with pytest.raises(SourceError, match="HTML"):
        pc.stage(new_con(), [html], cfg)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("Data/multi_csv/ONSPD_MAY_2025_UK_AB.csv", ONSPD_2025.read_bytes())
    with pytest.raises(SourceError, match="Data/multi_csv/ONSPD_MAY_2025_UK_AB.csv"):
        pc.verify([other])


def test_download_names_a_release_url_without_a_file_name(cfg, tmp_path):
    (tmp_path / "items").mkdir()
    release = release_zip(tmp_path / "items" / "data", ONSPD_2025)  # like .../items/<id>/data on the portal
    cfg = cfg.with_overrides({"sources": {"postcodes": {"url": str(release)}}, "download": {"progress": False}})
    [result] = pc.download(cfg)
    assert result.path == cfg.download_dir("postcodes") / "ONSPD.zip"
    assert pc.stage(new_con(), [result.path], cfg)["ward"] == 4


def test_non_utf8_byte_names_row(cfg, tmp_path):
    raw = ONSPD_2024.read_bytes().splitlines(keepends=True)
    raw[3] = raw[3].replace(b'"IM1  1AA","IM1 1AA"', b'"IM1  1AA","IM1 1A\xc1"', 1)  # in pcds, a column we read
    bad = tmp_path / "onspd-latin1.csv"
    bad.write_bytes(b"".join(raw))
    with pytest.raises(SourceError) as err:
        pc.stage(new_con(), [bad], cfg)
    assert (err.value.file, err.value.row) == ("onspd-latin1.csv", 4)
