"""What an officer typed (area, ward, service area, legal form) -> the register's own codes and values.

Forgiving where it is safe (case, punctuation, "&" for "and", codes or names, close misspellings of a service
area when only one fits), and otherwise a PipelineError that lists the choices with close matches, so a typo
never quietly returns an empty list. Used by `vcse find`, `vcse report` and `vcse opportunities`.
"""

from __future__ import annotations

import duckdb
from rapidfuzz import fuzz, process

from ..errors import PipelineError
from ..lookups import SUGGEST_CUTOFF, area_name, area_profile_named, key, plain, unknown

AUTO_ACCEPT = 88           # rapidfuzz WRatio a service area needs to be taken without asking, when no other
AUTO_MARGIN = 8            # ...choice comes within AUTO_MARGIN

# Short forms officers use -> a fragment of the register's legal_form values (compared without punctuation).
LEGAL_FORM_SHORT = {
    "cic": "community interest company",
    "cio": "charitable incorporated organisation",
    "charity": "charit",                       # every kind of registered charity
    "charities": "charit",
    "cbs": "community benefit society",
    "coop": "co-operative",
    "cooperative": "co-operative",
    "clg": "company limited by guarantee",
    "society": "registered society",
    "mutual": "registered society",
}


# ------------------------------------------------------------------------------------------------ areas

