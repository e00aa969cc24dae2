"""batch_matching: block_pairs finds exactly the entries MatchIndex.block finds, and score_pairs gives score_forms'
numbers, on every name of the demo register and on hand-made pairs for each scoring rule."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import numpy as np
import pytest

from vcse_pipeline.batch_matching import block_pairs, group_rows, score_pairs
from vcse_pipeline.matching import MatchIndex, NameForm, score_forms

# Each pair exercises one rule of score_forms / matching._token_credit.
RULE_PAIRS = [
    ("wirral mind", "wirral mind"),                                   # identical
    ("home start wirral", "homestart wirral"),                        # the same letters spaced differently
    ("wirral well being centre", "wirral wellbeing centre"),          # two words written as one (join_compounds)
    ("safe lives", "safelives"),
    ("wirral toy library", "wirral toys library"),                    # a plural
    ("birkenhead foodbank", "birkenhead fodobank"),                   # two letters swapped
    ("northampton carers", "northamptonshire carers"),                # a town and its county
    ("neighbourhood watch wallasey", "neighborhood watch wallasey"),  # a close spelling (ratio 85+)
    ("hoylake tenants association", "meols tenants association"),     # a substituted word
    ("lower bebington stroke club", "bebington stroke club"),         # an added word
    ("cat rescue", "car rescue"),                                     # short words must match exactly
    ("zzyzx quorum", "wirral mind"),                                  # words the index has never seen
]


def demo_index(register) -> MatchIndex:
    con = duckdb.connect(str(register), read_only=True)
    try:
        rows = con.execute("SELECT record_id, name FROM source_record UNION ALL "
                           "SELECT org_id, name FROM organisation_name ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    index = MatchIndex()
    for org_id, name in rows:
        index.add(org_id, name)
    for left, right in RULE_PAIRS:
        index.add(f"rule:{left}", left)
        index.add(f"rule:{right}", right)
    index.finish()
    return index


@pytest.fixture(scope="module")
def index(demo_register) -> MatchIndex:
    return demo_index(demo_register.path)


def distinct_forms(index: MatchIndex) -> list[NameForm]:
    return list({entry.form.text: entry.form for entry in index.entries}.values())


def test_block_pairs_finds_what_block_finds(index):
    forms = distinct_forms(index)
    assert len(forms) > 500
    found = defaultdict(set)
    pairs = block_pairs(index, forms)
    for form, entry in zip(pairs["form"], pairs["entry"], strict=True):
        found[form].add(entry)
    assert all(found[number] == index.block(form) for number, form in enumerate(forms))
    # the query words "safe lives" find the entry written "safelives" (an adjacent pair indexed as one word)
    safe = next(n for n, form in enumerate(forms) if form.text == "safe lives")
    assert any(index.entries[e].form.text == "safelives" for e in found[safe])


def test_score_pairs_equals_score_forms(index):
    forms = distinct_forms(index)
    number = {form.text: n for n, form in enumerate(forms)}
    blocked = block_pairs(index, forms)
    left = np.concatenate([blocked["form"].to_numpy(), [number[a] for a, _ in RULE_PAIRS]])
    right = np.concatenate([[number[index.entries[e].form.text] for e in blocked["entry"]],
                            [number[b] for _, b in RULE_PAIRS]])
    assert len(left) > 5000
    scores = score_pairs(index, forms, left, right)
    for k, (a, b) in enumerate(zip(left, right, strict=True)):
        name_score, components = score_forms(forms[a], forms[b], index.weight)
        # equal but for the order a sum adds words in (score_forms takes it from a set)
        assert abs(scores["name_score"][k] - name_score) < 1e-9, (forms[a].text, forms[b].text)
        assert round(float(scores["name_score"][k]), 1) == round(name_score, 1)
        for key in ("token_sort_ratio", "squashed_ratio", "token_set_ratio"):
            assert round(float(scores[key][k]), 1) == components[key], (key, forms[a].text, forms[b].text)
        assert round(float(scores["idf_overlap"][k]), 3) == components["idf_overlap"]
    rule = {(forms[a].text, forms[b].text): float(s) for a, b, s in zip(left, right, scores["name_score"],
                                                                         strict=True)}
    assert rule[("wirral mind", "wirral mind")] == 100.0
    assert rule[("home start wirral", "homestart wirral")] >= 99.0
    assert rule[("wirral well being centre", "wirral wellbeing centre")] > rule[("cat rescue", "car rescue")]


def test_score_pairs_of_no_pairs():
    index = MatchIndex()
    index.add("a", "Wirral Mind")
    index.finish()
    assert all(len(v) == 0 for v in score_pairs(index, [], np.zeros(0), np.zeros(0)).values())


def test_group_rows_numbers_each_row_within_its_group():
    group, position = group_rows(np.array([2, 0, 3]))
    assert group.tolist() == [0, 0, 2, 2, 2]
    assert position.tolist() == [0, 1, 0, 1, 2]


def test_block_keys_are_what_block_unions():
    index = MatchIndex()
    for org_id, name in [("a", "SafeLives"), ("b", "Safe Lives Wirral"), ("c", "Wirral Mind"),
                         ("d", "Home-Start Wirral"), ("e", "Homestart Wirral")]:
        index.add(org_id, name)
    index.finish()
    form = NameForm.of("safe lives")
    tokens, keys = index.block_keys(form)
    # its rare words, and its two words written as one, which the index has as a word
    assert set(tokens) == {"safe", "lives", "safelives"}
    assert "=safelives" in keys
    union = set().union(*(index.token_postings[t] for t in tokens), *(index.key_postings[k] for k in keys))
    assert union == index.block(form)
    assert {index.entries[i].org_id for i in union} == {"a", "b"}
