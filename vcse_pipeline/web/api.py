"""The JSON API: the searches the pages make, for tools that should not need DuckDB. Documented at /api/docs.

    GET /api/providers?service=&keyword=&ward=&...     the `vcse find` search (procurement.find.find_providers)
    GET /api/organisations/{org_id}                     an organisation's profile (the profile page's data)
    GET /api/wards, /api/wards/{ward_code}              wards with their providers, coverage and gaps
    GET /api/opportunities?limit=&offset=               the opportunity feed's latest notices for the area
    GET /api/opportunities/{ocid}                       a feed notice with the shortlist the feed stored for it

Each answer names the register version it was read from. A value the search cannot use (an unknown ward, a
postcode the register does not know) is a 400 whose detail says what to give instead, as `vcse find` says it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from ..errors import PipelineError
from ..lookups import single_area
from ..procurement.find import READINESS_LEVELS, FindQuery, find_providers
from .feed import count_notices, current_feed, latest_notices, stored_shortlist
from .feed import notice as feed_notice
from .organisation import organisation_profile
from .reconcile import locate_ids
from .register import RegisterInfo, RegisterView, current_register
from .wards import ward_detail, ward_list

router = APIRouter(prefix="/api", tags=["JSON API"])

MAX_PAGE = 500        # providers in one answer; `offset` pages on
MAX_TEXT = 200        # characters in one search value

# The library's errors name `vcse find`'s options and the command that lists a filter's values; the API's answer
# names its own query parameters instead (and the values are listed in the message itself).
API_PARAMETERS = {"--service": "service", "--keyword": "keyword", "--ward": "ward", "--near": "near",
                  "--within-km": "within_km", "--postcode-district": "postcode_district", "--legal-form": "legal_form",
                  "--min-income": "min_income", "--max-income": "max_income", "--readiness": "readiness",
                  "--area": "area", "--limit": "limit"}
_OPTION = re.compile("|".join(re.escape(o) for o in sorted(API_PARAMETERS, key=len, reverse=True)))
_CLI_HINT = re.compile(r"\s*\(`vcse [^`]*` lists them\)|;\s*`vcse [^`]*` lists them")


def api_message(message: str) -> str:
    """A library error as the API says it: its parameter names for the CLI's options, without the CLI hint."""
    return _OPTION.sub(lambda m: API_PARAMETERS[m.group(0)], _CLI_HINT.sub("", message))


class Register(BaseModel):
    """The register version an answer was read from."""

    version: str = Field(description="The published version's file name (register-<time>-<run id>.duckdb)")
    published_at: str | None = Field(None, description="When that version was published (ISO 8601, UTC)")


def _register(info: RegisterInfo) -> Register:
    return Register(version=info.version, published_at=info.published_at)


# ---------------------------------------------------------------------------------------------- providers

