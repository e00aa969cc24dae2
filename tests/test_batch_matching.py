"""batch_matching: NameIndex indexes names set-wise exactly as MatchIndex.add does one organisation at a time (the
same entries, word frequencies and weights) and its block() finds exactly the entries MatchIndex.block finds;
score_pairs gives score_forms' numbers, and NameIndex.score_pairs score_pairs' (with a floor, for every pair that
reaches it); on every name of the demo register and on hand-made pairs for each scoring rule."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import numpy as np
import pytest

from vcse_pipeline.batch_matching import NameIndex, score_pairs
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


def demo_names(register) -> dict[str, list[str]]:
    """Every record and organisation of the demo register with all its names (its first name first), and each
    rule pair's names as organisations of their own."""
    con = duckdb.connect(str(register), read_only=True)
    try:
        rows = con.execute("SELECT record_id, name FROM source_record UNION ALL "
                           "SELECT org_id, name FROM organisation_name ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    names = defaultdict(list)
    for org_id, name in rows:
        names[org_id].append(name)
    for left, right in RULE_PAIRS:
        names[f"rule:{left}"].append(left)
        names[f"rule:{right}"].append(right)
    return dict(names)


@pytest.fixture(scope="module")
def names(demo_register) -> dict[str, list[str]]:
    return demo_names(demo_register.path)


@pytest.fixture(scope="module")
def index(names) -> MatchIndex:
    """The names indexed one organisation at a time (MatchIndex.add), as `vcse match` does."""
    index = MatchIndex()
    for org_id, org_names in names.items():
        index.add(org_id, org_names[0], None, org_names[1:])
    index.finish()
    return index


@pytest.fixture(scope="module")
def name_index(names) -> NameIndex:
    return NameIndex(list(names.values()))


def test_name_index_indexes_what_add_indexes(names, index, name_index):
    orgs = list(names)
    assert sum(map(len, names.values())) > len(names) > 500
    entries = [(orgs[o], names[orgs[o]][n], name_index.forms[f].text, "name" if n == 0 else "other name")
               for o, n, f in zip(name_index.entry_org, name_index.entry_name, name_index.entry_form, strict=True)]
    assert entries == [(e.org_id, e.name, e.form.text, e.variant) for e in index.entries]
    assert {w: int(df) for w, df in zip(name_index.words.ids, name_index.token_df, strict=True)} == \
        {w: int(df) for w, df in zip(index.table.text, index.table.df, strict=True)}
    # the very same weights (math.log, as MatchIndex): scores must not differ in the last bit
    assert all(name_index.weight(w) == index.weight(w) for w in index.table.text)
    assert name_index.weight("zzzunseen") == index.weight("zzzunseen")
    assert name_index.max_block_df == index.max_block_df
    # queries: every variant of every name, in the order a loop over organisations and names meets them
    queries = [(orgs[o], names[orgs[o]][n], name_index.forms[f].text) for o, n, f in zip(
        name_index.query_org, name_index.query_name, name_index.query_form, strict=True)]
    assert queries == [(org_id, name, form) for org_id, org_names in names.items() for name in org_names
                       for form in index.variants(name)]


def test_name_index_blocks_what_block_finds(index, name_index):
    forms = name_index.forms
    assert len(forms) > 500
    found = defaultdict(set)
    form, entry = name_index.block()
    assert (np.diff(form * len(name_index.entry_form) + entry) > 0).all()   # ordered by form and entry, once each
    for f, e in zip(form, entry, strict=True):
        found[f].add(e)
    # entries are numbered alike in both (test_name_index_indexes_what_add_indexes)
    assert all(found[number] == index.block(form) for number, form in enumerate(forms))
    # the query words "safe lives" find the entry written "safelives" (an adjacent pair indexed as one word)
    safe = next(n for n, form in enumerate(forms) if form.text == "safe lives")
    assert any(index.entries[e].form.text == "safelives" for e in found[safe])


def blocked_pairs(index: MatchIndex, name_index: NameIndex) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) form numbers of every pair blocking finds and every rule pair."""
    number = {form.text: n for n, form in enumerate(name_index.forms)}
    form, entry = name_index.block()
    left = np.concatenate([form, [number[a] for a, _ in RULE_PAIRS]])
    right = np.concatenate([name_index.entry_form[entry], [number[b] for _, b in RULE_PAIRS]])
    return left, right


def test_score_pairs_equals_score_forms(index, name_index):
    forms = name_index.forms
    left, right = blocked_pairs(index, name_index)
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


@pytest.mark.parametrize("floor", [40.0, 66.9, 90.0])
def test_name_index_scores_what_score_pairs_scores(index, name_index, floor):
    left, right = blocked_pairs(index, name_index)
    full = score_pairs(index, name_index.forms, left, right)
    # its own words and weights give the very same numbers
    assert all(np.array_equal(values, full[key]) for key, values in name_index.score_pairs(left, right).items())
    floored = name_index.score_pairs(left, right, floor)
    reach = full["name_score"] >= floor
    assert 0 < reach.sum() < len(left)
    assert np.array_equal(floored["idf_overlap"], full["idf_overlap"])
    for key in ("name_score", "token_sort_ratio", "squashed_ratio", "token_set_ratio"):
        assert np.array_equal(floored[key][reach], full[key][reach]), key
    # what it leaves unscored is below the floor: no ratio, no score that reaches it
    assert not (floored["name_score"][~reach] >= floor).any()
    assert np.isnan(floored["token_set_ratio"][~reach]).all()
    if floor > 50:   # a character part of at most 100 cannot lift a small overlap this far
        assert np.isnan(floored["token_sort_ratio"]).sum() > len(left) / 10


def test_score_pairs_of_no_pairs():
    index = MatchIndex()
    index.add("a", "Wirral Mind")
    index.finish()
    assert all(len(v) == 0 for v in score_pairs(index, [], np.zeros(0), np.zeros(0)).values())


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
    union = set().union(*(index.table.word_entries(t).tolist() for t in tokens),
                        *(index.table.key_entries(k).tolist() for k in keys))
    assert union == index.block(form)
    assert {index.entries[i].org_id for i in union} == {"a", "b"}


def test_each_query_takes_its_forms_blocked_entries(name_index):
    form, entry = name_index.block()
    blocked = defaultdict(list)
    for f, e in zip(form.tolist(), entry.tolist(), strict=True):
        blocked[f].append(e)
    query, found = name_index.query_entries()
    expected = [(q, e) for q, f in enumerate(name_index.query_form.tolist()) for e in blocked[f]]
    assert list(zip(query.tolist(), found.tolist(), strict=True)) == expected
    assert len(expected) > len(form)   # forms several names share are queried more than once
