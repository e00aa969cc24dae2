"""postcode.py: the one postcode normaliser, in Python and as DuckDB macros that agree with it."""

from __future__ import annotations

import duckdb
import pytest

from vcse_pipeline.postcode import (
    district_of,
    normalise_postcode,
    postcode_district,
    postcode_key,
    postcode_sector,
    register_macros,
    sector_of,
)

# As registers write them: (value, key, ONS pcds form)
CASES = [
    ("CH41 1AA", "CH411AA", "CH41 1AA"),
    ("ch411aa", "CH411AA", "CH41 1AA"),       # lower case, no space (Companies House)
    (" CH41  1AA ", "CH411AA", "CH41 1AA"),    # stray spaces (ONSPD pcd pads to 7 or 8)
    ("L1 8JQ", "L18JQ", "L1 8JQ"),             # shortest shape
    ("EC1A 1BB", "EC1A1BB", "EC1A 1BB"),       # letter in the outward code
    ("CH41-1AA", "CH411AA", "CH41 1AA"),       # punctuation is dropped
    ("CH41", None, None),                      # an outward code alone
    ("not known", None, None),
    ("", None, None),
    (None, None, None),
]


@pytest.mark.parametrize(("value", "key", "pcds"), CASES)
def test_key_and_pcds_form(value, key, pcds):
    assert postcode_key(value) == key
    assert normalise_postcode(value) == pcds


def test_sector_and_district():
    assert postcode_sector("ch41 1aa") == "CH41 1" and postcode_district("ch41 1aa") == "CH41"
    assert postcode_sector("EC1A 1BB") == "EC1A 1" and postcode_district("L1 8JQ") == "L1"
    assert postcode_sector("nope") is None and postcode_district(None) is None


@pytest.mark.parametrize(("value", "key", "pcds"), CASES)
def test_sector_and_district_of_a_normalised_postcode_are_the_rules_of_any_postcode(value, key, pcds):
    # matching and the linkers slice postcodes they have normalised already: the same answers as from the raw value
    assert sector_of(pcds) == postcode_sector(value) and district_of(pcds) == postcode_district(value)


def test_the_sql_macros_agree_with_python():
    con = duckdb.connect()
    register_macros(con)
    values = [value for value, _, _ in CASES]
    rows = con.execute("SELECT postcode_key(v), normalise_postcode(v) FROM unnest(?::VARCHAR[]) WITH ORDINALITY "
                       "AS t(v, n) ORDER BY n", [values]).fetchall()
    assert rows == [(key, pcds) for _, key, pcds in CASES]
