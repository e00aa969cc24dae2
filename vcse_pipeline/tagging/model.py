"""The UKCAT tagger: the UKCAT regular expressions combined with a model trained on hand-labelled charities.

Method (docs/tagging.md):
1. Features per organisation: TF-IDF words and word pairs of name + activities + objects, plus one
   indicator per UKCAT code whose expression fires on name + activities (closed under the hierarchy), and a
   lower-weight indicator for codes whose expression fires on the objects.
2. Ridge regression of every code's 0/1 label (closed under the hierarchy, so level-1 and level-2 codes are
   learnt directly) on those features, solved once for all codes in its dual form (a 1,360 x 1,360 system),
   which takes a fraction of a second.
3. Score = ridge output + prior weight x (expression fired on name + activities) x (how often that
   expression was right in the training labels). Codes scoring at least the threshold are kept; when none
   does, the best-scoring code is kept (every labelled charity has at least one tag).
4. Service areas are scored the same way (ridge on the same features, their labels the areas the hand-labelled codes
   imply), then decided by a second stage (`area_stack`) that weighs each area's score with its codes' scores and
   expression hits and its place in the row, fitted on the inner cross-validation's out-of-fold scores.
The ridge penalty, prior weight and threshold are chosen inside `train` by 3-fold cross-validation on the
training rows alone (fixed seed), so a held-out score never guides them.

Same inputs, same numbers: folds are seeded, rows keep the file's order, and the linear algebra runs on one BLAS
thread (`single_blas_thread`), because a multi-threaded BLAS sums in an order that depends on the thread count
and the machine, which moves the last bits of every score (and so, at a tie, a choice or a rounded score).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fingerprint import file_sha256
from . import area_stack
from .rules import RuleMatcher, UkcatRule, close_codes, rule_matcher
from .taxonomy import ServiceArea, default_service_areas
from .tfidf import TextFeatures

log = logging.getLogger(__name__)

PACKAGED_LABELLED = Path(__file__).resolve().parent.parent / "reference" / "labelled" / "ukcat-manual-sample-dev.csv"
# The model trained on the packaged labels and rules, shipped so a fresh deployment need not train it.
PACKAGED_MODELS = Path(__file__).resolve().parent.parent / "reference" / "models"
# 6: a second stage decides service areas; 5: also scores service areas; 4: trained on one BLAS thread (repeatable)
MODEL_VERSION = "6"
REGEX_FEATURE_WEIGHT = 0.5    # value of an expression indicator beside the (unit-length) TF-IDF vector
OBJECTS_FEATURE_WEIGHT = 0.25  # objects are boilerplate-heavy: their expression hits count for less
EVIDENCE_TERMS = 3
EXPLAIN_BATCH = 1024  # (text, code) pairs explained together: a text has up to some hundred TF-IDF entries
# Settings searched by inner cross-validation on the training rows (never on held-out rows).
ALPHAS = (0.5, 1.0, 2.0)
PRIOR_WEIGHTS = (0.0, 0.3, 0.6)
THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(7))  # 0.20 .. 0.50
AREA_THRESHOLDS = tuple(round(0.2 + 0.025 * i, 3) for i in range(17))  # 0.20 .. 0.60
INNER_FOLDS = 3
SEED = 0


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the enclosed numpy/scipy linear algebra on one BLAS thread, so its results are bit-for-bit repeatable."""
    import scipy.linalg  # noqa: F401  (scipy loads its own BLAS on import: it must be loaded to be limited)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def join_text(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


@dataclass
class Hits:
    """Expression hits per record: on name + activities (what UKCAT's own method reads) and on the objects."""

    short: list[set[str]]
    objects: list[set[str]]


@dataclass
class Scores:
    """What the model makes of a batch of texts (`TrainedTagger.scores`)."""

    x: object                # the feature matrix (rows, features), CSR: what `explain` reads
    codes: np.ndarray        # (rows, codes) combined score: decided against `threshold`
    # Service areas, (rows, areas) each, when asked for: the second stage's probability (an area is placed when it
    # reaches `area_threshold`), and the first stage's score of the text, which says how much of the text is about
    # the area and is the placement's strength (shortlists weigh a provider's areas by it).
    area_decision: np.ndarray | None = None
    area_strength: np.ndarray | None = None


