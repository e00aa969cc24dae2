"""The UKCAT tagger: the UKCAT regular expressions combined with a model trained on hand-labelled charities.

Method (docs/tagging.md):
1. Features per organisation: TF-IDF words and word pairs of name + activities + objects, plus one
   indicator per UKCAT code whose expression fires on name + activities (closed under the hierarchy),
   and a half-weight indicator for expressions firing on the full text.
2. One logistic regression per UKCAT code (one-vs-rest, liblinear, fixed), trained on the hand labels
   closed under the hierarchy, so level-1 and level-2 codes get their own classifiers.
3. Score = model probability + REGEX_WEIGHT x (expression fired on name + activities) x (how often that
   expression was right in the training labels). Codes scoring at least THRESHOLD are kept; when none
   does, the best-scoring code is kept (every labelled charity has at least one tag).
The settings were chosen by 5-fold cross-validation (bench/tagging_accuracy.py), not per code or per row.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rules import UkcatRule, close_codes, match_rules

log = logging.getLogger(__name__)

PACKAGED_LABELLED = Path(__file__).resolve().parent.parent / "reference" / "labelled" / "ukcat-manual-sample-dev.csv"
MODEL_VERSION = "1"
C = 4.0               # inverse regularisation of each logistic regression
REGEX_WEIGHT = 0.7    # how much a firing expression adds, scaled by its training precision
THRESHOLD = 0.4
FULL_TEXT_WEIGHT = 0.5
EVIDENCE_TERMS = 3


def join_text(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


@dataclass
class TrainedTagger:
    """A fitted model: vectoriser, one weight row per code, and each code's expression precision."""

    codes: list[str]
    known: frozenset[str]
    vectorizer: object
    weights: np.ndarray       # (codes, text features + 2 x codes)
    intercepts: np.ndarray    # (codes,)
    regex_precision: np.ndarray
    rules_signature: str

    def _indicators(self, hits: Sequence[set[str]]) -> np.ndarray:
        index = {c: j for j, c in enumerate(self.codes)}
        out = np.zeros((len(hits), len(self.codes)))
        for i, codes in enumerate(hits):
            for code in close_codes(codes, self.known):
                if code in index:
                    out[i, index[code]] = 1.0
        return out

    def features(self, texts: Sequence[str], short_hits: Sequence[set[str]], full_hits: Sequence[set[str]]):
        from scipy.sparse import csr_matrix, hstack

        short, full = self._indicators(short_hits), self._indicators(full_hits)
        x = hstack([self.vectorizer.transform(texts), csr_matrix(short), csr_matrix(full * FULL_TEXT_WEIGHT)])
        return x.tocsr(), short

    def scores(self, texts: Sequence[str], short_hits: Sequence[set[str]], full_hits: Sequence[set[str]]):
        """(combined score matrix rows x codes, feature matrix) for texts and their expression hits."""
        x, short = self.features(texts, short_hits, full_hits)
        logits = np.asarray(x @ self.weights.T) + self.intercepts
        prob = 1.0 / (1.0 + np.exp(-logits))
        return prob + REGEX_WEIGHT * short * self.regex_precision, x

    def explain(self, x_row, code: str, n: int = EVIDENCE_TERMS) -> str:
        """The words in the text that pushed this code's score up most (the model's evidence)."""
        j = self.codes.index(code)
        names = self.__dict__.get("_feature_names")
        if names is None:
            names = self.__dict__["_feature_names"] = self.vectorizer.get_feature_names_out()
        n_text = len(names)
        row = x_row.tocoo()
        contrib = [(float(v * self.weights[j, c]), names[c]) for c, v in zip(row.col, row.data, strict=True)
                   if c < n_text and self.weights[j, c] > 0]
        contrib.sort(reverse=True)
        return ", ".join(term for _, term in contrib[:n])


