"""Match a contract notice (an OCDS release, as Contracts Finder and Find a Tender publish) to local providers.

Each provider on the shortlist carries its reasons: which of its service areas the notice's own text names
(notice_text.py) and how closely they fit the notice's CPV codes, what its own activities say, where the work is
delivered against where the provider is, the size of the contract against the provider's income, the buyer's
VCSE/SME suitability flags and the provider's readiness (provider_readiness view).
Scores are points added per reason (see docs/procurement.md), so a ranking can always be explained. The list is
ordered by fit first (how specifically the provider does what the notice asks), in tiers of providers within
FIT_BAND points of their tier's best fit, then by score within a tier, so size and readiness never outweigh a
clearly better fit and nearly equal fits rank by score; providers below a fit floor are not listed at all, nor
those only the description's words fit (a fit rests on the title or a CPV code; a goods, works or IT notice, or
one for a service its CPV code names such as transport or cleaning, on a CPV code), and linked charities
(restricted funds, subsidiaries) appear under their main charity.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date

import duckdb

from ..db import table_exists
from ..lookups import area_name, area_profile, single_area
from ..postcode import postcode_district
from ..tagging.taxonomy import cpv_stem
from .choices import known_service_areas
from .notice_text import CLIENT_GROUPS, TextFit, text_service_areas
from .ocds import (
    contract_value,
    cpv_codes,
    delivery_countries,
    is_nominal,
    notice_phase,
    region_label,
    release_tender,
    tender_items,
)

NATIONAL = {"england", "united kingdom", "uk", "great britain", "gb", "england and wales", "e92000001",
            "k02000001", "k03000001", "k04000001"}
# The notice's text naming one of the provider's service areas: the service itself (what) or only the people
# served (who, notice_text.CLIENT_GROUPS), in the title or only further down. The best two areas add up.
TEXT_POINTS = {(True, False): 50, (False, False): 20, (True, True): 30, (False, True): 10}  # (in title, who)
# A CPV fit says as much as the CPV level the notice and area codes share: a division (85, "health and social
# work") says little, a category (85312320, "counselling") a lot.
CPV_POINTS = {2: 5, 3: 12, 4: 20}
CPV_POINTS_FINEST = 25
ACTIVITY_POINTS = 15  # the provider's own activities/objects use the notice's words
NAME_POINTS = 25      # the provider's own name uses them ("... Women's Refuge" for a refuge notice)
# A provider with less fit than this is not shortlisted: a broad notice must not "match" most of the register.
# A title-named service the provider is placed in with strength 0.4 earns 20; a CPV fit alone earns 5-25 x strength.
FIT_FLOOR = 15
# A fit must rest on the notice's title or its CPV codes: words found only further down (a passing "historical",
# "cafe" or "schools" in a description) support a fit but never make one, so a provider they alone fit is not listed.
# CPV divisions that buy goods, works or technical services, not a service a community provider delivers: supplies
# (03-44), construction works (45), software (48), repair and maintenance (50), installation (51), post and
# telecoms (64), utilities (65), finance and insurance (66), architecture and engineering (71), IT (72), oil and
# gas (76). When a notice's main CPV code is in one, its description's words are not read as service areas at all,
# and its title's words support a fit only a CPV code of a service (a lot for support services, say) makes.
GOODS_WORKS_DIVISIONS = frozenset({f"{d:02d}" for d in range(3, 46)} | {"48", "50", "51", "64", "65", "66", "71",
                                                                      "72", "76"})
# Services a CPV code names precisely, bought for a setting, a client group or a subject the title names: land
# transport (60), transport agencies and travel (63), real estate (70), research (73), business services such as
# evaluation, design or consultancy (79), cleaning, refuse and environmental services (90), car parks and other civic
# amenities (9835). Their title's words name where, for whom or about what ("Home to School Transport", "Cleaning of
# Educational Establishments", "Skills Fund Evaluation"), not a service a provider of that area delivers: as for
# goods and works, only a CPV code makes a fit (community transport for a school run) and the title's words support it.
SERVICE_BY_CPV = frozenset({"60", "63", "70", "73", "79", "90", "9835"})
# Share of its fit kept by a provider whose own name places it only in service areas the notice does not ask for.
NAMED_ELSEWHERE = 0.6
# Share of its fit kept by a provider serving none of several groups of people a notice's title names.
PEOPLE_SHARE = 0.6
# Fit is compared in tiers: a provider within this many points of its tier's best fit ranks by score with it.
FIT_BAND = 10
LOCATION_POINTS = {"local": 25, "region": 20, "national": 15, "not stated": 10, "elsewhere": 0}
BASE_POINTS = {True: 10, False: 5}  # based in the area / operating in it from outside
# No income on record is no better than too small: the provider cannot show it can carry the contract, and missing
# data must not outrank known data.
SIZE_POINTS = {"fits": 15, "stretch": 5, "large provider": 5, "too small": -10, "unknown": -10, "not assessed": 0}
READINESS_POINTS = {"ready": 10, "caution": 3, "unknown": 0, "not ready": -25}
# A contract worth up to half a provider's annual income fits; up to all of it is a stretch; more is too big.
# A provider whose income is over 100 times the annual value is flagged as large for the contract.
FITS_SHARE, STRETCH_SHARE, LARGE_MULTIPLE = 0.5, 1.0, 100


@dataclass
class NoticeSummary:
    release_id: str
    ocid: str | None
    title: str
    buyer: str | None
    cpv_codes: list[str]
    value: float | None
    annual_value: float | None
    contract_years: float | None
    location: str                 # local, region, national, not stated, elsewhere
    location_reason: str
    suitable_for_vcse: bool | None
    suitable_for_sme: bool | None
    service_areas: list[tuple[str, str, str]] = field(default_factory=list)  # (service_area, matched_cpv, how)
    text_service_areas: list[tuple[str, bool, list[str]]] = field(default_factory=list)  # (area, in title, words)
    title_words: dict[str, list[str]] = field(default_factory=dict)  # service area -> the words found in the title
    phase: str = "unknown"        # planning, tender, award, contract, cancelled, unknown (notice_phase)
    tender_status: str | None = None
    deadline: str | None = None   # tender.tenderPeriod.endDate, as published
    tender_expected: str | None = None  # a planning notice's tender.communication.futureNoticeDate
    warning: str | None = None    # e.g. the contract has been let: the shortlist is for reference only
    labels: dict[str, str] = field(default_factory=dict)  # service area code -> label, for those above

    def label(self, service_area: str) -> str:
        return self.labels.get(service_area, service_area)

    def as_dict(self) -> dict:
        """JSON-ready, with named keys (no positional arrays); each service area with its label."""
        data = asdict(self)
        del data["labels"]
        data["stage"] = data.pop("phase")  # published as the notice's stage (docs/procurement.md)
        data["service_areas"] = [{"service_area": sa, "label": self.label(sa), "matched_cpv": cpv, "how": how}
                                 for sa, cpv, how in self.service_areas]
        data["text_service_areas"] = [{"service_area": sa, "label": self.label(sa), "in_title": in_title,
                                       "words": words} for sa, in_title, words in self.text_service_areas]
        return data


@dataclass
class ProviderMatch:
    area_code: str
    org_id: str
    name: str
    legal_form: str
    ward_name: str | None
    score: int
    service_areas: list[str]
    service_fit: str           # "text and CPV", "text", "CPV" (how the best service area fits)
    location_fit: str          # e.g. "local; based in the area"
    size_fit: str              # fits, stretch, too small, large provider, unknown, not assessed
    readiness_level: str
    latest_income: float | None
    reasons: list[str]
    service_area_labels: list[str] = field(default_factory=list)  # the service_areas' labels, same order
    website: str | None = None
    email: str | None = None
    phone: str | None = None
    fit: int = 0                  # the fit part of score: what the list is ordered by first
    linked_charities: list[str] = field(default_factory=list)  # its restricted funds and subsidiaries that fit too

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------- location

def area_districts(con: duckdb.DuckDBPyConnection, area_code: str) -> set[str]:
    """The postcode districts ("CH41") of the register's organisations in the area (lad_code `area_code`): where the
    area is, as postcodes say it. A delivery place or buyer postcode in one of them is local (notice_location; the
    feed's keep_reasons)."""
    rows = con.execute("SELECT DISTINCT split_part(postcode, ' ', 1) FROM organisation "
                       "WHERE lad_code = ? AND postcode IS NOT NULL", [area_code]).fetchall()
    return {r[0] for r in rows}


def _mentions(text: str, names: list[str]) -> str | None:
    for name in names:
        if name and re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE):
            return name
    return None