def register_areas(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """area code -> area name, for the areas built into the register."""
    codes = [r[0] for r in con.execute("SELECT DISTINCT area_code FROM organisation ORDER BY 1").fetchall()]
    return {code: area_name(code) for code in codes}


def resolve_area(con: duckdb.DuckDBPyConnection, typed: str) -> str:
    """The area code for a GSS code or area name in the register ("wirral", "E08000015")."""
    areas = register_areas(con)
    for code, name in areas.items():
        if key(typed) in (key(code), key(name)):
            return code
    shown = [f"{name} ({code})" for code, name in areas.items()]
    elsewhere = area_profile_named(typed)
    if elsewhere:  # a real council, just not one this register was built for
        raise PipelineError(f"the register does not cover {elsewhere['area_name']} ({elsewhere['area_code']}); "
                            f"choose from: {', '.join(shown)}")
    raise unknown("area", typed, shown, "vcse find --list areas")


# ------------------------------------------------------------------------------------------------ wards

def register_wards(con: duckdb.DuckDBPyConnection, area_code: str | None = None) -> list[tuple[str, str]]:
    """(ward code, ward name) of the area's wards (area_ward) and of every ward a provider is based in."""
    rows = con.execute("""
        SELECT ward_code, any_value(ward_name) FROM (
            SELECT ward_code, ward_name FROM area_ward WHERE ? IS NULL OR area_code = ?
            UNION ALL
            SELECT ward_code, ward_name FROM provider_directory
            WHERE ward_code IS NOT NULL AND (? IS NULL OR area_code = ?))
        GROUP BY ward_code ORDER BY 2, 1""", [area_code] * 4).fetchall()
    return [(code, name or code) for code, name in rows]


def resolve_ward(con: duckdb.DuckDBPyConnection, typed: str, area_code: str | None = None) -> list[str]:
    """Ward codes for a ward code or name, ignoring case, punctuation and "&"/"and" (a name shared by wards in
    several areas gives each of their codes)."""
    wards = register_wards(con, area_code)
    codes = [code for code, name in wards if key(typed) in (key(code), key(name))]
    if codes:
        return codes
    # suggest the area's own wards, not those of every town a provider from elsewhere is based in
    own = {r[0] for r in con.execute("SELECT ward_code FROM area_ward WHERE ? IS NULL OR area_code = ?",
                                     [area_code, area_code]).fetchall()}
    names = sorted({name for code, name in wards if code in own or not own})
    raise unknown("ward", typed, names, "vcse find --list wards")


# ---------------------------------------------------------------------------------------- service areas

def known_service_areas(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """service_area code -> label."""
    return dict(con.execute("SELECT service_area, coalesce(label, service_area) FROM service_area "
                            "ORDER BY 2").fetchall())


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in plain(text).split() if w != "and"}


def resolve_service_area(known: dict[str, str], typed: str, notes: list[str] | None = None) -> str:
    """The code for a service area code or label, any case and punctuation; a label's own words ("mental health");
    or a close misspelling when only one service area fits (noted in `notes`)."""
    exact = [code for code, label in known.items() if key(typed) in (key(code), key(label))]
    if exact:
        return exact[0]
    words = _words(typed)
    by_words = [code for code, label in known.items() if words and words <= _words(label)]
    if len(by_words) == 1:
        return by_words[0]
    if len(by_words) > 1:
        could = ", ".join(f"{known[c]} ({c})" for c in by_words)
        raise PipelineError(f"service area {typed!r} could mean any of: {could}; give one of them")
    choices = {code: plain(code) for code in known} | {f"label:{code}": plain(label) for code, label in known.items()}
    scored = process.extract(plain(typed), choices, scorer=fuzz.WRatio, limit=None, score_cutoff=SUGGEST_CUTOFF)
    best: dict[str, float] = {}
    for _plain, score, choice in scored:
        code = choice.removeprefix("label:")
        best[code] = max(best.get(code, 0), score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if ranked and ranked[0][1] >= AUTO_ACCEPT and (len(ranked) == 1 or ranked[1][1] < ranked[0][1] - AUTO_MARGIN):
        code = ranked[0][0]
        if notes is not None:
            notes.append(f"read service area {typed!r} as {known[code]} ({code})")
        return code
    labelled = {code: f"{label} ({code})" for code, label in known.items()}
    raise unknown("service area", typed, list(labelled.values()), "vcse find --list services",
                  near=[labelled[c] for c, _s in ranked[:3]])


def resolve_service_areas(con: duckdb.DuckDBPyConnection, names: list[str],
                          notes: list[str] | None = None) -> list[str]:
    """Service area codes for what the user typed; a clear error listing labels and codes otherwise."""
    known = known_service_areas(con)
    return [resolve_service_area(known, name, notes) for name in names]


# ----------------------------------------------------------------------------------------- legal forms

def register_legal_forms(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT legal_form FROM provider_directory "
                                      "WHERE legal_form IS NOT NULL ORDER BY 1").fetchall()]


def resolve_legal_forms(con: duckdb.DuckDBPyConnection, typed: list[str]) -> list[str]:
    """The register's legal_form values meant by each typed form: a short form (CIC, CIO, charity, CBS, co-op,
    CLG), or part of the legal form ("community interest"), ignoring case and punctuation."""
    forms = register_legal_forms(con)
    chosen: list[str] = []
    for text in typed:
        fragment = key(LEGAL_FORM_SHORT.get(key(text), text))
        found = [f for f in forms if fragment and fragment in key(f)]
        if not found:
            raise unknown("legal form", text, forms, "vcse find --list legal-forms")
        chosen += [f for f in found if f not in chosen]
    return chosen


def short_forms(legal_form: str) -> list[str]:
    """The short forms that select `legal_form` (for listing the choices)."""
    return [{"coop": "co-op"}.get(short, short) for short, fragment in LEGAL_FORM_SHORT.items()
            if key(fragment) in key(legal_form) and short not in ("charities", "cooperative")]


# ------------------------------------------------------------------------------------------- listing

def list_choices(con: duckdb.DuckDBPyConnection, kind: str,
                 area: str | None = None) -> tuple[str, list[str], list[tuple]]:
    """(title, column names, rows) of the values a filter accepts, each with its number of active providers:
    kind is services, wards, legal-forms or areas."""
    if area is not None and not area.strip():   # an empty --area is no scope: it would list every area's values
        raise PipelineError("--area is empty: give a value, or leave the option out to list every area's")
    area_code = resolve_area(con, area) if area else None
    scope = "WHERE ? IS NULL OR area_code = ?"
    if kind == "services":
        counts = dict(con.execute(f"SELECT s, count(*) FROM (SELECT unnest(service_areas) AS s FROM provider_directory "
                                  f"{scope}) GROUP BY s", [area_code, area_code]).fetchall())
        rows = [(label, code, counts.get(code, 0)) for code, label in known_service_areas(con).items()]
        return "Service areas (--service takes the label or the code)", ["service area", "code", "providers"], rows
    if kind == "wards":
        counts = dict(con.execute(f"SELECT ward_code, count(*) FILTER (WHERE based_in_area) FROM provider_directory "
                                  f"{scope} GROUP BY ward_code", [area_code, area_code]).fetchall())
        in_area = {r[0] for r in con.execute(f"SELECT ward_code FROM area_ward {scope}", [area_code, area_code])
                   .fetchall()}
        rows = [(name, code, counts.get(code, 0)) for code, name in register_wards(con, area_code) if code in in_area]
        return "Wards (--ward takes the name or the code)", ["ward", "code", "providers based there"], rows
    if kind == "legal-forms":
        rows = con.execute(f"SELECT legal_form, count(*) FROM provider_directory {scope} GROUP BY 1 ORDER BY 1",
                           [area_code, area_code]).fetchall()
        return ("Legal forms (--legal-form takes a short form or part of the name)",
                ["legal form", "short forms", "providers"],
                [(form, ", ".join(short_forms(form)), n) for form, n in rows if form is not None])
    if kind == "areas":
        counts = dict(con.execute("SELECT area_code, count(*) FROM provider_directory GROUP BY 1").fetchall())
        return ("Areas (--area takes the name or the GSS code)", ["area", "code", "providers"],
                [(name, code, counts.get(code, 0)) for code, name in register_areas(con).items()
                 if area_code in (None, code)])
    raise unknown("list", kind, ["services", "wards", "legal-forms", "areas"])