def rules_signature(rules: Sequence[UkcatRule]) -> str:
    text = "\n".join(f"{r.code}\t{r.regex.pattern if r.regex else ''}\t{r.exclude.pattern if r.exclude else ''}"
                     for r in rules)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_labelled(path: Path):
    """A labelled file (name, activities, objects, UKCAT ;-separated) as a DataFrame; clear error if not."""
    import pandas as pd

    from ..errors import PipelineError

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read labelled file {path}: {exc}") from exc
    missing = [c for c in ("name", "UKCAT") if c not in frame.columns]
    if missing:
        raise PipelineError(f"labelled file {path}: missing column(s) {', '.join(missing)}")
    for col in ("activities", "objects"):
        if col not in frame.columns:
            frame[col] = ""
    return frame


def label_sets(frame, known: frozenset[str]) -> list[set[str]]:
    return [close_codes([c.strip() for c in str(v).split(";") if c.strip()], known) for v in frame["UKCAT"]]


def texts_and_hits(rules: Sequence[UkcatRule], names, activities, objects):
    """Model text (name + activities + objects) and expression hits on name + activities and on all text."""
    texts, short, full = [], [], []
    for name, act, obj in zip(names, activities, objects, strict=True):
        short_text = join_text(name, act)
        full_text = join_text(name, act, obj)
        texts.append(full_text)
        short.append(set(match_rules(rules, short_text)))
        full.append(set(match_rules(rules, full_text)))
    return texts, short, full


def train(frame, rules: Sequence[UkcatRule]) -> TrainedTagger:
    """Fit the tagger on a labelled DataFrame. Deterministic: liblinear with no random state involved."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    known = frozenset(r.code for r in rules)
    codes = sorted(known)
    y_sets = label_sets(frame, known)
    texts, short, full = texts_and_hits(rules, frame["name"], frame["activities"], frame["objects"])
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, stop_words="english")
    vectorizer.fit(texts)
    model = TrainedTagger(codes, known, vectorizer, np.zeros((0, 0)), np.zeros(0), np.zeros(len(codes)),
                          rules_signature(rules))
    x, short_ind = model.features(texts, short, full)
    y = np.array([[code in labels for code in codes] for labels in y_sets], dtype=int)
    weights = np.zeros((len(codes), x.shape[1]))
    intercepts = np.full(len(codes), -20.0)  # codes never labelled stay off
    for j in range(len(codes)):
        positives = y[:, j].sum()
        if positives == 0:
            continue
        if positives == len(y):
            intercepts[j] = 20.0
            continue
        clf = LogisticRegression(C=C, solver="liblinear")
        clf.fit(x, y[:, j])
        weights[j], intercepts[j] = clf.coef_[0], clf.intercept_[0]
    fired = short_ind.sum(axis=0)
    right = (short_ind * y).sum(axis=0)
    model.weights, model.intercepts = weights, intercepts
    model.regex_precision = (right + 1.0) / (fired + 2.0)  # smoothed: an unseen expression counts as 50%
    return model


def predict_codes(model: TrainedTagger, scores_row: np.ndarray, has_text: bool = True) -> set[str]:
    chosen = {model.codes[j] for j in np.flatnonzero(scores_row >= THRESHOLD)}
    if not chosen and has_text and scores_row.max() > 0:
        chosen = {model.codes[int(scores_row.argmax())]}
    return chosen


def cached_model(rules: Sequence[UkcatRule], cache_dir: Path | None,
                 labelled: Path = PACKAGED_LABELLED) -> TrainedTagger:
    """Train from the packaged labelled file, or reuse a cached fit for the same labels, rules and version."""
    key = hashlib.sha256(labelled.read_bytes()).hexdigest()[:16]
    name = f"ukcat-tagger-v{MODEL_VERSION}-{key}-{rules_signature(rules)}.pkl"
    path = cache_dir / name if cache_dir else None
    if path and path.exists():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except Exception as exc:  # a stale or truncated cache is retrained, never trusted
            log.warning("ignoring unreadable tagger cache %s: %s", path, exc)
    model = train(read_labelled(labelled), rules)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(model, fh)
        tmp.replace(path)
    return model