def notice_location(con: duckdb.DuckDBPyConnection, release: dict, area_code: str) -> tuple[str, str]:
    """Where the work is, against the area: (local|region|national|not stated|elsewhere, why)."""
    profile = area_profile(area_code)
    place_name = area_name(area_code)
    places = [profile["area_name"], *[p for p in profile["places"].split(";") if p]]
    region_names = {profile["region"].lower(), profile["county"].lower()} - {""}
    region_codes = {c.upper() for c in profile["region_codes"].split(";") if c}
    tender = release_tender(release)
    regions, postcodes, texts = [], [], []
    for item in tender_items(tender):
        addresses = [a for a in item.get("deliveryAddresses") or [] if isinstance(a, dict)]
        location = item.get("deliveryLocation")
        for a in addresses + ([location] if isinstance(location, dict) else []):
            if a.get("region"):
                regions.append(str(a["region"]).strip())
            if a.get("postalCode"):
                postcodes.append(str(a["postalCode"]))
            texts += [str(a[k]) for k in ("description", "locality", "streetAddress") if a.get(k)]
    if not regions and not postcodes:   # only a country ("Jersey", "Guernsey"), if any: still a place
        regions = delivery_countries(release)
    # each place once: a notice's lots and items often repeat theirs ("UKL12, UKL13, UKL12")
    regions, postcodes = list(dict.fromkeys(regions)), list(dict.fromkeys(postcodes))
    districts = area_districts(con, area_code)
    for pc in postcodes:
        if postcode_district(pc) in districts:
            return "local", f"delivered at {pc}, in {place_name}"
    place = _mentions(" ".join(texts + [str(tender.get("title", "")), str(tender.get("description", ""))]), places)
    if place:
        return "local", f"notice names {place}" + ("" if place == place_name else f" ({place_name})")
    for party in release.get("parties") or []:
        if isinstance(party, dict) and "buyer" in (party.get("roles") or []):
            pc = (party.get("address") or {}).get("postalCode")
            if pc and postcode_district(pc) in districts:
                return "local", f"buyer based in {place_name} ({pc})"
    local_codes = {c for c in region_codes if len(c) >= 5}  # NUTS3 / ITL3: the area itself
    if any(r.upper() in local_codes for r in regions):
        local = next(r for r in regions if r.upper() in local_codes)
        return "local", f"delivery region {region_label(local)} is {place_name}"
    for r in regions:
        if r.lower() in region_names or r.upper() in region_codes:
            return "region", f"delivery region {region_label(r)} includes {place_name}"
    for r in regions:
        if r.lower() in NATIONAL:
            return "national", f"delivered across {r}"
    if regions or postcodes:
        where = ", ".join([region_label(r) for r in regions[:3]] + postcodes[:2])
        return "elsewhere", f"delivered in {where}, outside {place_name}'s region"
    return "not stated", "the notice gives no delivery location"


