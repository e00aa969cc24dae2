"""Write the whole demo dataset: the four registers in their real formats, UKCAT, and the ground truth."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from . import writers
from .organisations import DemoWorld
from .spend import write_spend_year

DEFAULT_SEED = 20261121
CCEW_TABLES = ("charity", "charity_classification", "charity_area_of_operation", "charity_other_names",
               "charity_governing_document", "charity_annual_return_history", "charity_annual_return_parta",
               "charity_annual_return_partb")
COMPANIES_FILE = "BasicCompanyDataAsOneFile-2026-11-01"
ONSPD_FILE = "ONSPD_NOV_2025_UK"
WARD_LOOKUP = "Documents/Ward names and codes UK as at 05_25.csv"
LA_LOOKUP = "Documents/LA_UA names and codes UK as at 04_25.csv"
PACKAGE_DIR = Path(__file__).resolve().parent
UKCAT_FILE = PACKAGE_DIR.parent / "reference" / "ukcat.csv"
CLASSIFICATION_FILE = PACKAGE_DIR / "ccew_classification.csv"


def _classification_labels() -> dict[int, tuple[str, str]]:
    with CLASSIFICATION_FILE.open(encoding="utf-8", newline="") as fh:
        return {int(r["classification_code"]): (r["classification_type"], r["classification_description"])
                for r in csv.DictReader(fh)}


def _count(lines) -> tuple[list[str], int]:
    lines = list(lines)
    return lines, len(lines) - 1


def generate_demo(out_dir: Path, *, seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict:
    """Write the demo registers under out_dir and return a manifest (paths, row counts, seed, scale).

    The same seed and scale always give byte-identical files.
    """
    out_dir = Path(out_dir)
    world = DemoWorld(seed, scale)
    rows: dict[str, int] = {}
    paths: dict[str, list[str]] = {}

    charities = sorted(world.charities, key=lambda c: c.organisation_number)
    returns = {c.organisation_number: writers.AnnualReturns(c, seed) for c in charities}
    labels = _classification_labels()
    table_lines = {
        "charity": writers.charity_rows(charities, returns),
        "charity_classification": writers.classification_rows(charities, labels),
        "charity_area_of_operation": writers.area_rows(charities),
        "charity_other_names": writers.other_name_rows(charities),
        "charity_governing_document": writers.governing_rows(charities),
        "charity_annual_return_history": writers.history_rows(charities, returns),
        "charity_annual_return_parta": writers.parta_rows(charities, returns, seed),
        "charity_annual_return_partb": writers.partb_rows(charities, returns, seed),
    }
    paths["charity_commission"] = []
    for table in CCEW_TABLES:
        lines, rows[f"charity_commission.{table}"] = _count(table_lines[table])
        path = out_dir / "charity_commission" / f"publicextract.{table}.zip"
        writers.write_zip(path, [(f"publicextract.{table}.txt", lines)])
        paths["charity_commission"].append(str(path))

    lines, rows["companies_house.company"] = _count(writers.company_rows(world.companies, seed))
    path = out_dir / "companies_house" / f"{COMPANIES_FILE}.zip"
    writers.write_zip(path, [(f"{COMPANIES_FILE}.csv", lines)])
    paths["companies_house"] = [str(path)]

    lines, rows["postcodes.postcode"] = _count(writers.onspd_rows(world.geo))
    wards, rows["postcodes.ward"] = _count(writers.ward_lookup_rows(world.geo))
    las, rows["postcodes.local_authority"] = _count(writers.la_lookup_rows(world.geo))
    path = out_dir / "postcodes" / f"{ONSPD_FILE}.zip"
    writers.write_zip(path, [(f"Data/{ONSPD_FILE}.csv", lines), (WARD_LOOKUP, wards), (LA_LOOKUP, las)])
    paths["postcodes"] = [str(path)]

    lines, rows["fca_mutuals.society"] = _count(writers.society_rows(world.societies))
    path = out_dir / "fca_mutuals" / "SocietyList.csv"
    _write_text(path, lines)
    paths["fca_mutuals"] = [str(path)]

    path = out_dir / "ukcat" / "ukcat.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(UKCAT_FILE, path)
    with path.open(encoding="utf-8", newline="") as fh:
        rows["ukcat.ukcat_tag"] = sum(1 for _ in csv.DictReader(fh))
    paths["ukcat"] = [str(path)]

    truth = world.truth_rows()
    lines, rows["truth.organisations"] = _count(writers.truth_lines(truth))
    path = out_dir / "truth" / "organisations.csv"
    _write_text(path, lines)
    paths["truth"] = [str(path)]

    # A year of the council's payments to the world's organisations (local spend, docs/spend.md).
    spend = write_spend_year(world, seed, out_dir)
    paths["spend"] = spend["paths"]
    paths["truth"].append(spend["truth"])
    rows["spend.lines"] = spend["lines"]

    return {"seed": seed, "scale": scale, "out_dir": str(out_dir), "paths": paths, "rows": rows,
            "organisations": len({t.truth_org_id for t in truth}),
            "vcse_operating_in_wirral": len({t.truth_org_id for t in truth
                                             if t.is_vcse and t.is_active and t.operates_in_wirral})}


def _write_text(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.writelines(lines)


def demo_source_overrides(out_dir: Path) -> dict:
    """Configuration overrides that point every source at the demo files under out_dir."""
    out_dir = Path(out_dir).resolve()
    return {"sources": {
        "charity_commission": {"url": str(out_dir / "charity_commission" / "publicextract.{table}.zip")},
        "companies_house": {"url": str(out_dir / "companies_house" / f"{COMPANIES_FILE}.zip")},
        "postcodes": {"url": str(out_dir / "postcodes" / f"{ONSPD_FILE}.zip")},
        "fca_mutuals": {"url": str(out_dir / "fca_mutuals" / "SocietyList.csv")},
        "ukcat": {"url": str(out_dir / "ukcat" / "ukcat.csv")},
    }}
