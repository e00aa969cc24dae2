"""Words the demo builds organisations from: purposes (name, activities, objects, codes; in purposes.toml) and
name parts.

Every purpose carries text that says what the organisation does in the words real charities use, so the
UKCAT regular expressions find the same themes a person would.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Purpose:
    key: str
    names: tuple[str, ...]          # templates with {place}
    forms: dict                     # legal form -> weight
    what: tuple[int, ...]           # CCEW classification codes 1xx
    who: tuple[int, ...]            # 2xx
    how: tuple[int, ...]            # 3xx
    sic: str                        # SIC 2007 code used at Companies House
    activities: tuple[str, ...]     # templates with {place}
    objects: str                    # charitable objects, template with {place}
    income: int                     # typical annual income in pounds (the median of a log-normal)


def _purposes() -> tuple[Purpose, ...]:
    """The purposes in demo/purposes.toml, in its order (the demo's draws depend on it)."""
    table = tomllib.loads(resources.files(__package__).joinpath("purposes.toml").read_text(encoding="utf-8"))
    return tuple(Purpose(**{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()})
                 for row in table["purpose"])


PURPOSES: tuple[Purpose, ...] = _purposes()

ORDINALS = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th", "11th", "12th")
SAINTS = ("Mary", "John", "Andrew", "Peter", "Paul", "Saviour", "Luke", "Mark", "Michael", "Hilda", "Bridget",
          "James", "Oswald", "Barnabas", "Catherine", "Stephen", "Chad", "Anne", "Nicholas", "Werburgh")

# Street names give more distinct names at larger scales ("Ashfield Road Community Garden").
STREET_STEMS = ("Ash", "Oak", "Beech", "Elm", "Holly", "Rose", "Church", "Mill", "Park", "Station", "Victoria",
                "Albert", "Grange", "Manor", "Hill", "Brook", "Meadow", "Well", "Cross", "Moss", "Heath", "Priory",
                "Abbey", "Birch", "Laurel", "Poplar", "Willow", "Fern", "Hazel", "Thorn", "Marsh", "Shore", "Bank",
                "Claremont", "Balls", "Laird", "Conway", "Price", "Borough", "Argyle", "Hamilton", "Cleveland",
                "Grosvenor", "Lingdale", "Carlton", "Windsor", "Egerton", "Rake", "Pool", "Chester", "Dale",
                "Frankby", "Column", "Hoylake", "Upton", "Arrowe", "Greenway", "Bidston", "Woodchurch", "Hoole")
STREET_SUFFIXES = ("Road", "Lane", "Avenue", "Street", "Drive", "Close", "Grove", "Way", "Crescent", "Terrace")
STREET_STEM_ENDINGS = ("", "field", "dale", "wood", "lands", "side", "croft")

SURNAMES = ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Roberts",
            "Johnson", "Lewis", "Walker", "Robinson", "Wood", "Thompson", "White", "Watson", "Jackson", "Wright",
            "Green", "Harris", "Cooper", "King", "Lee", "Martin", "Clarke", "James", "Morgan", "Hughes", "Edwards",
            "Hill", "Moore", "Clark", "Harrison", "Scott", "Young", "Morris", "Hall", "Ward", "Turner", "Carter",
            "Phillips", "Mitchell", "Patel", "Adams", "Campbell", "Anderson", "Allen", "Cook", "Bailey", "Parker",
            "Miller", "Davis", "Murphy", "Price", "Bell", "Baker", "Griffiths", "Kelly", "Simpson", "Marshall",
            "Collins", "Bennett", "Cox", "Richardson", "Fox", "Gray", "Rose", "Chapman", "Hunt", "Robertson",
            "Shaw", "Reynolds", "Lloyd", "Ellis", "Richards", "Russell", "Wilkinson", "Khan", "Graham", "Stewart",
            "Reid", "Murray", "Powell", "Palmer", "Holmes", "Rogers", "Stevens", "Walsh", "Hunter", "Thomson",
            "Matthews", "Ross", "Owen", "Mason", "Knight", "Kennedy", "Butler", "Saunders", "McDonald", "Doyle")

# Ordinary businesses (not VCSEs): (name word, SIC code).
TRADES = (("Plumbing", "43220"), ("Electrical", "43210"), ("Builders", "41202"), ("Cafe", "56102"),
          ("Hair", "96020"), ("Consulting", "70229"), ("IT Solutions", "62020"), ("Properties", "68209"),
          ("Retail", "47190"), ("Taxis", "49320"), ("Accountants", "69201"), ("Restaurant", "56101"),
          ("Holdings", "64209"), ("Estates", "68100"), ("Cleaning Services", "81210"), ("Motors", "45200"),
          ("Care Services", "87300"), ("Lettings", "68209"), ("Online", "47910"), ("Hotel", "55100"),
          ("Dental Care", "86230"), ("Bar", "56302"), ("Fitness", "93130"), ("Nursery", "88910"),
          ("Design", "74100"), ("Logistics", "49410"), ("Engineering", "71129"))
BUSINESS_WORDS = ("Mersey", "Dee", "Coastal", "Northern", "Peninsula", "Harbour", "Anchor", "Pioneer", "Summit",
                  "Bluebird", "Redwood", "Ironbridge", "Lighthouse", "Keystone", "Silverline", "Riverside",
                  "Castle", "Crown", "Phoenix", "Evergreen", "Sterling", "Granite", "Horizon", "Meridian", "Oakwood")

