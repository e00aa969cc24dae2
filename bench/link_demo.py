"""Measure the register build's linking on the demo registers: precision, recall and F1 of record pairs against
the generator's truth file, and the time to build the Wirral area at several scales.

    .venv/bin/python bench/link_demo.py                 # scales 1, 2, 5, 10
    .venv/bin/python bench/link_demo.py --scales 1 --show-errors
    .venv/bin/python bench/link_demo.py --scales 1 --workdir /tmp/demo1   # stage once, rebuild on reruns

A predicted pair is two source records in the same organisation; a true pair is two records with the same
truth_org_id. Only records the build put in the area's source_record are scored, so the numbers measure
linking, not area selection (reported separately as area recall).

Linked charities: the register keeps a linked charity (subsidiary or group member) as its own organisation with
a parent_org_id (docs/linking.md), and docs/demo-data.md says the demo gives each its own truth id, but the
generator writes them under their main charity's truth id. So two sets of numbers are printed: `truth as written`
and `linked charities apart` (each linked charity scored as its own organisation, as documented). The second
measures the linking rules; the first counts every main/linked charity pair as a miss.

`names_only` scores the fuzzy name linker alone, as if no register published a company or society number: every
pair of the area's VCSE main records from different registers is a candidate, a predicted pair is a fuzzy link,
and recall is shown per name_variant_kind. In the demo nearly every pair with a hard name variant (typo, working
or previous name) also shares a company or society number, so the build itself rarely needs the name rules.

--show-errors prints the missed pairs, review pairs and wrong pairs grouped by the truth's name_variant_kind and
by cause (why the build did not link them).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from vcse_pipeline.config import Config
from vcse_pipeline.db import attach_staging, connect, run_sql_dir
from vcse_pipeline.demo.generate import demo_source_overrides, generate_demo
from vcse_pipeline.matching import MatchIndex, NameForm, score_forms
from vcse_pipeline.names import name_variants
from vcse_pipeline.pipeline import stage_source
from vcse_pipeline.postcode import register_macros
from vcse_pipeline.register.build import build_area
from vcse_pipeline.register.fuzzy_links import fuzzy_links
from vcse_pipeline.register.other_names import other_names_by_record, record_names
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


def read_truth(path: Path) -> dict[str, dict]:
    """record_id -> its truth row."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {f"{row['source']}:{row['record_key']}": row for row in csv.DictReader(fh)}


def truth_org(row: dict, linked_apart: bool) -> str:
    if linked_apart and row["legal_form"] == "linked charity":
        return f"{row['truth_org_id']}/linked/{row['source']}:{row['record_key']}"
    return row["truth_org_id"]


def stage(scale: float, seed: int | None, workdir: Path) -> tuple[Config, Path]:
    """Generate and stage the demo into workdir, unless a previous run left it there complete."""
    cfg = Config.load(path=None, overrides={**demo_source_overrides(workdir / "demo"),
                                            "paths": {"data_dir": str(workdir / "data")}})
    truth = workdir / "demo" / "truth" / "organisations.csv"
    done = workdir / "staged.json"
    if done.exists() and json.loads(done.read_text()) == {"scale": scale, "seed": seed}:
        return cfg, truth
    kwargs = {"scale": scale} if seed is None else {"scale": scale, "seed": seed}
    manifest = generate_demo(workdir / "demo", **kwargs)
    for name in SOURCE_NAMES:
        try:
            stage_source(cfg, name, [Path(p) for p in manifest["paths"][name]])
        except ModuleNotFoundError:
            # a loader not written yet: measure with that register empty, and say so
            empty = connect(cfg.staging_path(name))
            empty.execute(EMPTY_STAGING[name])
            empty.close()
    done.write_text(json.dumps({"scale": scale, "seed": seed}))
    return cfg, truth


def score(members: list[tuple[str, str]], truth: dict[str, dict], linked_apart: bool) -> dict:
    predicted: dict[str, list[str]] = defaultdict(list)
    true: dict[str, list[str]] = defaultdict(list)
    for record_id, org_id in members:
        predicted[org_id].append(record_id)
        if record_id in truth:
            true[truth_org(truth[record_id], linked_apart)].append(record_id)
    p, t = pairs(predicted), pairs(true)
    hit = len(p & t)
    precision = hit / len(p) if p else 1.0
    recall = hit / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"predicted_pairs": len(p), "true_pairs": len(t), "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4), "_missed": t - p, "_wrong": p - t}


def empty_register(path: Path, cfg: Config):
    """A new register database at `path` with the staged registers attached, ready for build_area."""
    con = connect(path)
    register_macros(con)
    attach_staging(con, cfg)
    run_sql_dir(con, "core")
    return con


