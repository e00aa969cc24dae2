"""About the data: where the register comes from, how fresh each source is, and what it cannot know.

Freshness is vcse_pipeline.freshness's, for the sources the published register's own run recorded (as `vcse
status` and the HTML report show it), measured against each source's configured max_age_days.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..freshness import RELEASE_DATE, register_sources, source_freshness
from .register import RegisterView, current_register
from .render import render

router = APIRouter(include_in_schema=False)

# (source name, publisher, what the register takes from it, licence)
SOURCES = {
    "charity_commission": ("Charity Commission for England and Wales", "Register of charities: names, "
                           "classifications, where they work, annual returns and accounts",
                           "Open Government Licence v3.0"),
    "companies_house": ("Companies House", "Free Company Data Product: community interest companies, companies "
                        "limited by guarantee and charitable incorporated organisations, with their SIC codes",
                        "Open Government Licence v3.0"),
    "fca_mutuals": ("Financial Conduct Authority", "Mutuals Public Register: co-operative and community benefit "
                    "societies and credit unions", "Open Government Licence v3.0"),
    "postcodes": ("Office for National Statistics", "ONS Postcode Directory: the ward, local authority and "
                  "neighbourhood (with its deprivation decile) of each postcode", "Open Government Licence v3.0 "
                  "(contains OS data © Crown copyright and database right; Royal Mail data © Royal Mail copyright "
                  "and database right)"),
    "ukcat": ("UK Charity Activity Tags (UKCAT)", "Tags describing what charities do, from their names and "
              "objects", "Creative Commons Attribution 4.0"),
}


@router.get("/about", response_class=HTMLResponse)
def about(request: Request, register: RegisterView = Depends(current_register)):
    recorded = register_sources(register.cursor)
    freshness = [] if recorded is None else source_freshness(request.app.state.cfg, sources=recorded,
                                                             of="published register")
    rows = [{"name": f.source, "publisher": SOURCES.get(f.source, (f.source, "", ""))[0],
             "what": SOURCES.get(f.source, ("", "", ""))[1], "licence": SOURCES.get(f.source, ("", "", ""))[2],
             "freshness": f, "dated_by_release": f.basis == RELEASE_DATE} for f in freshness]
    counts = register.cursor.execute(
        "SELECT count(*), count(*) FILTER (WHERE based_in_area), count(*) FILTER (WHERE len(service_areas) = 0), "
        "count(*) FILTER (WHERE ward_code IS NULL) FROM provider_directory").fetchone()
    return render(request, "about.html", {"title": "About the data", "sources": rows, "recorded": recorded is not None,
                                          "counts": dict(zip(("providers", "based", "unclassified", "unplaced"),
                                                             counts, strict=True))},
                  register=register.info)
