"""Reading what a person typed against the values a program knows, in one wording everywhere.

Used by the build (pipeline.resolve_areas) and by the procurement commands (choices, find, report,
opportunities), so neither pulls in the other's code: comparing typed text (`plain`, `key`), close matches,
the one "unknown X" error, --limit checks, the area profiles (procurement/area_profiles.csv, read once) and the
postcode statuses that mean "postcode not found".
"""

from __future__ import annotations

import csv
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import duckdb
from rapidfuzz import fuzz, process

from .errors import PipelineError

SUGGEST_CUTOFF = 70        # rapidfuzz WRatio (0-100) a choice needs to be offered as "did you mean"
LIST_ALL_UP_TO = 40        # an error lists every choice when there are no more than this
AREA_PROFILES = Path(__file__).parent / "procurement" / "area_profiles.csv"
AREA_PROFILE_FIELDS = ("area_code", "area_name", "county", "region", "region_codes", "places")
# organisation.postcode_status values for a postcode on record that places the provider nowhere (mistyped,
# too new, or not a postcode at all): "postcode not found" in the report and in `vcse find`.
POSTCODE_NOT_FOUND = ("not in postcode directory", "malformed")


def plain(text: str) -> str:
    """Lower case words without accents ("Café" -> "cafe", NFKD), "&" read as "and", apostrophes dropped, other
    punctuation a space."""
    text = "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c))
    text = text.lower().replace("&", " and ")
    text = re.sub(r"['’`]", "", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def key(text: str) -> str:
    """`plain` without the word "and" or spaces, for comparing: "Birkenhead & Tranmere" and "birkenhead tranmere"
    are alike, as are "mental_health", "Mental health" and "mentalhealth"."""
    return "".join(w for w in plain(text).split() if w != "and")


def close_matches(typed: str, choices: list[str], limit: int = 3) -> list[str]:
    """The choices most like `typed` (spelling and partial names), best first."""
    scored = process.extract(plain(typed), {c: plain(c) for c in choices}, scorer=fuzz.WRatio,
                             limit=limit, score_cutoff=SUGGEST_CUTOFF)
    return [choice for _plain, _score, choice in scored]


def unknown(what: str, typed: str, choices: list[str], list_command: str | None = None,
            near: list[str] | None = None) -> PipelineError:
    """The one wording of every unknown-value error, as an error to raise:
    `unknown ward 'X' (did you mean A or B?); choose from: A, B, C (`vcse find --list wards` lists them)`.

    `near` overrides the close matches found here. Choices keep the order given, separated by "; " when one of
    them has a comma ("Arts, culture and heritage"), else by ", ". Over LIST_ALL_UP_TO choices are listed only
    when no command lists them; then their number is given instead.
    """
    message = f"unknown {what} {typed!r}"
    near = close_matches(typed, choices) if near is None else near
    if near:
        message += " (did you mean " + " or ".join(near) + "?)"
    if len(choices) <= LIST_ALL_UP_TO:
        separator = "; " if any("," in c for c in choices) else ", "
        message += "; choose from: " + separator.join(choices) + (f" (`{list_command}` lists them)"
                                                                  if list_command else "")
    elif list_command:
        message += f"; `{list_command}` lists them"
    else:
        message += f"; there are {len(choices):,} to choose from"
    return PipelineError(message)


def check_limit(limit: int | None, what: str, minimum: int = 0) -> None:
    """--limit below `minimum` is an error in the same words everywhere (not a usage box); None is no limit."""
    if limit is None or limit >= minimum:
        return
    if minimum == 0:
        raise PipelineError(f"--limit {limit}: give a number of {what}, 0 or more (0 lists them all)")
    raise PipelineError(f"--limit {limit}: give a number of {what}, {minimum} or more")


# ------------------------------------------------------------------------------------------------ areas

@lru_cache(maxsize=1)
def _area_profiles() -> tuple[dict, ...]:
    with AREA_PROFILES.open(encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def area_profile(area_code: str) -> dict:
    """The council's profile (name, county, region, NUTS/ITL codes, places) by GSS code; blanks when unknown."""
    row = next((r for r in _area_profiles() if r["area_code"] == area_code), None)
    return dict(row) if row else {f: area_code if f == "area_code" else "" for f in AREA_PROFILE_FIELDS}


def area_profile_named(typed: str) -> dict | None:
    """The area profile whose code or name is `typed` (any case and punctuation), if any."""
    row = next((r for r in _area_profiles() if key(typed) in (key(r["area_code"]), key(r["area_name"]))), None)
    return dict(row) if row else None


def area_name(area_code: str) -> str:
    """ "Wirral" for E08000015; the code itself for a council the profiles do not name."""
    return area_profile(area_code)["area_name"] or area_code


def single_area(con: duckdb.DuckDBPyConnection) -> str:
    """The register's only area; an error asking for --area when it holds several (or none)."""
    areas = [r[0] for r in con.execute("SELECT DISTINCT area_code FROM organisation ORDER BY 1").fetchall()]
    if len(areas) != 1:
        raise PipelineError(f"the register holds {len(areas)} areas ({', '.join(areas)}): choose one with --area")
    return areas[0]