@dataclass
class TrainedTagger:
    """A fitted model: vectoriser, the training feature rows and dual ridge coefficients, and settings."""

    codes: list[str]
    known: frozenset[str]
    vectorizer: object           # TextFeatures (tfidf.py); a model trained before it holds a TfidfVectorizer
    train_x: object              # sparse (training rows, features)
    dual: np.ndarray             # (training rows, codes): scores = x @ (train_x.T @ dual) + offsets
    offsets: np.ndarray          # (codes,) mean label, the score of a text with no features
    regex_precision: np.ndarray  # (codes,) smoothed share of training hits of each expression that were right
    rules_signature: str
    prior_weight: float = 0.3
    threshold: float = 0.35
    alpha: float = 1.0
    inner_cv: dict = field(default_factory=dict)  # the inner cross-validation's best F1 per setting
    # Service areas learnt directly (their labels are the areas the hand-labelled codes imply through the
    # taxonomy), so an area is decided on all the text rather than on whichever codes passed their threshold.
    areas: list[str] = field(default_factory=list)
    area_dual: np.ndarray = field(default_factory=lambda: np.zeros(0))
    area_offsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    area_threshold: float = 0.35
    # The second stage (area_stack): the areas' scores become probabilities weighed with the codes' evidence, and
    # area_threshold is the threshold on those. None when the training file is too small for an inner CV.
    area_stage: area_stack.AreaStacker | None = None

    def _indicators(self, hits: Sequence[set[str]]) -> np.ndarray:
        """(rows, codes) 1.0 where a code, or a code below it, fired on the row (hits closed under the hierarchy)."""
        closed = self.__dict__.setdefault("_closed_columns", {})  # code -> its and its ancestors' columns
        rows, columns = [], []
        for i, codes in enumerate(hits):
            for code in codes:
                found = closed.get(code)
                if found is None:
                    index = {c: j for j, c in enumerate(self.codes)}
                    found = closed[code] = [index[c] for c in close_codes([code], self.known) if c in index]
                rows.extend([i] * len(found))
                columns.extend(found)
        out = np.zeros((len(hits), len(self.codes)))
        out[rows, columns] = 1.0
        return out

    def features(self, texts: Sequence[str], hits: Hits):
        return build_features(self.vectorizer, texts, self._indicators(hits.short), self._indicators(hits.objects))

    def scores(self, texts: Sequence[str], hits: Hits, areas: bool = False) -> Scores:
        """The codes' combined scores of texts and their expression hits, the feature matrix, and with `areas` the
        service areas' (`Scores`)."""
        x, short = self.features(texts, hits)
        areas = areas and bool(self.areas)
        codes_weights, area_weights = self._primal_weights()
        with single_blas_thread():
            raw = np.asarray(x @ codes_weights) + self.offsets
            area_raw = np.asarray(x @ area_weights) + self.area_offsets if areas else None
        codes = raw + self.prior_weight * short * self.regex_precision
        if area_raw is None:
            return Scores(x, codes)
        if self.area_stage is None:
            return Scores(x, codes, area_raw, area_raw)
        return Scores(x, codes, self.area_stage.probabilities(area_raw, codes, short), area_raw)

    def _primal_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The dual solution as one weight per feature, for the codes and for the areas: (train_x.T @ dual,
        train_x.T @ area_dual), worked out once per loaded model. A text's score is then x @ weights, the same
        number as x @ train_x.T @ dual (up to the last bits: the sums run in another order) without the kernel of
        the texts against every training row: that kernel is about 60% dense, so scoring cost texts x training
        rows x (codes + areas) (0.9 s for 7,600 texts) where this costs the texts' words x (codes + areas)."""
        primal = self.__dict__.get("_primal_both")
        if primal is None:
            with single_blas_thread():
                transposed = self.train_x.T.tocsr()
                primal = (np.ascontiguousarray(transposed @ self.dual),
                          np.ascontiguousarray(transposed @ self.area_dual) if self.areas
                          else np.zeros((transposed.shape[0], 0)))
            self.__dict__["_primal_both"] = primal
        return primal

    def _feature_names(self) -> np.ndarray:
        names = self.__dict__.get("_feature_names_out")
        if names is None:
            names = self.__dict__["_feature_names_out"] = self.vectorizer.get_feature_names_out()
        return names

    def _name_order(self) -> np.ndarray:
        """Each TF-IDF feature's place among the feature names in string order (ties of contribution break by it)."""
        order = self.__dict__.get("_name_rank")
        if order is None:
            names = self._feature_names()
            order = self.__dict__["_name_rank"] = np.empty(len(names), dtype=np.int64)
            order[np.argsort(names, kind="stable")] = np.arange(len(names))
        return order

    def _weights(self, j: int) -> np.ndarray:
        """Code j's weight per TF-IDF feature, train_x.T @ dual[:, j], worked out once per code."""
        cache = self.__dict__.setdefault("_primal", {})
        if j not in cache:
            cache[j] = np.asarray(self.train_x.T @ self.dual[:, j]).ravel()[:len(self._feature_names())]
        return cache[j]

    def explain(self, x, pairs: Sequence[tuple[int, str]], n: int = EVIDENCE_TERMS) -> list[str]:
        """For each (row of the feature matrix x, code): the words in that row's text that pushed the code's score
        up most (the model's evidence), the biggest contribution first and, at equal contributions, the word later
        in string order first; ", "-joined.

        Pairs are explained EXPLAIN_BATCH at a time on x's CSR arrays: slicing a row out of a sparse matrix costs
        more than explaining it, and a batch holds every stored entry of its pairs' rows at once.
        """
        index = {c: j for j, c in enumerate(self.codes)}
        wanted, column = np.unique([index[code] for _, code in pairs], return_inverse=True)
        weights = np.column_stack([self._weights(int(j)) for j in wanted]) if pairs else None
        rows, column = np.array([i for i, _ in pairs], dtype=np.int64), column.ravel()
        out: list[str] = []
        for at in range(0, len(pairs), EXPLAIN_BATCH):
            out += self._explain_batch(x, rows[at:at + EXPLAIN_BATCH], column[at:at + EXPLAIN_BATCH], weights, n)
        return out

    def _explain_batch(self, x, rows: np.ndarray, column: np.ndarray, weights: np.ndarray, n: int) -> list[str]:
        """`explain` for the pairs (x's row rows[p], the code whose weights are weights[:, column[p]])."""
        names = self._feature_names()
        # every stored entry of every pair's row, pair by pair: pair p's entries are x.indptr[row]:x.indptr[row + 1]
        starts, lengths = x.indptr[rows], x.indptr[rows + 1] - x.indptr[rows]
        pair = np.repeat(np.arange(len(rows)), lengths)
        entry = np.arange(int(lengths.sum())) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        features, values = x.indices[entry], x.data[entry]
        words = features < len(names)  # not the expression indicators after the TF-IDF columns
        pair, features, values = pair[words], features[words], values[words]
        weight = weights[features, column[pair]]
        pushes = weight > 0
        pair, features, contribution = pair[pushes], features[pushes], values[pushes] * weight[pushes]
        order = np.lexsort((-self._name_order()[features], -contribution, pair))
        pair, features = pair[order], features[order]
        first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, dtype=np.int64)
        place = np.arange(len(pair)) - np.repeat(first, np.diff(np.r_[first, len(pair)]))
        top = place < n
        found: list[list[str]] = [[] for _ in rows]
        for p, f in zip(pair[top].tolist(), features[top].tolist(), strict=True):
            found[p].append(names[f])
        return [", ".join(terms) for terms in found]