def run(scale: float, seed: int | None, workdir: Path | None = None, show_errors: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg, truth_path = stage(scale, seed, workdir or Path(tmp))
        con = empty_register(Path(tmp) / "register.duckdb", cfg)
        started = time.monotonic()
        summary = build_area(con, cfg, WIRRAL)
        seconds = time.monotonic() - started
        members = con.execute("SELECT record_id, org_id FROM organisation_identifier WHERE area_code = ?",
                              [WIRRAL]).fetchall()
        truth = read_truth(truth_path)
        names_only = score_names_only(con, cfg, truth)
        diagnosis = diagnose(con, truth) if show_errors else None
        con.close()

    wirral_orgs = {row["truth_org_id"] for row in truth.values()
                   if row["is_vcse"] == "true" and row["is_active"] == "true" and row["operates_in_wirral"] == "true"}
    found_orgs = {truth[r]["truth_org_id"] for r, _ in members if r in truth}
    as_written, apart = score(members, truth, False), score(members, truth, True)
    result = {"scale": scale, "records": len(members), "organisations": summary["organisations"],
              **{k: v for k, v in apart.items() if not k.startswith("_")},
              "truth_as_written": {k: v for k, v in as_written.items() if not k.startswith("_")},
              "area_recall": round(len(found_orgs & wirral_orgs) / len(wirral_orgs), 4) if wirral_orgs else None,
              "links_by_method": summary["links_by_method"], "review": summary["review_count"],
              "build_seconds": round(seconds, 2),
              "names_only": {k: v for k, v in names_only.items() if not k.startswith("_")}}
    if diagnosis:
        diagnosis(apart["_missed"], apart["_wrong"])
        print(f"\n== names only: missed pairs {len(names_only['_missed'])}")
        for kind, a, b, rev in sorted(names_only["_missed"], key=lambda m: (m[0], m[1])):
            why = "not scored or below review" if rev is None else (
                f"review {rev[0]} {rev[1]['postcode_agreement']}/{rev[1]['town_agreement']} {rev[1]['names_differ']}")
            print(f"    [{kind}] {why}: {a} | {b}")
    return result


def score_names_only(con, cfg: Config, truth: dict[str, dict]) -> dict:
    """Precision/recall of fuzzy_links alone over the area's VCSE main records, by name variant kind."""
    rows = con.execute("SELECT record_id, source, name, postcode, town FROM source_record WHERE area_code = ? "
                       "AND is_vcse AND parent_identifier IS NULL", [WIRRAL]).fetchall()
    others = other_names_by_record(record_names(con, WIRRAL))
    frame = pd.DataFrame([{"record_id": r[0], "source": r[1], "name": r[2], "other_names": others.get(r[0], []),
                           "postcode": r[3], "town": r[4]} for r in rows])
    linking = cfg.section("linking")
    links, review = fuzzy_links(frame, link_threshold=float(linking.get("link_threshold", 90)),
                                review_threshold=float(linking.get("review_threshold", 75)))
    predicted = {frozenset(p) for p in zip(links["left_record"], links["right_record"], strict=True)}
    reviewed = {frozenset(p) for p in zip(review["left_record"], review["right_record"], strict=True)}
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record_id, source, *_ in rows:
        if record_id in truth:
            groups[truth[record_id]["truth_org_id"]].append((record_id, source))
    true: dict[frozenset[str], str] = {}
    for members in groups.values():
        for (a, sa), (b, sb) in itertools.combinations(members, 2):
            if sa != sb:
                kinds = {truth[a]["name_variant_kind"], truth[b]["name_variant_kind"]} - {"exact"}
                true[frozenset((a, b))] = "/".join(sorted(kinds)) or "exact"
    hit = predicted & set(true)
    names = {r[0]: f"{r[2]!r} {r[3]} {r[4]!r}" for r in rows}
    review_of = {frozenset(p): (s, json.loads(e)) for p, s, e in zip(
        zip(review["left_record"], review["right_record"], strict=True), review["score"], review["evidence"],
        strict=True)}
    by_kind = {kind: f"{sum(1 for p in hit if true[p] == kind)}/{n}"
               for kind, n in sorted(Counter(true.values()).items())}
    return {"true_pairs": len(true), "links": len(predicted),
            "precision": round(len(hit) / len(predicted), 4) if predicted else 1.0,
            "recall": round(len(hit) / len(true), 4) if true else 1.0,
            "true_pairs_in_review": len(reviewed & set(true)), "review": len(reviewed),
            "linked_by_kind": by_kind,
            "_missed": [(true[p], names[min(p)], names[max(p)], review_of.get(p)) for p in set(true) - predicted]}


def diagnose(con, truth: dict[str, dict]):
    """A printer of missed and wrong pairs with their cause, from the built register's tables."""
    records = {r[0]: r for r in con.execute(
        "SELECT record_id, source, name, postcode, town, is_vcse, parent_identifier FROM source_record "
        "WHERE area_code = ?", [WIRRAL]).fetchall()}
    links = con.execute("SELECT left_record, right_record, method, score, evidence FROM organisation_link "
                        "WHERE area_code = ?", [WIRRAL]).fetchall()
    review = {frozenset(r[:2]): (r[2], json.loads(r[3])) for r in con.execute(
        "SELECT left_record, right_record, score, evidence FROM link_review WHERE area_code = ?",
        [WIRRAL]).fetchall()}
    identifier_linked = {r for link in links if link[2] != "fuzzy name" for r in link[:2]}
    index = MatchIndex()
    for rid, rec in records.items():
        index.add(rid, rec[2], rec[3])
    index.finish()

    def best_name_score(a: str, b: str) -> tuple[float, bool]:
        """The best name score of a pair over their registered names, and whether blocking would find it."""
        best, blocked_in = 0.0, False
        for va in name_variants(records[a][2]):
            form = NameForm.of(va)
            entries = index.block(form, records[a][3])
            for i in index.org_entries[b]:
                s, _ = score_forms(form, index.entries[i].form, index.weight)
                best = max(best, s)
                blocked_in |= i in entries
        return round(best, 1), blocked_in

    def kind(pair) -> str:
        kinds = {truth[r]["name_variant_kind"] for r in pair if r in truth} - {"exact"}
        return "/".join(sorted(kinds)) or "exact"

    def cause(pair) -> str:
        a, b = sorted(pair)
        ra, rb = records[a], records[b]
        if ra[6] or rb[6]:
            return "linked charity (separate by design)"
        if pair in review:
            ev = review[pair][1]
            return "in review" + (" (held: location)" if ev.get("held_below_link") else "")
        if ra[1] == rb[1]:
            return "same register (no fuzzy within a register)"
        if not (ra[5] and rb[5]):
            return "not VCSE (no fuzzy candidate)"
        if a in identifier_linked or b in identifier_linked:
            return "identifier-linked record (kept out of fuzzy)"
        s, blocked_in = best_name_score(a, b)
        return f"below review (name {s})" if blocked_in else f"blocking missed (name {s})"

    def show(title, pair_set):
        print(f"\n== {title}: {len(pair_set)}")
        by = Counter((kind(p), cause(p).split(" (name")[0]) for p in pair_set)
        for (k, c), n in sorted(by.items(), key=lambda x: -x[1]):
            print(f"  {n:4d}  {k:24s} {c}")
        for p in sorted(pair_set, key=lambda p: (kind(p), sorted(p))):
            a, b = sorted(p)
            print(f"    [{kind(p)}] {cause(p)}: {records[a][2]!r} {records[a][3]} {records[a][4]!r} | "
                  f"{records[b][2]!r} {records[b][3]} {records[b][4]!r}  ({a} {b})")

    def printer(missed, wrong):
        show("missed pairs", missed)
        show("wrong pairs", wrong)
        print(f"\n== review pairs: {len(review)}")
        same = Counter("same org" if truth.get(sorted(p)[0], {}).get("truth_org_id") ==
                       truth.get(sorted(p)[1], {}).get("truth_org_id") else "different orgs" for p in review)
        print("  ", dict(same))
        for p, (s, ev) in sorted(review.items(), key=lambda x: -x[1][0]):
            a, b = sorted(p)
            same_org = truth[a]["truth_org_id"] == truth[b]["truth_org_id"]
            print(f"    {s:5.1f} {'SAME' if same_org else 'diff'} {ev['left_name']!r} / {ev['right_name']!r} "
                  f"{ev['postcode_agreement']}/{ev['town_agreement']} held={ev['held_below_link']}")

    return printer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", type=float, default=[1, 2, 5, 10], help="demo scales to run")
    parser.add_argument("--seed", type=int, default=None, help="demo seed (the generator's default if omitted)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the generated and staged demo here (one subfolder per scale) and reuse it")
    parser.add_argument("--show-errors", action="store_true", help="print missed, wrong and review pairs by cause")
    args = parser.parse_args()
    for scale in args.scales:
        workdir = args.workdir / f"scale-{scale:g}" if args.workdir else None
        print(run(scale, args.seed, workdir, args.show_errors), flush=True)


if __name__ == "__main__":
    main()
