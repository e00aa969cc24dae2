"""How well the UKCAT tagger agrees with hand-labelled charities (docs/tagging.md).

Default: 5-fold cross-validation on the packaged labelled file (train on 4 folds, score the fifth), the
UKCAT regular expressions alone (name + activities) beside it. Two measures: UKCAT codes, and service
areas (truth: the areas the hand-labelled codes imply through service_areas.toml, counted as the team's
service_area_metric.py counts them), overall and per service area. With --labelled FILE.csv: train on the
packaged file and score FILE (a held-out sample with name, activities, objects and UKCAT columns).
The model's own settings are chosen inside each training run by an inner cross-validation of its training
rows, so held-out rows never guide them. Also timed: running the expressions over the file, training on
the whole training file, and tagging (with evidence) a register-sized batch of records.

    python bench/tagging_accuracy.py [--labelled FILE.csv] [--folds 5] [--seed 0] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcse_pipeline.tagging.areas import place_records  # noqa: E402
from vcse_pipeline.tagging.metrics import Counts, score_area_sets, score_sets  # noqa: E402
from vcse_pipeline.tagging.model import (  # noqa: E402
    PACKAGED_LABELLED,
    area_label_sets,
    grouped_folds,
    label_sets,
    read_labelled,
    subset,
    texts_and_hits,
    train,
)
from vcse_pipeline.tagging.rules import close_codes, load_rules  # noqa: E402
from vcse_pipeline.tagging.tagger import TextRecord, UkcatTagger  # noqa: E402
from vcse_pipeline.tagging.taxonomy import areas_for_tags, load_generic_evidence, load_service_areas  # noqa: E402


def records(frame) -> list[TextRecord]:
    return [TextRecord(name=n, activities=a, objects=o)
            for n, a, o in zip(frame["name"], frame["activities"], frame["objects"], strict=True)]


TAG_BATCH = 2000  # about the number of organisations in one council's register


def placed_areas(tagger: UkcatTagger, frame, areas, generic) -> list[set[str]]:
    """The service areas the register would give each row (tagging.areas: evidence weighed, model areas)."""
    return [{p.service_area for p in found} for found in place_records(tagger, records(frame), areas, generic)[1]]


def code_areas(codes: list[set[str]], known, areas) -> list[set[str]]:
    """Service areas read off predicted codes alone, every code counting (the method before issue 13)."""
    return [set(areas_for_tags([("ukcat", c) for c in close_codes(found, known)], areas)) for found in codes]


def evaluate(frame, train_frame=None, folds: int = 5, seed: int = 0, tag_batch: int = TAG_BATCH,
             service_areas: Path | None = None) -> dict:
    """Scores of the regex baseline and the combined tagger on `frame` (cross-validated if no train_frame)."""
    rules = load_rules()
    known = frozenset(r.code for r in rules)
    areas, generic = load_service_areas(service_areas), load_generic_evidence(service_areas)
    gold = label_sets(frame, known)
    started = time.monotonic()
    baseline_tagger = UkcatTagger(rules)
    baseline = baseline_tagger.predict(records(frame))
    timings = {"expressions_seconds": round(time.monotonic() - started, 2)}
    baseline_areas = placed_areas(baseline_tagger, frame, areas, generic)
    predicted: list[set[str]] = [set() for _ in range(len(frame))]
    predicted_areas: list[set[str]] = [set() for _ in range(len(frame))]
    started = time.monotonic()
    if train_frame is not None:
        tagger = UkcatTagger(rules, train(train_frame, rules, areas=areas))
        predicted = tagger.predict(records(frame))
        predicted_areas = placed_areas(tagger, frame, areas, generic)
    else:
        # the expressions run once over the file; each fold trains on its slice of the results
        texts_hits = texts_and_hits(rules, frame["name"], frame["activities"], frame["objects"])
        # a charity labelled twice (same text) stays on one side of each split
        for held_out in (fold.tolist() for fold in grouped_folds(texts_hits[0], folds, seed)):
            keep = sorted(set(range(len(frame))) - set(held_out))
            model = train(frame.iloc[keep].reset_index(drop=True), rules, subset(*texts_hits, keep), areas=areas)
            tagger = UkcatTagger(rules, model)
            held_frame = frame.iloc[held_out]
            for i, codes, found in zip(held_out, tagger.predict(records(held_frame)),
                                       placed_areas(tagger, held_frame, areas, generic), strict=True):
                predicted[i], predicted_areas[i] = codes, found
    timings["evaluation_seconds"] = round(time.monotonic() - started, 1)
    timings.update(time_train_and_tag(train_frame if train_frame is not None else frame, rules, tag_batch))
    base_all, base_cat = score_sets(gold, baseline, known)
    model_all, model_cat = score_sets(gold, predicted, known)
    truth_areas = area_label_sets(gold, areas)
    area_scores = {name: score_area_sets(truth_areas, found) for name, found in (
        ("baseline", baseline_areas), ("codes", code_areas(predicted, known, areas)), ("tagger", predicted_areas))}
    pairs = relabelled_pairs(frame)
    return {"rows": len(frame), "mode": "held-out file" if train_frame is not None else f"{folds}-fold CV",
            "area_agreement": {
                "pairs": len(pairs),
                "human": score_area_sets([truth_areas[a] for a, _ in pairs], [truth_areas[b] for _, b in pairs])[0]
                .as_dict(),
                "tagger_on_pair_rows": score_area_sets([truth_areas[i] for p in pairs for i in p],
                                                       [predicted_areas[i] for p in pairs for i in p])[0].as_dict()}
            if pairs else None,
            "agreement": annotator_agreement(frame, gold, predicted, known, seed),
            "seconds": timings["evaluation_seconds"], "timings": timings,
            "baseline": base_all.as_dict(), "tagger": model_all.as_dict(),
            "categories": {cat: {"baseline": base_cat.get(cat, Counts()).as_dict(),
                                 "tagger": model_cat.get(cat, Counts()).as_dict()}
                           for cat in sorted(set(base_cat) | set(model_cat))},
            "service_areas": {name: counts.as_dict() for name, (counts, _) in area_scores.items()},
            "per_service_area": {area.code: {name: per.get(area.code, Counts()).as_dict()
                                             for name, (_, per) in area_scores.items()} for area in areas}}


BOOTSTRAP_SAMPLES = 2000


def relabelled_pairs(frame) -> list[tuple[int, int]]:
    """Row pairs with the same name, activities and objects: one charity labelled twice, by different people."""
    rows: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(frame["name"], frame["activities"], frame["objects"], strict=True)):
        rows.setdefault(key, []).append(i)
    return [(a, b) for group in rows.values() for a, b in itertools.combinations(group, 2)]


def _pair_counts(pairs, first: list[set[str]], second: list[set[str]], known) -> Counts:
    return score_sets([first[a] for a, _ in pairs], [second[b] for _, b in pairs], known)[0]


def annotator_agreement(frame, gold: list[set[str]], predicted: list[set[str]], known, seed: int = 0) -> dict | None:
    """How well two people's labels of the same charity agree, on the same measure as the tagger.

    For each relabelled pair, one labelling is scored as a prediction of the other (F1 is symmetric), and the
    tagger's (held-out) tags are scored against each labelling in turn. A 95% interval comes from resampling
    the pairs. This is the ceiling a tagger can be expected to reach against one person's labels.
    """
    import numpy as np

    pairs = relabelled_pairs(frame)
    if not pairs:
        return None

    def f1s(chosen) -> tuple[float, float]:
        human = _pair_counts(chosen, gold, gold, known)
        # the tagger predicts each row of a pair; score it against both labellings
        tagger = score_sets([gold[i] for pair in chosen for i in pair],
                            [predicted[i] for pair in chosen for i in pair], known)[0]
        return human.f1, tagger.f1

    tagger = f1s(pairs)[1]   # the people's agreement is reported in full below (precision and recall too)
    rng = np.random.default_rng(seed)
    draws = np.array([f1s([pairs[j] for j in rng.integers(0, len(pairs), len(pairs))])
                      for _ in range(BOOTSTRAP_SAMPLES)])
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return {"pairs": len(pairs), "human": _pair_counts(pairs, gold, gold, known).as_dict(),
            "tagger_on_pair_rows": round(tagger, 4),
            "human_f1_95": [round(low[0], 3), round(high[0], 3)],
            "tagger_f1_95": [round(low[1], 3), round(high[1], 3)],
            "tagger_minus_human_95": [round(float(v), 3) for v in
                                      np.percentile(draws[:, 1] - draws[:, 0], [2.5, 97.5])]}


def time_train_and_tag(frame, rules, tag_batch: int = TAG_BATCH) -> dict:
    """Seconds to train on the whole frame (as a fresh data dir does) and to tag `tag_batch` records with evidence."""
    started = time.monotonic()
    model = train(frame, rules)
    trained = time.monotonic() - started
    batch = (records(frame) * (tag_batch // len(frame) + 1))[:tag_batch]
    started = time.monotonic()
    UkcatTagger(rules, model).tag(batch)
    return {"train_seconds": round(trained, 2), "tag_records": len(batch),
            "tag_seconds": round(time.monotonic() - started, 2),
            "settings": {"alpha": model.alpha, "prior_weight": model.prior_weight, "threshold": model.threshold,
                         "area_threshold": model.area_threshold}}


def print_report(result: dict) -> None:
    t = result["timings"]
    print(f"UKCAT tagging accuracy: {result['rows']} labelled rows, {result['mode']} "
          f"({result['seconds']} s training and tagging)")
    print(f"expressions alone over the file: {t['expressions_seconds']} s; training on the whole file: "
          f"{t['train_seconds']} s (chose {t['settings']}); tagging {t['tag_records']} records with evidence: "
          f"{t['tag_seconds']} s")
    print("micro-averaged over codes closed under the UKCAT hierarchy\n")
    print(f"{'':10} {'baseline P':>10} {'R':>6} {'F1':>6}   {'tagger P':>8} {'R':>6} {'F1':>6}")
    rows = [("overall", result["baseline"], result["tagger"])]
    rows += [(cat, v["baseline"], v["tagger"]) for cat, v in result["categories"].items()]
    for label, b, t in rows:
        print(f"{label:10} {b['precision']:10.3f} {b['recall']:6.3f} {b['f1']:6.3f}   "
              f"{t['precision']:8.3f} {t['recall']:6.3f} {t['f1']:6.3f}")
    print("\nservice areas, micro-averaged over (row, service area) pairs")
    print(f"{'':26} {'P':>6} {'R':>6} {'F1':>6}")
    names = {"baseline": "expressions alone", "codes": "areas read off codes", "tagger": "areas from evidence"}
    for key, label in names.items():
        c = result["service_areas"][key]
        print(f"{label:26} {c['precision']:6.3f} {c['recall']:6.3f} {c['f1']:6.3f}")
    agreement = result.get("area_agreement")
    if agreement:
        h, t = agreement["human"], agreement["tagger_on_pair_rows"]
        print(f"on the {agreement['pairs']} twice-labelled charities: one labelling against the other P "
              f"{h['precision']:.3f} R {h['recall']:.3f} F1 {h['f1']:.3f}; areas from evidence (held out) against "
              f"either: P {t['precision']:.3f} R {t['recall']:.3f} F1 {t['f1']:.3f}")
    print(f"\n{'service area':26} {'true':>5}   {'codes P':>7} {'R':>6}   {'evidence P':>10} {'R':>6} {'F1':>6}")
    for area, per in result["per_service_area"].items():
        c, t = per["codes"], per["tagger"]
        print(f"{area:26} {t['tp'] + t['fn']:5}   {c['precision']:7.3f} {c['recall']:6.3f}   "
              f"{t['precision']:10.3f} {t['recall']:6.3f} {t['f1']:6.3f}")
    agreement = result.get("agreement")
    if agreement:
        h = agreement["human"]
        print(f"\n{agreement['pairs']} charities are labelled twice (same text, different labeller). "
              f"One labelling scored against the other: P {h['precision']:.3f} R {h['recall']:.3f} "
              f"F1 {h['f1']:.3f} (95% interval {agreement['human_f1_95'][0]}-{agreement['human_f1_95'][1]}).")
        print(f"The tagger on those rows (held out) against either labelling: "
              f"F1 {agreement['tagger_on_pair_rows']:.3f} "
              f"(95% interval {agreement['tagger_f1_95'][0]}-{agreement['tagger_f1_95'][1]}; tagger minus "
              f"people {agreement['tagger_minus_human_95'][0]} to {agreement['tagger_minus_human_95'][1]}).")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, help="score this labelled CSV, training on the packaged file")
    parser.add_argument("--train", type=Path, default=PACKAGED_LABELLED, help="labelled file to train on")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--service-areas", type=Path, help="score service areas of this taxonomy file")
    parser.add_argument("--tag-batch", type=int, default=TAG_BATCH, help="records to tag for the tagging time")
    args = parser.parse_args(argv)
    if args.labelled:
        result = evaluate(read_labelled(args.labelled), train_frame=read_labelled(args.train), tag_batch=args.tag_batch,
                          service_areas=args.service_areas)
    else:
        result = evaluate(read_labelled(args.train), folds=args.folds, seed=args.seed, tag_batch=args.tag_batch,
                          service_areas=args.service_areas)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
