"""Build the synthetic organisations of the demo and the register records each one has.

One `DemoWorld` holds every charity, company and society row plus the ground truth that says which rows
belong to the same real organisation. All randomness comes from one `random.Random`, and every collection
is a list or an insertion-ordered dict, so the same seed always gives the same world.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from ..postcode import normalise_postcode
from .geography import LOCAL_AUTHORITIES, WIRRAL_CODE, Geography, Ward, post_town
from .records import Address, Charity, Company, Society, TruthRow
from .vocabulary import (
    BUSINESS_WORDS,
    ORDINALS,
    PURPOSES,
    SAINTS,
    STREET_STEM_ENDINGS,
    STREET_STEMS,
    STREET_SUFFIXES,
    SURNAMES,
    TRADES,
    Purpose,
    intended_services,
)

EXTRACT_DATE = date(2026, 11, 20)       # Charity Commission extract date
COMPANIES_DATE = date(2026, 11, 1)      # Companies House product date
PLACEHOLDER_COMPANY_NUMBERS = ("00000000", "01234567", "12345678")
STREET_PURPOSES = {"community_association", "residents", "allotments", "environment", "church_hall", "playgroup",
                   "school_friends", "youth_club", "sports", "scouts", "heritage", "older_people"}

CATEGORY = {
    "charitable_company": "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)",
    "charitable_company_exempt":
        "PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of 'Limited' exemption)",
    "clg": "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)",
    "cic": "Community Interest Company",
    "cio": "Charitable Incorporated Organisation",
    "society": "Registered Society",
    "private": "Private Limited Company",
    "plc": "Public Limited Company",
    "llp": "Limited Liability Partnership",
}
VCSE_FORMS = {"trust", "other", "cio", "charitable_company", "previously_excepted", "cic", "clg", "cbs", "coop",
              "credit_union", "linked"}
CHARITY_TYPE = {"trust": "Trust", "other": "Other", "cio": "CIO", "charitable_company": "Charitable company",
                "previously_excepted": "Previously excepted"}
VARIANT_WEIGHTS = {"exact": 30, "ltd/limited": 20, "the": 9, "&/and": 8, "punctuation": 10, "working name": 7,
                   "typo": 6, "previous name": 10}

# Counts at scale 1.0; every count is multiplied by the scale.
COUNTS = {
    "wirral_vcse": 1230,
    "neighbour_operating": 90,
    "national_operating": 45,
    "outside_vcse": 520,
    "removed_charity": 120,
    "conversion": 25,
    "dissolved_vcse_company": 70,
    "business": 2700,
    "management_company": 40,
}

# Company numbers by incorporation year (England and Wales), interpolated between these points.
_COMPANY_NUMBER_BY_YEAR = [(1950, 480000), (1970, 990000), (1980, 1500000), (1990, 2450000), (2000, 3900000),
                           (2005, 5330000), (2010, 7100000), (2015, 9360000), (2018, 11150000),
                           (2020, 12380000), (2022, 13830000), (2024, 15400000), (2026, 16900000)]
# Registered charity numbers by registration year.
_CHARITY_NUMBER_BY_YEAR = [(1960, 200000), (1975, 260000), (1985, 510000), (1990, 700000), (1993, 1000000),
                           (2000, 1080000), (2005, 1110000), (2010, 1135000), (2013, 1150000), (2020, 1188000),
                           (2026, 1215000)]


def _interpolate(points: list[tuple[int, int]], when: date) -> int:
    year = when.year + (when.timetuple().tm_yday / 366)
    for (y0, n0), (y1, n1) in zip(points, points[1:], strict=False):
        if year <= y1:
            return int(n0 + (n1 - n0) * max(0.0, year - y0) / (y1 - y0))
    return points[-1][1]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def add_months(day: date, months: int) -> date:
    """The last day of the month `months` after `day`'s month (how filing deadlines fall)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


@dataclass
class Org:
    truth_id: str
    name: str
    form: str
    ward: Ward
    purpose: Purpose | None = None
    operates_in_wirral: bool = False
    is_vcse: bool = True
    truth: list[TruthRow] = field(default_factory=list)