class Provider(BaseModel):
    """One provider found: a row of the provider_directory view with its readiness (docs/data-dictionary.md)."""

    org_id: str = Field(description="Canonical org-id (org-id.guide): GB-CHC-..., else GB-MPR-..., else GB-COH-...")
    name: str = Field(description="Registered name")
    based: str | None = Field(None, description="Where it is based, in words (ward and place, or 'operates in ...')")
    legal_form: str | None = Field(None, description="Readable legal form, e.g. Charitable incorporated organisation")
    ward_name: str | None = Field(None, description="Electoral ward of the postcode")
    ward_code: str | None = Field(None, description="GSS code of that ward (E05...)")
    imd_decile: int | None = Field(None, description="IMD 2019 decile of the postcode's LSOA: 1 = most deprived 10%")
    postcode: str | None = Field(None, description="Postcode, normalised (CH41 1AA)")
    address: str | None = Field(None, description="Postal address as the register gives it")
    service_areas: list[str] = Field(default_factory=list, description="Service areas, as commissioners name them")
    latest_income: float | None = Field(None, description="Total income (£) in the latest annual return or accounts")
    latest_expenditure: float | None = Field(None, description="Total expenditure (£) in the latest annual return")
    latest_financial_year_end: date | None = Field(None, description="End of the year the latest figures cover")
    readiness_level: str | None = Field(None, description="ready, caution, unknown or not ready: a prompt for due "
                                                          "diligence from public data, not a verdict")
    readiness_reasons: list[str] | None = Field(None, description="The flags behind the readiness level, in words")
    employees: int | None = Field(None, description="Employees in the latest annual return reporting them")
    volunteers: int | None = Field(None, description="Volunteers in the latest annual return reporting them")
    website: str | None = Field(None, description="Website as the registers publish it")
    email: str | None = Field(None, description="Contact email (Charity Commission only)")
    phone: str | None = Field(None, description="Contact phone (Charity Commission only)")
    identifiers: list[str] = Field(default_factory=list, description="Every org-id it is known by, canonical first")
    other_names: list[str] = Field(default_factory=list, description="Working and former names")
    date_registered: date | None = Field(None, description="Date of registration or incorporation")
    based_in_area: bool | None = Field(None, description="True when its postcode is in the area; false when it only "
                                                         "operates there from elsewhere")
    postcode_terminated: bool | None = Field(None, description="ONS has discontinued the postcode")
    area_basis: str | None = Field(None, description="How it counts for the area: postcode, area of operation, both")
    area_code: str = Field(description="GSS code of the local authority area (Wirral is E08000015)")
    charity_commission_url: str | None = Field(None, description="Its page on the Charity Commission register")
    companies_house_url: str | None = Field(None, description="Its page on Companies House")
    fca_mutuals_url: str | None = Field(None, description="Its page on the FCA Mutuals Public Register")
    distance_km: float | None = Field(None, description="Distance from the `near` postcode (km), when searched so")
    relevance: int | None = Field(None, description="How well the keywords fit (100 exact name ... 10 "
                                                    "classification), when searched so")


class ProviderSearch(BaseModel):
    register_version: Register = Field(description="The register version this answer was read from")
    total: int = Field(description="How many providers match every filter")
    offset: int = Field(description="How many of them this answer skips")
    providers: list[Provider] = Field(description="The providers of this page, best first (keyword fit, then "
                                                  "distance, then based in the area, then income)")
    notes: list[str] = Field(default_factory=list, description="How forgiving input was read (\"read 'Mental "
                                                               "Helth' as Mental health\") and who a distance "
                                                               "search leaves out")


def _text(description: str):
    return Query(None, max_length=MAX_TEXT, description=description)


@router.get("/providers", response_model=ProviderSearch, summary="Find providers (the `vcse find` search)")
def providers(
    service: list[str] = Query([], max_length=50, description="Service area code or label, any case; repeat for "
                                                               "any of several (mental_health, 'Mental health')"),
    keyword: list[str] = Query([], max_length=20, description="Words that must all appear (whole words) in the name, "
                                                              "other names or what it does; repeat for any of several"),
    ward: str | None = _text("Ward name (any case) or GSS code (E05...)"),
    postcode_district: str | None = _text("Outward code, e.g. CH41, or a postcode (its district)"),
    near: str | None = _text("Sort by distance from this postcode (one in the area, or a listed provider's)"),
    within_km: float | None = Query(None, ge=0, le=1000, description="With `near`: only providers this close (km)"),
    legal_form: list[str] = Query([], max_length=20, description="CIC, CIO, charity, CBS, co-op, CLG or part of a "
                                                                  "legal form; repeat for any of several"),
    min_income: float | None = Query(None, ge=0, description="Latest income at least this (£)"),
    max_income: float | None = Query(None, ge=0, description="Latest income at most this (£)"),
    readiness: list[str] = Query([], max_length=4, description="Readiness level: " + ", ".join(READINESS_LEVELS)),
    area: str | None = _text("Local authority GSS code (E08000015) or name (Wirral) in the register"),
    offset: int = Query(0, ge=0, le=1_000_000, description="Skip this many providers (paging)"),
    limit: int = Query(25, ge=1, le=MAX_PAGE, description="At most this many providers"),
    register: RegisterView = Depends(current_register),
) -> ProviderSearch:
    """Providers matching every filter given, as `vcse find` finds them (the same forgiving values)."""
    if any(len(value) > MAX_TEXT for value in (*service, *keyword, *legal_form, *readiness)):
        raise HTTPException(400, f"a search value is longer than {MAX_TEXT} characters")
    query = FindQuery(service_areas=service, keyword=keyword, ward=ward, postcode_district=postcode_district,
                      near_postcode=near, within_km=within_km, legal_forms=legal_form, min_income=min_income,
                      max_income=max_income, readiness=readiness, area_code=area, limit=offset + limit)
    try:
        result = find_providers(register.cursor, query)
    except PipelineError as exc:
        raise HTTPException(400, api_message(str(exc))) from None
    rows = result.as_dicts()[offset:]
    return ProviderSearch(register_version=_register(register.info), total=result.matched, offset=offset,
                          providers=[Provider(**row) for row in rows], notes=result.notes)


