"""Measure service-area placement (tagging.areas.place, which looks evidence up by tag in taxonomy.AreaIndex) and
name evidence against the area-by-area methods they replaced, on what a real build hands them.

    .venv/bin/python bench/placement.py --data-dir /tmp/demo5                      # every staged area
    .venv/bin/python bench/placement.py --data-dir D025 --areas 10 --inputs /tmp/place10.pickle
    .venv/bin/python bench/placement.py --inputs /tmp/place10.pickle               # reuse what was captured

The inputs are captured from pipeline.build_register over the data folder's first N English areas (Wirral first,
as bench/national_build.py picks them; built in a copy of the folder with its caches, since a build writes
cache/): every call to areas.place (evidence, model scores, threshold) and every record name_evidence reads, as
tag_register makes them. `--inputs FILE` keeps them (pickle) so later runs measure without building.

Both methods run in this process on the same inputs, baseline first, and must give the same placements (service
areas in the same order, strengths, evidence strings) and the same name evidence: the bench stops at the first
difference. Printed: calls, CPU seconds of each method (the least of --repeat passes) and the ratio.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcse_pipeline.tagging import apply  # noqa: E402
from vcse_pipeline.tagging.areas import (  # noqa: E402
    AreaPlacement,
    Evidence,
    _decision_and_strength,
    _weight,
    is_generic,
    name_evidence,
    place,
)
from vcse_pipeline.tagging.taxonomy import _spaced_words, area_matches  # noqa: E402

WIRRAL = "E08000015"


def area_by_area_place(evidence, areas, generic, area_scores=None, area_threshold=0.0) -> list[AreaPlacement]:
    """areas.place as it was (the baseline and the definition): every area in turn, every evidence item tested
    against it with area_matches."""
    evidence = list(evidence)
    placements = []
    for area in areas:
        items = [e for e in evidence if area_matches(area, e.scheme, e.code)]
        specific = [e for e in items if not is_generic(e, generic)]
        score, text_strength = _decision_and_strength(area_scores.get(area.code) if area_scores else None)
        named = [e for e in items if e.scheme == "name"]
        if score is not None and (score >= area_threshold or named):
            strength = max([text_strength] + [_weight(e) for e in named])
        elif score is not None:
            continue
        elif specific:
            strength = max(_weight(e) for e in specific)
        else:
            continue
        parts = [f"model {score:.2f}"] if score is not None else []
        parts += [f"{e.scheme}:{e.code}" + (" (generic)" if is_generic(e, generic) else
                                             f" ({e.source_field})" if e.source_field else "")
                  for e in items]
        placements.append(AreaPlacement(area.code, round(min(1.0, max(0.0, strength)), 3), "; ".join(parts)))
    return placements


@lru_cache(maxsize=16)
def _word_forms(words: frozenset[str]) -> tuple[tuple[str, str], ...]:
    return tuple((w, _spaced_words(w)) for w in sorted(words))


def area_by_area_name_evidence(record, areas) -> list[Evidence]:
    """areas.name_evidence as it was (the baseline): the taxonomy's words gathered from every area on each call."""
    names = " ; ".join(n for n in (record.name, record.other_names) if n)
    text = _spaced_words(str(names or "").lower())
    words = [w for w, form in _word_forms(frozenset(w for a in areas for w in a.names)) if form in text]
    return [Evidence("name", word, "name") for word in words]


def capture(data_dir: Path, n_areas: int | None) -> dict:
    """Build the first n_areas English areas of a copy of data_dir, recording what place and name_evidence get."""
    from vcse_pipeline.config import Config
    from vcse_pipeline.pipeline import build_register, english_local_authorities, staged_areas

    calls, records, taxonomy = [], [], {}

    def recording_place(evidence, areas, generic, scores=None, threshold=0.0):
        taxonomy.setdefault("areas", areas)
        taxonomy.setdefault("generic", generic)
        calls.append((list(evidence), scores, threshold))
        return place(evidence, areas, generic, scores, threshold)

    def recording_name_evidence(record, areas):
        records.append(record)
        return name_evidence(record, areas)

    with tempfile.TemporaryDirectory(prefix="placement-bench-") as tmp:
        work = Path(tmp) / "data"
        shutil.copytree(data_dir, work, ignore=shutil.ignore_patterns("register", "locks"))
        cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(work)}})
        codes = english_local_authorities(staged_areas(cfg))
        codes = ([WIRRAL] if WIRRAL in codes else []) + [c for c in codes if c != WIRRAL]
        codes = codes[:n_areas] if n_areas else codes
        with mock.patch.object(apply, "place", recording_place), \
                mock.patch.object(apply, "name_evidence", recording_name_evidence):
            build_register(cfg, Path(tmp) / "register.duckdb", codes)
    return {"areas": list(taxonomy["areas"]), "generic": taxonomy["generic"], "calls": calls, "records": records,
            "built": codes}


def timed(fn, inputs, repeat: int) -> tuple[list, float]:
    """fn's answers for the inputs, and the least CPU seconds of `repeat` passes (the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        out = [fn(*args) for args in inputs]
        best = min(best, time.process_time() - start)
    return out, best


def compare(label: str, inputs: list[tuple], baseline, new, repeat: int) -> None:
    old_out, old_cpu = timed(baseline, inputs, repeat)
    new_out, new_cpu = timed(new, inputs, repeat)
    for args, old, got in zip(inputs, old_out, new_out, strict=True):
        if old != got:
            sys.exit(f"{label}: outputs differ for {args[0]!r}\n  baseline {old!r}\n  new      {got!r}")
    print(f"{label:<16} {len(inputs):>9,} calls  baseline {old_cpu:7.2f} s CPU  new {new_cpu:7.2f} s CPU  "
          f"ratio {new_cpu / old_cpu if old_cpu else float('nan'):.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a data folder with every source staged (captured from)")
    parser.add_argument("--areas", type=int, default=None, help="build the first N English areas (default all)")
    parser.add_argument("--inputs", type=Path, help="pickle of captured inputs: written after capturing, else read")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each method; the least CPU is kept")
    args = parser.parse_args(argv)
    if args.data_dir:
        captured = capture(args.data_dir, args.areas)
        if args.inputs:
            args.inputs.write_bytes(pickle.dumps(captured, protocol=pickle.HIGHEST_PROTOCOL))
    elif args.inputs:
        captured = pickle.loads(args.inputs.read_bytes())
    else:
        parser.error("give --data-dir (capture from a build) or --inputs (captured before)")
    areas, generic = captured["areas"], captured["generic"]
    print(f"inputs of {len(captured['built'])} areas: {len(captured['calls']):,} placements, "
          f"{len(captured['records']):,} names; taxonomy of {len(areas)} service areas")
    compare("place", [(evidence, areas, generic, scores, threshold)
                      for evidence, scores, threshold in captured["calls"]], area_by_area_place, place, args.repeat)
    compare("name_evidence", [(record, areas) for record in captured["records"]],
            area_by_area_name_evidence, name_evidence, args.repeat)


if __name__ == "__main__":
    main()