def build_features(vectorizer, texts: Sequence[str], short: np.ndarray, objects: np.ndarray):
    """[TF-IDF | name+activities expression indicators | objects-only expression indicators], and `short`."""
    from scipy.sparse import csr_matrix, hstack

    extra = np.clip(objects - short, 0, None)  # codes the objects add beyond name + activities
    x = hstack([vectorizer.transform(texts), csr_matrix(short * REGEX_FEATURE_WEIGHT),
                csr_matrix(extra * OBJECTS_FEATURE_WEIGHT)])
    return x.tocsr(), short


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


def texts_and_hits(rules: Sequence[UkcatRule] | RuleMatcher, names, activities, objects) -> tuple[list[str], Hits]:
    """Model text (name + activities + objects) and expression hits on name + activities and on the objects.

    Each field is read once by the expressions (the objects apart from name + activities, with their own
    exclusions), so the cost is one pass over the text, not two; a text met again in the batch (many charities
    share their objects' wording) is not read again.
    """
    matcher = rule_matcher(rules)
    known: dict[str, frozenset[str]] = {}

    def hits(text: str) -> set[str]:
        codes = known.get(text)
        if codes is None:
            codes = known[text] = frozenset(matcher.codes(text))
        return set(codes)

    texts, short, objs = [], [], []
    for name, act, obj in zip(names, activities, objects, strict=True):
        texts.append(join_text(name, act, obj))
        short.append(hits(join_text(name, act)))
        objs.append(hits(join_text(obj)))
    return texts, Hits(short, objs)


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, stop_words="english")