class DemoWorld:
    """All rows of the four registers and the truth, built from one seed and scale."""

    def __init__(self, seed: int, scale: float):
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.rng = random.Random(seed)
        self.scale = scale
        self.geo = Geography(self.rng, scale)
        self.charities: list[Charity] = []
        self.companies: list[Company] = []
        self.societies: list[Society] = []
        self.orgs: list[Org] = []
        self._names: set[str] = set()
        self._company_numbers: set[str] = set(PLACEHOLDER_COMPANY_NUMBERS)
        self._charity_numbers: set[int] = set()
        self._org_numbers: set[int] = set()
        self._next_linked_org = 3_000_000
        self._next_new_org = 5_000_000
        self._society_numbers: set[str] = set()
        self._build()

    # ---------------------------------------------------------------- counts and names
    def n(self, key: str) -> int:
        return max(1, round(COUNTS[key] * self.scale))

    def _claim(self, name: str) -> bool:
        key = _norm(name)
        if key in self._names:
            return False
        self._names.add(key)
        return True

    def _street(self) -> str:
        rng = self.rng
        return f"{rng.choice(STREET_STEMS)}{rng.choice(STREET_STEM_ENDINGS)} {rng.choice(STREET_SUFFIXES)}"

    def _place_for(self, ward: Ward, purpose: Purpose) -> str:
        roll = self.rng.random()
        if ward.la.key == "wirral" and roll < 0.12:
            return "Wirral"
        # Street names make more distinct names at larger scales, for the kinds of group named after a street.
        if purpose.key in STREET_PURPOSES and roll < 0.3 + 0.4 * min(1.0, math.log10(max(self.scale, 1.0))):
            return self._street().rsplit(" ", 1)[0] if self.rng.random() < 0.5 else self._street()
        return self.rng.choice(ward.localities)

    def _fill(self, template: str, place: str) -> str:
        rng = self.rng
        return template.format(place=place, ordinal=rng.choice(ORDINALS), saint=rng.choice(SAINTS))

    def unique_name(self, purpose: Purpose, ward: Ward) -> str:
        for attempt in range(60):
            place = self._place_for(ward, purpose) if attempt < 40 else self._street()
            name = self._fill(self.rng.choice(purpose.names), place)
            if self._claim(name):
                return name
        suffix = 2
        base = self._fill(purpose.names[0], self._street())
        while not self._claim(f"{base} {suffix}"):
            suffix += 1
        return f"{base} {suffix}"

    # ---------------------------------------------------------------- identifiers
    def company_number(self, incorporated: date, prefix: str = "") -> str:
        if prefix:
            base = {"CE": max(1, (incorporated.year - 2013) * 2700 + incorporated.timetuple().tm_yday * 7),
                    "OC": 300000 + (incorporated.year - 2001) * 16000}[prefix]
            width = 6
        else:
            base, width = _interpolate(_COMPANY_NUMBER_BY_YEAR, incorporated), 8
        number = base + self.rng.randint(0, 3000)
        while f"{prefix}{number:0{width}d}" in self._company_numbers:
            number += 1
        value = f"{prefix}{number:0{width}d}"
        self._company_numbers.add(value)
        return value

    def charity_numbers(self, registered: date) -> tuple[int, int]:
        number = _interpolate(_CHARITY_NUMBER_BY_YEAR, registered) + self.rng.randint(0, 2500)
        while number in self._charity_numbers or number in self._org_numbers:
            number += 1
        self._charity_numbers.add(number)
        if number < 1_000_000:
            self._org_numbers.add(number)
            return number, number
        self._next_new_org += self.rng.randint(1, 40)
        self._org_numbers.add(self._next_new_org)
        return self._next_new_org, number

    def linked_org_number(self) -> int:
        self._next_linked_org += self.rng.randint(1, 30)
        self._org_numbers.add(self._next_linked_org)
        return self._next_linked_org

    def society_number(self, kind: str) -> tuple[str, str]:
        low, high, suffix = {"R": (16000, 31999, "R"), "C": (100, 700, "C"), "coop": (4000, 4999, ""),
                             "cbs": (7000, 9999, "")}[kind]
        for attempt in range(10_000):
            # widen the range when a large scale has used most of it
            number = str(self.rng.randint(low, high + (attempt // 50) * (high - low)))
            if number + suffix not in self._society_numbers:
                self._society_numbers.add(number + suffix)
                return number, suffix
        raise RuntimeError(f"no free {kind} society number")

    # ---------------------------------------------------------------- addresses and contact details
    def pick_postcode(self, ward: Ward) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02 and ward.terminated:
            return rng.choice(ward.terminated)
        return rng.choice(ward.postcodes)

    def address(self, ward: Ward, *, messy: bool = True) -> Address:
        rng = self.rng
        postcode = self.pick_postcode(ward)
        if messy:
            roll = rng.random()
            if roll < 0.02:
                postcode = postcode.replace(" ", "")
            elif roll < 0.03:
                postcode = postcode.lower()
            elif roll < 0.04:
                # a postcode that is not in the directory (mistyped or never issued)
                postcode = postcode[:-2] + "ZZ"
            elif roll < 0.06:
                postcode = ""
        number = rng.randint(1, 240)
        line1 = f"{number} {self._street()}"
        if rng.random() < 0.15:
            line1 = f"{rng.choice(['Unit', 'Suite', 'Room', 'Flat'])} {rng.randint(1, 20)}, {line1}"
        town = post_town(ward.postcodes[0]).title()
        return Address(line1, rng.choice(ward.localities), town, ward.la.county, postcode)

    def contact(self, name: str, ward: Ward) -> tuple[str, str, str]:
        rng = self.rng
        slug = re.sub(r"[^a-z0-9]+", "", name.lower().replace("&", "and"))[:30]
        tld = rng.choice([".org.uk", ".org.uk", ".co.uk", ".org", ".com"])
        web = ""
        if rng.random() < 0.5:
            web = rng.choice([f"https://www.{slug}{tld}", f"www.{slug}{tld}", f"http://{slug}{tld}",
                              f"https://www.facebook.com/{slug}", f"https://{slug}{tld}/"])
        email = ""
        if rng.random() < 0.7:
            email = rng.choice([f"info@{slug}{tld}", f"{slug}@gmail.com", f"{slug}@btinternet.com",
                                f"admin@{slug}{tld}", f"contact@{slug}{tld}"])
        phone = ""
        if rng.random() < 0.6:
            prefix = {"wirral": "0151 6", "liverpool": "0151 2", "sefton": "0151 9", "cheshire_west": "01244 3",
                      "camden": "020 7", "southwark": "020 7", "manchester": "0161 2", "barnsley": "01226 7",
                      "wigan": "01942 2"}[ward.la.key]
            digits = f"{rng.randint(0, 9999999):07d}"
            phone = f"{prefix}{digits[:2]} {digits[2:6]}" if prefix.startswith("0151") else f"{prefix}{digits[:5]}"
        return phone, email, web

    # ---------------------------------------------------------------- truth helpers
    def _truth(self, org: Org, source: str, key: str, name: str, postcode: str, active: bool, kind: str,
               legal_form: str, truth_id: str | None = None) -> None:
        # a linked charity (a restricted fund, a subsidiary) provides nothing of its own: its main charity does
        services, beneficiaries = ([], []) if truth_id else intended_services(
            org.purpose.key if org.purpose and org.is_vcse else None, org.name)
        org.truth.append(TruthRow(truth_id or org.truth_id, source, key, name_variant_kind=kind, record_name=name,
                                  record_postcode=postcode, record_is_active=active, legal_form=legal_form,
                                  services=";".join(services), beneficiaries=";".join(beneficiaries)))

    def new_org(self, name: str, form: str, ward: Ward, purpose: Purpose | None, *, is_vcse: bool = True) -> Org:
        org = Org(f"T{len(self.orgs) + 1:06d}", name, form, ward, purpose, is_vcse=is_vcse)
        self.orgs.append(org)
        return org

    # ---------------------------------------------------------------- name variants
    def variant(self, name: str, kind: str, purpose: Purpose | None) -> tuple[str, str, str | None, str]:
        """(charity/society-side name, company-side name before upper-casing, previous name, kind used)."""
        rng = self.rng
        if kind == "ltd/limited":
            if rng.random() < 0.5:
                return f"{name} Limited", f"{name} Ltd", None, kind
            return name, f"{name} Limited", None, kind
        if kind == "the":
            if name.startswith("The "):
                return name, name[4:], None, kind
            return (f"The {name}", name, None, kind) if rng.random() < 0.6 else (name, f"The {name}", None, kind)
        if kind == "&/and":
            if " and " in name:
                return name, name.replace(" and ", " & ", 1), None, kind
            if " & " in name:
                return name, name.replace(" & ", " and ", 1), None, kind
            first, _, rest = name.partition(" ")
            if rest:
                return f"{first} & District {rest}", f"{first} and District {rest}", None, kind
            return name, name, None, "exact"
        if kind == "punctuation":
            if "'" in name:
                return name, name.replace("'", ""), None, kind
            if name.startswith("St "):
                return name, "St. " + name[3:], None, kind
            words = name.split(" ")
            for i, word in enumerate(words):
                if word.endswith("s") and len(word) > 4 and word.lower() not in ("carers", "friends"):
                    words[i] = word + "'"
                    return name, " ".join(words), None, kind
            return name, name.replace(" ", " - ", 1), None, kind
        if kind == "working name":
            formal = rng.choice([f"{name} Charitable Trust", f"{name} Association", f"The {name} Trust"])
            return formal, name, None, kind
        if kind == "typo":
            words = name.split(" ")
            candidates = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
            if not candidates:
                return name, name, None, "exact"
            i = rng.choice(candidates)
            w = words[i]
            j = rng.randint(1, len(w) - 3)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:] if rng.random() < 0.5 else w[:j] + w[j + 1:]
            return name, " ".join(words), None, kind
        if kind == "previous name":
            renamed = None
            if purpose:
                for template in purpose.names:
                    candidate = self._fill(template, name.split(" ")[0])
                    if _norm(candidate) != _norm(name) and self._claim(candidate):
                        renamed = candidate
                        break
            if renamed is None:
                renamed = f"{name} Network"
                self._claim(renamed)
            return name, renamed, name, kind
        return name, name, None, "exact"

    # ---------------------------------------------------------------- record makers
    def make_charity(self, org: Org, name: str, ctype: str, registered: date, *, status: str = "Registered",
                     removed: date | None = None, address: Address | None = None,
                     contact: tuple[str, str, str] | None = None, areas=None, income: int | None = None) -> Charity:
        rng = self.rng
        purpose = org.purpose
        org_number, number = self.charity_numbers(registered)
        address = address if address is not None else self.address(org.ward)
        phone, email, web = contact if contact is not None else self.contact(name, org.ward)
        place = org.ward.localities[0]
        if purpose:
            activities = self._fill(rng.choice(purpose.activities), place)
            if rng.random() < 0.03:
                activities += ' Our weekly "drop-in" is open to all.'
            objects = self._fill(purpose.objects, place)
            if rng.random() < 0.01:
                # Some objects run over several lines in the real extract: a CRLF inside the field.
                objects = f"1. {objects}\r\n2. To do all such other lawful things as are necessary."
            income = income if income is not None else int(purpose.income * math.exp(rng.gauss(0, 1.3)))
            codes = list(purpose.what) + list(purpose.who) + list(purpose.how)
            if rng.random() < 0.3:
                codes.append(rng.choice([101, 207, 306, 116, 310]))
        else:
            activities, objects, income, codes = "", "General charitable purposes.", income or 0, [101, 207]
        charity = Charity(
            organisation_number=org_number, registered_charity_number=number, linked_charity_number=0,
            name=name, charity_type=CHARITY_TYPE.get(ctype, "Other"), status=status,
            date_of_registration=registered, date_of_removal=removed, address=address, phone=phone, email=email,
            web=web, previously_excepted=ctype == "previously_excepted", is_cio=ctype == "cio",
            activities=activities if rng.random() < 0.93 else "", gift_aid=rng.random() < 0.55,
            has_land=rng.random() < 0.3, income=max(0, income),
            year_end=rng.choice([(3, 31)] * 6 + [(12, 31)] * 2 + [(8, 31), (6, 30)]),
            overdue=status == "Registered" and rng.random() < 0.09,
            areas=areas if areas is not None else self.local_areas(org.ward),
            classifications=sorted(set(codes)), objects=objects,
        )
        doc_date = registered - timedelta(days=rng.randint(20, 200))
        when = f"{doc_date.day} {doc_date.strftime('%B').upper()} {doc_date.year}"
        charity.governing_document = {
            "charitable_company": f"MEMORANDUM AND ARTICLES OF ASSOCIATION INCORPORATED {when}",
            "cio": rng.choice(["CIO - ASSOCIATION MODEL CONSTITUTION", "CIO - FOUNDATION MODEL CONSTITUTION"]),
            "trust": f"TRUST DEED DATED {when}",
            "previously_excepted": "SCHEME OF THE CHARITY COMMISSIONERS",
        }.get(ctype, f"CONSTITUTION ADOPTED {when}")
        charity.area_of_benefit = rng.choice(
            [org.ward.la.name.upper(), f"METROPOLITAN BOROUGH OF {org.ward.la.name.upper()}",
             f"{place.upper()} AND SURROUNDING AREA", "NOT DEFINED", ""]) \
            if org.ward.la.key == "wirral" else rng.choice([org.ward.la.name.upper(), "NOT DEFINED", ""])
        if rng.random() < 0.04:
            initials = "".join(w[0] for w in name.split(" ") if w[:1].isalpha()).upper()
            if len(initials) >= 3:
                charity.other_names.append(("Working name", initials))
        if rng.random() < 0.04 and purpose:
            old_name = self._fill(rng.choice(purpose.names), rng.choice(org.ward.localities))
            if self._claim(old_name):
                charity.other_names.append(("Previous name", old_name))
        if status == "Registered" and rng.random() < 0.004:
            charity.insolvent = True
        if status == "Registered" and rng.random() < 0.003:
            charity.in_administration = True
        self.charities.append(charity)
        pc = address.postcode
        self._truth(org, "charity_commission", str(org_number), name, pc, status == "Registered", "exact",
                    CHARITY_TYPE.get(ctype, "Other"))
        return charity

    def make_linked(self, org: Org, main: Charity, index: int, name: str) -> Charity:
        linked = Charity(organisation_number=self.linked_org_number(),
                         registered_charity_number=main.registered_charity_number, linked_charity_number=index,
                         name=name, charity_type="", status=main.status,
                         date_of_registration=main.date_of_registration + timedelta(days=self.rng.randint(0, 900)),
                         date_of_removal=main.date_of_removal, objects=main.objects,
                         governing_document="DECLARATION OF TRUST", area_of_benefit=main.area_of_benefit)
        self.charities.append(linked)
        # A linked charity is its own organisation in the register (a child of the main charity), so it
        # gets its own truth id: linking it to the main charity would be a wrong merge.
        self._truth(org, "charity_commission", str(linked.organisation_number), name, "",
                    main.status == "Registered", "exact", "linked charity", truth_id=f"{org.truth_id}-L{index}")
        return linked

    def make_company(self, org: Org, name: str, category_key: str, incorporated: date, *,
                     address: Address | None, sic: list[str], status: str = "Active",
                     dissolved: date | None = None, previous: list[tuple[date, str]] | None = None,
                     kind: str = "exact", number: str | None = None, prefix: str = "") -> Company:
        rng = self.rng
        number = number or self.company_number(incorporated, prefix)
        company = Company(number=number, name=name.upper(), category=CATEGORY[category_key], status=status,
                          incorporation_date=incorporated, address=address or Address(), sic_codes=sic,
                          dissolution_date=dissolved, previous_names=previous or [])
        if status == "Active" and rng.random() < 0.08:
            company.accounts_overdue = True
        company.accounts_category = rng.choice(["TOTAL EXEMPTION FULL", "MICRO ENTITY", "MICRO ENTITY", "SMALL",
                                                "UNAUDITED ABRIDGED", "FULL", "DORMANT"])
        self.companies.append(company)
        self._truth(org, "companies_house", number, company.name, company.address.postcode,
                    status not in ("Dissolved",), kind, company.category)
        return company

    def make_society(self, org: Org, name: str, registered_as: str, registered: date, address: Address,
                     sic: str, *, deregistered: date | None = None, kind: str = "exact") -> Society:
        code = {"Community Benefit Society": "cbs", "Co-operative Society": "coop", "Credit Union": "C",
                "Registered Society": "R"}[registered_as]
        number, suffix = self.society_number(code)
        parts = [p for p in (address.line1, address.locality, address.town, address.postcode) if p]
        society = Society(number=number, suffix=suffix, name=name, registered_as=registered_as,
                          address=", ".join(parts), registration_date=registered, deregistration_date=deregistered,
                          act="Credit Unions Act 1979" if code == "C"
                          else "Co-operative and Community Benefit Societies Act 2014",
                          sic=sic, reporting_classification="Credit Union" if code == "C" else "Registered Society",
                          status="Deregistered" if deregistered else "Registered")
        self.societies.append(society)
        self._truth(org, "fca_mutuals", society.full_number, name, address.postcode, deregistered is None, kind,
                    registered_as)
        return society

    # ---------------------------------------------------------------- areas of operation
    def area_row(self, la_key: str) -> tuple[str, str, str, str, bool]:
        la = LOCAL_AUTHORITIES[la_key]
        return ("Local Authority", la.ccew_area, la.ccew_parent[0], la.ccew_parent[1], False)

    def local_areas(self, ward: Ward) -> list:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return []
        areas = [self.area_row(ward.la.key)]
        if ward.la.key == "wirral" and roll > 0.85:
            areas.append(self.area_row(rng.choice(["liverpool", "cheshire_west", "sefton"])))
        return areas

    def merseyside_areas(self) -> list:
        return [self.area_row(k) for k in ("wirral", "liverpool", "sefton")] + [
            ("Local Authority", "Knowsley", "Metropolitan Counties", "Merseyside", False),
            ("Local Authority", "St Helens", "Metropolitan Counties", "Merseyside", False)]

    # ---------------------------------------------------------------- dates
    def registration_date(self, form: str) -> date:
        rng = self.rng
        if form in ("cio",):
            start = date(2013, 1, 15)
        elif form in ("cic",):
            start = date(2006, 1, 1)
        else:
            start = date(1962, 1, 1) if rng.random() < 0.3 else date(1995, 1, 1)
        end = date(2026, 10, 31)
        return start + timedelta(days=rng.randint(0, (end - start).days))

    # ---------------------------------------------------------------- one VCSE organisation
    def vcse_org(self, ward: Ward, *, areas=None, name: str | None = None, form: str | None = None,
                 purpose: Purpose | None = None, variant: str | None = None) -> Org:
        rng = self.rng
        purpose = purpose or rng.choice(PURPOSES)
        if form is None:
            forms = list(purpose.forms)
            form = rng.choices(forms, weights=[purpose.forms[f] for f in forms])[0]
        name = name or self.unique_name(purpose, ward)
        if form == "cic" and not name.upper().endswith(("CIC", "C.I.C.")):
            name = f"{name} {rng.choice(['CIC', 'CIC', 'C.I.C.', 'Community Interest Company'])}"
        org = self.new_org(name, form, ward, purpose)
        registered = self.registration_date(form)
        sic = [purpose.sic] + ([rng.choice(["88990", "94990", "85590"])] if rng.random() < 0.2 else [])
        sic = list(dict.fromkeys(sic))
        if form in ("trust", "other", "previously_excepted"):
            charity = self.make_charity(org, name, form, registered, areas=areas)
            if charity.income > 100000 and rng.random() < 0.25:
                for i, suffix in enumerate(rng.sample(["Building Fund", "Endowment Fund", "Restricted Fund",
                                                       "Benevolent Fund", "Hardship Fund"], rng.randint(1, 3))):
                    self.make_linked(org, charity, i + 1, f"{name} {suffix}")
        elif form == "cio":
            cc_name = name
            if rng.random() < 0.15 and variant is None:
                cc_name = f"{name} CIO"
            charity = self.make_charity(org, cc_name, "cio", registered, areas=areas)
            if rng.random() < 0.4:
                ce_name = rng.choice([name, name, f"{name} CIO", f"{name} (CIO)"])
                kind = "exact" if _norm(ce_name) == _norm(cc_name) else "ltd/limited"
                address = charity.address if rng.random() < 0.3 else None
                self.make_company(org, ce_name, "cio", registered, address=address, sic=[], prefix="CE", kind=kind)
        elif form == "charitable_company":
            kind = variant or rng.choices(list(VARIANT_WEIGHTS), weights=list(VARIANT_WEIGHTS.values()))[0]
            cc_name, ch_name, previous, kind = self.variant(name, kind, purpose)
            incorporated = registered - timedelta(days=rng.randint(10, 400))
            charity = self.make_charity(org, cc_name, "charitable_company", registered, areas=areas)
            if kind == "working name":
                charity.other_names.append(("Working name", name))
            # Companies House holds the registered office: usually the charity's address, sometimes an
            # accountant's office in a nearby town.
            address = replace(charity.address, postcode=normalise_postcode(charity.address.postcode) or "")
            if rng.random() < 0.2 or not address.postcode:
                nearby = ["liverpool", "wirral", "cheshire_west"] if ward.la.key == "wirral" else [ward.la.key]
                address = self.address(rng.choice(self.geo.wards_in(rng.choice(nearby))), messy=False)
            prev = [(incorporated + timedelta(days=rng.randint(400, 4000)), previous.upper())] if previous else None
            if prev and prev[0][0] >= COMPANIES_DATE:
                prev = [(COMPANIES_DATE - timedelta(days=rng.randint(30, 300)), previous.upper())]
            exempt = "charitable_company_exempt" if "limited" not in ch_name.lower() and \
                not ch_name.lower().endswith("ltd") else "charitable_company"
            company = self.make_company(org, ch_name, exempt, incorporated, address=address, sic=sic,
                                        previous=prev, kind=kind)
            charity.company_number = self._as_written(company.number)
        elif form in ("cic", "clg"):
            incorporated = registered
            address = self.address(ward, messy=False)
            prev = None
            if rng.random() < 0.1:
                prev = [(incorporated + timedelta(days=rng.randint(100, 2000)),
                         f"{name.split(' ')[0]} {rng.choice(['Community Projects', 'Social Ventures'])} Ltd".upper())]
                if prev[0][0] >= COMPANIES_DATE:
                    prev = None
            if form == "clg" and not name.lower().endswith(("limited", "ltd")):
                name = f"{name} {rng.choice(['Limited', 'Ltd'])}"
                org.name = name
            self.make_company(org, name, form, incorporated, address=address, sic=sic, previous=prev)
        elif form in ("cbs", "coop", "credit_union"):
            registered_as = {"cbs": "Community Benefit Society", "coop": "Co-operative Society",
                             "credit_union": "Credit Union"}[form]
            if form != "credit_union" and registered < date(2014, 8, 1):
                registered_as = "Registered Society"
            fca_name = name if name.lower().endswith("limited") else f"{name} Limited"
            address = self.address(ward, messy=False)
            kind = "exact"
            society = self.make_society(org, fca_name, registered_as, registered, address, purpose.sic)
            if form != "credit_union" and rng.random() < 0.75:
                if rng.random() < 0.35:
                    kind = rng.choice(["ltd/limited", "the", "punctuation", "typo"])
                    _, ch_name, _, kind = self.variant(name, kind, purpose)
                    if kind != "ltd/limited":
                        ch_name = f"{ch_name} Limited"
                else:
                    ch_name = fca_name
                number = f"IP{society.full_number}" if society.suffix == "R" else f"RS{int(society.number):06d}"
                self._company_numbers.add(number)
                self.make_company(org, ch_name, "society", registered, address=address if rng.random() < 0.6
                                  else None, sic=[], number=number, kind=kind)
        return org

    def _as_written(self, number: str) -> str:
        """Charity rows write company numbers as people typed them: some lose the leading zeros."""
        if number.startswith("0") and self.rng.random() < 0.15:
            return number.lstrip("0")
        return number

    # ---------------------------------------------------------------- the whole world
    def _build(self) -> None:
        rng = self.rng
        wirral = self.geo.wards_in("wirral")
        self._false_friends()
        self._placeholders()
        for _ in range(self.n("wirral_vcse")):
            self.vcse_org(rng.choice(wirral))
        for _ in range(self.n("neighbour_operating")):
            ward = rng.choice(self.geo.wards_in(rng.choice(["liverpool", "sefton", "cheshire_west"])))
            areas = [self.area_row(ward.la.key), self.area_row("wirral")] if rng.random() < 0.6 \
                else self.merseyside_areas()
            self.vcse_org(ward, areas=areas, form=rng.choice(["other", "cio", "charitable_company", "trust"]))
        for _ in range(self.n("national_operating")):
            ward = rng.choice(self.geo.wards_in(rng.choice(["camden", "southwark", "manchester"])))
            areas = self.merseyside_areas() + [self.area_row(rng.choice(["manchester", "camden"]))]
            if rng.random() < 0.5:
                areas = [("Region", "Throughout England", "", "", False), self.area_row("wirral")]
            self.vcse_org(ward, areas=areas, form=rng.choice(["charitable_company", "cio", "charitable_company"]))
        outside = ["liverpool", "sefton", "cheshire_west", "manchester", "camden", "southwark", "barnsley", "wigan"]
        for _ in range(self.n("outside_vcse")):
            ward = rng.choice(self.geo.wards_in(rng.choice(outside)))
            areas = None
            if ward.la.key in ("camden", "southwark") and rng.random() < 0.5:
                areas = [("Region", rng.choice(["Throughout England", "Throughout England And Wales"]), "", "",
                          False)]
            self.vcse_org(ward, areas=areas)
        for _ in range(self.n("removed_charity")):
            self._removed_charity(rng.choice(wirral if rng.random() < 0.8 else self.geo.wards))
        for _ in range(self.n("conversion")):
            self._conversion(rng.choice(wirral))
        for _ in range(self.n("dissolved_vcse_company")):
            self._dissolved_vcse(rng.choice(wirral if rng.random() < 0.75 else self.geo.wards))
        for _ in range(self.n("business")):
            self._business(rng.choice(wirral if rng.random() < 0.4 else self.geo.wards))
        for _ in range(self.n("management_company")):
            self._management_company(rng.choice(self.geo.wards))
        self._finish_truth()

    def _removed_charity(self, ward: Ward) -> None:
        rng = self.rng
        purpose = rng.choice(PURPOSES)
        name = self.unique_name(purpose, ward)
        form = rng.choice(["other", "trust", "other", "cio", "charitable_company"])
        org = self.new_org(name, form, ward, purpose)
        registered = self.registration_date(form)
        removed = registered + timedelta(days=rng.randint(400, max(401, (EXTRACT_DATE - registered).days - 10)))
        removed = min(removed, EXTRACT_DATE - timedelta(days=5))
        charity = self.make_charity(org, name, form, registered, status="Removed", removed=removed)
        charity.cio_dissolved = form == "cio"
        if form == "charitable_company" and rng.random() < 0.6:
            dissolved = min(removed + timedelta(days=rng.randint(30, 500)), COMPANIES_DATE - timedelta(days=3))
            company = self.make_company(org, name, "charitable_company", registered - timedelta(days=100),
                                        address=charity.address, sic=[purpose.sic], status="Dissolved",
                                        dissolved=dissolved)
            charity.company_number = company.number

    def _conversion(self, ward: Ward) -> None:
        """An unincorporated charity re-registered as a CIO: the old record is removed, the new one shares its
        name, website, email and phone (the CIO is the same organisation in the community's eyes)."""
        rng = self.rng
        purpose = rng.choice(PURPOSES)
        name = self.unique_name(purpose, ward)
        org = self.new_org(name, "cio", ward, purpose)
        registered_old = date(1975, 1, 1) + timedelta(days=rng.randint(0, 12000))
        converted = date(2014, 1, 1) + timedelta(days=rng.randint(0, 4000))
        address = self.address(ward, messy=False)
        contact = self.contact(name, ward)
        old = self.make_charity(org, name, rng.choice(["other", "trust"]), registered_old, status="Removed",
                                removed=converted + timedelta(days=rng.randint(30, 200)), address=address,
                                contact=contact)
        new_name = name if rng.random() < 0.6 else f"{name} CIO"
        self.make_charity(org, new_name, "cio", converted, address=address, contact=contact, areas=old.areas)
        org.truth[-1].name_variant_kind = "exact" if new_name == name else "ltd/limited"

    def _dissolved_vcse(self, ward: Ward) -> None:
        rng = self.rng
        purpose = rng.choice(PURPOSES)
        form = rng.choice(["cic", "cic", "clg"])
        name = self.unique_name(purpose, ward)
        name = f"{name} CIC" if form == "cic" else f"{name} Limited"
        org = self.new_org(name, form, ward, purpose)
        incorporated = date(2006, 1, 1) + timedelta(days=rng.randint(0, 6000))
        dissolved = incorporated + timedelta(days=rng.randint(500, 3000))
        if dissolved >= COMPANIES_DATE:
            dissolved = COMPANIES_DATE - timedelta(days=rng.randint(5, 200))
        self.make_company(org, name, form, incorporated, address=self.address(ward, messy=False),
                          sic=[purpose.sic], status="Dissolved", dissolved=dissolved)

    def _business_name(self, ward: Ward) -> tuple[str, str]:
        rng = self.rng
        for _ in range(50):
            trade, sic = rng.choice(TRADES)
            style = rng.random()
            if style < 0.35:
                base = f"{rng.choice(SURNAMES)} {trade}"
            elif style < 0.65:
                base = f"{rng.choice(BUSINESS_WORDS)} {trade}"
            elif style < 0.85:
                base = f"{rng.choice(ward.localities)} {trade}"
            else:
                base = f"{rng.choice(SURNAMES)} & {rng.choice(SURNAMES)} {trade}"
            name = f"{base} {rng.choice(['Ltd', 'Limited', 'Limited', 'Ltd'])}"
            if self._claim(name):
                return name, sic
        name = f"{rng.choice(SURNAMES)} {rng.choice(BUSINESS_WORDS)} {rng.randint(1, 9999)} Ltd"
        self._claim(name)
        return name, "82990"

    def _business(self, ward: Ward) -> None:
        rng = self.rng
        name, sic = self._business_name(ward)
        kind = "private" if rng.random() < 0.97 else rng.choice(["plc", "llp"])
        if kind != "private":
            renamed = re.sub(r" (Ltd|Limited)$", " PLC" if kind == "plc" else " LLP", name)
            if self._claim(renamed):
                name = renamed
            else:
                kind = "private"
        org = self.new_org(name, kind, ward, None, is_vcse=False)
        incorporated = date(1985, 1, 1) + timedelta(days=rng.randint(0, 15000))
        status, dissolved = "Active", None
        roll = rng.random()
        if roll < 0.06:
            status = "Dissolved"
            dissolved = min(incorporated + timedelta(days=rng.randint(400, 5000)),
                            COMPANIES_DATE - timedelta(days=rng.randint(3, 90)))
        elif roll < 0.09:
            status = "Active - Proposal to Strike off"
        elif roll < 0.10:
            status = "Liquidation"
        elif roll < 0.105:
            status = "In Administration"
        self.make_company(org, name, kind, incorporated, address=self.address(ward, messy=False), sic=[sic],
                          status=status, dissolved=dissolved, prefix="OC" if kind == "llp" else "")

    def _management_company(self, ward: Ward) -> None:
        rng = self.rng
        while True:
            name = f"{self._street().rsplit(' ', 1)[0]} {rng.choice(['Court', 'House', 'Mews', 'Gardens'])} " \
                   f"{rng.choice(['Management Company', 'Residents Company', 'Management'])} Limited"
            if self._claim(name):
                break
        org = self.new_org(name, "clg", ward, None, is_vcse=False)
        self.make_company(org, name, "clg", date(1990, 1, 1) + timedelta(days=rng.randint(0, 12000)),
                          address=self.address(ward, messy=False), sic=["98000"])

    # ---------------------------------------------------------------- deliberate traps
    def _purpose(self, key: str) -> Purpose:
        return next(p for p in PURPOSES if p.key == key)

    def _ward(self, locality: str, la_key: str) -> Ward:
        return self.geo.ward_of_locality(locality, la_key)

    def _false_friends(self) -> None:
        """Near-identical names that belong to different organisations (different truth ids)."""
        community = self._purpose("community_association")
        pairs = [
            ("Hoylake Community Centre", "Hoylake", "wirral", "other", community, None),
            ("Hoyland Community Centre", "Hoyland", "barnsley", "charitable_company", community, None),
            ("Wirral Foodbank", "Birkenhead", "wirral", "cio", self._purpose("foodbank"), None),
            ("Wigan Foodbank", "Wigan", "wigan", "cio", self._purpose("foodbank"), None),
            ("St Mary's Church Hall Trust", "Upton", "wirral", "trust", self._purpose("church_hall"), None),
            ("St Mary's Church Hall Trust", "Chester", "cheshire_west", "trust", self._purpose("church_hall"),
             None),
            ("Upton Community Association", "Upton", "wirral", "other", community, None),
            ("Upton Community Association", "Upton", "cheshire_west", "other", community, None),
            ("Wallasey Community Association", "Wallasey", "wirral", "other", community, None),
            ("Wallasey Village Community Association", "Wallasey Village", "wirral", "other", community, None),
            ("Birkenhead Foodbank", "Birkenhead", "wirral", "cio", self._purpose("foodbank"), None),
            ("Birkenhead Foodbank Trading CIC", "Birkenhead", "wirral", "cic", self._purpose("foodbank"), None),
            ("Heswall Scout Group", "Heswall", "wirral", "other", self._purpose("scouts"), None),
            ("1st Heswall Scout Group", "Heswall", "wirral", "other", self._purpose("scouts"), None),
            ("2nd Heswall Scout Group", "Heswall", "wirral", "other", self._purpose("scouts"), None),
            ("Neston and South Wirral Carers", "Neston", "cheshire_west", "charitable_company",
             self._purpose("carers"), [self.area_row("cheshire_west")]),
        ]
        for name, locality, la_key, form, purpose, areas in pairs:
            self._claim(name)
            self.vcse_org(self._ward(locality, la_key), name=name, form=form, purpose=purpose, areas=areas,
                          variant="exact")
        # A private care company whose name looks like a VCSE's.
        ward = self._ward("Birkenhead", "wirral")
        name = "Birkenhead Community Care Ltd"
        self._claim(name)
        org = self.new_org(name, "private", ward, None, is_vcse=False)
        self.make_company(org, name, "private", date(2011, 5, 17), address=self.address(ward, messy=False),
                          sic=["87300"])

    def _placeholders(self) -> None:
        """Charities whose company number is a placeholder, and unrelated companies that hold two of them."""
        rng = self.rng
        for number in PLACEHOLDER_COMPANY_NUMBERS:
            org = self.vcse_org(rng.choice(self.geo.wards_in("wirral")), form="other")
            charity = next(c for c in reversed(self.charities) if c.linked_charity_number == 0)
            charity.company_number = number
            org.form = "other"
        for number, name, la_key in (("12345678", "Meridian Logistics Ltd", "manchester"),
                                     ("01234567", "Summit Holdings Limited", "camden")):
            self._claim(name)
            ward = self.geo.wards_in(la_key)[0]
            org = self.new_org(name, "private", ward, None, is_vcse=False)
            self.make_company(org, name, "private", date(2020, 2, 3), address=self.address(ward, messy=False),
                              sic=["64209"], number=number)

    # ---------------------------------------------------------------- truth flags
    def _finish_truth(self) -> None:
        by_org_number = {str(c.organisation_number): c for c in self.charities}
        main_of = {c.registered_charity_number: c for c in self.charities if c.linked_charity_number == 0}
        for org in self.orgs:
            in_wirral = any(self.geo.lad_of.get(normalise_postcode(t.record_postcode) or "") == WIRRAL_CODE
                            for t in org.truth)
            lists_area = False
            for t in org.truth:
                if t.source == "charity_commission":
                    charity = by_org_number[t.record_key]
                    main = main_of.get(charity.registered_charity_number, charity)
                    if charity.linked_charity_number:
                        in_wirral = in_wirral or self.geo.lad_of.get(
                            normalise_postcode(main.address.postcode if main.address else "") or "") == WIRRAL_CODE
                    # Listing Wirral (or Merseyside itself) counts; a Liverpool row whose parent is Merseyside
                    # does not.
                    lists_area = lists_area or any(a[1] in ("Wirral", "Merseyside") for a in main.areas)
            active = any(t.record_is_active for t in org.truth)
            for t in org.truth:
                t.in_wirral_by_postcode = in_wirral
                t.operates_in_wirral = in_wirral or lists_area
                t.is_vcse = org.is_vcse
                t.is_active = active

    def truth_rows(self) -> list[TruthRow]:
        return [t for org in self.orgs for t in org.truth]