# ---------------------------------------------------------------------------------------------- organisation

class Name(BaseModel):
    name: str
    name_type: str = Field(description="registered, working or previous")
    source: str = Field(description="The register that gives it")


class Identifier(BaseModel):
    identifier: str = Field(description="An org-id: GB-CHC-, GB-COH- or GB-MPR- and the register's number")
    scheme: str = Field(description="The org-id.guide scheme")
    source: str = Field(description="The register the record comes from")
    is_canonical: bool = Field(description="The one the organisation's org_id is")
    register_name: str | None = Field(None, description="The register's name, when it has a page for it")
    register_url: str | None = Field(None, description="Its page on that register")


class ServiceArea(BaseModel):
    service_area: str = Field(description="Service area code")
    label: str = Field(description="Service area, as commissioners name it")
    evidence: list[str] = Field(description="Why: the UKCAT tags, register classifications or SIC codes behind it")


class FinanceYear(BaseModel):
    financial_year_end: date
    source: str = Field(description="The register that reports it")
    income: float | None = Field(None, description="Total income (£)")
    expenditure: float | None = Field(None, description="Total expenditure (£)")
    income_government_contracts: float | None = Field(None, description="From government contracts (£)")
    income_government_grants: float | None = Field(None, description="From government grants (£)")
    employees: int | None = None
    volunteers: int | None = None
    date_due: date | None = Field(None, description="When the return was due")
    date_received: date | None = Field(None, description="When it was received")
    received_late: bool | None = None


class Readiness(BaseModel):
    level: str = Field(description="ready, caution, unknown or not ready")
    reasons: list[str] = Field(default_factory=list, description="The flags behind the level, in words")
    income_band: str | None = None
    income_trend: str | None = Field(None, description="growing, falling, stable or unknown")
    years_operating: int | None = None


class LinkedRecord(BaseModel):
    record_id: str = Field(description="<source>:<number>: one register's record of the organisation")
    source: str
    identifier: str | None = None
    name: str | None = None
    legal_form: str | None = None
    status: str | None = None
    is_active: bool | None = None
    postcode: str | None = None


class Link(BaseModel):
    left_record: str
    right_record: str
    method: str = Field(description="How the two records were linked (an identifier both give, or their names)")
    score: float | None = Field(None, description="The link's score (100 for an identifier)")
    evidence: str | None = Field(None, description="What matched, in words")


class Change(BaseModel):
    run_id: str
    published_at: datetime | None = None
    change_type: str = Field(description="new, removed or changed")
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None


class OrganisationRef(BaseModel):
    org_id: str
    name: str


