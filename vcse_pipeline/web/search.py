"""The Find providers form: what an officer filled in, read forgivingly, run through procurement.find.

The filters are `vcse find`'s (procurement.find.find_providers and the forgiving readers of procurement.choices:
any case, "&" for "and", codes or names, a close misspelling of a service area when only one fits, else an error
with "did you mean"). Each value is resolved on its own first so that an error is shown beside its own field.
Two filters the CLI leaves to the user are applied to the result here: based in the area or only operating in it,
and the order of the list. Every value reaches DuckDB as a parameter (find_providers and choices do that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from urllib.parse import urlencode

import duckdb

from ..errors import PipelineError
from ..lookups import area_name
from ..procurement.choices import (
    known_service_areas,
    list_choices,
    register_areas,
    register_legal_forms,
    resolve_area,
    resolve_legal_forms,
    resolve_service_areas,
    resolve_ward,
)
from ..procurement.find import READINESS_LEVELS, FindQuery, FindResult, find_providers, resolve_district
from .render import for_officers, money

# Income bands of the form: (value, label, least, most); min_income / max_income give any other range. Each income
# is in one band (provider_readiness's income_band's: under £10k, £10k-£100k, £100k-£1m, over £1m, each from its
# lower bound up to, not including, the next one's).
INCOME_BANDS = (("under-10k", "Under £10,000", None, 9_999.99),
                ("10k-100k", "£10,000 to £99,999", 10_000, 99_999.99),
                ("100k-1m", "£100,000 to £999,999", 100_000, 999_999.99),
                ("over-1m", "£1 million or more", 1_000_000, None))
BASED = (("", "Based in the area or working in it from elsewhere"), ("based", "Based in the area"),
         ("operates", "Working in the area from elsewhere"))
SORTS = {"best": "Best match", "name": "Name (A to Z)", "income": "Income (highest first)",
         "distance": "Distance (nearest first)"}
MAX_PAGE_SIZE = 500


@dataclass
class Search:
    """The form's fields as typed (text), so the page can show them back unchanged."""

    keywords: str = ""
    service: list[str] = field(default_factory=list)
    ward: str = ""
    district: str = ""
    near: str = ""
    within_km: str = ""
    legal_form: list[str] = field(default_factory=list)
    income: str = ""
    min_income: str = ""
    max_income: str = ""
    readiness: list[str] = field(default_factory=list)
    based: str = ""
    area: str = ""
    sort: str = "best"
    page: int = 1

    LISTS = ("service", "legal_form", "readiness")

    @classmethod
    def from_params(cls, params) -> Search:
        """From a query string (a starlette QueryParams or a dict of lists): unknown keys are ignored, text is
        trimmed and cut to a sane length, empty repeated values dropped."""
        values: dict = {}
        for f in fields(cls):
            if f.name in cls.LISTS:
                values[f.name] = [v.strip()[:200] for v in params.getlist(f.name) if v.strip()][:20]
            elif f.name == "page":
                raw = (params.get("page") or "1").strip()[:6]
                # ASCII digits only: str.isdigit() is also true of "²" and other digits int() refuses
                values["page"] = max(1, int(raw)) if raw.isascii() and raw.isdigit() else 1
            else:
                values[f.name] = (params.get(f.name) or "").strip()[:200]
        if values["sort"] not in SORTS:
            values["sort"] = "best"
        return cls(**values)

    def params(self, **changes) -> list[tuple[str, str]]:
        """The search as query-string pairs (empty ones left out), with `changes` applied."""
        pairs = []
        for f in fields(self):
            value = changes.get(f.name, getattr(self, f.name))
            if f.name in self.LISTS:
                pairs += [(f.name, v) for v in value]
            elif value not in ("", None) and not (f.name == "sort" and value == "best") and \
                    not (f.name == "page" and value == 1):
                pairs.append((f.name, str(value)))
        return pairs

    def query(self, **changes) -> str:
        return urlencode(self.params(**changes))

    def page_href(self, page: int) -> str:
        return "/providers?" + self.query(page=page)

    @property
    def given(self) -> bool:
        return any(value for name, value in self.params() if name not in ("sort", "page"))


@dataclass
class SearchOutcome:
    search: Search
    errors: dict[str, str] = field(default_factory=dict)   # field name -> message, in the form's order
    result: FindResult | None = None
    rows: list[dict] = field(default_factory=list)          # every match, filtered and sorted
    total_providers: int = 0                                # in the register (the searched area)
    notes: list[str] = field(default_factory=list)
    area_code: str | None = None
    description: str = ""

    @property
    def matched(self) -> int:
        return len(self.rows)

    def page_rows(self, page_size: int) -> list[dict]:
        start = (self.page(page_size) - 1) * page_size
        return self.rows[start:start + page_size]

    def pages(self, page_size: int) -> int:
        return max(1, math.ceil(self.matched / page_size))

    def page(self, page_size: int) -> int:
        return min(self.search.page, self.pages(page_size))


def _number(text: str, label: str, errors: dict, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text.replace(",", "").replace("£", "").strip())
    except ValueError:
        errors[name] = f"{label} must be a number, like 50000"
        return None
    if not math.isfinite(value) or value < 0:
        errors[name] = f"{label} must be 0 or more"
        return None
    return value


def _income_range(search: Search, errors: dict) -> tuple[float | None, float | None]:
    least = _number(search.min_income, "Income from", errors, "min_income")
    most = _number(search.max_income, "Income up to", errors, "max_income")
    band = next((b for b in INCOME_BANDS if b[0] == search.income), None)
    if search.income and band is None:
        errors["income"] = "Choose an income band from the list"
    elif band and (search.min_income or search.max_income):
        # Both given: neither is applied silently over the other (the page would describe one, the select show the
        # other); the officer chooses.
        errors["income"] = "Choose an income band or enter another income range, not both"
    elif band:
        least, most = band[2], band[3]
    if least is not None and most is not None and least > most:
        errors["min_income"] = f"Income from ({money(least)}) must not be more than income up to ({money(most)})"
    return least, most


