"""The demo's geography: local authorities, wards, localities, LSOAs and a small postcode directory.

Wirral's 22 wards use their real GSS codes (E05000950-E05000971, alphabetical, the codes in use since the
2004 boundaries). Ward codes and names outside Wirral, LSOA codes, coordinates and IMD ranks are
realistic in shape and range but synthetic: only lad25cd and the Wirral ward codes are real facts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # Royal Mail never uses C I K M O V in the inward code


@dataclass
class LocalAuthority:
    key: str
    code: str
    name: str
    ccew_area: str               # how the Charity Commission names it in charity_area_of_operation
    ccew_parent: tuple[str, str]  # (parent_geographic_area_type, parent_geographic_area_description)
    region_code: str
    lsoa_base: int               # first number of the synthetic LSOA range, e.g. 7122 -> E01007122
    county: str                  # county line used in addresses


@dataclass
class Ward:
    code: str
    name: str
    la: LocalAuthority
    districts: list[str]
    localities: list[str]
    lat: float
    long: float
    imd_range: tuple[int, int]
    lsoas: list[tuple[str, int]] = field(default_factory=list)        # (lsoa21cd, imd rank)
    postcodes: list[str] = field(default_factory=list)                # live postcodes (pcds)
    terminated: list[str] = field(default_factory=list)               # terminated postcodes (pcds)


@dataclass
class PostcodeRow:
    pcds: str
    ward: Ward
    lsoa: str
    imd: int
    lat: float
    long: float
    dointr: str
    doterm: str
    usertype: str


MERSEYSIDE = ("Metropolitan Counties", "Merseyside")
NO_PARENT = ("", "")

LOCAL_AUTHORITIES = {
    "wirral": LocalAuthority("wirral", "E08000015", "Wirral", "Wirral", MERSEYSIDE, "E12000002", 7122, "Merseyside"),
    "liverpool": LocalAuthority("liverpool", "E08000012", "Liverpool", "Liverpool City", MERSEYSIDE, "E12000002",
                                6412, "Merseyside"),
    "sefton": LocalAuthority("sefton", "E08000014", "Sefton", "Sefton", MERSEYSIDE, "E12000002", 6941, "Merseyside"),
    "cheshire_west": LocalAuthority("cheshire_west", "E06000050", "Cheshire West and Chester",
                                    "Cheshire West & Chester", NO_PARENT, "E12000002", 18327, "Cheshire"),
    "manchester": LocalAuthority("manchester", "E08000003", "Manchester", "Manchester City",
                                 ("Metropolitan Counties", "Greater Manchester"), "E12000002", 5001,
                                 "Greater Manchester"),
    "camden": LocalAuthority("camden", "E09000007", "Camden", "Camden", ("Metropolitan Counties", "Greater London"),
                             "E12000007", 900, "London"),
    "southwark": LocalAuthority("southwark", "E09000028", "Southwark", "Southwark",
                                ("Metropolitan Counties", "Greater London"), "E12000007", 3900, "London"),
    "barnsley": LocalAuthority("barnsley", "E08000016", "Barnsley", "Barnsley",
                               ("Metropolitan Counties", "South Yorkshire"), "E12000003", 7400, "South Yorkshire"),
    "wigan": LocalAuthority("wigan", "E08000010", "Wigan", "Wigan", ("Metropolitan Counties", "Greater Manchester"),
                            "E12000002", 6200, "Greater Manchester"),
}

WIRRAL_CODE = LOCAL_AUTHORITIES["wirral"].code

# (code, name, postcode districts, localities used in names and addresses, lat, long, IMD 2019 rank range)
# IMD ranks: 1 is the most deprived of England's 32,844 LSOAs. Birkenhead's inner wards are among the most
# deprived in England; Heswall, West Kirby and Clatterbridge among the least.
_WIRRAL_WARDS = [
    ("E05000950", "Bebington", ["CH63"], ["Bebington", "Higher Bebington", "Lower Bebington"],
     53.355, -3.012, (11000, 28000)),
    ("E05000951", "Bidston and St James", ["CH41", "CH43"], ["Bidston", "Beechwood", "St James"],
     53.400, -3.050, (40, 3000)),
    ("E05000952", "Birkenhead and Tranmere", ["CH41", "CH42"], ["Birkenhead", "Tranmere"],
     53.388, -3.020, (30, 2500)),
    ("E05000953", "Bromborough", ["CH62"], ["Bromborough", "Bromborough Pool"], 53.330, -2.985, (2500, 20000)),
    ("E05000954", "Clatterbridge", ["CH63"], ["Spital", "Brimstage", "Raby Mere", "Clatterbridge"],
     53.330, -3.030, (20000, 31500)),
    ("E05000955", "Claughton", ["CH43"], ["Claughton", "Birkenhead Park"], 53.392, -3.045, (3000, 18000)),
    ("E05000956", "Eastham", ["CH62"], ["Eastham", "Plymyard"], 53.315, -2.965, (9000, 29000)),
    ("E05000957", "Greasby Frankby and Irby", ["CH49", "CH61"], ["Greasby", "Frankby", "Irby"],
     53.372, -3.120, (20000, 32200)),
    ("E05000958", "Heswall", ["CH60"], ["Heswall", "Gayton", "Lower Heswall"], 53.328, -3.100, (24000, 32800)),
    ("E05000959", "Hoylake and Meols", ["CH47"], ["Hoylake", "Meols"], 53.390, -3.170, (14000, 31000)),
    ("E05000960", "Leasowe and Moreton East", ["CH46"], ["Leasowe", "Moreton"], 53.410, -3.100, (300, 9000)),
    ("E05000961", "Liscard", ["CH44", "CH45"], ["Liscard", "Egremont"], 53.420, -3.045, (800, 15000)),
    ("E05000962", "Moreton West and Saughall Massie", ["CH46"], ["Moreton", "Saughall Massie"],
     53.400, -3.125, (4000, 26000)),
    ("E05000963", "New Brighton", ["CH45"], ["New Brighton"], 53.432, -3.045, (1000, 20000)),
    ("E05000964", "Oxton", ["CH43"], ["Oxton"], 53.385, -3.055, (5000, 28000)),
    ("E05000965", "Pensby and Thingwall", ["CH61"], ["Pensby", "Thingwall"], 53.345, -3.090, (12000, 30000)),
    ("E05000966", "Prenton", ["CH43"], ["Prenton", "Woodchurch Road"], 53.375, -3.050, (6000, 27000)),
    ("E05000967", "Rock Ferry", ["CH42"], ["Rock Ferry", "New Ferry"], 53.370, -3.005, (40, 4000)),
    ("E05000968", "Seacombe", ["CH41", "CH44"], ["Seacombe", "Poulton"], 53.410, -3.030, (60, 3500)),
    ("E05000969", "Upton", ["CH49"], ["Upton", "Woodchurch"], 53.385, -3.100, (800, 18000)),
    ("E05000970", "Wallasey", ["CH44", "CH45"], ["Wallasey", "Wallasey Village"], 53.425, -3.070, (9000, 30000)),
    ("E05000971", "West Kirby and Thurstaston", ["CH48"], ["West Kirby", "Caldy", "Thurstaston"],
     53.372, -3.180, (18000, 32800)),
]

# Other areas: a few wards each (synthetic codes in the real format), enough for neighbours, false friends
# and national organisations.
_OTHER_WARDS = {
    "liverpool": [
        ("E05015281", "City Centre North", ["L1", "L2", "L3"], ["Liverpool"], 53.408, -2.985, (2000, 20000)),
        ("E05015282", "Anfield", ["L4", "L6"], ["Anfield", "Walton"], 53.432, -2.960, (20, 2000)),
        ("E05015283", "Everton East", ["L5", "L6"], ["Everton", "Kirkdale"], 53.420, -2.965, (10, 1500)),
        ("E05015284", "Princes Park", ["L7", "L8"], ["Toxteth", "Kensington"], 53.392, -2.960, (50, 4000)),
        ("E05015285", "Wavertree Garden Suburb", ["L13", "L15"], ["Wavertree", "Old Swan"], 53.400, -2.920,
         (3000, 20000)),
        ("E05015286", "Allerton", ["L17", "L18", "L25"], ["Allerton", "Woolton", "Aigburth"], 53.365, -2.900,
         (10000, 31000)),
        ("E05015287", "Speke", ["L19", "L24"], ["Speke", "Garston"], 53.345, -2.850, (20, 3000)),
        ("E05015288", "Croxteth", ["L9", "L11", "L12"], ["Croxteth", "Norris Green"], 53.445, -2.920, (30, 5000)),
        ("E05015289", "Childwall", ["L14", "L16"], ["Childwall", "Broadgreen"], 53.395, -2.880, (5000, 25000)),
    ],
    "sefton": [
        ("E05000932", "Linacre", ["L20"], ["Bootle"], 53.450, -2.990, (20, 2000)),
        ("E05000933", "Litherland", ["L21", "L30"], ["Litherland", "Netherton"], 53.470, -2.995, (200, 9000)),
        ("E05000934", "Blundellsands", ["L22", "L23"], ["Crosby", "Waterloo"], 53.485, -3.030, (12000, 32000)),
        ("E05000935", "Cambridge", ["PR8", "PR9"], ["Southport", "Birkdale"], 53.645, -3.005, (3000, 30000)),
        ("E05000936", "Ravenmeols", ["L37"], ["Formby"], 53.555, -3.065, (20000, 32500)),
    ],
    "cheshire_west": [
        ("E05012156", "Chester City and the Garden Quarter", ["CH1"], ["Chester"], 53.193, -2.893, (3000, 25000)),
        ("E05012157", "Hoole", ["CH2"], ["Hoole", "Upton"], 53.205, -2.870, (8000, 30000)),
        ("E05012158", "Great Boughton", ["CH3"], ["Great Boughton", "Vicars Cross"], 53.190, -2.850,
         (10000, 31000)),
        ("E05012159", "Handbridge Park", ["CH4"], ["Handbridge", "Saltney"], 53.180, -2.890, (5000, 30000)),
        ("E05012160", "Neston", ["CH64"], ["Neston", "Parkgate", "Little Neston"], 53.290, -3.065, (6000, 30000)),
        ("E05012161", "Willaston and Thornton", ["CH64"], ["Willaston", "Burton"], 53.295, -2.990,
         (20000, 32500)),
        ("E05012162", "Ellesmere Port Town", ["CH65"], ["Ellesmere Port"], 53.280, -2.900, (200, 12000)),
        ("E05012163", "Great Sutton", ["CH66"], ["Great Sutton", "Little Sutton"], 53.270, -2.940, (4000, 25000)),
    ],
    "manchester": [
        ("E05011361", "Deansgate", ["M1", "M2", "M3"], ["Manchester"], 53.480, -2.245, (5000, 25000)),
        ("E05011362", "Ancoats and Beswick", ["M4"], ["Ancoats"], 53.485, -2.225, (200, 10000)),
        ("E05011363", "Hulme", ["M15"], ["Hulme"], 53.465, -2.250, (300, 9000)),
    ],
    "camden": [
        ("E05013652", "Bloomsbury", ["WC1", "WC1N"], ["London"], 51.521, -0.125, (5000, 25000)),
        ("E05013653", "King's Cross", ["N1C", "NW1"], ["London"], 51.533, -0.124, (1000, 20000)),
    ],
    "southwark": [
        ("E05011095", "Borough and Bankside", ["SE1"], ["London"], 51.503, -0.095, (2000, 20000)),
    ],
    "barnsley": [
        ("E05000980", "Hoyland Milton", ["S74"], ["Hoyland", "Elsecar"], 53.500, -1.445, (1500, 15000)),
        ("E05000981", "Central", ["S70"], ["Barnsley"], 53.553, -1.480, (300, 12000)),
    ],
    "wigan": [
        ("E05000841", "Wigan Central", ["WN1"], ["Wigan"], 53.545, -2.630, (500, 15000)),
        ("E05000842", "Pemberton", ["WN3", "WN5"], ["Pemberton", "Orrell"], 53.535, -2.670, (300, 12000)),
    ],
}

# Royal Mail post towns by outward code (the town line of an address).
POST_TOWNS = {
    "CH41": "BIRKENHEAD", "CH42": "BIRKENHEAD", "CH43": "PRENTON", "CH44": "WALLASEY", "CH45": "WALLASEY",
    "CH46": "WIRRAL", "CH47": "WIRRAL", "CH48": "WIRRAL", "CH49": "WIRRAL", "CH60": "WIRRAL", "CH61": "WIRRAL",
    "CH62": "WIRRAL", "CH63": "WIRRAL", "CH64": "NESTON", "CH65": "ELLESMERE PORT", "CH66": "ELLESMERE PORT",
    "CH1": "CHESTER", "CH2": "CHESTER", "CH3": "CHESTER", "CH4": "CHESTER", "L20": "BOOTLE", "L21": "LIVERPOOL",
    "L22": "LIVERPOOL", "L23": "LIVERPOOL", "L30": "BOOTLE", "L37": "LIVERPOOL", "PR8": "SOUTHPORT",
    "PR9": "SOUTHPORT", "S70": "BARNSLEY", "S74": "BARNSLEY", "WN1": "WIGAN", "WN3": "WIGAN", "WN5": "WIGAN",
}
LSOAS_PER_WARD = 9


def post_town(postcode: str) -> str:
    outward = postcode.split(" ")[0]
    if outward in POST_TOWNS:
        return POST_TOWNS[outward]
    if outward.startswith("L"):
        return "LIVERPOOL"
    if outward.startswith("M"):
        return "MANCHESTER"
    return "LONDON"


class Geography:
    """Every ward with its LSOAs and postcodes; built once per demo run from the run's random generator."""

    def __init__(self, rng: random.Random, scale: float):
        self.wards: list[Ward] = []
        for code, name, districts, localities, lat, long, imd in _WIRRAL_WARDS:
            self.wards.append(Ward(code, name, LOCAL_AUTHORITIES["wirral"], districts, localities, lat, long, imd))
        for key, rows in _OTHER_WARDS.items():
            for code, name, districts, localities, lat, long, imd in rows:
                self.wards.append(Ward(code, name, LOCAL_AUTHORITIES[key], districts, localities, lat, long, imd))
        self.rows: list[PostcodeRow] = []
        self.lad_of: dict[str, str] = {}
        self._build(rng, scale)

    def wards_in(self, la_key: str) -> list[Ward]:
        return [w for w in self.wards if w.la.key == la_key]

    def ward_of_locality(self, locality: str, la_key: str | None = None) -> Ward:
        for ward in self.wards:
            if locality in ward.localities and (la_key is None or ward.la.key == la_key):
                return ward
        raise KeyError(locality)

    def _build(self, rng: random.Random, scale: float) -> None:
        used: set[str] = set()
        lsoa_next = {key: la.lsoa_base for key, la in LOCAL_AUTHORITIES.items()}
        for ward in self.wards:
            for _ in range(LSOAS_PER_WARD):
                number = lsoa_next[ward.la.key]
                lsoa_next[ward.la.key] += 1
                ward.lsoas.append((f"E01{number:06d}", rng.randint(*ward.imd_range)))
            per_ward = 240 if ward.la.key == "wirral" else 70
            count = max(20, round(per_ward * max(1.0, scale ** 0.5)))
            for i in range(count):
                district = ward.districts[i % len(ward.districts)]
                while True:
                    pcds = f"{district} {rng.randint(0, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
                    # "ZZ" inward codes are kept out of the directory: the demo uses them for unknown postcodes.
                    if pcds not in used and not pcds.endswith("ZZ"):
                        used.add(pcds)
                        break
                lsoa, imd = rng.choice(ward.lsoas)
                terminated = rng.random() < 0.04
                dointr = "198001" if rng.random() < 0.8 else f"{rng.randint(1985, 2019)}{rng.randint(1, 12):02d}"
                doterm = f"{rng.randint(max(2000, int(dointr[:4]) + 1), 2024)}{rng.randint(1, 12):02d}" \
                    if terminated else ""
                row = PostcodeRow(pcds, ward, lsoa, imd, round(ward.lat + rng.uniform(-0.012, 0.012), 6),
                                  round(ward.long + rng.uniform(-0.018, 0.018), 6), dointr, doterm,
                                  "1" if rng.random() < 0.03 else "0")
                self.rows.append(row)
                self.lad_of[pcds] = ward.la.code
                (ward.terminated if terminated else ward.postcodes).append(pcds)
        self.rows.sort(key=lambda r: r.pcds)