# ------------------------------------------------------------------------------------------- matching

def cpv_fits(con: duckdb.DuckDBPyConnection, codes: list[str]) -> dict[str, tuple[str, str, str, int]]:
    """{service_area: (notice CPV, matched area CPV, within|broader, shared CPV level)} for the notice codes, from
    the register's service_area_cpv with the prefix rule of providers_for_cpv (sql/views/30_providers_for_cpv.sql).
    The shared level is the number of significant digits the two codes have in common (2 = division); the
    closest pair is kept for each area."""
    best: dict[str, tuple[str, str, str, int]] = {}
    for area, area_cpv in con.execute("SELECT service_area, cpv_code FROM service_area_cpv").fetchall():
        for code in codes:
            notice_stem, area_stem = cpv_stem(code), cpv_stem(area_cpv)
            if notice_stem.startswith(area_stem):
                how, level = "within", len(area_stem)
            elif area_stem.startswith(notice_stem):
                how, level = "broader", len(notice_stem)
            else:
                continue
            if area not in best or (level, how == "within") > (best[area][3], best[area][2] == "within"):
                best[area] = (code, area_cpv, how, level)
    return best


def service_areas_for_notice(con: duckdb.DuckDBPyConnection, codes: list[str]) -> list[tuple[str, str, str]]:
    """(service_area, matched CPV, within|broader) for the notice codes, most specific first."""
    fits = cpv_fits(con, codes)
    return [(sa, fit[1], fit[2]) for sa, fit in sorted(fits.items(), key=lambda kv: (-kv[1][3], kv[0]))]