def grouped_folds(keys: Sequence[str], folds: int, seed: int) -> list[np.ndarray]:
    """Row indices of `folds` folds in which rows with the same key (the same text) share a fold.

    The labelled file holds some charities twice, labelled by different people; if one copy trained the
    model and the other scored it, the score would reward memorising the text rather than generalising.
    """
    distinct = list(dict.fromkeys(keys))
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold_of = {distinct[j]: position % folds for position, j in enumerate(order)}
    assigned = np.array([fold_of[key] for key in keys])
    return [np.flatnonzero(assigned == k) for k in range(folds)]


def _precision(short: np.ndarray, y: np.ndarray) -> np.ndarray:
    return ((short * y).sum(axis=0) + 1.0) / (short.sum(axis=0) + 2.0)  # smoothed: unseen counts as 50%


def _solve(kernel: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Dual ridge for every code at once: (K + alpha I) A = Y - mean(Y)."""
    from scipy.linalg import cho_factor, cho_solve

    offsets = y.mean(axis=0)
    dual = cho_solve(cho_factor(kernel + alpha * np.eye(len(kernel))), y - offsets)  # K + alpha I is positive definite
    return dual, offsets


def _choose(codes: list[str], texts: list[str], hits: Hits, y: np.ndarray,
            known: frozenset[str], y_area: np.ndarray) -> tuple[float, float, float, float, dict, tuple]:
    """(alpha, prior weight, threshold, area threshold) with the best micro-F1 in an inner cross-validation, its
    report, and the out-of-fold (area scores, code scores, expression indicators) at the chosen setting, on which
    the areas' second stage is fitted."""
    n = len(texts)
    pooled = {alpha: np.zeros(y.shape) for alpha in ALPHAS}
    pooled_area = {alpha: np.zeros(y_area.shape) for alpha in ALPHAS}
    shorts = np.zeros(y.shape)
    precisions = np.zeros(y.shape)
    for held in grouped_folds(texts, INNER_FOLDS, SEED):
        keep = np.setdiff1d(np.arange(n), held)
        vec = _vectorizer().fit([texts[i] for i in keep])
        inner = TrainedTagger(codes, known, vec, None, np.zeros(0), np.zeros(0), np.zeros(0), "")
        x, short = inner.features(texts, hits)
        xk, xh = x[keep], x[held]
        kernel, cross = (xk @ xk.T).toarray(), (xh @ xk.T).toarray()
        for alpha in ALPHAS:
            dual, offsets = _solve(kernel, np.hstack([y[keep], y_area[keep]]), alpha)
            both = cross @ dual + offsets
            pooled[alpha][held], pooled_area[alpha][held] = both[:, :y.shape[1]], both[:, y.shape[1]:]
        shorts[held] = short[held]
        precisions[held] = _precision(short[keep], y[keep])
    closure = _closure_matrix(codes, known)
    results = {}
    for alpha, prior, threshold in itertools.product(ALPHAS, PRIOR_WEIGHTS, THRESHOLDS):
        scores = pooled[alpha] + prior * shorts * precisions
        results[(alpha, prior, threshold)] = _micro_f1(scores, threshold, y, closure)
    best = max(results, key=lambda k: (round(results[k], 6), -k[0], -k[1], k[2]))
    report = {f"alpha={a} prior={p} threshold={t}": round(f, 4) for (a, p, t), f in results.items()}
    area_results = {t: _area_f1(pooled_area[best[0]], t, y_area) for t in AREA_THRESHOLDS}
    area_threshold = max(area_results, key=lambda t: (round(area_results[t], 6), t))
    report.update({f"area threshold={t}": round(f, 4) for t, f in area_results.items()})
    out_of_fold = (pooled_area[best[0]], pooled[best[0]] + best[1] * shorts * precisions, shorts)
    return (*best, area_threshold, report, out_of_fold)


def _area_matrix(codes: list[str], known: frozenset[str], areas: Sequence[ServiceArea]) -> np.ndarray:
    """(codes, areas) 0/1: code j implies area k (the code, closed under the hierarchy, is one of the area's)."""
    return np.array([[bool(a.ukcat & close_codes([code], known)) for a in areas] for code in codes],
                    dtype=float).reshape(len(codes), len(areas))


def _area_f1(scores: np.ndarray, threshold: float, y_area: np.ndarray) -> float:
    """Micro-F1 over (row, service area) pairs of the areas scoring at least the threshold."""
    chosen = scores >= threshold
    tp = float((chosen & (y_area > 0)).sum())
    return 2 * tp / (float(chosen.sum()) + float(y_area.sum())) if tp else 0.0


def _closure_matrix(codes: list[str], known: frozenset[str]) -> np.ndarray:
    """(codes, codes) 0/1: row j marks code j and its ancestors, so (chosen @ M > 0) closes a choice."""
    index = {c: j for j, c in enumerate(codes)}
    m = np.zeros((len(codes), len(codes)))
    for j, code in enumerate(codes):
        for c in close_codes([code], known):
            m[j, index[c]] = 1.0
    return m


def _micro_f1(scores: np.ndarray, threshold: float, y: np.ndarray, closure: np.ndarray) -> float:
    """Micro-F1 of `decide` on every row against closed labels y (vectorised metrics.score_sets)."""
    chosen = scores >= threshold
    empty = ~chosen.any(axis=1)
    chosen[empty, scores[empty].argmax(axis=1)] = True
    predicted = (chosen @ closure) > 0
    tp = float((predicted & (y > 0)).sum())
    fp, fn = float(predicted.sum()) - tp, float(y.sum()) - tp
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def subset(texts: list[str], hits: Hits, rows: Sequence[int]) -> tuple[list[str], Hits]:
    """The texts and hits of some rows (so cross-validation runs the expressions once, not once per fold)."""
    return [texts[i] for i in rows], Hits([hits.short[i] for i in rows], [hits.objects[i] for i in rows])


def area_label_sets(label_sets_: Sequence[set[str]], areas: Sequence[ServiceArea]) -> list[set[str]]:
    """The service areas each row's (closed) UKCAT labels imply through the taxonomy: the areas' truth."""
    return [{a.code for a in areas if a.ukcat & labels} for labels in label_sets_]


def train(frame, rules: Sequence[UkcatRule], texts_hits: tuple[list[str], Hits] | None = None,
          areas: Sequence[ServiceArea] | None = None) -> TrainedTagger:
    """Fit the tagger on a labelled DataFrame. Deterministic: closed-form ridge, seeded inner folds, one BLAS thread.

    `texts_hits` may pass the frame's `texts_and_hits` already computed; `areas` is the service-area taxonomy
    whose areas are learnt beside the codes (the packaged one by default).
    """
    with single_blas_thread():
        return _train(frame, rules, texts_hits, list(areas) if areas is not None else list(default_service_areas()))


def _train(frame, rules: Sequence[UkcatRule], texts_hits: tuple[list[str], Hits] | None,
           areas: list[ServiceArea]) -> TrainedTagger:
    known = frozenset(r.code for r in rules)
    codes = sorted(known)
    y_sets = label_sets(frame, known)
    texts, hits = texts_hits or texts_and_hits(rules, frame["name"], frame["activities"], frame["objects"])
    y = np.array([[code in labels for code in codes] for labels in y_sets], dtype=float)
    area_codes = [a.code for a in areas]
    y_area = np.array([[a in found for a in area_codes] for found in area_label_sets(y_sets, areas)],
                      dtype=float).reshape(len(y_sets), len(area_codes))
    model = TrainedTagger(codes, known, None, None, np.zeros(0), np.zeros(0), np.zeros(0), rules_signature(rules),
                          areas=area_codes)
    if len(texts) >= 3 * INNER_FOLDS:
        (model.alpha, model.prior_weight, model.threshold, model.area_threshold,
         model.inner_cv, out_of_fold) = _choose(codes, texts, hits, y, known, y_area)
        if 0 < y_area.sum() < y_area.size:  # both outcomes occur: the second stage can be fitted
            model.area_stage = area_stack.fit(*out_of_fold, y_area, _area_matrix(codes, known, areas))
            model.area_threshold = model.area_stage.threshold
            model.inner_cv.update(model.area_stage.inner_cv)
    # the fitted vectoriser's transform without scikit-learn, so a process that only tags never imports it
    model.vectorizer = TextFeatures.from_vectorizer(_vectorizer().fit(texts))
    x, short = model.features(texts, hits)
    model.train_x = x
    dual, offsets = _solve((x @ x.T).toarray(), np.hstack([y, y_area]), model.alpha)
    model.dual, model.offsets = dual[:, :len(codes)], offsets[:len(codes)]
    model.area_dual, model.area_offsets = dual[:, len(codes):], offsets[len(codes):]
    model.regex_precision = _precision(short, y)
    log.info("trained UKCAT tagger on %d rows: alpha %s, prior weight %s, threshold %s, area threshold %s",
             len(texts), model.alpha, model.prior_weight, model.threshold, model.area_threshold)
    return model


def decide(codes: Sequence[str], scores: np.ndarray, threshold: float, has_text: Sequence[bool]) -> list[set[str]]:
    """Per row of scores: the codes scoring at least `threshold`; if none, the single best code (when the row has
    text at all)."""
    chosen = scores >= threshold
    found: list[set[str]] = [set() for _ in range(len(scores))]
    for i, j in zip(*(a.tolist() for a in np.nonzero(chosen)), strict=True):
        found[i].add(codes[j])
    fallback = ~chosen.any(axis=1) & np.array(has_text, dtype=bool).reshape(len(scores))
    for i, j in zip(np.flatnonzero(fallback).tolist(), scores[fallback].argmax(axis=1).tolist(), strict=True):
        found[i] = {codes[j]}
    return found


def predict_codes(model: TrainedTagger, scores: np.ndarray, has_text: Sequence[bool]) -> list[set[str]]:
    return decide(model.codes, scores, model.threshold, has_text)


def areas_signature(areas: Sequence[ServiceArea]) -> str:
    text = "\n".join(f"{a.code}\t{','.join(sorted(a.ukcat))}" for a in areas)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _service_areas(areas: Sequence[ServiceArea] | None) -> list[ServiceArea]:
    return list(areas) if areas is not None else list(default_service_areas())


def model_name(rules: Sequence[UkcatRule], labelled: Path = PACKAGED_LABELLED,
               areas: Sequence[ServiceArea] | None = None) -> str:
    """The model's file name: what it was trained from (labels, rules, service areas) and the training code's
    version."""
    key = hashlib.sha256(labelled.read_bytes()).hexdigest()[:16]
    areas_key = areas_signature(_service_areas(areas))
    return f"ukcat-tagger-v{MODEL_VERSION}-{key}-{rules_signature(rules)}-{areas_key}.pkl"


def packaged_model_path(rules: Sequence[UkcatRule], labelled: Path = PACKAGED_LABELLED,
                        areas: Sequence[ServiceArea] | None = None) -> Path:
    """Where the package ships the model trained on its own labels and rules (`make tagger-model` writes it)."""
    return PACKAGED_MODELS / (model_name(rules, labelled, areas) + ".gz")


def shipped_rules() -> list[UkcatRule]:
    """The packaged UKCAT rules in code order: the order a build reads them from the staged UKCAT table
    (rules.load_rules_from_db), which the model's name depends on."""
    from .rules import load_rules

    return sorted(load_rules(), key=lambda r: r.code)


def write_packaged_model(rules: Sequence[UkcatRule], areas: Sequence[ServiceArea] | None = None) -> Path:
    """Train on the packaged labels, `rules` and service areas and write the model the package ships (old ones
    removed)."""
    areas = _service_areas(areas)
    path = packaged_model_path(rules, areas=areas)
    model = train(read_labelled(PACKAGED_LABELLED), rules, areas=areas)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("ukcat-tagger-*.pkl.gz"):
        old.unlink()
    for old in path.parent.glob("ukcat-tagger-*.json"):
        old.unlink()
    # mtime=0: the same model always gives the same bytes
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        pickle.dump(model, fh, protocol=5)
    _write_summary(path, model)
    return path


def _load(path: Path, opener) -> TrainedTagger | None:
    try:
        with opener(path, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:  # a stale or truncated file is retrained, never trusted
        log.warning("ignoring unreadable tagger model %s: %s", path, exc)
        return None


def _opener(path: Path):
    return gzip.open if path.suffix == ".gz" else open


# ------------------------------------------------------------------------------------------ the model, unloaded
# Unpickling the model imports scikit-learn and scipy and reads megabytes: over a second of CPU that a build whose
# texts are all in the tag cache (tagging/cache.py) does not need. What such a build does need (the thresholds, and
# what the cache's signature says about the model) is kept in a small JSON file beside the model: its summary.

def summary_path(path: Path) -> Path:
    """The summary beside a model file (model.pkl.gz -> model.pkl.json, model.pkl -> model.pkl.json)."""
    return path.with_name(path.name.removesuffix(".gz") + ".json")


def _write_summary(path: Path, model: TrainedTagger) -> None:
    """Write the summary of the model just written to `path` (through a temporary name of this process's own, so a
    reader, or a parallel area task writing the same summary, sees all or none of it)."""
    target = summary_path(path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sha256": file_sha256(path), "threshold": model.threshold,
                               "area_threshold": model.area_threshold}, indent=1) + "\n")
    tmp.replace(target)


