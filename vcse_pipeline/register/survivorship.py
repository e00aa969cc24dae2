"""Survivorship: which record's value each organisation field takes when several records are merged.

The rules are written out in docs/linking.md; each function below implements one of them.
"""

from __future__ import annotations

from datetime import date

from . import vcse_rule
from .area import area_basis

SCHEME_PRIORITY = {"GB-CHC": 0, "GB-MPR": 1, "GB-COH": 2}
NAME_SOURCE_PRIORITY = {"charity_commission": 0, "fca_mutuals": 1, "companies_house": 2}


def scheme(identifier: str) -> str:
    return identifier[:6]


def priority_key(rec: dict) -> tuple:
    """Canonical order: GB-CHC, then GB-MPR, then GB-COH; within a scheme active first, main charities before
    linked ones, then the record id so the choice is stable from run to run."""
    return (SCHEME_PRIORITY.get(scheme(rec["identifier"]), 9), not rec["is_active"],
            rec.get("parent_identifier") is not None, rec["record_id"])


def order_records(records: list[dict]) -> list[dict]:
    if len(records) < 2:  # most organisations are one record: no key to compute
        return list(records)
    return sorted(records, key=priority_key)


def _first(ordered: list[dict], field: str):
    for rec in ordered:
        value = rec.get(field)
        if value is not None and value == value and value != "":  # value == value drops NaN
            return value
    return None


# A terminated postcode still places a record (ONSPD keeps its last geography), after a live one.
PLACED = {"mapped": 0, "terminated": 1}


def _geography_record(ordered: list[dict]) -> dict:
    """The record whose postcode places it, preferring one in the area, then a live postcode over a terminated one,
    then the canonical record."""
    if len(ordered) == 1:
        return ordered[0]
    placed = sorted((r for r in ordered if r["postcode_status"] in PLACED),
                    key=lambda r: (not r["in_area_by_postcode"], PLACED[r["postcode_status"]]))
    return (placed or ordered)[0]


def _legal_form(canonical: dict, ordered: list[dict]) -> str:
    form = canonical["legal_form"]
    if form != vcse_rule.UNINCORPORATED_CHARITY:
        return form
    # A charity that is also a registered society or a company takes that incorporated form.
    others = {r["legal_form"] for r in ordered if r is not canonical}
    for society_form in (vcse_rule.REGISTERED_SOCIETY, vcse_rule.CREDIT_UNION):
        if society_form in others:
            return society_form
    if any(r["source"] == "companies_house" for r in ordered):
        return vcse_rule.CHARITABLE_COMPANY
    return form


def _latest_finance(ordered: list[dict]) -> dict | None:
    with_year = [r for r in ordered if r.get("latest_financial_year_end") is not None
                 and r["latest_financial_year_end"] == r["latest_financial_year_end"]]
    if not with_year:
        return None
    # latest year wins; max() keeps the first (highest-priority) record on a tie
    return max(with_year, key=lambda r: r["latest_financial_year_end"])


def _min_date(values) -> date | None:
    dates = [v for v in values if v is not None and v == v]
    return min(dates) if dates else None


def _max_date(values) -> date | None:
    dates = [v for v in values if v is not None and v == v]
    return max(dates) if dates else None


def survive(records: list[dict]) -> dict:
    """One organisation row from the records of a cluster (area columns and parent_org_id are added by the caller)."""
    ordered = order_records(records)
    canonical = ordered[0]
    by_name = ordered if len(ordered) == 1 else sorted(
        ordered, key=lambda r: (NAME_SOURCE_PRIORITY.get(r["source"], 9), priority_key(r)))
    geo = _geography_record(ordered)
    finance = _latest_finance(ordered)
    active = [r for r in ordered if r["is_active"]]
    by_postcode = any(r["in_area_by_postcode"] for r in ordered)
    by_operation = any(r["in_area_by_operation"] for r in ordered)
    charity = next((r for r in ordered if r["source"] == "charity_commission"), None)
    company = next((r for r in ordered if r["source"] == "companies_house"), None)
    society = next((r for r in ordered if r["source"] == "fca_mutuals"), None)
    return {
        "org_id": canonical["identifier"],
        "canonical_record": canonical["record_id"],
        "name": by_name[0]["name"],
        "legal_form": _legal_form(canonical, ordered),
        # An organisation exists while any of its registers says it is live.
        "is_active": bool(active),
        "status": (active or ordered)[0]["status"],
        "address": geo.get("address"),
        "postcode": geo.get("postcode"),
        "lad_code": geo.get("lad_code"),
        "ward_code": geo.get("ward_code"),
        "ward_name": geo.get("ward_name"),
        "lsoa_code": geo.get("lsoa_code"),
        "imd_decile": geo.get("imd_decile"),
        "postcode_status": geo.get("postcode_status"),
        "in_area_by_postcode": by_postcode,
        "in_area_by_operation": by_operation,
        "area_basis": area_basis(by_postcode, by_operation),
        "website": _first(ordered, "website"),
        "email": _first(ordered, "email"),
        "phone": _first(ordered, "phone"),
        "latest_income": finance["latest_income"] if finance else None,
        "latest_expenditure": finance["latest_expenditure"] if finance else None,
        "latest_financial_year_end": finance["latest_financial_year_end"] if finance else None,
        "date_registered": _min_date(r.get("date_registered") for r in ordered),
        "date_removed": None if active else _max_date(r.get("date_removed") for r in ordered),
        "charity_number": charity["charity_number"] if charity else None,
        "company_number": company["company_number"] if company else _first(ordered, "company_number"),
        "society_number": society["society_number"] if society else None,
        "source_count": len(ordered),
    }
