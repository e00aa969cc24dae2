"""Words the demo builds organisations from: purposes (name, activities, objects, codes) and name parts.

Every purpose carries text that says what the organisation does in the words real charities use, so the
UKCAT regular expressions find the same themes a person would.
"""

from __future__ import annotations

from dataclasses import dataclass


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


CHARITY = {"trust": 3, "other": 5, "cio": 4, "charitable_company": 2}
SOCIAL_ENTERPRISE = {"cic": 5, "clg": 2, "charitable_company": 2, "cio": 1}

PURPOSES: tuple[Purpose, ...] = (
    Purpose("foodbank", ("{place} Foodbank", "{place} Food Bank", "{place} Community Pantry"),
            {"cio": 5, "charitable_company": 3, "other": 2}, (105,), (207, 206), (306,), "88990",
            ("Runs a food bank giving emergency food parcels to local people in crisis referred by care "
             "professionals in {place}, with advice on debt and benefits.",
             "Provides emergency food, toiletries and signposting to people facing hardship and food poverty."),
            "The relief of poverty and financial hardship among people living in {place} and the surrounding "
            "area, in particular by the provision of emergency food supplies.", 45000),
    Purpose("community_association", ("{place} Community Association", "{place} Community Centre",
                                      "{place} Village Hall"),
            {"other": 5, "trust": 2, "cio": 3, "charitable_company": 2}, (116, 113), (207,), (305, 306), "94990",
            ("Provides a community centre with rooms for hire, a lunch club for older people, a parent and "
             "toddler group and exercise classes for residents of {place}.",
             "Maintains a village hall for the use of local people for meetings, lectures and classes and for "
             "other forms of recreation and leisure time occupation."),
            "To provide and maintain a community centre for the use of the inhabitants of {place} without "
            "distinction of political, religious or other opinions, for recreation and leisure time activities.",
            18000),
    Purpose("carers", ("{place} Carers Centre", "{place} Carers Association", "{place} Young Carers"),
            {"charitable_company": 4, "cio": 3, "other": 1}, (103, 104), (206, 201), (306, 307), "88100",
            ("Supports unpaid carers of family members with information, advice, emotional support, short "
             "breaks and carers' assessments across {place}.",
             "Young carers project offering respite trips, a weekly club and one-to-one support for children "
             "who care for a parent with an illness or disability."),
            "To relieve the needs of carers in {place} by providing information, advice, respite and support "
            "services.", 150000),
    Purpose("youth_club", ("{place} Youth Club", "{place} Youth Project", "{place} Boys and Girls Club"),
            {"other": 4, "cio": 3, "charitable_company": 1, "cic": 1}, (102, 116), (201,), (305, 306), "88990",
            ("Youth club for young people aged 8 to 19 running sports, arts, detached youth work and "
             "holiday activities in {place}.",
             "Provides a safe space for children and young people with youth workers, mentoring and "
             "activities to develop their skills and confidence."),
            "To help and educate young people through their leisure time activities so as to develop their "
            "physical, mental and spiritual capacities.", 30000),
    Purpose("mental_health", ("{place} Mental Health Support", "{place} Mind", "{place} Wellbeing Hub",
                              "{place} Mental Health Forum"),
            {"charitable_company": 3, "cio": 3, "cic": 2}, (103,), (206, 207), (306, 307), "86900",
            ("Offers peer support groups, counselling and wellbeing courses for adults experiencing mental "
             "health problems, anxiety and depression.",
             "Mental health charity providing talking therapies, a crisis cafe and suicide prevention "
             "training for people living in {place}."),
            "To promote the preservation and protection of good mental health and to relieve persons suffering "
            "from mental illness or emotional distress.", 120000),
    Purpose("domestic_abuse", ("{place} Domestic Abuse Service", "{place} Women's Refuge",
                               "{place} Domestic Violence Support"),
            {"charitable_company": 4, "cio": 2}, (107, 103), (206,), (306, 307), "87900",
            ("Provides refuge accommodation, outreach and independent domestic violence advisers for women, "
             "men and children affected by domestic abuse.",
             "Supports survivors of domestic abuse with safety planning, counselling and a helpline."),
            "To relieve the needs of victims of domestic violence and abuse and their children, in particular by "
            "providing safe accommodation, support and advice.", 400000),
    Purpose("scouts", ("{ordinal} {place} Scout Group", "{place} Scout Group", "{ordinal} {place} Brownies",
                       "{place} Sea Cadets", "{ordinal} {place} Guides"),
            {"other": 8, "cio": 1}, (102,), (201,), (306,), "94990",
            ("Scouting for girls and boys aged 6 to 18: weekly meetings, camping, hiking and outdoor "
             "adventure activities.",
             "Guiding and scouting activities for children and young people, including camps and skills badges."),
            "To promote the development of young people in achieving their full physical, intellectual, social "
            "and spiritual potentials, as individuals, as responsible citizens and as members of their local "
            "community.", 6000),
    Purpose("allotments", ("{place} Allotment Society", "{place} Allotment Association",
                           "{place} Horticultural Society"),
            {"other": 4, "cbs": 1, "clg": 1}, (112, 116), (207,), (305,), "01300",
            ("Manages allotments and a community garden, runs an annual flower and vegetable show and gardening "
             "advice for members.",),
            "To promote horticulture and the cultivation of allotment gardens for the benefit of the residents "
            "of {place}.", 3000),
    Purpose("arts", ("{place} Arts Collective", "{place} Arts Centre", "{place} Theatre Company",
                     "{place} Community Choir", "{place} Brass Band", "{place} Art Society"),
            {"cic": 4, "other": 3, "cio": 2, "charitable_company": 1}, (109,), (207,), (306,), "90030",
            ("Community arts organisation running theatre productions, music workshops, exhibitions and "
             "creative writing groups open to everyone in {place}.",
             "A community choir and brass band giving concerts and music tuition to children and adults."),
            "To advance the education of the public in the arts, including music, drama, dance, painting, "
            "literature and sculpture.", 15000),
    Purpose("sports", ("{place} Junior Football Club", "{place} Cricket Club", "{place} Rugby Club",
                       "{place} Sailing Club", "{place} Bowling Club", "{place} Boxing Club",
                       "{place} Swimming Club", "{place} Athletic Club"),
            {"other": 4, "cic": 2, "clg": 2, "cio": 1}, (110,), (201, 207), (305,), "93120",
            ("Amateur sports club providing coaching, training and competitive matches for boys and girls "
             "and adults, and maintaining the club ground.",
             "Promotes community participation in healthy recreation through amateur sport and "
             "coaching for all ages."),
            "To promote community participation in healthy recreation by providing facilities for playing "
            "amateur sport in {place}.", 12000),
    Purpose("mens_shed", ("{place} Men's Shed", "{place} Community Shed"), {"cio": 3, "other": 2, "cic": 1},
            (103, 116), (202, 206), (305,), "94990",
            ("A community workshop where men and women meet to share skills in woodwork and repairs, "
             "reducing isolation and loneliness among older people.",),
            "To advance the health and wellbeing of men in {place} by providing a workshop and social space.",
            8000),
    Purpose("older_people", ("{place} Older People's Forum", "Age Concern {place}", "{place} Lunch Club",
                             "{place} Friendship Group"),
            {"other": 3, "charitable_company": 3, "cio": 2}, (103, 116), (202,), (306,), "88100",
            ("Lunch club, befriending and day trips for older people and elderly residents living alone, to "
             "tackle loneliness and social isolation.",
             "Provides information and advice for older people, home help and a dementia friendly cafe."),
            "To relieve the needs of elderly people in {place} and to reduce isolation and loneliness.", 35000),
    Purpose("dementia", ("{place} Dementia Support", "{place} Memory Cafe", "{place} Alzheimer's Support"),
            {"cio": 3, "other": 2, "charitable_company": 1}, (103,), (202, 203), (306,), "88100",
            ("Memory cafes, carers' support and activities for people living with dementia and "
             "Alzheimer's disease and their families.",),
            "To relieve the needs of people with dementia and their carers.", 20000),
    Purpose("disability", ("{place} Disability Forum", "{place} Autism Support", "{place} Deaf Society",
                           "{place} Sight Support", "{place} Parents of Disabled Children"),
            {"cio": 3, "charitable_company": 2, "other": 2}, (104,), (203, 201), (306, 307), "88100",
            ("Support, advice and social activities for disabled people, children with special educational "
             "needs, autism and learning disabilities and their families.",
             "Services for blind and partially sighted people and people with hearing loss."),
            "To relieve the needs of people with disabilities living in {place}.", 60000),
    Purpose("church", ("St {saint}'s Church {place}", "{place} Baptist Church", "{place} Methodist Church",
                       "{place} Evangelical Church", "{place} United Reformed Church", "{place} Parish Church"),
            {"other": 6, "cio": 2, "previously_excepted": 1}, (108,), (207,), (306,), "94910",
            ("Christian church holding Sunday worship services, prayer meetings, bible study and a toddler "
             "group, and supporting mission and ministry in the parish.",
             "Church congregation advancing the Christian faith through worship, pastoral care and outreach."),
            "The advancement of the Christian religion in {place} and elsewhere.", 40000),
    Purpose("church_hall", ("St {saint}'s Church Hall Trust", "{place} Church Hall Trust"),
            {"trust": 5, "other": 1}, (108, 116), (207,), (305,), "68209",
            ("Maintains the church hall for the use of the parish and the local community for meetings and "
             "social events.",),
            "To provide and maintain a hall for the purposes of the church and of the community of {place}.",
            7000),
    Purpose("heritage", ("{place} Heritage Society", "{place} History Society", "Friends of {place} Park",
                         "{place} Civic Society", "Friends of {place} Library"),
            {"other": 5, "cio": 2, "trust": 1}, (109, 112), (207,), (305, 307), "91020",
            ("Local history society with talks, guided walks and an archive of photographs; volunteers care "
             "for the park, its gardens and heritage buildings.",
             "Friends group supporting the local library and park through volunteering and fundraising."),
            "To advance the education of the public in the history and heritage of {place} and to preserve "
            "its buildings and open spaces.", 4000),
    Purpose("environment", ("{place} Conservation Volunteers", "{place} Community Garden",
                            "{place} Wildlife Group", "{place} Beach Clean", "{place} Environmental Trust"),
            {"cio": 3, "cic": 2, "other": 2}, (112,), (207,), (304, 306), "94990",
            ("Conservation volunteers caring for woodland, coastal habitats and wildlife, running beach cleans "
             "and tree planting and teaching about climate change and the environment.",),
            "To promote the conservation and protection of the natural environment of {place}.", 10000),
    Purpose("community_energy", ("{place} Community Energy", "{place} Solar Co-operative"),
            {"cbs": 5, "coop": 2}, (112, 113), (207,), (303,), "35110",
            ("Community owned renewable energy: solar panels on community buildings, energy efficiency advice "
             "and tackling fuel poverty.",),
            "To carry on business for the benefit of the community by generating renewable energy.", 60000),
    Purpose("community_shop", ("{place} Community Shop", "{place} Community Pub", "{place} Community Hub"),
            {"cbs": 4, "coop": 2, "cic": 2}, (113,), (207,), (306,), "47190",
            ("A community owned shop and cafe run by volunteers for the benefit of the village.",),
            "To carry on the business of a community shop for the benefit of the community of {place}.",
            90000),
    Purpose("credit_union", ("{place} Credit Union",), {"credit_union": 1}, (105, 113), (207,), (303,), "64921",
            ("Savings and affordable loans for members who live or work locally.",),
            "To provide savings and loans to members.", 300000),
    Purpose("housing_coop", ("{place} Housing Co-operative", "{place} Tenants Co-operative"),
            {"coop": 3, "cbs": 2}, (107,), (206,), (305,), "68209",
            ("Housing co-operative providing affordable homes managed by the tenant members.",),
            "To provide housing for its members.", 120000),
    Purpose("residents", ("{place} Residents Association", "{place} Tenants and Residents Association"),
            {"other": 5, "clg": 1}, (113, 116), (207,), (307,), "94990",
            ("Represents residents and tenants, organises community events and campaigns for a cleaner, "
             "safer neighbourhood.",),
            "To promote the benefit of the residents of {place} without distinction.", 2000),
    Purpose("refugees", ("{place} Refugee Support", "{place} Asylum Seekers Support Group",
                         "{place} Multicultural Centre"),
            {"cio": 3, "other": 2, "charitable_company": 1}, (105, 115), (204, 206), (306, 307), "88990",
            ("Welcomes refugees and asylum seekers with English classes (ESOL), a drop-in, clothing and advice "
             "on immigration and housing.",),
            "To relieve the needs of refugees and asylum seekers and to promote racial harmony.", 25000),
    Purpose("advice", ("Citizens Advice {place}", "{place} Advice Centre", "{place} Welfare Rights"),
            {"charitable_company": 5, "cio": 1}, (105, 113), (207,), (307,), "88990",
            ("Free, independent and confidential advice on welfare benefits, debt, housing, employment and "
             "consumer problems.",),
            "To promote any charitable purpose for the benefit of the community in {place} by the advancement "
            "of education and the relief of poverty, sickness and distress.", 700000),
    Purpose("homeless", ("{place} Homeless Project", "{place} Night Shelter", "{place} Housing Support"),
            {"charitable_company": 3, "cio": 2, "cic": 1}, (107, 105), (206,), (306,), "87900",
            ("Supported accommodation and outreach for people who are homeless or rough sleeping, with a day "
             "centre offering meals and showers.",),
            "To relieve the needs of people who are homeless or at risk of homelessness.", 250000),
    Purpose("recovery", ("{place} Recovery Community", "{place} Addiction Recovery Project"),
            {"cic": 3, "cio": 2, "charitable_company": 1}, (103,), (206,), (306,), "86900",
            ("Peer-led support for people in recovery from drug and alcohol addiction and their families.",),
            "To relieve sickness and promote the recovery of people affected by substance misuse.", 90000),
    Purpose("hospice", ("{place} Hospice", "{place} Cancer Support Centre", "{place} Bereavement Service"),
            {"charitable_company": 5, "cio": 1}, (103,), (207,), (306,), "86900",
            ("Specialist palliative care, end of life care and bereavement counselling for patients and "
             "families, with hospice shops to raise funds.",
             "Cancer support centre offering complementary therapies, counselling and information."),
            "To promote the relief of sickness by the provision of palliative care for people with "
            "life-limiting illnesses.", 900000),
    Purpose("animals", ("{place} Animal Rescue", "{place} Cat Rescue", "{place} Dog Rescue"),
            {"cio": 3, "other": 2}, (111,), (207,), (306,), "01300",
            ("Rescues and rehomes abandoned cats and dogs, funds vet treatment and neutering and promotes "
             "animal welfare.",),
            "To relieve the suffering of animals in need of care and attention.", 30000),
    Purpose("playgroup", ("{place} Pre-School", "{place} Playgroup", "{place} Toddler Group",
                          "{place} Children's Centre"),
            {"other": 3, "charitable_company": 2, "cio": 2}, (102,), (201,), (306,), "88910",
            ("Pre-school playgroup providing early years education and childcare for children aged 2 to 5.",),
            "To advance the education of children under statutory school age.", 80000),
    Purpose("school_friends", ("Friends of {place} Primary School", "{place} High School PTA",
                               "Friends of {place} School"),
            {"other": 8, "cio": 1}, (102,), (201,), (302,), "85600",
            ("Parents and teachers raising funds for school trips, playground equipment and books for pupils.",),
            "To advance the education of the pupils at the school.", 9000),
    Purpose("veterans", ("{place} Veterans Association", "{place} Royal British Legion Branch",
                         "{place} Armed Forces Breakfast Club"),
            {"other": 4, "cio": 2}, (114,), (206,), (306,), "94990",
            ("Supports armed forces veterans and their families with welfare, befriending and remembrance "
             "events.",),
            "To relieve need among former members of the armed forces and their dependants.", 7000),
    Purpose("transport", ("{place} Community Transport",), {"charitable_company": 3, "cic": 2}, (113, 104),
            (202, 203), (306,), "49390",
            ("Door-to-door minibus transport for older and disabled people who cannot use public transport.",),
            "To provide transport for people with mobility difficulties.", 200000),
    Purpose("employment", ("{place} Jobs and Skills Hub", "{place} Enterprise Centre", "{place} Training Trust",
                           "{place} Digital Inclusion Project"),
            {"cic": 4, "charitable_company": 3, "clg": 2}, (113, 102), (207,), (306,), "85590",
            ("Employability training, apprenticeships, digital skills courses and job clubs to help "
             "unemployed people back into work.",),
            "To relieve unemployment and advance education and training for the public benefit.", 180000),
    Purpose("social_enterprise", ("{place} Community Cafe", "{place} Social Enterprise", "{place} Repair Cafe",
                                  "{place} Furniture Project", "{place} Community Kitchen"),
            SOCIAL_ENTERPRISE, (113, 105), (207,), (306,), "56102",
            ("Community cafe and furniture reuse project providing volunteering and training opportunities and "
             "low-cost goods for families on low incomes.",),
            "To benefit the community of {place} by providing affordable food, furniture and training.", 70000),
    Purpose("health", ("{place} Health Forum", "{place} Breastfeeding Support", "{place} Stroke Club",
                       "{place} Diabetes Support Group", "{place} Parkinson's Group"),
            {"other": 3, "cio": 2, "cic": 1}, (103,), (206, 207), (306, 307), "86900",
            ("Self-help group and peer support for patients living with long-term health conditions, with "
             "exercise classes and health information.",),
            "To relieve sickness and preserve good health among people in {place}.", 10000),
    Purpose("lifeboat", ("{place} Lifeboat Station", "{place} Coastguard Rescue Support"), {"other": 1},
            (114, 103), (207,), (306,), "94990",
            ("Volunteer lifeboat crew and fundraisers saving lives at sea along the coast.",),
            "The preservation of human life from shipwreck and drowning at sea.", 20000),
)

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