@dataclass
class ModelFile:
    """A model on disk, known by its summary without being loaded: `load` unpickles it (once)."""

    path: Path | None      # None: trained now and kept nowhere
    sha256: str | None     # the file's digest: the tag cache's signature changes with the file
    threshold: float
    area_threshold: float
    loaded: TrainedTagger | None = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        """What the tag cache's signature says of the model: its file name and bytes (the thresholds are in them)."""
        return f"{self.path.name if self.path else None}@{self.sha256}"

    def load(self) -> TrainedTagger:
        if self.loaded is None:
            from ..errors import PipelineError

            self.loaded = _load(self.path, _opener(self.path)) if self.path else None
            if self.loaded is None:
                raise PipelineError(f"tagging model {self.path} could not be read: delete it to retrain")
        return self.loaded


def _summary(path: Path) -> ModelFile | None:
    """The model file at `path` by its summary, when the summary is there and was written for these bytes."""
    try:
        summary = json.loads(summary_path(path).read_text())
        if summary["sha256"] == file_sha256(path):
            return ModelFile(path, summary["sha256"], float(summary["threshold"]), float(summary["area_threshold"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no summary (a model cached before summaries), or a damaged one: the model is loaded instead
    return None


def _loaded(path: Path, model: TrainedTagger) -> ModelFile:
    return ModelFile(path, file_sha256(path), model.threshold, model.area_threshold, model)


def find_model(rules: Sequence[UkcatRule], cache_dir: Path | None,
               labelled: Path = PACKAGED_LABELLED, areas: Sequence[ServiceArea] | None = None) -> ModelFile:
    """The model for these labels, rules, service areas and version: the cached fit, else the one the package
    ships (trained on the packaged labels, rules and areas, so a fresh deployment does not train on its first
    build), else trained now and cached. Loaded only when its file has no summary (or the summary is stale)."""
    areas = _service_areas(areas)
    name = model_name(rules, labelled, areas)
    path = cache_dir / name if cache_dir else None
    if path and path.exists():
        found = _summary(path)
        if found is not None:
            return found
        model = _load(path, open)
        if model is not None:
            try:  # a model cached before summaries: the next build need not load it
                _write_summary(path, model)
            except OSError as exc:
                log.warning("tagging model summary %s not written: %s", summary_path(path), exc)
            return _loaded(path, model)
    shipped = packaged_model_path(rules, labelled, areas)
    if shipped.exists():
        found = _summary(shipped)  # the package's folder may be read-only: its summary comes from make tagger-model
        if found is not None:
            return found
        model = _load(shipped, gzip.open)
        if model is not None:
            return _loaded(shipped, model)
    model = train(read_labelled(labelled), rules, areas=areas)
    if not path:
        return ModelFile(None, None, model.threshold, model.area_threshold, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(model, fh)
    tmp.replace(path)
    _write_summary(path, model)
    return _loaded(path, model)


def cached_model(rules: Sequence[UkcatRule], cache_dir: Path | None,
                 labelled: Path = PACKAGED_LABELLED, areas: Sequence[ServiceArea] | None = None) -> TrainedTagger:
    """The model `find_model` finds, loaded."""
    return find_model(rules, cache_dir, labelled, areas).load()


if __name__ == "__main__":  # `make tagger-model`: write the shipped model after a change to the labels, rules or code
    # through the package's module, so the pickle names vcse_pipeline.tagging.model.TrainedTagger, not __main__'s
    from vcse_pipeline.tagging import model as packaged

    print(packaged.write_packaged_model(packaged.shipped_rules()))
