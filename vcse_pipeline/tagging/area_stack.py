"""The second stage of the service-area decision: one logistic regression over every (organisation, area) pair.

The first stage (`model.TrainedTagger`) scores each service area by ridge regression on the text, and each UKCAT
code likewise. A single threshold on the area score treats a 0.4 the same in every row and every area; but an
area that is a row's best score is likelier than the same score in fifth place, an area the UKCAT expressions
fired for likelier than one they did not, and some areas' scores run higher than others'. This stage weighs that
evidence: per pair, the area's own score, the best score among the codes that imply the area, whether one of
those codes' expressions fired on the name and activities, how far both scores sit below the row's best, the
area's rank in the row, the row's best score and how many areas in the row score high, plus one indicator per
area (its own intercept). The result is a probability (so an organisation's strength means the same in every
area), and an area is placed when it reaches the threshold chosen by cross-validation.

It is fitted on the scores the inner cross-validation of `model.train` already makes (each training row scored by
a model that did not see it), never on the scores of a model that saw the row, which would be overconfident; and
its threshold is chosen by a 3-fold cross-validation of this stage over those rows. Held out (5-fold grouped CV,
docs/tagging.md): precision 0.633 -> 0.681, recall 0.700 -> 0.677, F1 0.665 -> 0.679 over the single area threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PENALTY_C = 0.3            # inverse L2 penalty: the 38 weights are fitted on ~30,000 pairs, so it matters little
HIGH_SCORE = 0.3           # an area scoring this much "competes" in its row (the count of such areas is a feature)
FOLDS = 3
THRESHOLDS = tuple(round(0.1 + 0.01 * i, 2) for i in range(80))  # 0.10 .. 0.89


def pair_features(area_raw: np.ndarray, code_scores: np.ndarray, fired: np.ndarray,
                  code_area: np.ndarray) -> np.ndarray:
    """(rows x areas, features) of every (row, area) pair.

    `area_raw` (rows, areas) and `code_scores` (rows, codes) are the first stage's scores, `fired` (rows, codes)
    0/1 where a code's expression fired on name + activities (closed under the hierarchy), and `code_area`
    (codes, areas) 0/1 where a code implies an area.
    """
    rows, n_areas = area_raw.shape
    shared = np.stack(_shared_features(area_raw, code_scores, fired, code_area), axis=2)
    return np.hstack([shared.reshape(rows * n_areas, SHARED_FEATURES), np.tile(np.eye(n_areas), (rows, 1))])


SHARED_FEATURES = 8  # the features every area has (_shared_features); then one indicator per area


def _shared_features(area_raw: np.ndarray, code_scores: np.ndarray, fired: np.ndarray,
                     code_area: np.ndarray) -> list[np.ndarray]:
    """The SHARED_FEATURES features of every pair, each as a (rows, areas) array (see `pair_features`)."""
    rows, n_areas = area_raw.shape
    # the best score among each area's codes (an area with no code is scored -1: never its evidence)
    by_code = np.full((rows, n_areas), -1.0)
    for k in range(n_areas):
        members = np.flatnonzero(code_area[:, k])
        if len(members):
            by_code[:, k] = code_scores[:, members].max(axis=1)
    best = area_raw.max(axis=1, keepdims=True)
    rank = (-area_raw).argsort(axis=1, kind="stable").argsort(axis=1, kind="stable")
    competing = (area_raw >= HIGH_SCORE).sum(axis=1, keepdims=True)
    return [area_raw, by_code, (fired @ code_area > 0).astype(float), area_raw - best, rank,
            np.repeat(competing, n_areas, axis=1), np.repeat(best, n_areas, axis=1),
            by_code - by_code.max(axis=1, keepdims=True)]


@dataclass
class AreaStacker:
    """The fitted second stage: weights of `pair_features`, the intercept, the code->area map and the threshold."""

    weights: np.ndarray        # (features,)
    intercept: float
    code_area: np.ndarray      # (codes, areas) 0/1
    threshold: float
    inner_cv: dict             # F1 of each threshold in this stage's own cross-validation

    def probabilities(self, area_raw: np.ndarray, code_scores: np.ndarray, fired: np.ndarray) -> np.ndarray:
        """(rows, areas) probability that each area is one of the row's service areas.

        The logit of `pair_features` @ weights, worked out feature by feature on (rows, areas) arrays: the pair
        matrix, mostly its one-hot area columns, cost 1.2 s for 7,600 rows to build and multiply; this is the same
        sum (up to the last bits: it runs in another order)."""
        features = _shared_features(area_raw, code_scores, fired, self.code_area)
        logits = self.weights[SHARED_FEATURES:] + self.intercept  # each area's indicator weight, every row
        for weight, feature in zip(self.weights[:SHARED_FEATURES], features, strict=True):
            logits = logits + weight * feature
        return 1.0 / (1.0 + np.exp(-logits))


def _logistic(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=PENALTY_C, max_iter=1000).fit(x, y)


def _f1(chosen: np.ndarray, y: np.ndarray) -> float:
    tp = float((chosen & (y > 0)).sum())
    return 2 * tp / (float(chosen.sum()) + float(y.sum())) if tp else 0.0


def _precise_enough(chosen: np.ndarray, y: np.ndarray) -> bool:
    """Whether precision is at least recall: as many areas placed as are true, or fewer."""
    return float(chosen.sum()) <= float(y.sum())


def choose_threshold(probabilities: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """The threshold with the best F1 among those whose precision is at least their recall (else the best F1).

    A wrongly listed provider costs an officer more than a missed one (issue 13 sets the precision bar above the
    F1 bar), and near the best F1 the curve is flat: held out on the dev file, the best-F1 threshold gave P 0.626
    R 0.737 F1 0.677, this rule P 0.681 R 0.677 F1 0.679.
    """
    results = {t: _f1(probabilities >= t, y) for t in THRESHOLDS}
    allowed = [t for t in THRESHOLDS if _precise_enough(probabilities >= t, y)] or list(THRESHOLDS)
    return max(allowed, key=lambda t: (round(results[t], 6), t)), results


def fit(area_raw: np.ndarray, code_scores: np.ndarray, fired: np.ndarray, y_area: np.ndarray,
        code_area: np.ndarray) -> AreaStacker:
    """Fit on out-of-fold first-stage scores of the training rows; the threshold by a cross-validation of rows."""
    x = pair_features(area_raw, code_scores, fired, code_area)
    y = y_area.reshape(-1)
    fold = np.repeat(np.arange(len(area_raw)) % FOLDS, area_raw.shape[1])  # a row's pairs stay together
    held_out = np.zeros(len(y))
    for k in range(FOLDS):
        held_out[fold == k] = _logistic(x[fold != k], y[fold != k]).predict_proba(x[fold == k])[:, 1]
    threshold, results = choose_threshold(held_out, y)
    model = _logistic(x, y)
    return AreaStacker(model.coef_.ravel().copy(), float(model.intercept_[0]), code_area, threshold,
                       {f"area stage threshold={t}": round(f, 4) for t, f in results.items()})
