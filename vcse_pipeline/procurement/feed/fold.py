"""Fold a procurement's releases (its tender, amendments, later stages: one ocid) into one notice, and the notice's
typed rows: the notice itself, its CPV codes and its delivery places.

The releases are merged oldest first, as OCDS's merge routine compiles a record: an object's fields are merged key by
key, a later value replacing an earlier one; a list (items, parties, tags) is replaced whole by the later release's
(OCDS merges lists of objects by id; a notice's latest release restates its items, so replacing them is the same
here, and an award release that drops tenderPeriod keeps the tender's deadline).
"""

from __future__ import annotations

from ..ocds import contract_value, cpv_codes, notice_phase, release_order, release_tender, tender_items


def merge(earlier: dict, later: dict) -> dict:
    out = dict(earlier)
    for key, value in later.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def compile_releases(releases: list[dict]) -> dict:
    """The procurement as its releases say it now: merged in date order (then id), the latest release's id and tag.
    Dates are compared as moments: "12:30+02:00" is before "11:00Z"."""
    ordered = sorted(releases, key=release_order)
    compiled: dict = {}
    for release in ordered:
        compiled = merge(compiled, release)
    return compiled


def _buyer(release: dict) -> tuple[str | None, str | None, str | None]:
    """(id, name, postcode) of the buyer: release.buyer, with the address of its party (or any party with the buyer
    role)."""
    buyer = release.get("buyer") if isinstance(release.get("buyer"), dict) else {}
    parties = [p for p in release.get("parties") or [] if isinstance(p, dict)]
    party = next((p for p in parties if buyer.get("id") and p.get("id") == buyer.get("id")), None) or \
        next((p for p in parties if "buyer" in (p.get("roles") or [])), {})
    address = party.get("address") if isinstance(party.get("address"), dict) else {}
    return (buyer.get("id") or party.get("id"), buyer.get("name") or party.get("name"), address.get("postalCode"))


def notice_row(compiled: dict, service: str, release_count: int, first_date: str | None) -> dict:
    """The feed_notice row of a compiled procurement (columns as docs/data-dictionary.md)."""
    tender = release_tender(compiled)
    phase = notice_phase(compiled)
    value, annual, years = contract_value(compiled)
    suitability = tender.get("suitability") if isinstance(tender.get("suitability"), dict) else {}
    buyer_id, buyer_name, buyer_postcode = _buyer(compiled)
    return {"ocid": compiled.get("ocid"), "service": service, "release_id": compiled.get("id"),
            "release_count": release_count, "first_release_date": first_date, "release_date": compiled.get("date"),
            "title": tender.get("title"), "description": tender.get("description"), "buyer_id": buyer_id,
            "buyer_name": buyer_name, "buyer_postcode": buyer_postcode, "stage": phase["phase"],
            "tender_status": phase["tender_status"], "deadline": phase["deadline"],
            "tender_expected": phase["tender_expected"], "value": value, "annual_value": annual,
            "contract_years": years, "suitable_for_vcse": suitability.get("vcse"),
            "suitable_for_sme": suitability.get("sme")}


def cpv_rows(compiled: dict) -> list[dict]:
    return [{"ocid": compiled.get("ocid"), "position": i, "cpv_code": code}
            for i, code in enumerate(cpv_codes(compiled), start=1)]


def delivery_rows(compiled: dict) -> list[dict]:
    """Every delivery address or location of the notice's items, in order."""
    rows = []
    for item in tender_items(release_tender(compiled)):
        places = [a for a in item.get("deliveryAddresses") or [] if isinstance(a, dict)]
        if isinstance(item.get("deliveryLocation"), dict):
            places.append(item["deliveryLocation"])
        for place in places:
            rows.append({"ocid": compiled.get("ocid"), "position": len(rows) + 1, "region": place.get("region"),
                         "postal_code": place.get("postalCode"), "locality": place.get("locality"),
                         "description": place.get("description")})
    return rows
