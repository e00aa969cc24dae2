"""Which notices concern the area, and why: its buyer is ours (named in [feed] buyers, based in the area or named
after it), it is delivered in the area or its region (opportunities.notice_location, plus [feed] regions), or the
buyer marks it suitable for VCSEs. [feed] cpv_prefixes, when set, narrows all of these to the services wanted."""

from __future__ import annotations

import duckdb

from ...lookups import area_name
from ...postcode import postcode_district
from ..ocds import cpv_codes, delivery_regions, region_label
from ..opportunities import area_districts


def keep_reasons(con: duckdb.DuckDBPyConnection, compiled: dict, notice: dict, area_code: str, settings: dict,
                 location: tuple[str, str], districts: set[str] | None = None) -> list[str]:
    """Why the notice is kept for the area (empty: not kept). `location` is notice_location's (kind, why);
    `notice` the notice's feed_notice row; `districts` the area's postcode districts, when the caller has them."""
    prefixes = [str(p) for p in settings.get("cpv_prefixes") or []]
    if prefixes and not any(code.startswith(tuple(prefixes)) for code in cpv_codes(compiled)):
        return []
    reasons = []
    ours = {str(b).strip().lower() for b in settings.get("buyers") or []}
    buyer_id, buyer_name = notice.get("buyer_id"), notice.get("buyer_name")
    place = area_name(area_code)
    if ours & {str(buyer_id or "").lower(), str(buyer_name or "").strip().lower()} - {""}:
        reasons.append(f"buyer {buyer_name or buyer_id} is one of ours ([feed] buyers)")
    elif notice.get("buyer_postcode") and postcode_district(notice["buyer_postcode"]) in (
            districts if districts is not None else area_districts(con, area_code)):
        reasons.append(f"buyer {buyer_name} is based in {place} ({notice['buyer_postcode']})")
    elif buyer_name and place.lower() in buyer_name.lower():
        reasons.append(f"buyer {buyer_name} is named for {place}")
    kind, why = location
    if kind in ("local", "region"):
        reasons.append(f"delivered {'in ' + place if kind == 'local' else 'in its region'}: {why}")
    else:
        extra = {str(r).strip().lower() for r in settings.get("regions") or []}
        named = [r for r in delivery_regions(compiled) if r.strip().lower() in extra]
        if named:
            reasons.append(f"delivered in {region_label(named[0])} ([feed] regions)")
    if settings.get("keep_vcse_suitable", True) and notice.get("suitable_for_vcse"):
        reasons.append("the buyer marks it suitable for VCSEs")
    return reasons
