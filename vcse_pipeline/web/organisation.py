"""The organisation profile: everything the register knows about one organisation, and why.

Names and former names, every identifier with its register page, where it is (address, ward, deprivation),
its service areas with the evidence behind each, its finances over the years, its readiness with the reasons,
the source records that were linked into it (with the method and score of each link) and what changed in it
at recent publishes. Read with parameters from the register's tables (docs/data-dictionary.md).
"""

from __future__ import annotations

import json
import re

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from ..lookups import area_name
from ..procurement.find import based_where
from .feed import current_feed, provider_notices
from .register import RegisterView, current_register, fetch_dicts
from .render import render

router = APIRouter(include_in_schema=False)

# An identifier's page on its register, by org-id.guide scheme (the URLs provider_directory gives the canonical
# ones, sql/views/10_provider_directory.sql): the number follows the scheme's prefix.
REGISTER_PAGES = {
    "GB-CHC": ("Charity Commission",
               "https://register-of-charities.charitycommission.gov.uk/charity-search/-/charity-details/{n}"),
    "GB-COH": ("Companies House", "https://find-and-update.company-information.service.gov.uk/company/{n}"),
    "GB-MPR": ("FCA Mutuals Public Register", "https://mutuals.fca.org.uk/Search/Society/{n}"),
}
SOURCE_NAMES = {"charity_commission": "Charity Commission", "companies_house": "Companies House",
                "fca_mutuals": "FCA Mutuals Public Register", "ukcat": "UKCAT", "postcodes": "ONS Postcode Directory"}
NAME_TYPES = {"registered": "Registered name", "working": "Working name", "previous": "Former name"}
RECENT_CHANGES = 20


def register_page(identifier: str) -> tuple[str, str] | None:
    """(register name, URL) of an identifier's page on its register, or None for a scheme without pages."""
    scheme, _, number = identifier.rpartition("-")
    if scheme not in REGISTER_PAGES or not number:
        return None
    name, url = REGISTER_PAGES[scheme]
    if scheme == "GB-MPR":   # the FCA's pages take the society number without letters or leading zeros
        digits = re.match(r"[0-9]+", number)
        if not digits:
            return None
        number = str(int(digits.group(0)))
    return name, url.format(n=number)


# Where a piece of evidence was found (the source in brackets after it, tagging.areas.place), in words; the
# sources a kind of evidence always has ("charity_classification" for a classification) say nothing more.
EVIDENCE_SOURCES = {"name": "in its name", "other_names": "in another of its names", "activities": "in its activities",
                    "objects": "in its objects", "name+activities+objects": "in its name, activities and objects",
                    "generic": "too general to place it on its own", "charity_classification": "",
                    "company_sic": "", "society.sic_code": ""}
SIC_SOURCES = {"company_sic": "Companies House", "society.sic_code": "FCA Mutuals Public Register"}
EVIDENCE_ITEM = re.compile(r"(?P<kind>[a-z_]+):(?P<code>[^ (]*(?: [^(]+?)?) *(?:\((?P<source>[^()]*)\))?")
MODEL_SCORE = re.compile(r"model (?P<score>[0-9.]+)")


def evidence_items(text: str | None) -> list[tuple[str, str, str]]:
    """The stored evidence ("model 0.40; ukcat:EC101 (name+activities+objects); name:advice centre (name)") as
    (kind, code, source) items: ("model", "0.40", ""), ("ukcat", "EC101", "name+activities+objects"), ... An item
    in another shape is kept whole as ("", item, "")."""
    items = []
    for item in (text or "").split("; "):
        item = item.strip()
        if model := MODEL_SCORE.fullmatch(item):
            items.append(("model", model["score"], ""))
        elif found := EVIDENCE_ITEM.fullmatch(item):
            items.append((found["kind"], found["code"].strip(), found["source"] or ""))
        elif item:
            items.append(("", item, ""))
    return items


