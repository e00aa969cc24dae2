"""The demo's in-memory records: one class per register row shape, plus the ground-truth row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Address:
    line1: str = ""
    locality: str = ""
    town: str = ""
    county: str = ""
    postcode: str = ""   # as written in the source (may be messy, terminated or unknown)


@dataclass
class Charity:
    organisation_number: int
    registered_charity_number: int
    linked_charity_number: int
    name: str
    charity_type: str                     # '' for linked charities, as in the real extract
    status: str                           # Registered | Removed
    date_of_registration: date
    date_of_removal: date | None = None
    address: Address | None = None
    phone: str = ""
    email: str = ""
    web: str = ""
    company_number: str = ""
    insolvent: bool = False
    in_administration: bool = False
    previously_excepted: bool = False
    is_cio: bool = False
    cio_dissolved: bool = False
    activities: str = ""
    gift_aid: bool | None = None
    has_land: bool | None = None
    income: int = 0                       # typical yearly income; the returns vary around it
    year_end: tuple[int, int] = (3, 31)
    overdue: bool = False
    areas: list[tuple[str, str, str, str, bool]] = field(default_factory=list)
    classifications: list[int] = field(default_factory=list)
    other_names: list[tuple[str, str]] = field(default_factory=list)   # (Working name | Previous name, name)
    governing_document: str = ""
    objects: str = ""
    area_of_benefit: str = ""


@dataclass
class Company:
    number: str
    name: str
    category: str
    status: str
    incorporation_date: date
    address: Address
    sic_codes: list[str] = field(default_factory=list)
    dissolution_date: date | None = None
    previous_names: list[tuple[date, str]] = field(default_factory=list)   # newest first
    accounts_overdue: bool = False
    accounts_category: str = "TOTAL EXEMPTION FULL"


@dataclass
class Society:
    number: str
    suffix: str
    name: str
    registered_as: str
    address: str
    registration_date: date
    deregistration_date: date | None
    act: str
    sic: str
    reporting_classification: str
    status: str

    @property
    def full_number(self) -> str:
        return f"{self.number}{self.suffix}"


@dataclass
class TruthRow:
    truth_org_id: str
    source: str
    record_key: str
    in_wirral_by_postcode: bool = False
    operates_in_wirral: bool = False
    is_vcse: bool = False
    is_active: bool = False
    name_variant_kind: str = "exact"
    record_name: str = ""
    record_postcode: str = ""
    record_is_active: bool = False
    legal_form: str = ""
    services: str = ""        # service areas the organisation sets out to provide, ";"-separated
    beneficiaries: str = ""   # the people it serves, ";"-separated (empty: the general public)


TRUTH_COLUMNS = ["truth_org_id", "source", "record_key", "in_wirral_by_postcode", "operates_in_wirral", "is_vcse",
                 "is_active", "name_variant_kind", "record_name", "record_postcode", "record_is_active", "legal_form",
                 "services", "beneficiaries"]
