"""The service areas' second stage (tagging/area_stack.py): what it weighs that one threshold cannot."""

from __future__ import annotations

import numpy as np

from vcse_pipeline.tagging import area_stack


def test_pair_features_place_each_area_in_its_row():
    raw = np.array([[0.9, 0.2, 0.5], [0.1, 0.4, 0.3]])
    codes = np.array([[0.7, 0.1], [0.0, 0.6]])         # two codes
    fired = np.array([[1.0, 0.0], [0.0, 0.0]])         # the first code's expression fired in row 0
    code_area = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # code 0 implies area 0, code 1 area 1, area 2 none
    x = area_stack.pair_features(raw, codes, fired, code_area).reshape(2, 3, -1)
    assert x[0, :, 0].tolist() == [0.9, 0.2, 0.5]               # the area's own score
    assert x[0, :, 1].tolist() == [0.7, 0.1, -1.0]              # its best code's score (-1: no code)
    assert x[0, :, 2].tolist() == [1.0, 0.0, 0.0]               # its codes' expression fired
    assert x[1, :, 4].tolist() == [2, 0, 1]                     # rank in the row (0: the row's best)
    assert x[1, :, 5].tolist() == [2, 2, 2]                     # areas scoring >= 0.3 in the row
    assert (x[:, :, 8:] == np.eye(3)).all()                      # one indicator per area


def test_the_stage_learns_what_a_single_threshold_cannot():
    # truth: each row's best-scoring area only, whatever its score (rows' scores run at different levels)
    rng = np.random.default_rng(0)
    rows, areas = 300, 6
    raw = rng.uniform(0, 1, (rows, areas)) * rng.uniform(0.3, 1.0, (rows, 1))
    truth = (raw == raw.max(axis=1, keepdims=True)).astype(float)
    codes, fired = np.zeros((rows, 1)), np.zeros((rows, 1))
    stage = area_stack.fit(raw, codes, fired, truth, np.zeros((1, areas)))
    chosen = stage.probabilities(raw, codes, fired) >= stage.threshold
    assert (chosen == (truth > 0)).mean() > 0.99
    best_single = max(area_stack._f1(raw >= t, truth) for t in np.linspace(0, 1, 101))
    assert area_stack._f1(chosen, truth) > best_single + 0.2



def test_the_threshold_keeps_precision_at_least_recall():
    # scores rising with the truth, noisy: the best F1 places more areas than are true, the chosen one does not
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=4000) < 0.2).astype(float)
    p = np.clip(0.25 + 0.3 * y + rng.normal(0, 0.15, 4000), 0, 1)
    threshold, f1 = area_stack.choose_threshold(p, y)
    best = max(f1, key=f1.get)
    assert (p >= best).sum() > y.sum() and (p >= threshold).sum() <= y.sum()
    assert f1[threshold] == max(v for t, v in f1.items() if t >= threshold)
