"""Measure the register's fuzzy name linking (register.fuzzy_links: the names indexed set-wise by
batch_matching.NameIndex, blocking as one numpy join, scoring set-wise with rapidfuzz cpdist and numpy) against the
pair-by-pair method it replaced (a MatchIndex filled one record at a time, MatchIndex.candidates for each name of
each record, every pair scored in Python), on the records the Wirral build links at several demo scales. Both run
in this process on the same records and must give the same links and review rows.

    .venv/bin/python bench/fuzzy_links.py                              # scales 1, 2, 5, 10
    .venv/bin/python bench/fuzzy_links.py --scales 1 3 --workdir /tmp/fz   # stage once, reuse on reruns

Per scale: the records linked, CPU and wall seconds of each method and the ratios. Last, the growth exponent of
each: the slope of log CPU seconds against log records over the scales (1.0 is linear in area size). CPU seconds
include every thread, so new CPU above new wall means more than one core worked.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from link_demo import WIRRAL, empty_register, stage  # noqa: E402  (the demo staging this bench shares)

from vcse_pipeline.matching import MatchIndex  # noqa: E402
from vcse_pipeline.register import build  # noqa: E402
from vcse_pipeline.register.fuzzy_links import (  # noqa: E402
    LINK_COLUMNS,
    REVIEW_COLUMNS,
    decide_links,
    fuzzy_links,
    record_info,
)


def scalar_candidates(info: dict[str, dict], index: MatchIndex):
    """(record_id, name, candidate) as the linker found them before: index.candidates for each name of each record,
    every pair blocked and scored one at a time in Python (the baseline)."""
    for record_id, me in info.items():
        def other_source(org_id: str, me=me, record_id=record_id) -> bool:
            # Each unordered pair is scored from its smaller id only, and only across registers.
            return org_id > record_id and info[org_id]["source"] != me["source"]

        for name in [me["name"], *me["others"]]:
            for cand in index.candidates(name, None, limit=None, accept=other_source):
                yield record_id, name, cand


def scalar_index(info: dict[str, dict]) -> MatchIndex:
    """The records' names indexed as the linker indexed them before: MatchIndex.add one record at a time."""
    index = MatchIndex()
    for record_id, me in info.items():
        index.add(record_id, me["name"], me["postcode"], me["others"])
    index.finish()
    return index


def scalar_fuzzy_links(records: pd.DataFrame, *, link_threshold: float, review_threshold: float,
                       already_linked: set[frozenset[str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """fuzzy_links the pair-by-pair way (the baseline): a MatchIndex filled record by record and
    scalar_candidates."""
    info = record_info(records)
    return decide_links(info, scalar_candidates(info, scalar_index(info)), link_threshold=link_threshold,
                        review_threshold=review_threshold, already_linked=already_linked or set())


def wirral_input(scale: float, seed: int | None, workdir: Path | None) -> tuple[pd.DataFrame, dict]:
    """The records and keyword arguments the Wirral build passes to fuzzy_links at a demo scale."""
    calls: list[tuple[pd.DataFrame, dict]] = []

    def capture(frame: pd.DataFrame, **kwargs):
        calls.append((frame, kwargs))
        return pd.DataFrame(columns=LINK_COLUMNS), pd.DataFrame(columns=REVIEW_COLUMNS)

    with tempfile.TemporaryDirectory() as tmp:
        cfg, _ = stage(scale, seed, workdir or Path(tmp))
        con = empty_register(Path(tmp) / "register.duckdb", cfg)
        with mock.patch.object(build, "fuzzy_links", capture):
            build.build_area(con, cfg, WIRRAL)
        con.close()
    (frame, kwargs), = calls
    return frame, kwargs


def timed(function, frame: pd.DataFrame, kwargs: dict) -> tuple[tuple[pd.DataFrame, pd.DataFrame], float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(frame, **kwargs)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def growth(sizes: list[int], seconds: list[float]) -> float | None:
    """The slope of log seconds against log size (least squares), or None with fewer than two sizes."""
    if len(set(sizes)) < 2:
        return None
    return round(float(np.polyfit([math.log(s) for s in sizes], [math.log(t) for t in seconds], 1)[0]), 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", type=float, default=[1, 2, 5, 10], help="demo scales to run")
    parser.add_argument("--seed", type=int, default=None, help="demo seed (the generator's default if omitted)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the generated and staged demo here (one subfolder per scale) and reuse it")
    args = parser.parse_args(argv)
    rows, cpu = [], []
    for scale in args.scales:
        workdir = args.workdir / f"scale-{scale:g}" if args.workdir else None
        frame, kwargs = wirral_input(scale, args.seed, workdir)
        (old_links, old_review), old_cpu, old_wall = timed(scalar_fuzzy_links, frame, kwargs)
        (new_links, new_review), new_cpu, new_wall = timed(fuzzy_links, frame, kwargs)
        same = old_links.equals(new_links) and old_review.equals(new_review)
        row = {"scale": scale, "records": len(frame), "links": len(new_links), "review": len(new_review),
               "same_output": same, "old_cpu_s": round(old_cpu, 2), "old_wall_s": round(old_wall, 2),
               "new_cpu_s": round(new_cpu, 2), "new_wall_s": round(new_wall, 2),
               "cpu_ratio_new_over_old": round(new_cpu / old_cpu, 3),
               "wall_ratio_new_over_old": round(new_wall / old_wall, 3)}
        print(row, flush=True)
        if not same:
            raise SystemExit(f"scale {scale:g}: the set-wise links differ from the pair-by-pair ones")
        rows.append(row)
        cpu.append((old_cpu, new_cpu))
    sizes = [r["records"] for r in rows]
    summary = {"old_cpu_growth_exponent": growth(sizes, [old for old, _ in cpu]),
               "new_cpu_growth_exponent": growth(sizes, [new for _, new in cpu])}
    print(summary)
    return {"rows": rows, **summary}


if __name__ == "__main__":
    main()
