"""Tagging new texts set-wise (scores from the primal weights, all evidence explained at once) gives what the
row-by-row method it replaced gave: the same tags, evidence words and decisions, and the same scores up to the last
bits (the row-by-row method multiplied by the kernel of the texts against the training rows, and the service areas'
second stage by the whole pair matrix: the same sums in another order)."""

from __future__ import annotations

import numpy as np
import pytest
from bench_scripts import load_bench
from scipy.sparse import csr_matrix

from vcse_pipeline.tagging.model import (
    PACKAGED_LABELLED,
    TrainedTagger,
    cached_model,
    read_labelled,
    shipped_rules,
)
from vcse_pipeline.tagging.tagger import TextRecord, UkcatTagger

LAST_BITS = 1e-12  # scores lie within about -1..2: sums in another order move them by 1e-14 or so


@pytest.fixture(scope="module")
def shipped():
    rules = shipped_rules()
    return rules, cached_model(rules, None)


def labelled_records(rows: slice) -> list[TextRecord]:
    """Real charities' texts (the packaged hand-labelled file), some with their text cut to a name alone, one with
    no text at all, and one with an other name."""
    frame = read_labelled(PACKAGED_LABELLED).iloc[rows]
    out = [TextRecord(name=n, activities=a or None, objects=o or None)
           for n, a, o in zip(frame["name"], frame["activities"], frame["objects"], strict=True)]
    out += [TextRecord(name=r.name) for r in out[:40]]
    return out + [TextRecord(), TextRecord(name="Upton Community Hub", other_names="Upton Food Bank; Upton Carers")]


def test_set_wise_tags_and_area_scores_equal_the_row_by_row_method(shipped):
    rules, model = shipped
    bench = load_bench("tagging_new_texts")
    records = labelled_records(slice(0, 400))
    old_tags, old_areas = bench.RowByRowTagger(rules, model).tag_with_area_scores(records)
    new_tags, new_areas = UkcatTagger(rules, model).tag_with_area_scores(records)
    assert new_tags == old_tags
    assert [a is None for a in new_areas] == [a is None for a in old_areas]
    for new, old in zip(new_areas, old_areas, strict=True):
        if new is not None:
            assert list(new) == list(old)
            assert np.allclose(list(new.values()), list(old.values()), rtol=0, atol=LAST_BITS)
    explained = [t for found in new_tags for t in found if t.method == "model" and "; words: " in t.evidence]
    assert len(explained) > 100  # the model's words, not only expression snippets, were compared
    assert any(t.method == "regex" for found in new_tags for t in found)
    assert sum(a is None for a in new_areas) == 42  # the 40 names alone, the empty record and the hub: names only


def test_pairs_explained_in_small_batches_give_the_same_words(shipped, monkeypatch):
    from vcse_pipeline.tagging import model as model_module

    rules, model = shipped
    records = labelled_records(slice(700, 900))
    whole = UkcatTagger(rules, model).tag(records)
    monkeypatch.setattr(model_module, "EXPLAIN_BATCH", 7)  # batches end inside records' pairs
    assert UkcatTagger(rules, model).tag(records) == whole


def test_scores_from_the_primal_weights_are_the_kernel_products_up_to_the_last_bits(shipped):
    rules, model = shipped
    bench = load_bench("tagging_new_texts")
    old = bench.RowByRowTagger(rules, model)
    records = labelled_records(slice(400, 700))
    texts, hits, codes, x = old._row_scores(records)
    decision, strength = old._area_scores(x, codes, hits)
    scores = model.scores(texts, hits, areas=True)
    for new, was in ((scores.codes, codes), (scores.area_decision, decision), (scores.area_strength, strength)):
        assert np.allclose(new, was, rtol=0, atol=LAST_BITS)
        assert not np.array_equal(new, was) or len(records) < 10  # a different sum: the tolerance is needed
    assert np.array_equal(scores.codes >= model.threshold, codes >= model.threshold)
    assert np.array_equal(scores.area_decision >= model.area_threshold, decision >= model.area_threshold)
    assert (scores.x != x).nnz == 0
    assert model.scores(texts, hits).area_decision is None  # areas only when asked for
    assert UkcatTagger(rules, model).predict(records) == [
        old._decide(codes[i], bool(texts[i])) for i in range(len(records))]


