"""Wards: each ward's providers by service area, where the gaps are, and a map of the providers based there.

A service the council commissions ward by ward with fewer providers based in the ward than the gap threshold is
in the ward_service_gaps view. Whether that is a real gap depends on what the register cannot see: a service area
that is not reliably tagged in the area (the view's `gap` says 'cannot tell'), or a provider based in the ward whose
work it could not classify (no service area), which may well do it. Such a gap, or one that enough such providers
could close, is shown as "cannot tell", not as a gap. The map is Leaflet over the configured tile server; the page
draws the same points as an SVG on the server first, so it shows them without JavaScript, and Leaflet keeps them
when the tiles cannot load.
"""

from __future__ import annotations

import math

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from ..lookups import area_name
from .register import RegisterView, current_register, fetch_dicts
from .render import render

router = APIRouter(include_in_schema=False)

GAP, CANNOT_TELL, COVERED, NOT_LOCAL = "gap", "cannot tell", "covered", "not commissioned by ward"
SVG_WIDTH, SVG_HEIGHT, SVG_MARGIN = 640, 420, 24


def gap_status(gap: dict, unclassified: int) -> str:
    """A ward_service_gaps row's status: 'cannot tell' when the service area is not reliably tagged in the area (the
    view's gap column, as the report reads it), or when the ward's providers of unknown work could close the gap;
    else a gap. The wards list, the ward page and the API all count with this."""
    closable = gap["providers_based"] + unclassified >= gap["threshold"]
    return CANNOT_TELL if gap["gap"] == "cannot tell" or closable else GAP


def ward_list(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every ward of the register's areas with its providers based there, providers of unknown work, and its
    service gaps and services the register cannot tell about (gap_status, as on the ward's page)."""
    wards = fetch_dicts(con, """
        SELECT w.area_code, w.ward_code, w.ward_name,
               (SELECT count(*) FROM provider_directory d WHERE d.area_code = w.area_code
                    AND d.ward_code = w.ward_code AND d.based_in_area) AS providers,
               (SELECT count(*) FROM provider_directory d WHERE d.area_code = w.area_code
                    AND d.ward_code = w.ward_code AND d.based_in_area AND len(d.service_areas) = 0) AS unclassified
        FROM area_ward w ORDER BY w.ward_name, w.area_code""", [])
    by_key = {(w["area_code"], w["ward_code"]): {**w, "gaps": 0, "cannot_tell": 0} for w in wards}
    for gap in fetch_dicts(con, "SELECT area_code, ward_code, providers_based, threshold, gap FROM ward_service_gaps",
                           []):
        ward = by_key.get((gap["area_code"], gap["ward_code"]))
        if ward is not None:
            ward["gaps" if gap_status(gap, ward["unclassified"]) == GAP else "cannot_tell"] += 1
    return list(by_key.values())


def ward_detail(con: duckdb.DuckDBPyConnection, ward_code: str) -> dict | None:
    """The ward's page (or API answer) by its GSS code in any case (e05000952 is E05000952), or None."""
    wards = fetch_dicts(con, "SELECT area_code, ward_code, ward_name FROM area_ward WHERE ward_code = ?",
                        [ward_code.strip().upper()])
    if not wards:
        return None
    ward = wards[0]
    ward_code = ward["ward_code"]
    key = [ward["area_code"], ward_code]
    providers = fetch_dicts(con, """
        SELECT d.org_id, d.name, d.legal_form, d.service_area_labels, d.latest_income, d.postcode, pl.lat, pl.long
        FROM provider_directory d LEFT JOIN postcode_location pl ON pl.postcode = d.postcode
        WHERE d.area_code = ? AND d.ward_code = ? AND d.based_in_area ORDER BY d.name""", key)
    unclassified = sum(1 for p in providers if not p["service_area_labels"])
    gaps = {r["service_area"]: r for r in fetch_dicts(
        con, "SELECT service_area, providers_based, threshold, gap FROM ward_service_gaps "
             "WHERE area_code = ? AND ward_code = ?", key)}
    coverage = fetch_dicts(con, """
        SELECT service_area, service_area_label, commissioned_locally, providers_based, providers_area_wide
        FROM ward_service_coverage WHERE area_code = ? AND ward_code = ? ORDER BY service_area_label""", key)
    for row in coverage:
        if not row["commissioned_locally"]:
            row["status"] = NOT_LOCAL
        elif row["service_area"] in gaps:
            row["status"] = gap_status(gaps[row["service_area"]], unclassified)
        else:
            row["status"] = COVERED
    threshold = next(iter(gaps.values()))["threshold"] if gaps else None
    unplaced = con.execute("SELECT count(*) FROM provider_directory WHERE area_code = ? AND ward_code IS NULL",
                           [ward["area_code"]]).fetchone()[0]
    points = [p for p in providers if p["lat"] is not None and p["long"] is not None]
    return {"ward": ward, "area_name": area_name(ward["area_code"]), "providers": providers, "coverage": coverage,
            "unclassified": unclassified, "threshold": threshold, "unplaced": unplaced,
            "points": [{"name": p["name"], "lat": p["lat"], "long": p["long"],
                        "href": f"/organisations/{ward['area_code']}/{p['org_id']}"} for p in points],
            "svg_points": svg_points(points), "unlocated": len(providers) - len(points),
            "gaps": sum(1 for r in coverage if r["status"] == GAP),
            "cannot_tell": sum(1 for r in coverage if r["status"] == CANNOT_TELL)}


def svg_points(points: list[dict]) -> list[dict]:
    """The points placed on an SVG_WIDTH x SVG_HEIGHT drawing (equirectangular, north up, the same scale both ways
    at the points' mean latitude): the map without JavaScript or tiles."""
    if not points:
        return []
    lats, longs = [p["lat"] for p in points], [p["long"] for p in points]
    squeeze = math.cos(math.radians(sum(lats) / len(lats)))
    span_x = max((max(longs) - min(longs)) * squeeze, 1e-3)
    span_y = max(max(lats) - min(lats), 1e-3)
    scale = min((SVG_WIDTH - 2 * SVG_MARGIN) / span_x, (SVG_HEIGHT - 2 * SVG_MARGIN) / span_y)
    return [{"name": p["name"], "x": round(SVG_MARGIN + (p["long"] - min(longs)) * squeeze * scale, 1),
             "y": round(SVG_HEIGHT - SVG_MARGIN - (p["lat"] - min(lats)) * scale, 1)} for p in points]


@router.get("/wards", response_class=HTMLResponse)
def wards(request: Request, register: RegisterView = Depends(current_register)):
    rows = ward_list(register.cursor)
    return render(request, "wards.html", {"title": "Wards", "wards": rows}, register=register.info)


@router.get("/wards/{ward_code}", response_class=HTMLResponse)
def ward(ward_code: str, request: Request, register: RegisterView = Depends(current_register)):
    data = ward_detail(register.cursor, ward_code[:20])
    if data is None:
        raise HTTPException(404, "There is no ward with that code in the register. Choose one from the list of wards.")
    settings = request.app.state.settings
    return render(request, "ward.html", {"title": data["ward"]["ward_name"], **data,
                                         "tile_url": settings["tile_url"],
                                         "tile_attribution": settings["tile_attribution"],
                                         "svg": {"width": SVG_WIDTH, "height": SVG_HEIGHT}},
                  register=register.info)