def _evidence_words(con: duckdb.DuckDBPyConnection, area_code: str, org_id: str, evidence: list[str | None]):
    """A function giving the evidence for a service area in words: "UKCAT tag Counselling (SW203) in its
    activities", "Charity Commission classification Provides Advocacy/advice/information (307)", "SIC code
    Residential care activities (87900), Companies House", "Tagging model: 40 out of 100 for what it says it
    does", "“advice centre” in its name".
    The names of every code in `evidence` are read at once, in two queries."""
    items = [item for text in evidence for item in evidence_items(text)]
    ukcat = dict(con.execute("SELECT code, tag FROM ukcat_tag WHERE list_contains(?::VARCHAR[], code)",
                             [[code for kind, code, _ in items if kind == "ukcat"]]).fetchall())
    named = {(scheme, code): description for scheme, code, description in con.execute(
        "SELECT CASE WHEN scheme LIKE 'ccew%' THEN 'ccew' ELSE scheme END, code, any_value(description) "
        "FROM organisation_classification WHERE area_code = ? AND org_id = ? AND (scheme LIKE 'ccew%' OR "
        "scheme = 'sic') GROUP BY ALL", [area_code, org_id]).fetchall()}

    def where(source: str) -> str:
        phrase = EVIDENCE_SOURCES.get(source, f"from {source}" if source else "")
        return (", " if source == "generic" else " ") + phrase if phrase else ""

    def words(text: str | None) -> list[str]:
        shown = []
        for kind, code, source in evidence_items(text):
            if kind == "model":
                shown.append(f"Tagging model: {float(code) * 100:.0f} out of 100 for what it says it does")
            elif kind == "ukcat":
                shown.append((f"UKCAT tag {ukcat[code]} ({code})" if code in ukcat else f"UKCAT tag {code}")
                             + where(source))
            elif kind == "ccew_classification":
                description = named.get(("ccew", code))
                shown.append((f"Charity Commission classification {description} ({code})" if description
                               else f"Charity Commission classification {code}") + where(source))
            elif kind == "sic":
                description = named.get(("sic", code))
                shown.append((f"SIC code {description} ({code})" if description else f"SIC code {code}")
                             + (f", {SIC_SOURCES[source]}" if source in SIC_SOURCES else where(source)))
            elif kind == "name":
                shown.append(f"“{code}”" + where(source))
            else:
                shown.append(code if not kind else f"{kind} {code}{where(source)}")
        return shown
    return words