def cpv_points(level: int) -> int:
    return CPV_POINTS.get(level, CPV_POINTS_FINEST)


def describe_notice(con: duckdb.DuckDBPyConnection, release: dict, area_code: str,
                    today: date | None = None) -> NoticeSummary:
    tender = release_tender(release)
    codes = cpv_codes(release)
    value, annual, years = contract_value(release)
    location, why = notice_location(con, release, area_code)
    suitability = tender.get("suitability") if isinstance(tender.get("suitability"), dict) else {}
    buyer = (release.get("buyer") or {}).get("name") if isinstance(release.get("buyer"), dict) else None
    text = sorted(text_service_areas(con, release).values(), key=lambda f: _text_points(f), reverse=True)
    if goods_or_works(codes):   # supplies, works, IT: "cafe" in a visitor centre's building works is no food bank
        text = [f for f in text if f.in_title]
    by_cpv = service_areas_for_notice(con, codes)
    named = {sa for sa, _cpv, _how in by_cpv} | {f.service_area for f in text}
    labels = {sa: label for sa, label in known_service_areas(con).items() if sa in named}
    return NoticeSummary(str(release.get("id", "")), release.get("ocid"), str(tender.get("title") or ""), buyer,
                         codes, value, annual, years, location, why, suitability.get("vcse"), suitability.get("sme"),
                         by_cpv, [(f.service_area, f.in_title, f.phrases) for f in text],
                         {f.service_area: f.title_phrases for f in text if f.title_phrases},
                         **notice_phase(release, today), labels=labels)


def goods_or_works(codes: list[str]) -> bool:
    """Whether the notice's main CPV code (the first: tender.classification) buys goods, works or a technical
    service (GOODS_WORKS_DIVISIONS) rather than a service a community provider delivers."""
    return bool(codes) and codes[0][:2] in GOODS_WORKS_DIVISIONS


def cpv_makes_fit(codes: list[str]) -> bool:
    """Whether only a CPV code can make a provider fit the notice, its title's words only supporting that fit: the
    main CPV code buys goods, works or a technical service (goods_or_works), or a service the code names precisely
    while the title names its setting, people or subject (SERVICE_BY_CPV: "School" in home-to-school transport)."""
    return goods_or_works(codes) or (bool(codes) and any(codes[0].startswith(p) for p in SERVICE_BY_CPV))


def _text_points(fit: TextFit) -> int:
    return TEXT_POINTS[(fit.in_title, fit.client_group)]


def _size_fit(income: float | None, annual: float | None, value: float | None = None) -> tuple[str, str]:
    if annual is None:
        return "not assessed", "the notice states no value"
    if is_nominal(value):   # £0.01: a placeholder, not a size to compare with
        return "not assessed", f"the notice states only a nominal value (£{value:.2f})"
    if income is None or income <= 0:
        return "unknown", "no income on record to compare with the contract value"
    share = annual / income
    pct = f"{share:.0%} of" if share < 10 else f"{share:.0f} times"
    if share <= FITS_SHARE:
        if income > annual * LARGE_MULTIPLE:
            return "large provider", f"annual value £{annual:,.0f} is under 1% of income £{income:,.0f}"
        return "fits", f"annual value £{annual:,.0f} is {pct} income £{income:,.0f}"
    if share <= STRETCH_SHARE:
        return "stretch", f"annual value £{annual:,.0f} is {pct} income £{income:,.0f}"
    return "too small", f"annual value £{annual:,.0f} is {pct} the provider's income £{income:,.0f}"


