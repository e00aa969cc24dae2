"""register.fuzzy_links on the demo's Wirral records: the set-wise linker gives exactly the links and review rows of
the pair-by-pair method it replaced (bench/fuzzy_links.py's baseline), and each row of the decision table holds."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from bench_scripts import load_bench

from vcse_pipeline.register.fuzzy_links import (
    LINK,
    NOTHING,
    REVIEW,
    decide,
    fuzzy_links,
    location_adjustments,
    location_evidence,
    record_info,
)

WIRRAL = "E08000015"


def demo_records(register: Path) -> pd.DataFrame:
    """The demo register's Wirral VCSE main records as the build hands them to fuzzy_links, each with its
    organisation's working and previous names from its own register as other names."""
    con = duckdb.connect(str(register), read_only=True)
    try:
        frame = con.execute("""
            SELECT r.record_id, r.source, r.name, r.postcode, r.town,
                   coalesce(list(n.name ORDER BY n.name) FILTER (WHERE n.name IS NOT NULL), []) AS other_names
            FROM source_record r
            JOIN organisation_identifier i ON i.area_code = r.area_code AND i.record_id = r.record_id
            LEFT JOIN organisation_name n ON n.area_code = r.area_code AND n.org_id = i.org_id
                 AND n.source = r.source AND n.name_type <> 'registered' AND n.name <> r.name
            WHERE r.area_code = ? AND r.is_vcse AND r.parent_identifier IS NULL
            GROUP BY ALL ORDER BY r.record_id""", [WIRRAL]).df()
    finally:
        con.close()
    frame["other_names"] = frame["other_names"].map(list)
    return frame


@pytest.fixture(scope="module")
def records(demo_register) -> pd.DataFrame:
    return demo_records(demo_register.path)


@pytest.mark.parametrize(("link_threshold", "review_threshold"), [(90, 75), (70, 40)])
def test_set_wise_links_equal_the_pair_by_pair_ones_on_the_demo(records, link_threshold, review_threshold):
    assert records["source"].nunique() >= 3 and records["other_names"].map(len).sum() > 10
    kwargs = {"link_threshold": link_threshold, "review_threshold": review_threshold}
    links, review = fuzzy_links(records, **kwargs)
    old_links, old_review = load_bench("fuzzy_links").scalar_fuzzy_links(records, **kwargs)
    # low thresholds make many pairs near each boundary: rounding and tie rules must agree there too
    assert len(links) >= 5 and len(review) >= 5
    pd.testing.assert_frame_equal(links, old_links)
    pd.testing.assert_frame_equal(review, old_review)
    variants = {json.loads(e)["left_variant"] for e in pd.concat([links, review])["evidence"]}
    assert variants == {"name", "other name"}


def test_pairs_already_linked_are_left_out_as_before(records):
    links, review = fuzzy_links(records, link_threshold=90, review_threshold=75)
    linked = {frozenset(p) for p in zip(links["left_record"][::2], links["right_record"][::2], strict=True)}
    kept, kept_review = fuzzy_links(records, link_threshold=90, review_threshold=75, already_linked=linked)
    old, old_review = load_bench("fuzzy_links").scalar_fuzzy_links(records, link_threshold=90, review_threshold=75,
                                                      already_linked=linked)
    pd.testing.assert_frame_equal(kept, old)
    pd.testing.assert_frame_equal(kept_review, old_review)
    assert len(kept) == len(links) - len(linked)
    assert not {frozenset(p) for p in zip(kept["left_record"], kept["right_record"], strict=True)} & linked


# One case a row of the decision table in fuzzy_links' docstring: names (normalised), postcode agreement, whether the
# locations disagree, the most the pair may become, how the names differ.
DECISION_TABLE = [
    ("wirral mind", "wirral mind", "unknown", False, LINK, "identical"),
    ("wirral mind", "wirral mind", "same district", False, LINK, "identical"),
    ("hoylake community centre", "hoylake community centre", "different district", True, REVIEW, "identical"),
    ("wirral foodbank", "wirral fodobank", "same postcode", False, LINK, "slips"),
    ("wirral toy library", "wirral toys library", "same sector", False, REVIEW, "slips"),
    ("wirral toy library", "wirral toys library", "unknown", False, REVIEW, "slips"),
    ("lower bebington stroke club", "bebington stroke club", "same postcode", False, LINK, "added word"),
    ("lower bebington church hall trust", "bebington church hall trust", "same sector", False, REVIEW, "added word"),
    ("lower bebington church hall trust", "bebington church hall trust", "unknown", False, REVIEW, "added word"),
    ("lower bebington church hall trust", "bebington church hall trust", "different district", True, NOTHING,
     "added word"),
    ("hoylake tenants association", "meols tenants association", "same postcode", False, REVIEW, "substituted word"),
    ("hoylake tenants association", "meols tenants association", "same sector", False, REVIEW, "substituted word"),
    ("hoylake tenants association", "meols tenants association", "same district", False, NOTHING,
     "substituted word"),
    ("hoylake tenants association", "meols tenants association", "unknown", False, NOTHING, "substituted word"),
]


@pytest.mark.parametrize(("left", "right", "postcode", "disagree", "ceiling", "differ"), DECISION_TABLE)
def test_decision_table_rows(left, right, postcode, disagree, ceiling, differ):
    assert decide(left, right, postcode, disagree) == (ceiling, differ)


def test_each_name_is_normalised_once(monkeypatch, records):
    from vcse_pipeline import batch_matching

    calls = []
    real = batch_matching.name_variants
    monkeypatch.setattr(batch_matching, "name_variants", lambda name: calls.append(name) or real(name))
    sample = records.head(200)
    links, review = fuzzy_links(sample, link_threshold=90, review_threshold=75)
    names = {*sample["name"], *(n for others in sample["other_names"] for n in others)}
    assert sorted(calls) == sorted(names)   # indexing and querying share one normalisation of each name


def test_location_adjustments_are_location_evidences(records):
    info = record_info(records)
    me = list(info.values())
    # every pair of 300 records: postcodes the same, of one sector or district, or not; towns alike; either missing
    record, other = (x.ravel() for x in np.meshgrid(np.arange(300), np.arange(300), indexing="ij"))
    adjustments = location_adjustments(info, record, other)
    expected = [location_evidence(me[r]["postcode"], me[o]["postcode"], me[r]["town"], me[o]["town"])[0]
                for r, o in zip(record.tolist(), other.tolist(), strict=True)]
    assert adjustments.tolist() == expected
    assert len(set(expected)) >= 5


def test_a_record_id_given_twice_is_an_error(records):
    twice = pd.concat([records.head(3), records.head(1)], ignore_index=True)
    with pytest.raises(ValueError, match=records["record_id"].iloc[0]):
        fuzzy_links(twice, link_threshold=90, review_threshold=75)