class OrganisationProfile(BaseModel):
    """Everything the register knows about one organisation in one area, and why."""

    register_version: Register = Field(description="The register version this answer was read from")
    org_id: str = Field(description="Canonical org-id")
    area_code: str
    area_name: str
    name: str
    legal_form: str
    status: str | None = Field(None, description="As its register says: Registered, Active, Removed, Dissolved")
    is_active: bool
    based: str | None = Field(None, description="Where it is based, in words")
    address: str | None = None
    postcode: str | None = None
    ward_code: str | None = None
    ward_name: str | None = None
    imd_decile: int | None = Field(None, description="1 = most deprived 10% of neighbourhoods in England")
    website: str | None = None
    email: str | None = None
    phone: str | None = None
    date_registered: date | None = None
    date_removed: date | None = None
    parent: OrganisationRef | None = Field(None, description="The main charity of a linked charity")
    names: list[Name]
    identifiers: list[Identifier]
    service_areas: list[ServiceArea]
    finances: list[FinanceYear] = Field(description="Income and spending by year, newest first")
    readiness: Readiness | None = Field(None, description="None for an organisation no longer registered")
    linked_records: list[LinkedRecord] = Field(description="The register records linked into it")
    links: list[Link] = Field(description="How those records were linked")
    changes: list[Change] = Field(description="What changed at recent publishes, newest first")


def _profile_model(data: dict, info: RegisterInfo) -> OrganisationProfile:
    org, readiness = data["org"], data["readiness"]
    return OrganisationProfile(
        register_version=_register(info), area_name=data["area_name"], based=data["based"],
        **{k: org[k] for k in ("org_id", "area_code", "name", "legal_form", "status", "is_active", "address",
                               "postcode", "ward_code", "ward_name", "imd_decile", "website", "email", "phone",
                               "date_registered", "date_removed")},
        parent=OrganisationRef(**data["parent"][0]) if data["parent"] else None,
        names=[Name(**n) for n in data["names"]],
        identifiers=[Identifier(**{k: i[k] for k in ("identifier", "scheme", "source", "is_canonical")},
                                register_name=i["page"][0] if i["page"] else None,
                                register_url=i["page"][1] if i["page"] else None) for i in data["identifiers"]],
        service_areas=[ServiceArea(service_area=s["service_area"], label=s["label"], evidence=s["evidence_shown"])
                       for s in data["services"]],
        finances=[FinanceYear(**_pick(f, FinanceYear)) for f in data["finances"]],
        readiness=Readiness(level=readiness["readiness_level"], reasons=readiness["readiness_reasons"] or [],
                            income_band=readiness["income_band"], income_trend=readiness["income_trend"],
                            years_operating=readiness["years_operating"]) if readiness else None,
        linked_records=[LinkedRecord(**_pick(r, LinkedRecord)) for r in data["records"]],
        links=[Link(**{**_pick(link, Link), "evidence": link["evidence_shown"] or link["evidence"]})
               for link in data["links"]],
        changes=[Change(**{**_pick(c, Change), "published_at": c["finished_at"]}) for c in data["changes"]])


def _pick(row: dict, model: type[BaseModel]) -> dict[str, Any]:
    return {k: row[k] for k in model.model_fields if k in row}


@router.get("/organisations/{org_id}", response_model=OrganisationProfile, summary="An organisation's profile")
def organisation(org_id: str, area: str | None = Query(None, max_length=20, description="GSS code of the area "
                                                                                       "(default: the first that "
                                                                                       "holds it)"),
                 register: RegisterView = Depends(current_register)) -> OrganisationProfile:
    """The organisation with this org-id (any of its identifiers will do; an organisation's own org-id names it first,
    as the reconciliation service reads ids): names, identifiers with their register
    pages, place, service areas with evidence, finances by year, readiness, linked records and recent changes."""
    if len(org_id) > MAX_TEXT:
        raise HTTPException(404, "no organisation with that id in the register")
    row = locate_ids(register.cursor, [org_id], area).get(org_id)
    data = organisation_profile(register.cursor, row[0], row[1]) if row else None
    if data is None:
        raise HTTPException(404, f"no organisation {org_id} in the register" + (f" in area {area}" if area else ""))
    return _profile_model(data, register.info)


# ---------------------------------------------------------------------------------------------- wards

