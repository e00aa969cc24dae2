"""Micro-averaged precision, recall and F1 over UKCAT code sets, closed under the hierarchy first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .rules import close_codes


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def score_sets(gold: Sequence[set[str]], predicted: Sequence[set[str]], known: frozenset[str]
               ) -> tuple[Counts, dict[str, Counts]]:
    """(overall counts, counts per level-1 category) after closing both sides under the hierarchy.

    A code counts towards the category of its first two letters (AR201, AR200 and AR are all in AR).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold label sets but {len(predicted)} predictions")
    overall: Counts = Counts()
    per: dict[str, Counts] = {}
    for g, p in zip(gold, predicted, strict=True):
        g, p = close_codes(g, known), close_codes(p, known)
        for code, field in [(c, "tp") for c in g & p] + [(c, "fp") for c in p - g] + [(c, "fn") for c in g - p]:
            setattr(overall, field, getattr(overall, field) + 1)
            cat = per.setdefault(code[:2], Counts())
            setattr(cat, field, getattr(cat, field) + 1)
    return overall, dict(sorted(per.items()))


def score_area_sets(truth: Sequence[set[str]], predicted: Sequence[set[str]]) -> tuple[Counts, dict[str, Counts]]:
    """(overall counts, counts per service area) over (row, service area) pairs, as
    service_area_metric.py counts them (the areas' truth comes from `model.area_label_sets`)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true area sets but {len(predicted)} predictions")
    overall, per = Counts(), {}
    for t, p in zip(truth, predicted, strict=True):
        for area, field in [(a, "tp") for a in t & p] + [(a, "fp") for a in p - t] + [(a, "fn") for a in t - p]:
            setattr(overall, field, getattr(overall, field) + 1)
            counts = per.setdefault(area, Counts())
            setattr(counts, field, getattr(counts, field) + 1)
    return overall, dict(sorted(per.items()))
