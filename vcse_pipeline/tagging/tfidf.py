"""TF-IDF features of texts from a fitted scikit-learn TfidfVectorizer's vocabulary and weights, without importing
scikit-learn.

The tagging model is trained with scikit-learn's TfidfVectorizer, but every process that only tags (a build, each
build worker, each Airflow area task) paid 1.2 s CPU to import scikit-learn (and scipy.stats with it) when it
unpickled the model, which was a twelfth of a one-area build at national size. `TextFeatures` keeps what the
fitted vectorizer's transform reads (vocabulary, idf, stop words, token pattern, n-gram range) and repeats its
steps exactly, in the same floating-point order: lower-case, tokenise, drop stop words, add the word n-grams, count
the known terms, sort each row by column, log-scale the counts (sublinear tf), weight by idf and divide each row by
its L2 norm summed left to right (scikit-learn's inplace_csr_row_normalize_l2). tests/test_tagging_tfidf.py checks
the matrices are bit-for-bit scikit-learn's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix


@dataclass
class TextFeatures:
    """A fitted TfidfVectorizer's transform (word analyzer, lower-case, no accent stripping, l2 norm, idf)."""

    vocabulary_: dict[str, int]
    idf_: np.ndarray
    stop_words: frozenset[str]
    token_pattern: str
    ngram_range: tuple[int, int]
    sublinear_tf: bool
    _token_re: re.Pattern | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_vectorizer(cls, vectorizer) -> TextFeatures:
        """The transform of a fitted scikit-learn TfidfVectorizer with the settings this class repeats."""
        unsupported = {name: getattr(vectorizer, name) for name, wanted in (
            ("analyzer", "word"), ("lowercase", True), ("strip_accents", None), ("norm", "l2"), ("use_idf", True),
            ("preprocessor", None), ("tokenizer", None), ("binary", False)) if getattr(vectorizer, name) != wanted}
        if unsupported or vectorizer.dtype is not np.float64:
            raise ValueError(f"TextFeatures cannot repeat a TfidfVectorizer with {unsupported or vectorizer.dtype}")
        return cls(dict(vectorizer.vocabulary_), np.asarray(vectorizer.idf_, dtype=np.float64),
                   frozenset(vectorizer.get_stop_words() or ()), vectorizer.token_pattern,
                   tuple(vectorizer.ngram_range), bool(vectorizer.sublinear_tf))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_token_re": None}  # compiled again on first use

    def get_feature_names_out(self) -> np.ndarray:
        names = np.empty(len(self.vocabulary_), dtype=object)
        for term, j in self.vocabulary_.items():
            names[j] = term
        return names

    def _terms(self, text: str) -> list[str]:
        if self._token_re is None:
            self._token_re = re.compile(self.token_pattern)
        tokens = [t for t in self._token_re.findall(text.lower()) if t not in self.stop_words]
        low, high = self.ngram_range
        terms = list(tokens) if low == 1 else []
        for n in range(max(low, 2), min(high, len(tokens)) + 1):
            terms += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        return terms

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        vocabulary = self.vocabulary_
        columns: list[int] = []
        counts: list[int] = []
        indptr = [0]
        for text in texts:
            counter: dict[int, int] = {}
            for term in self._terms(text):
                j = vocabulary.get(term)
                if j is not None:
                    counter[j] = counter.get(j, 0) + 1
            columns += counter.keys()
            counts += counter.values()
            indptr.append(len(columns))
        x = csr_matrix((np.asarray(counts, dtype=np.float64), np.asarray(columns, dtype=np.int32),
                        np.asarray(indptr, dtype=np.int32)), shape=(len(texts), len(vocabulary)))
        x.sort_indices()
        data = x.data
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        data *= self.idf_[x.indices]
        # each row's sum of squares added left to right (a sparse product with ones: scipy's csr_matvec), as
        # scikit-learn's normaliser does; numpy's own sums are pairwise and would differ in the last bits
        squares = csr_matrix((data * data, x.indices, x.indptr), shape=x.shape)
        norms = np.sqrt(squares @ np.ones(x.shape[1]))
        norms[norms == 0.0] = 1.0  # an empty row stays empty
        data /= np.repeat(norms, np.diff(x.indptr))
        return x