class WardSummary(BaseModel):
    area_code: str
    ward_code: str = Field(description="GSS code of the ward (E05...)")
    ward_name: str | None = None
    providers: int = Field(description="Providers based in the ward")
    unclassified: int = Field(description="Of those, how many have no service area (their work is unknown)")
    gaps: int = Field(description="Service areas commissioned ward by ward with fewer providers based here than "
                                  "the gap threshold, where the register can tell (status 'gap' on the ward)")
    cannot_tell: int = Field(description="Such service areas the register cannot tell about: not reliably tagged "
                                         "in the area, or the providers of unknown work could close the gap")


class WardList(BaseModel):
    register_version: Register = Field(description="The register version this answer was read from")
    wards: list[WardSummary]


class WardProvider(BaseModel):
    org_id: str
    name: str
    legal_form: str | None = None
    service_areas: list[str] = Field(default_factory=list)
    latest_income: float | None = None
    postcode: str | None = None
    lat: float | None = Field(None, description="Latitude of the postcode (WGS84)")
    long: float | None = Field(None, description="Longitude of the postcode (WGS84)")


class WardCoverage(BaseModel):
    service_area: str
    label: str
    commissioned_locally: bool = Field(description="Whether the council commissions it ward by ward")
    providers_based: int = Field(description="Providers of it based in the ward")
    providers_area_wide: int = Field(description="Providers of it across the area")
    status: str = Field(description="covered; gap; 'cannot tell' (the providers of unknown work could close the "
                                    "gap); or 'not commissioned by ward'")


class WardDetail(BaseModel):
    register_version: Register = Field(description="The register version this answer was read from")
    area_code: str
    area_name: str
    ward_code: str
    ward_name: str | None
    providers: list[WardProvider] = Field(description="Providers based in the ward, by name")
    coverage: list[WardCoverage]
    unclassified: int = Field(description="Providers based here with no service area")
    gap_threshold: int | None = Field(None, description="Fewer providers based in the ward than this is a gap")
    gaps: int
    cannot_tell: int


@router.get("/wards", response_model=WardList, summary="Every ward with its providers and gaps")
def wards(register: RegisterView = Depends(current_register)) -> WardList:
    return WardList(register_version=_register(register.info),
                    wards=[WardSummary(**w) for w in ward_list(register.cursor)])


@router.get("/wards/{ward_code}", response_model=WardDetail, summary="One ward: providers, coverage, gaps")
def ward(ward_code: str, register: RegisterView = Depends(current_register)) -> WardDetail:
    data = ward_detail(register.cursor, ward_code[:MAX_TEXT])
    if data is None:
        raise HTTPException(404, f"no ward {ward_code[:20]} in the register")
    return WardDetail(
        register_version=_register(register.info), area_code=data["ward"]["area_code"], area_name=data["area_name"],
        ward_code=data["ward"]["ward_code"], ward_name=data["ward"]["ward_name"],
        providers=[WardProvider(**{**_pick(p, WardProvider), "service_areas": p["service_area_labels"] or []})
                   for p in data["providers"]],
        coverage=[WardCoverage(**{**_pick(c, WardCoverage), "label": c["service_area_label"]})
                  for c in data["coverage"]],
        unclassified=data["unclassified"], gap_threshold=data["threshold"], gaps=data["gaps"],
        cannot_tell=data["cannot_tell"])


# ---------------------------------------------------------------------------------------------- opportunity feed

class FeedVersion(BaseModel):
    """The published opportunity feed an answer was read from."""

    version: str = Field(description="The feed file's name and its last finished run")
    published_at: str | None = Field(None, description="When that run finished (ISO 8601, UTC)")


