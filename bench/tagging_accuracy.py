"""How well the UKCAT tagger agrees with hand-labelled charities (docs/tagging.md).

Default: 5-fold cross-validation on the packaged labelled file (train on 4 folds, score the fifth), the
UKCAT regular expressions alone (name + activities) beside it. With --labelled FILE.csv: train on the
packaged file and score FILE (a held-out sample with name, activities, objects and UKCAT columns).

    python bench/tagging_accuracy.py [--labelled FILE.csv] [--folds 5] [--seed 0] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcse_pipeline.tagging.metrics import Counts, score_sets  # noqa: E402
from vcse_pipeline.tagging.model import PACKAGED_LABELLED, label_sets, read_labelled, train  # noqa: E402
from vcse_pipeline.tagging.rules import load_rules  # noqa: E402
from vcse_pipeline.tagging.tagger import TextRecord, UkcatTagger  # noqa: E402


def records(frame) -> list[TextRecord]:
    return [TextRecord(name=n, activities=a, objects=o)
            for n, a, o in zip(frame["name"], frame["activities"], frame["objects"], strict=True)]


def fold_indices(n: int, folds: int, seed: int) -> list[list[int]]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)
    return [sorted(order[k::folds].tolist()) for k in range(folds)]


def evaluate(frame, train_frame=None, folds: int = 5, seed: int = 0) -> dict:
    """Scores of the regex baseline and the combined tagger on `frame` (cross-validated if no train_frame)."""
    rules = load_rules()
    known = frozenset(r.code for r in rules)
    gold = label_sets(frame, known)
    baseline = UkcatTagger(rules).predict(records(frame))
    predicted: list[set[str]] = [set() for _ in range(len(frame))]
    started = time.monotonic()
    if train_frame is not None:
        predicted = UkcatTagger(rules, train(train_frame, rules)).predict(records(frame))
    else:
        for held_out in fold_indices(len(frame), folds, seed):
            keep = sorted(set(range(len(frame))) - set(held_out))
            tagger = UkcatTagger(rules, train(frame.iloc[keep].reset_index(drop=True), rules))
            for i, codes in zip(held_out, tagger.predict(records(frame.iloc[held_out])), strict=True):
                predicted[i] = codes
    seconds = time.monotonic() - started
    base_all, base_cat = score_sets(gold, baseline, known)
    model_all, model_cat = score_sets(gold, predicted, known)
    return {"rows": len(frame), "mode": "held-out file" if train_frame is not None else f"{folds}-fold CV",
            "seconds": round(seconds, 1), "baseline": base_all.as_dict(), "tagger": model_all.as_dict(),
            "categories": {cat: {"baseline": base_cat.get(cat, Counts()).as_dict(),
                                 "tagger": model_cat.get(cat, Counts()).as_dict()}
                           for cat in sorted(set(base_cat) | set(model_cat))}}


def print_report(result: dict) -> None:
    print(f"UKCAT tagging accuracy: {result['rows']} labelled rows, {result['mode']} "
          f"({result['seconds']} s training and tagging)")
    print("micro-averaged over codes closed under the UKCAT hierarchy\n")
    print(f"{'':10} {'baseline P':>10} {'R':>6} {'F1':>6}   {'tagger P':>8} {'R':>6} {'F1':>6}")
    rows = [("overall", result["baseline"], result["tagger"])]
    rows += [(cat, v["baseline"], v["tagger"]) for cat, v in result["categories"].items()]
    for label, b, t in rows:
        print(f"{label:10} {b['precision']:10.3f} {b['recall']:6.3f} {b['f1']:6.3f}   "
              f"{t['precision']:8.3f} {t['recall']:6.3f} {t['f1']:6.3f}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, help="score this labelled CSV, training on the packaged file")
    parser.add_argument("--train", type=Path, default=PACKAGED_LABELLED, help="labelled file to train on")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.labelled:
        result = evaluate(read_labelled(args.labelled), train_frame=read_labelled(args.train))
    else:
        result = evaluate(read_labelled(args.train), folds=args.folds, seed=args.seed)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
