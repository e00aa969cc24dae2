"""The tagging model's TF-IDF features without scikit-learn (tagging/tfidf.py) are scikit-learn's, bit for bit."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from vcse_pipeline.tagging.model import PACKAGED_LABELLED, join_text, read_labelled
from vcse_pipeline.tagging.tfidf import TextFeatures


def labelled_texts() -> list[str]:
    frame = read_labelled(PACKAGED_LABELLED)
    return [join_text(n, a, o) for n, a, o in zip(frame["name"], frame["activities"], frame["objects"], strict=True)]


def assert_same_matrix(ours, theirs) -> None:
    assert ours.shape == theirs.shape
    assert np.array_equal(ours.indptr, theirs.indptr) and np.array_equal(ours.indices, theirs.indices)
    assert np.array_equal(ours.data, theirs.data)  # to the last bit, not approximately


@pytest.mark.parametrize("settings", [
    {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True, "stop_words": "english"},  # the model's (_vectorizer)
    {"ngram_range": (1, 1), "sublinear_tf": False},
    {"ngram_range": (1, 3), "stop_words": "english"},
])
def test_features_are_scikit_learns_to_the_last_bit(settings):
    texts = labelled_texts()
    fitted = TfidfVectorizer(**settings).fit(texts[::2])
    ours = TextFeatures.from_vectorizer(fitted)
    # texts it was fitted on and others: unknown words, a stop word alone, an empty text, one long repeated text,
    # capitals and accents, digits and a one-letter word (not a token)
    unseen = texts[1::2] + ["", "the", "Zzyzx qwerty", "Café CAFÉ café a 12 12 1", " ".join(texts[:30]),
                            "food " * 50 + "bank"]
    for batch in (texts[::2], unseen):
        assert_same_matrix(ours.transform(batch), fitted.transform(batch))
    assert list(ours.get_feature_names_out()) == list(fitted.get_feature_names_out())
    assert ours.transform([]).shape == (0, len(fitted.vocabulary_))


def test_settings_it_cannot_repeat_are_refused():
    fitted = TfidfVectorizer(strip_accents="unicode").fit(["a text", "another text"])
    with pytest.raises(ValueError, match="strip_accents"):
        TextFeatures.from_vectorizer(fitted)


def test_unpickling_and_using_it_imports_no_scikit_learn(tmp_path):
    """What a build pays for: a process that loads a model's features and transforms texts never imports sklearn."""
    texts = labelled_texts()
    path = tmp_path / "features.pkl"
    ours = TextFeatures.from_vectorizer(TfidfVectorizer(ngram_range=(1, 2), stop_words="english").fit(texts))
    ours.transform(texts[:5])  # the compiled pattern is not pickled
    path.write_bytes(pickle.dumps(ours))
    script = ("import pickle, sys; f = pickle.load(open(sys.argv[1], 'rb')); "
              "x = f.transform(['Food bank in Birkenhead']); "
              "print(x.nnz, any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    nnz, imported = out.stdout.split()
    assert int(nnz) > 0 and imported == "False"