def organisation_profile(con: duckdb.DuckDBPyConnection, area_code: str, org_id: str) -> dict | None:
    """The profile's data, or None when the register has no such organisation in the area."""
    key = [area_code, org_id]

    def rows(sql: str, params: list = key) -> list[dict]:
        return fetch_dicts(con, sql, params)

    found = rows("SELECT * FROM organisation WHERE area_code = ? AND org_id = ?")
    if not found:
        return None
    org = found[0]
    directory = rows("SELECT * FROM provider_directory WHERE area_code = ? AND org_id = ?")
    names = rows("SELECT DISTINCT name, name_type, source FROM organisation_name WHERE area_code = ? AND org_id = ? "
                 "ORDER BY CASE name_type WHEN 'registered' THEN 0 WHEN 'working' THEN 1 ELSE 2 END, name")
    identifiers = rows("SELECT identifier, scheme, source, record_id, is_canonical FROM organisation_identifier "
                       "WHERE area_code = ? AND org_id = ? ORDER BY is_canonical DESC, identifier")
    for ident in identifiers:
        ident["page"] = register_page(ident["identifier"])
        ident["source_name"] = SOURCE_NAMES.get(ident["source"], ident["source"])
    services = rows("SELECT s.service_area, coalesce(a.label, s.service_area) AS label, s.evidence "
                    "FROM organisation_service_area s LEFT JOIN service_area a USING (service_area) "
                    "WHERE s.area_code = ? AND s.org_id = ? ORDER BY 2")
    words = _evidence_words(con, area_code, org_id, [service["evidence"] for service in services])
    for service in services:
        service["evidence_shown"] = words(service["evidence"])
    finances = rows("SELECT * FROM organisation_finance WHERE area_code = ? AND org_id = ? "
                    "ORDER BY financial_year_end DESC NULLS LAST, source")
    for row in finances:
        row["source_name"] = SOURCE_NAMES.get(row["source"], row["source"])
    readiness = rows("SELECT * FROM provider_readiness WHERE area_code = ? AND org_id = ?")
    record_ids = [i["record_id"] for i in identifiers if i["record_id"]]
    records = rows("SELECT record_id, source, identifier, name, legal_form, status, is_active, postcode "
                   "FROM source_record WHERE area_code = ? AND list_contains(?::VARCHAR[], record_id) "
                   "ORDER BY source, identifier", [area_code, record_ids])
    for record in records:
        record["source_name"] = SOURCE_NAMES.get(record["source"], record["source"])
    links = rows("SELECT left_record, right_record, method, score, evidence FROM organisation_link "
                 "WHERE area_code = ? AND (list_contains(?::VARCHAR[], left_record) "
                 "OR list_contains(?::VARCHAR[], right_record)) ORDER BY score DESC, method",
                 [area_code, record_ids, record_ids])
    for link in links:
        link["evidence_shown"] = _link_evidence(link["evidence"])
    changes = rows("SELECT c.run_id, h.finished_at, c.change_type, c.field, c.old_value, c.new_value "
                   "FROM register_change c LEFT JOIN run_history h ON h.run_id = c.run_id "
                   "WHERE c.area_code = ? AND c.org_id = ? "
                   "ORDER BY h.finished_at DESC NULLS LAST, c.field NULLS FIRST LIMIT ?", [*key, RECENT_CHANGES])
    parent = rows("SELECT org_id, name FROM organisation WHERE area_code = ? AND org_id = ?",
                  [area_code, org["parent_org_id"]]) if org.get("parent_org_id") else []
    place = area_name(area_code)
    based_here = directory[0]["based_in_area"] if directory else org["in_area_by_postcode"]
    based = based_where(place, bool(based_here), org["ward_name"], org["address"], org["postcode"],
                        bool(directory and directory[0]["postcode_terminated"]))
    # a registered charity (or a charitable company) files annual returns to the Charity Commission, whose income
    # figures the register reads; companies and societies file none it reads
    charity = org_id.startswith("GB-CHC-") or any(i["scheme"] == "GB-CHC" for i in identifiers)
    return {"org": org, "directory": directory[0] if directory else None, "names": names, "based": based,
            "charity": charity,
            "identifiers": identifiers, "services": services, "finances": finances,
            "readiness": readiness[0] if readiness else None, "records": records, "links": links,
            "changes": changes, "area_name": place, "parent": parent}


def _link_evidence(evidence: str | None) -> str:
    """A link's evidence (JSON of the values that matched, or text) as "company number 00893543, ..."."""
    if not evidence:
        return ""
    try:
        data = json.loads(evidence)
    except (json.JSONDecodeError, TypeError):
        return str(evidence)
    if isinstance(data, dict):
        return ", ".join(f"{str(k).replace('_', ' ')} {v}" for k, v in data.items())
    return str(data)


@router.get("/organisations/{area_code}/{org_id}", response_class=HTMLResponse)
def profile(area_code: str, org_id: str, request: Request, register: RegisterView = Depends(current_register),
            feed_view: RegisterView | None = Depends(current_feed)):
    data = organisation_profile(register.cursor, area_code[:20], org_id[:80])
    if data is None:
        raise HTTPException(404, "There is no organisation with that identifier in the register. It may have been "
                                 "removed at a recent publish: search for it by name.")
    # the feed's "opportunities for you" rows, when a feed is published (None: no section)
    opportunities = (None if feed_view is None else
                     provider_notices(feed_view.cursor, data["org"]["area_code"], data["org"]["org_id"]))
    return render(request, "organisation.html", {"title": data["org"]["name"], **data,
                                                 "opportunities": opportunities}, register=register.info)