def test_explain_breaks_equal_contributions_by_the_later_word_first():
    """Two words of the same weight and the same TF-IDF value push a code up equally: the row-by-row method listed
    the later word in string order first, and so does the set-wise one."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer().fit(["apple banana cherry", "damson", "apple banana cherry damson"])
    words = len(vectorizer.get_feature_names_out())  # apple, banana, cherry, damson
    train_x = csr_matrix(np.eye(words))  # one training row per word: a code's weight per word is its dual column
    dual = np.array([[1.0, 0.0], [1.0, 2.0], [-1.0, 1.0], [0.5, 0.0]])
    model = TrainedTagger(["AA", "BB"], frozenset({"AA", "BB"}), vectorizer, train_x, dual, np.zeros(2),
                          np.zeros(2), "")
    x = vectorizer.transform(["apple banana", "cherry banana damson", "nothing known"]).tocsr()
    pairs = [(0, "AA"), (1, "AA"), (1, "BB"), (2, "AA"), (0, "BB")]
    assert model.explain(x, pairs) == ["banana, apple", "banana, damson", "banana, cherry", "", "banana"]
    bench = load_bench("tagging_new_texts")
    row_by_row = bench.RowByRowTagger([], model)
    assert [row_by_row._explain(x[i], code) for i, code in pairs] == model.explain(x, pairs)
    assert model.explain(x, []) == []


def test_indicators_close_each_hit_under_the_hierarchy(shipped):
    _, model = shipped
    fired = model._indicators([{"SW201"}, set(), {"SW201", "HE100"}, {"NOT-A-CODE"}])
    on = [sorted(model.codes[j] for j in np.flatnonzero(row)) for row in fired]
    assert on[0] == ["SW", "SW200", "SW201"] and on[1] == [] and on[3] == []
    assert on[2] == sorted({"SW", "SW200", "SW201", "HE", "HE100"} & set(model.codes))
    bench = load_bench("tagging_new_texts")
    assert np.array_equal(fired, bench.RowByRowTagger([], model)._indicators(
        [{"SW201"}, set(), {"SW201", "HE100"}, {"NOT-A-CODE"}]))


def test_area_score_arrays_are_stored_as_exactly_their_per_record_scores(shipped, tmp_path):
    """A build hands the tag cache the tagger's arrays (no Python float per score); what the cache then gives back is,
    bit for bit, what the per-record dicts would have stored."""
    import duckdb

    from vcse_pipeline.tagging.cache import TagCache

    rules, model = shipped
    records = labelled_records(slice(0, 120))
    tags, arrays = UkcatTagger(rules, model).tag_with_area_arrays(records)
    per_record = arrays.per_record(len(records))
    # the 120 labelled texts have scores; the 40 names alone, the empty record and the hub have none
    assert sum(s is not None for s in per_record) == len(arrays.rows) == 120 and len(records) == 162
    keys = [f"text-{i}" for i in range(len(records))]
    stored = {}
    for form, scores in (("arrays", arrays), ("dicts", per_record)):
        cache = TagCache(tmp_path / form, "sig")
        con = duckdb.connect()
        cache.load(con, "_known", "SELECT 'nothing' AS text_key")
        cache.add(con, "_known", keys, tags, scores)
        cache.flush()
        stored[form] = con.execute("SELECT * FROM _known ORDER BY text_key, position").fetchall()
    assert stored["arrays"] == stored["dicts"]
    by_key = {row[0]: row for row in stored["arrays"] if row[1] == -1}
    for key, scores in zip(keys, per_record, strict=True):
        areas, decision, strength = by_key[key][6:]
        assert (None if areas is None else {a: [d, s] for a, d, s in zip(areas, decision, strength, strict=True)}
                ) == scores