# Companies House SIC text as the Free Company Data Product writes it.
SIC_TEXT = {
    "01300": "Plant propagation",
    "35110": "Production of electricity",
    "41202": "Construction of domestic buildings",
    "43210": "Electrical installation",
    "43220": "Plumbing, heat and air-conditioning installation",
    "45200": "Maintenance and repair of motor vehicles",
    "47190": "Other retail sale in non-specialised stores",
    "47910": "Retail sale via mail order houses or via Internet",
    "49320": "Taxi operation",
    "49390": "Other passenger land transport",
    "49410": "Freight transport by road",
    "55100": "Hotels and similar accommodation",
    "56101": "Licensed restaurants",
    "56102": "Unlicensed restaurants and cafes",
    "56302": "Public houses and bars",
    "62020": "Information technology consultancy activities",
    "64209": "Activities of other holding companies n.e.c.",
    "64921": "Credit granting by non-deposit taking finance houses and other specialist consumer credit grantors",
    "68100": "Buying and selling of own real estate",
    "68209": "Other letting and operating of own or leased real estate",
    "68320": "Management of real estate on a fee or contract basis",
    "69201": "Accounting and auditing activities",
    "70229": "Management consultancy activities other than financial management",
    "71129": "Other engineering activities",
    "74100": "specialised design activities",
    "81210": "General cleaning of buildings",
    "82990": "Other business support service activities n.e.c.",
    "85590": "Other education n.e.c.",
    "85600": "Educational support services",
    "86230": "Dental practice activities",
    "86900": "Other human health activities",
    "87300": "Residential care activities for the elderly and disabled",
    "87900": "Other residential care activities n.e.c.",
    "88100": "Social work activities without accommodation for the elderly and disabled",
    "88910": "Child day-care activities",
    "88990": "Other social work activities without accommodation n.e.c.",
    "90030": "Artistic creation",
    "91020": "Museums activities",
    "93120": "Activities of sport clubs",
    "93130": "Fitness facilities",
    "94910": "Activities of religious organisations",
    "94990": "Activities of other membership organisations n.e.c.",
    "96020": "Hairdressing and other beauty treatment",
    "98000": "Residents property management",
}


def sic_text(code: str) -> str:
    return f"{code} - {SIC_TEXT[code]}"


# What each purpose's organisations set out to provide (service areas of service_areas.toml) and for whom: the
# demo truth's `services` and `beneficiaries` columns, which shortlists are measured against (bench/shortlists.py).
# Beneficiary groups: children, young people, families, older people, disabled people, women, men, carers,
# refugees, veterans, adults; empty = the general public.
PURPOSE_SERVICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "foodbank": (("food_poverty",), ()),
    "community_association": (("community_development",), ()),
    "carers": (("carers",), ("carers",)),
    "youth_club": (("children_young_people",), ("children", "young people")),
    "mental_health": (("mental_health",), ("adults",)),
    "domestic_abuse": (("domestic_abuse",), ("women",)),
    "scouts": (("children_young_people",), ("children", "young people")),
    "allotments": (("environment",), ()),
    "arts": (("arts_culture",), ()),
    "sports": (("sport_leisure",), ()),
    "mens_shed": (("community_development", "mental_health"), ("men", "older people")),
    "older_people": (("older_people",), ("older people",)),
    "dementia": (("older_people", "health_wellbeing"), ("older people", "carers")),
    "disability": (("disability",), ("disabled people",)),
    "church": (("faith_community",), ()),
    "church_hall": (("faith_community", "community_development"), ()),
    "heritage": (("arts_culture",), ()),
    "environment": (("environment",), ()),
    "community_energy": (("environment",), ()),
    "community_shop": (("community_development",), ()),
    "credit_union": (("food_poverty",), ()),
    "housing_coop": (("housing_homelessness",), ()),
    "residents": (("community_development",), ()),
    "refugees": (("refugees_migrants",), ("refugees",)),
    "advice": (("advice_advocacy",), ()),
    "homeless": (("housing_homelessness",), ()),
    "recovery": (("substance_misuse",), ("adults",)),
    "hospice": (("health_wellbeing",), ()),
    "animals": (("animal_welfare",), ()),
    "playgroup": (("early_years_childcare",), ("children", "families")),
    "school_friends": (("education_training",), ("children",)),
    "veterans": (("armed_forces",), ("veterans",)),
    "transport": (("community_transport",), ("older people", "disabled people")),
    "employment": (("employment_skills",), ("adults",)),
    "social_enterprise": (("community_development",), ()),
    "health": (("health_wellbeing",), ()),
    "lifeboat": (("community_safety_justice",), ()),
}
# Names that narrow a purpose: (words in the name, services added, beneficiaries replacing the purpose's).
NAME_SERVICES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Young Carers", ("children_young_people",), ("children", "young people", "carers")),
    ("Parents of Disabled Children", ("children_young_people",), ("children", "disabled people", "families")),
    ("Junior", ("children_young_people",), ("children", "young people")),
    ("Bereavement", ("mental_health",), ()),
    ("Children's Centre", ("children_young_people",), ("children", "families")),
)


def intended_services(purpose_key: str | None, name: str) -> tuple[list[str], list[str]]:
    """(service areas, beneficiary groups) an organisation of this purpose and name sets out to serve."""
    if purpose_key is None:
        return [], []
    services, beneficiaries = (list(v) for v in PURPOSE_SERVICES[purpose_key])
    for words, more, who in NAME_SERVICES:
        if words.lower() in name.lower():
            services += [s for s in more if s not in services]
            beneficiaries = list(who) or beneficiaries
    return services, beneficiaries