class FeedNotice(BaseModel):
    """A notice the feed keeps for the area: one procurement (ocid) folded from its releases (docs/feed.md)."""

    ocid: str = Field(description="The procurement's OCDS id")
    release_id: str | None = Field(None, description="Its latest release's id")
    service: str | None = Field(None, description="The service it came from (find_a_tender or contracts_finder)")
    title: str | None = None
    buyer_name: str | None = None
    stage: str | None = Field(None, description="planning, tender or award: the latest stage of its releases")
    tender_status: str | None = None
    deadline: str | None = Field(None, description="Tender deadline (ISO 8601), when it has one")
    warning: str | None = Field(None, description="Why it is not open to bids as of the request (an award, a "
                                "cancelled tender, a deadline passed), as the digest says; null when it is open")
    value: float | None = Field(None, description="Its value (£), as the notice gives it")
    suitable_for_vcse: bool | None = Field(None, description="The buyer marks it suitable for VCSEs")
    kept_reasons: list[str] = Field(default_factory=list, description="Why the feed keeps it for the area")
    location: str | None = Field(None, description="Where it is delivered: local, region, national or unknown")
    providers_matched: int | None = Field(None, description="Providers on its stored shortlist")
    updated_at: datetime | None = Field(None, description="When the feed last folded a release of it (UTC)")


class FeedNoticeList(BaseModel):
    feed_version: FeedVersion
    area_code: str
    total: int = Field(description="Notices kept for the area; `offset` pages on")
    notices: list[FeedNotice] = Field(description="Latest changed first")


class FeedShortlistEntry(BaseModel):
    """A provider on a notice's shortlist, as the feed stored it when it matched the notice (not scored again)."""

    rank: int
    score: int
    org_id: str
    name: str
    legal_form: str | None = None
    ward_name: str | None = None
    service_areas: list[str] = Field(default_factory=list)
    service_fit: str | None = None
    location_fit: str | None = None
    size_fit: str | None = None
    readiness_level: str | None = None
    latest_income: float | None = None
    reasons: list[str] = Field(default_factory=list, description="Why it is on the shortlist, in words")


class FeedNoticeDetail(BaseModel):
    feed_version: FeedVersion
    area_code: str
    notice: FeedNotice
    cpv_codes: list[str] = Field(default_factory=list)
    shortlist: list[FeedShortlistEntry]


def _feed_or_404(feed_view: RegisterView | None) -> RegisterView:
    if feed_view is None:
        raise HTTPException(404, "no opportunity feed has been published yet")
    return feed_view


@router.get("/opportunities", response_model=FeedNoticeList, summary="The opportunity feed's latest notices")
def opportunities(limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0),
                  register: RegisterView = Depends(current_register),
                  feed_view: RegisterView | None = Depends(current_feed)) -> FeedNoticeList:
    """The notices the published feed keeps for the register's area, latest changed first; 404 when no feed has
    been published."""
    found = _feed_or_404(feed_view)
    area_code = single_area(register.cursor)
    return FeedNoticeList(feed_version=_feed_version(found.info), area_code=area_code,
                          total=count_notices(found.cursor, area_code),
                          notices=[FeedNotice(**_pick(n, FeedNotice))
                                   for n in latest_notices(found.cursor, area_code, limit, offset)])


@router.get("/opportunities/{ocid}", response_model=FeedNoticeDetail, summary="A feed notice and its shortlist")
def opportunity(ocid: str, register: RegisterView = Depends(current_register),
                feed_view: RegisterView | None = Depends(current_feed)) -> FeedNoticeDetail:
    """A kept notice with the shortlist the feed stored for it, by rank, with each provider's reasons."""
    found = _feed_or_404(feed_view)
    area_code = single_area(register.cursor)
    notice = feed_notice(found.cursor, area_code, ocid[:MAX_TEXT])
    if notice is None:
        raise HTTPException(404, f"no notice {ocid[:MAX_TEXT]} kept in the opportunity feed")
    return FeedNoticeDetail(feed_version=_feed_version(found.info), area_code=area_code,
                            notice=FeedNotice(**_pick(notice, FeedNotice)), cpv_codes=notice["cpv_codes"] or [],
                            shortlist=[FeedShortlistEntry(**_pick(m, FeedShortlistEntry))
                                       for m in stored_shortlist(found.cursor, area_code, notice["ocid"])])


def _feed_version(info: RegisterInfo) -> FeedVersion:
    return FeedVersion(version=info.version, published_at=info.published_at)