def _provider_words(con: duckdb.DuckDBPyConnection, area_code: str, words: list[str]) -> dict[str, tuple[str, str]]:
    """{org_id: (the first notice word its own text uses, the field: name, activities or objects)}; the name first."""
    if not words:
        return {}
    has_text = table_exists(con, "organisation_text")
    activities = "lower(coalesce(t.activities, ''))" if has_text else "''"
    objects = "lower(coalesce(t.objects, ''))" if has_text else "''"
    join = "LEFT JOIN organisation_text t USING (area_code, org_id)" if has_text else ""
    rows = con.execute(f"""
        WITH w AS (SELECT unnest(?::VARCHAR[]) AS pattern, unnest(?::VARCHAR[]) AS word,
                          generate_subscripts(?::VARCHAR[], 1) AS i),
        fields AS (
            SELECT o.org_id, unnest(['name', 'activities', 'objects']) AS field,
                   unnest([lower(o.name), {activities}, {objects}]) AS body, generate_subscripts([0, 0, 0], 1) AS f
            FROM organisation o {join} WHERE o.area_code = ?)
        SELECT org_id, arg_min(word, (f, i)), arg_min(field, (f, i))
        FROM fields JOIN w ON regexp_matches(body, '\\b' || w.pattern || '\\b')
        GROUP BY org_id""", [[re.escape(x.lower()) for x in words], words, words, area_code])
    return {org_id: (word, field) for org_id, word, field in rows.fetchall()}


def _names(name: str, words: list[str]) -> bool:
    """Whether the provider's name uses one of the words (whole words, any case), as _provider_words reads it."""
    return any(re.search(rf"\b{re.escape(w.lower())}\b", name.lower()) for w in words)


def _fit(matched: list[str], strengths: dict[str, float], text: dict[str, TextFit], cpv: dict, labels: dict
         ) -> tuple[float, str, list[str]]:
    """Fit points, fit kind and reasons for the provider's service areas that fit the notice's text or CPV codes.

    Each area counts as much as the notice says it (TEXT_POINTS, CPV_POINTS; an area only the description names
    counts only when a CPV code of the notice fits it too) times how sure the provider's
    placement in it is (its strength) times how central it is to the provider (strength against its strongest
    area): a homeless project whose day centre earns it adult social care fits a day-care notice less than an
    older people's forum does, and a provider tagged with many areas cannot win on a side line.
    """
    top = max(strengths.values(), default=1.0) or 1.0

    def weight(sa: str) -> float:
        strength = strengths.get(sa, 0.5)
        return strength * strength / top

    # an area named only further down counts when a CPV code of the notice fits it too: a passing "historical" in a
    # description of hospital beds makes no choir a provider
    by_text = sorted((sa for sa in matched if sa in text and (text[sa].in_title or sa in cpv)),
                     key=lambda sa: -_text_points(text[sa]) * weight(sa))
    # the best area, plus a second one the title also names (a provider tagged with many areas should not win
    # on passing mentions further down the notice)
    text_score = sum(_text_points(text[sa]) * weight(sa) for i, sa in enumerate(by_text[:2])
                     if i == 0 or text[sa].in_title)
    cpv_score = max((cpv_points(cpv[sa][3]) * weight(sa) for sa in matched if sa in cpv), default=0.0)
    reasons = []
    for sa in by_text:
        # say where each word was found: "title mentions 'counselling'" only when the title does
        in_title = [w for w in text[sa].phrases if w.lower() in {t.lower() for t in text[sa].title_phrases}]
        below = [w for w in text[sa].phrases if w not in in_title]
        said = [f"notice {where} mentions '" + "', '".join(found[:3]) + "'"
                for where, found in (("title", in_title), ("description", below)) if found]
        reasons.append(f"{labels.get(sa, sa)} (strength {strengths.get(sa, 0):.2f}): {'; '.join(said)}")
    by_cpv = sorted((sa for sa in matched if sa in cpv), key=lambda sa: (-cpv[sa][3], sa not in text, sa))
    if by_cpv:  # the closest CPV fit; the others add nothing to the score
        sa = by_cpv[0]
        code, area_cpv, how, level = cpv[sa]
        detail = {2: "division", 3: "group", 4: "class"}.get(level, "category")
        others = f"; {len(by_cpv) - 1} more of its service areas too" if len(by_cpv) > 1 else ""
        reasons.append(f"{labels.get(sa, sa)} fits CPV {code} " + (f"(within {area_cpv}" if how == "within" else
                       f"(a broader code above {area_cpv}") + f"; shared {detail} level{others})")
    kind = "text and CPV" if by_text and cpv_score else "text" if by_text else "CPV"
    return text_score + cpv_score, kind, reasons


