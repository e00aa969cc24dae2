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


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)+$", r"^(a|aa)+$", r"(x+x+)+y"])
def test_a_backtracking_rule_is_rejected_at_verify_naming_code_and_pattern(tmp_path, pattern):
    bad = tmp_path / "ukcat.csv"
    text = FIXTURE.read_text(encoding="utf-8").replace(r"\b(cats?|felines?)\b", pattern, 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        ukcat.verify([bad])
    assert err.value.column == "Regular expression" and "time limit" in str(err.value)
    assert f"code {err.value.file.split('code ')[1].rstrip(')')}" in str(err.value)
    assert repr(pattern) in str(err.value)


def test_the_tagger_stops_at_a_backtracking_rule_instead_of_hanging(monkeypatch):
    """A rule that slipped past verify (an old register's ukcat_tag) still cannot hang a build: each search runs
    with a time limit, and running over it names the rule."""
    import time

    from vcse_pipeline.tagging import rules

    monkeypatch.setattr(rules, "MATCH_TIMEOUT_SECONDS", 0.2)
    slow = rules.rules_from_records([{"code": "ZZ999", "tag": "Test", "category": "Test", "level": 3,
                                      "regex": r"(a+)+$", "exclude_regex": None}])
    started = time.monotonic()
    with pytest.raises(rules.RuleTimeoutError, match=r"UKCAT rule ZZ999: regular expression '\(a\+\)\+\$' ran over "
                                                     r"its 0\.2s time limit on a 5,001-character text"):
        rules.match_rules(slow, "a" * 5000 + "!")
    assert time.monotonic() - started < 60   # (a+)+$ on 5,000 characters takes hours unbounded


REPORT_VALUE = "report it to the publisher (the previous data stays published)"


@pytest.mark.parametrize(("old", "new", "column", "says"), [
    ("AN101,Cats,", ",Cats,", "Code", "empty Code"),
    ("AN101,Cats,Animals,,3,", "AN101,Cats,Animals,,4,", "Level", "code AN101: Level must be 1, 2 or 3, got '4'"),
])
def test_a_bad_rule_row_says_report_it_to_the_publisher(tmp_path, old, new, column, says):
    bad = tmp_path / "ukcat.csv"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        ukcat.verify([bad])
    assert (err.value.row, err.value.column) == (3, column)
    assert str(err.value).endswith(f"{says}: {REPORT_VALUE}"), str(err.value)


def test_a_file_with_no_tags_says_fetch_it_again(tmp_path):
    bad = tmp_path / "ukcat.csv"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").split("\n")[0] + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        ukcat.verify([bad])
    assert str(err.value) == ("source ukcat, file ukcat.csv: no tags in the file: fetch the file again "
                              "(`vcse refresh ukcat`); if a fresh copy is the same, report it to the publisher")


def test_a_byte_that_is_not_utf8_is_named_in_one_line(tmp_path):
    bad = tmp_path / "ukcat.csv"
    bad.write_bytes(FIXTURE.read_bytes().replace(b"AN101,Cats,", b"AN101,Caf\xe9s,", 1))
    with pytest.raises(SourceError) as err:
        ukcat.verify([bad])
    assert (err.value.row, err.value.column) == (3, "tag")
    assert str(err.value).endswith("fetch the file again (`vcse refresh ukcat`); if a fresh copy is the same, "
                                   "report it to the publisher"), str(err.value)
