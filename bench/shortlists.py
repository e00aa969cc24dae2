"""Measure contract-notice shortlists on the demo register: precision at 10 against the demo truth.

For every notice of the bundled Contracts Finder sample (tests/fixtures/ocds/contracts-finder-sample.json) that
asks for a service the register can provide, `match_notice` ranks the demo's providers, and each of the top ten
is checked against the demo truth's `services` (what each organisation sets out to provide; docs/demo-data.md):
precision at 10 is the share of the top ten (of the whole shortlist when it is shorter) that provide a service
the notice asks for. A notice none of whose services any active organisation of the register sets out to provide
(by the truth) is reported as such and not scored. NOTICES below says which services each notice asks for, read
from its title and description; the notices that ask for nothing a VCSE register holds (a light-trail
installation, market stalls, a test release) are listed with the reason and not scored. Also printed: how many
providers the notice shortlists at all (without a limit) and the rank of the first that provides the service.

    python bench/shortlists.py [--data-dir DIR] [--scale 0.3] [--k 10] [--json OUT.json]

Without --data-dir the demo is generated and built into a temporary folder at --scale (as `vcse demo`); with
it, DIR is a `vcse demo --data-dir DIR` folder (its register and demo-sources/truth/organisations.csv).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcse_pipeline.procurement.opportunities import match_notice  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ocds" / "contracts-finder-sample.json"
AREA = "E08000015"
# release id prefix -> (short title, the services it asks for: a provider of any of them provides it)
NOTICES = {
    "53216327": ("Day opportunities for older people (Warwickshire)", {"older_people", "adult_social_care"}),
    "15700454": ("Equalities and cultural diversity support (hate crime, schools)", {"equality_rights"}),
    "3dee8a58": ("Short breaks and domiciliary care for disabled children", {"disability"}),
    "d88b957b": ("Domestic abuse IDVA and therapeutic programme", {"domestic_abuse"}),
    "43fda075": ("Domestic abuse support services for children", {"domestic_abuse"}),
    "59b57e42": ("Lancashire victim services: domestic abuse", {"domestic_abuse"}),
    "ocds-kuma6s-148107": ("Adult mental health services (Hywel Dda)", {"mental_health"}),
}
NOT_SCORED = {
    "4bff9fae": "a light-trail installation event: a commercial events contract",
    "7522f71d": "market stalls at Princes Pavement: a property letting",
    "3ab2696f": "market stalls at Princes Pavement: a property letting",
    "ocds-kuma6s-148458": "a test release (\"Test Natasha\")",
}


def truth_services(path: Path) -> dict[tuple[str, str], set[str]]:
    """{(source, record key): services the record's organisation sets out to provide}."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {(row["source"], row["record_key"]): set(filter(None, row.get("services", "").split(";")))
                for row in csv.DictReader(fh)}


def provided(con, truth: dict, org_id: str) -> set[str]:
    records = con.execute("SELECT record_id FROM organisation_identifier WHERE org_id = ?", [org_id]).fetchall()
    found: set[str] = set()
    for (record_id,) in records:
        source, key = record_id.split(":", 1)
        found |= truth.get((source, key), set())
    return found


def providers_in_register(con, truth: dict, wanted: set[str]) -> int:
    """Active organisations of the register that set out to provide one of the services (by the truth)."""
    orgs = con.execute("SELECT org_id FROM organisation WHERE area_code = ? AND is_active", [AREA]).fetchall()
    return sum(1 for (org_id,) in orgs if provided(con, truth, org_id) & wanted)


def score_notice(con, truth: dict, release: dict, wanted: set[str], k: int) -> dict:
    available = providers_in_register(con, truth, wanted)
    if not available:   # the register cannot provide it: nothing to rank
        return {"providers_in_register": 0, "precision_at_k": None, "shortlisted": None,
                "first_relevant_rank": None, "top_names": []}
    everyone = match_notice(con, release, AREA, limit=0)
    top = everyone[:k]
    hits = [bool(provided(con, truth, m.org_id) & wanted) for m in top]
    first = next((i + 1 for i, m in enumerate(everyone) if provided(con, truth, m.org_id) & wanted), None)
    return {"providers_in_register": available, "shortlisted": len(everyone), "top": len(top),
            "relevant_in_top": sum(hits),
            "precision_at_k": round(sum(hits) / len(top), 3) if top else None, "first_relevant_rank": first,
            "top_names": [(m.name, ok) for m, ok in zip(top, hits, strict=True)]}


def build_demo(scale: float, workdir: Path) -> Path:
    from typer.testing import CliRunner

    from vcse_pipeline.cli import app

    data_dir = workdir / "data"
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(data_dir), "--scale", str(scale)],
                                env={"VCSE__DOWNLOAD__PROGRESS": "false"})
    if result.exit_code != 0:
        raise SystemExit(f"vcse demo failed: {result.output}")
    return data_dir


def run(data_dir: Path, k: int = 10, truth_path: Path | None = None) -> dict:
    truth = truth_services(truth_path or data_dir / "demo-sources" / "truth" / "organisations.csv")
    releases = json.loads(SAMPLE.read_text(encoding="utf-8"))["releases"]
    con = duckdb.connect(str(data_dir / "register" / "vcse_register.duckdb"), read_only=True)
    results = {}
    for release in releases:
        key = next((p for p in NOTICES if str(release["id"]).startswith(p)), None)
        if key is None:
            continue
        title, wanted = NOTICES[key]
        results[title] = score_notice(con, truth, release, wanted, k)
    con.close()
    return results


def print_report(results: dict, k: int) -> None:
    print(f"{'notice':66} {'providers':>9} {'shortlisted':>11} {f'P@{k}':>6} {'first':>5}")
    for title, r in results.items():
        if r["precision_at_k"] is None:
            print(f"{title:66} {r['providers_in_register']:9}   not scored: no organisation provides it")
            continue
        print(f"{title:66} {r['providers_in_register']:9} {r['shortlisted']:11} {r['precision_at_k']:6.1f} "
              f"{r['first_relevant_rank'] or '-':>5}")
    print("\nnot scored (they ask for nothing a VCSE register holds):")
    for prefix, why in NOT_SCORED.items():
        print(f"  {prefix}: {why}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a `vcse demo --data-dir` folder (default: build one)")
    parser.add_argument("--truth", type=Path, help="the demo truth file (default: the data folder's)")
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--show", action="store_true", help="print each notice's top names")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or build_demo(args.scale, Path(tmp))
        results = run(data_dir, args.k, args.truth)
    print_report(results, args.k)
    if args.show:
        for title, r in results.items():
            print(f"\n{title}")
            for name, ok in r["top_names"]:
                print(f"  {'+' if ok else '-'} {name}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
