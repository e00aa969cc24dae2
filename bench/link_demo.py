"""Measure the register build's linking on the demo registers: precision, recall and F1 of record pairs against
the generator's truth file, and the time to build the Wirral area at several scales.

    .venv/bin/python bench/link_demo.py                 # scales 1, 2, 5, 10
    .venv/bin/python bench/link_demo.py --scales 1 2

A predicted pair is two source records in the same organisation; a true pair is two records with the same
truth_org_id. Only records the build put in the area's source_record are scored, so the numbers measure
linking, not area selection (reported separately as area recall).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import tempfile
import time
from pathlib import Path

from vcse_pipeline.config import Config
from vcse_pipeline.db import attach_staging, connect, run_sql_dir
from vcse_pipeline.demo.generate import demo_source_overrides, generate_demo
from vcse_pipeline.pipeline import stage_source
from vcse_pipeline.postcode import register_macros
from vcse_pipeline.register.build import build_area
from vcse_pipeline.sources import SOURCE_NAMES

WIRRAL = "E08000015"
# Contract tables (docs/architecture.md) for a source whose loader is not there yet.
EMPTY_STAGING = {
    "fca_mutuals": """CREATE TABLE society (society_number BIGINT, society_suffix VARCHAR, registration_number VARCHAR,
        society_name VARCHAR, registered_as VARCHAR, society_address VARCHAR, postcode VARCHAR, registration_date DATE,
        deregistration_date DATE, registration_act VARCHAR, sic_code VARCHAR, reporting_classification VARCHAR,
        society_status VARCHAR)""",
    "ukcat": """CREATE TABLE ukcat_tag (code VARCHAR, tag VARCHAR, category VARCHAR, subcategory VARCHAR, level INTEGER,
        notes VARCHAR, related_icnptso VARCHAR, regex VARCHAR, exclude_regex VARCHAR)""",
}


def pairs(groups: dict[str, list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for members in groups.values() for p in itertools.combinations(sorted(members), 2)}


def truth_groups(path: Path) -> tuple[dict[str, str], set[str]]:
    """record_id -> truth_org_id, and the truth orgs that are active VCSEs operating in Wirral."""
    record_org, wirral_orgs = {}, set()
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            record_org[f"{row['source']}:{row['record_key']}"] = row["truth_org_id"]
            if row["is_vcse"] == "true" and row["is_active"] == "true" and row["operates_in_wirral"] == "true":
                wirral_orgs.add(row["truth_org_id"])
    return record_org, wirral_orgs


def run(scale: float, seed: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kwargs = {"scale": scale} if seed is None else {"scale": scale, "seed": seed}
        manifest = generate_demo(tmp / "demo", **kwargs)
        cfg = Config.load(path=None, overrides={**demo_source_overrides(tmp / "demo"),
                                                "paths": {"data_dir": str(tmp / "data")}})
        missing = []
        for name in SOURCE_NAMES:
            try:
                stage_source(cfg, name, [Path(p) for p in manifest["paths"][name]])
            except ModuleNotFoundError:
                # a loader not written yet: measure with that register empty, and say so
                missing.append(name)
                empty = connect(cfg.staging_path(name))
                empty.execute(EMPTY_STAGING[name])
                empty.close()
        con = connect(tmp / "register.duckdb")
        register_macros(con)
        attach_staging(con, cfg)
        run_sql_dir(con, "core")
        started = time.monotonic()
        summary = build_area(con, cfg, WIRRAL)
        seconds = time.monotonic() - started
        members = con.execute("SELECT record_id, org_id FROM organisation_identifier WHERE area_code = ?",
                              [WIRRAL]).fetchall()
        con.close()
        record_org, wirral_orgs = truth_groups(Path(manifest["paths"]["truth"][0]))

    predicted: dict[str, list[str]] = {}
    true: dict[str, list[str]] = {}
    for record_id, org_id in members:
        predicted.setdefault(org_id, []).append(record_id)
        if record_id in record_org:
            true.setdefault(record_org[record_id], []).append(record_id)
    p, t = pairs(predicted), pairs(true)
    hit = len(p & t)
    precision = hit / len(p) if p else 1.0
    recall = hit / len(t) if t else 1.0
    found_orgs = {record_org[r] for r, _ in members if r in record_org}
    return {"scale": scale, "records": len(members), "organisations": summary["organisations"],
            "predicted_pairs": len(p), "true_pairs": len(t), "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(2 * precision * recall / (precision + recall), 4)
            if precision + recall else 0.0,
            "area_recall": round(len(found_orgs & wirral_orgs) / len(wirral_orgs), 4) if wirral_orgs else None,
            "links_by_method": summary["links_by_method"], "review": summary["review_count"],
            "build_seconds": round(seconds, 2), "sources_without_loader": missing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", type=float, default=[1, 2, 5, 10], help="demo scales to run")
    parser.add_argument("--seed", type=int, default=None, help="demo seed (the generator's default if omitted)")
    args = parser.parse_args()
    for scale in args.scales:
        print(run(scale, args.seed), flush=True)


if __name__ == "__main__":
    main()