def match_notice(con: duckdb.DuckDBPyConnection, release: dict, area_code: str | None = None,
                 limit: int = 20, notice: NoticeSummary | None = None) -> list[ProviderMatch]:
    """A ranked shortlist of the area's active providers for one OCDS release, each with its reasons.

    `notice` is the release's describe_notice(con, release, area_code), when the caller has it already (the
    notice's text is then not read again)."""
    area_code = area_code or single_area(con)
    notice = notice or describe_notice(con, release, area_code)
    text = {sa: TextFit(sa, in_title, list(words), list(notice.title_words.get(sa, [])))
            for sa, in_title, words in notice.text_service_areas}
    cpv = cpv_fits(con, notice.cpv_codes)
    wanted = sorted(set(text) | set(cpv))
    if not wanted:
        return []
    rows = con.execute("""
        SELECT d.org_id, d.name, d.legal_form, d.ward_name, d.latest_income, d.area_basis, d.website, d.email,
               d.phone, list_intersect(d.service_areas, ?::VARCHAR[]) AS matched,
               coalesce(r.readiness_level, 'unknown'), coalesce(r.readiness_reasons, []::VARCHAR[]),
               d.based_in_area AS based, o.parent_org_id,
               (SELECT map(list(s.service_area), list(s.strength)) FROM organisation_service_area s
                WHERE s.area_code = d.area_code AND s.org_id = d.org_id) AS strengths,
               (SELECT list(s.service_area) FROM organisation_service_area s WHERE s.area_code = d.area_code
                  AND s.org_id = d.org_id AND s.evidence LIKE '%name:%') AS named
        FROM provider_directory d
        JOIN organisation o ON o.area_code = d.area_code AND o.org_id = d.org_id
        LEFT JOIN provider_readiness r ON r.area_code = d.area_code AND r.org_id = d.org_id
        WHERE d.area_code = ? AND len(list_intersect(d.service_areas, ?::VARCHAR[])) > 0""",
                       [wanted, area_code, wanted]).fetchall()
    labels = known_service_areas(con)
    # the words of the notice's title a provider's own name or text might use: the title says what is bought, a
    # passing "school" further down a notice about equalities does not
    ranked = sorted(text.values(), key=_text_points, reverse=True)
    words = [w for f in ranked for w in f.title_phrases]
    own_words = _provider_words(con, area_code, words)
    # the title's words for the service itself ("Short Breaks"), not for the people served ("Children")
    service_words = [w for f in ranked if not f.client_group for w in f.title_phrases]
    own_service_words = _provider_words(con, area_code, service_words)
    asked = set(text) or set(cpv)   # what the notice asks for: its text's areas, else its CPV codes'
    # goods, works or IT (GOODS_WORKS_DIVISIONS), or a service its CPV code names (SERVICE_BY_CPV): only a CPV code
    # makes a fit; the title's words support it ("Stoneydelph Health Centre - Car Park Resurfacing" is no health and
    # wellbeing service, "Home to School Transport" no school's)
    by_cpv_only = cpv_makes_fit(notice.cpv_codes)
    groups = [sa for sa, f in text.items() if f.client_group and f.title_phrases]  # the people the title names
    place = area_name(area_code)
    matches, linked = [], {}
    for (org_id, name, form, ward, income, _basis, website, email, phone, matched, level, level_reasons,
         based, parent, strengths, named) in rows:
        named_people = set(named or ()) & CLIENT_GROUPS
        # its own name says whom it is for ("... Young Carers": carers), and they are none of the people the title
        # names ("... for Children with Disabilities"): its tags for those people describe whom its own people care
        # for or live with, not whom it serves, so only its fit for the service itself (and the title's words for
        # the service) counts
        other_people = bool(groups and named_people and not named_people & set(groups))
        counted = [sa for sa in matched if sa not in CLIENT_GROUPS] if other_people else matched
        if not any(sa in cpv or (text[sa].in_title and not by_cpv_only) for sa in counted):
            continue   # only the description's words fit it: they support a fit, never make one (FIT_FLOOR)
        fit, service_fit, reasons = _fit(counted, dict(strengths or {}), text, cpv, labels)
        if other_people:
            reasons.append("its name says it is for " + ", ".join(labels.get(sa, sa) for sa in sorted(named_people))
                           + ", not the people the title names: its tags for those are not counted")
        if len(groups) > 1:   # "... for Children with Disabilities": the more of the named people it serves, the better
            # served: tagged with them, or its own name uses the title's word for them ("Parents of Disabled Children")
            served = [sa for sa in groups
                      if sa in counted or (not other_people and _names(name, text[sa].title_phrases))]
            fit *= PEOPLE_SHARE + (1 - PEOPLE_SHARE) * len(served) / len(groups)
            if len(served) < len(groups):
                reasons.append(f"serves {len(served)} of the {len(groups)} groups of people the title names")
        if named and not set(named) & asked:
            # its own name says it is mainly something the notice does not ask for ("... Young Carers" for a
            # disabled children's notice): less specific than a provider whose name says what is bought
            fit *= NAMED_ELSEWHERE
            reasons.append("its name says it is mainly " + ", ".join(labels.get(sa, sa) for sa in sorted(named)))
        words_used = own_service_words if other_people else own_words
        if org_id in words_used:
            word, where = words_used[org_id]
            fit += NAME_POINTS if where == "name" else ACTIVITY_POINTS
            reasons.append(f"its {where} mention{'s' if where == 'name' else ''} '{word}'")
        if fit < FIT_FLOOR:
            continue
        if parent:   # a restricted fund or subsidiary: listed under its main charity, not as a provider of its own
            linked.setdefault(parent, []).append(name)
            continue
        fit = int(round(fit))
        score = fit + LOCATION_POINTS[notice.location] + BASE_POINTS[bool(based)]
        reasons.append(notice.location_reason)
        reasons.append(f"based in {place}" + (f" ({ward})" if ward else "") if based
                       else f"operates in {place} (based outside it)")
        size, size_reason = _size_fit(income, notice.annual_value, notice.value)
        score += SIZE_POINTS[size]
        reasons.append(f"size {size}: {size_reason}")
        if notice.suitable_for_vcse:
            reasons.append("buyer marks the notice suitable for VCSEs")
        elif notice.suitable_for_vcse is False:
            reasons.append("buyer does not mark the notice suitable for VCSEs")
        score += READINESS_POINTS[level]
        reasons.append(f"readiness {level}" + (f": {'; '.join(level_reasons)}" if level_reasons else ""))
        ordered = sorted(matched, key=lambda sa: (-(_text_points(text[sa]) if sa in text else 0),
                                                  -(cpv[sa][3] if sa in cpv else 0), sa))
        location_fit = f"{notice.location}; {'based in area' if based else 'operates in area'}"
        matches.append(ProviderMatch(area_code, org_id, name, form, ward if based else None, int(score), ordered,
                                     service_fit, location_fit, size, level, income, reasons,
                                     [labels.get(sa, sa) for sa in ordered], website, email, phone, fit))
    for match in matches:
        if match.org_id in linked:
            match.linked_charities = sorted(linked[match.org_id])
            match.reasons.append(f"its linked charities fit too: {'; '.join(match.linked_charities)}")
    # fit first, in tiers: the best fit and every provider within FIT_BAND of it, then the best fit left and those
    # within FIT_BAND of it...; within a tier by score. A fit of 89 sits with 90 (a band edge at 90 put a provider
    # with no income on record above better-placed ones with 0.01 less strength), never with 110.
    matches.sort(key=lambda m: (-m.fit, m.name))
    tier: dict[str, int] = {}
    best = matches[0].fit if matches else 0
    for m in matches:
        if m.fit < best - FIT_BAND:
            best = m.fit
        tier[m.org_id] = best
    matches.sort(key=lambda m: (-tier[m.org_id], -m.score, -m.fit, m.name))
    return matches[:limit] if limit else matches