def _resolve(errors: dict, name: str, action):
    """action(), or None with its error message recorded against the field `name`."""
    try:
        return action()
    except PipelineError as exc:
        errors[name] = for_officers(str(exc))
        return None


def run_search(con: duckdb.DuckDBPyConnection, search: Search) -> SearchOutcome:
    """The providers matching `search`, or the errors to show beside its fields."""
    outcome = SearchOutcome(search)
    errors, notes = outcome.errors, outcome.notes
    area_code = _resolve(errors, "area", lambda: resolve_area(con, search.area)) if search.area else None
    outcome.area_code = area_code
    # each service box's error on its own input (ids service, service-2, ... as the form numbers them)
    services = [_resolve(errors, "service" if i == 1 else f"service-{i}",
                         lambda s=s: resolve_service_areas(con, [s], notes)[0])
                for i, s in enumerate(search.service, start=1)]
    if search.ward:
        _resolve(errors, "ward", lambda: resolve_ward(con, search.ward, area_code))
    if search.district:
        _resolve(errors, "district", lambda: resolve_district(con, search.district, area_code))
    for i, form in enumerate(search.legal_form, start=1):
        _resolve(errors, "legal_form" if i == 1 else f"legal_form-{i}", lambda f=form: resolve_legal_forms(con, [f]))
    bad_levels = [level for level in search.readiness if level.lower() not in READINESS_LEVELS]
    if bad_levels:
        errors["readiness"] = f"Readiness must be one of: {', '.join(READINESS_LEVELS)}"
    least, most = _income_range(search, errors)
    within = _number(search.within_km, "Distance", errors, "within_km")
    if within is not None and not search.near:
        errors["near"] = "Enter a postcode to measure the distance from"
    if search.based not in dict(BASED):
        errors["based"] = "Choose where the provider is based from the list"
    if search.sort == "distance" and not search.near:
        search.sort = "best"
    outcome.total_providers = con.execute(
        "SELECT count(*) FROM provider_directory WHERE ? IS NULL OR area_code = ?", [area_code, area_code]
    ).fetchone()[0]
    if errors:
        return outcome
    query = FindQuery(service_areas=[s for s in services if s], keyword=search.keywords or None,
                      ward=search.ward or None, postcode_district=search.district or None,
                      near_postcode=search.near or None, within_km=within, legal_forms=search.legal_form,
                      min_income=least, max_income=most, readiness=[r.lower() for r in search.readiness],
                      area_code=area_code, limit=None)
    try:
        result = find_providers(con, query)
    except PipelineError as exc:   # what only the search itself can tell: a postcode it does not know
        errors["near" if search.near and "postcode" in str(exc) else "keywords"] = for_officers(str(exc))
        return outcome
    notes += [n for n in result.notes if n not in notes]
    rows = result.as_dicts()
    if search.based:
        rows = [r for r in rows if bool(r["based_in_area"]) == (search.based == "based")]
    if search.sort == "name":
        rows.sort(key=lambda r: (r["name"] or "").lower())
    elif search.sort == "income":
        rows.sort(key=lambda r: -(r["latest_income"] or -1))
    elif search.sort == "distance":
        rows.sort(key=lambda r: r["distance_km"])
    outcome.result, outcome.rows = result, rows
    outcome.description = describe(con, search, services, least, most)
    return outcome


def describe(con: duckdb.DuckDBPyConnection, search: Search, services: list[str | None], least: float | None,
             most: float | None) -> str:
    """The search in words, for the page heading's context and the export's stamp."""
    labels = known_service_areas(con)
    parts = []
    if services:
        parts.append(" or ".join(labels.get(s, s) for s in services if s))
    if search.keywords:
        parts.append(f"matching “{search.keywords}”")
    if search.ward:
        parts.append(f"in ward {search.ward}")
    if search.district:
        parts.append(f"in postcode district {search.district.upper()}")
    if search.near:
        parts.append(f"within {search.within_km} km of {search.near.upper()}" if search.within_km
                     else f"near {search.near.upper()}")
    if search.legal_form:
        parts.append("legal form " + " or ".join(search.legal_form))
    band = next((b for b in INCOME_BANDS if b[0] == search.income), None)
    if band and not (search.min_income or search.max_income):
        parts.append("income " + band[1][0].lower() + band[1][1:])
    elif least is not None or most is not None:
        parts.append("income " + (f"{money(least)} to {money(most)}" if least is not None and most is not None
                                  else f"at least {money(least)}" if least is not None else f"up to {money(most)}"))
    if search.readiness:
        parts.append("readiness " + " or ".join(search.readiness))
    if search.based:
        parts.append(dict(BASED)[search.based].lower())
    if search.area:
        parts.append(f"area {search.area}")
    return "; ".join(parts) if parts else "all providers"


@dataclass(frozen=True)
class Choices:
    """What the form offers as suggestions (a datalist for each text field) and selects."""

    services: list[tuple[str, str]]      # (label, code)
    wards: list[str]
    legal_forms: list[str]
    areas: list[tuple[str, str]]         # (code, name)


def form_choices(con: duckdb.DuckDBPyConnection) -> Choices:
    services = [(label, code) for code, label in known_service_areas(con).items()]
    _title, _columns, ward_rows = list_choices(con, "wards")
    areas = list(register_areas(con).items())
    return Choices(services, sorted({row[0] for row in ward_rows}), register_legal_forms(con),
                   [(code, name or area_name(code)) for code, name in areas])
