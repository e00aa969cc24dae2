"""The UKCAT source: verify the real file, refuse a bad expression naming row and column, stage the rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.errors import SourceError
from vcse_pipeline.sources import ukcat

FIXTURE = Path(__file__).parent / "fixtures" / "tagging" / "ukcat.csv"


def test_verify_and_stage_real_file():
    ukcat.verify([FIXTURE])
    con = duckdb.connect()
    assert ukcat.stage(con, [FIXTURE], None) == {"ukcat_tag": 254}
    row = con.execute("SELECT tag, level, exclude_regex FROM ukcat_tag WHERE code = 'RL302'").fetchone()
    assert row == ("Church or place of worship", 1 + 2, "christchurch|school")


def test_bad_regex_names_code_row_and_column(tmp_path):
    bad = tmp_path / "ukcat.csv"
    text = FIXTURE.read_text(encoding="utf-8").replace(r"\b(cats?|felines?)\b", r"\b(cats?|felines?\b", 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        ukcat.verify([bad])
    assert err.value.row == 3 and err.value.column == "Regular expression" and "AN101" in str(err.value)


def test_missing_column_is_named(tmp_path):
    bad = tmp_path / "ukcat.csv"
    shutil.copy(FIXTURE, bad)
    bad.write_text(bad.read_text().replace("Exclude regular expression", "Exclusions", 1))
    with pytest.raises(SourceError, match="Exclude regular expression"):
        ukcat.verify([bad])
