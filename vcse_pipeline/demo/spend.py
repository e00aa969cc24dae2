"""A synthetic year of Wirral Council payments over £500 (April 2025 to March 2026) in the LGA recommended layout,
one Windows-1252 CSV per month with a title row above the header, and its truth: which organisation each supplier
is and where its registered office is.

Suppliers are the demo world's own organisations (Wirral VCSEs, VCSEs elsewhere, businesses across the demo's
local authorities), plus public bodies, redacted payees and unregistered sole traders. The quirks of real files
are in it: `£` and thousands separators, credit notes, ONETIME supplier ids, #N/A labels, company and charity
numbers on only some lines. Deterministic: the same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ..postcode import normalise_postcode
from .geography import LOCAL_AUTHORITIES
from .organisations import DemoWorld

HEADER = ["Body", "Organisation Name", "Date", "Internal Ref Number", "Invoice Number", "Net Amount",
          "Irrecoverable VAT", "Supplier(Beneficiary) Name", "Supplier Registered Company Number",
          "Supplier Registered Charity Number", "Supplier ID", "VAT Registration Number", "Expense Area",
          "Procurement Classification: Council's Procurement Category Name", "Expense Code", "BVACOP", "Proclass",
          "Extended Description", "Source", "Subsource", "Definition", "Purpose of Spend (Summary)",
          "Voluntary Community and Social Enterprise Supplier"]
BODY = "http://statistics.data.gov.uk/doc/local-authority-district/00CB"
YEAR_START = date(2025, 4, 1)
TRUTH_COLUMNS = ["supplier_name", "supplier_id", "truth_kind", "identifiers", "lad_code", "region_code"]
WIRRAL, LCR = "E08000015", {"E06000006", "E08000011", "E08000012", "E08000013", "E08000014", "E08000015"}
VCSE_AREAS = {"adult_social": "Adult Social Care", "children": "Children, Families and Education",
              "health": "Public Health", "housing": "Housing", "culture": "Leisure, Libraries and Culture"}
BUSINESS_AREAS = ["Highways and Infrastructure", "Waste and Environment", "Corporate Services", "Regeneration",
                  "Adult Social Care", "Children, Families and Education", "Public Health"]
CATEGORY = {"Adult Social Care": "Social Care Services", "Children, Families and Education": "Education Services",
            "Public Health": "Health Services", "Housing": "Housing Services",
            "Leisure, Libraries and Culture": "Culture and Leisure", "Highways and Infrastructure": "Construction",
            "Waste and Environment": "Environmental Services", "Corporate Services": "ICT",
            "Regeneration": "Consultancy"}
PUBLIC_BODIES = [("Liverpool City Council", "E08000012"), ("Wirral University Teaching Hospital NHS Foundation Trust",
                  WIRRAL), ("Merseyside Police", "E08000012"), ("Merseyside Fire and Rescue Service", "E08000014"),
                 ("Cheshire and Wirral Partnership NHS Foundation Trust", "E06000050"),
                 ("HM Revenue & Customs", "E09000007"), ("St Anselm's Catholic Primary School", WIRRAL)]
SOLE_TRADERS = ["Dave Jones Plumbing", "K Smith Window Cleaning", "Hoylake Taxis", "A1 Locksmiths Wallasey",
                "Sue's Sandwiches", "Mersey Mobile Mechanic"]


@dataclass
class Supplier:
    name: str
    supplier_id: str
    kind: str                 # vcse, business, public body, individual, redacted, unregistered
    identifiers: list[str]
    lad: str
    company_number: str = ""
    charity_number: str = ""
    write_numbers: float = 0.0   # share of its lines that carry its company/charity number
    annual: float = 0.0
    areas: tuple[str, ...] = ()


def _region(lad: str) -> str:
    return next((la.region_code for la in LOCAL_AUTHORITIES.values() if la.code == lad), "")


def _suppliers(world: DemoWorld, rng: random.Random) -> list[Supplier]:
    charities = {str(c.organisation_number): c for c in world.charities}
    societies = {s.full_number: s for s in world.societies}
    wirral_vcse, other_vcse, businesses = [], [], []
    for org in world.orgs:
        rows = [t for t in org.truth if t.record_is_active and t.record_postcode]
        if not rows or not all(t.is_active for t in org.truth):
            continue
        identifiers, company, charity = [], "", ""
        for t in org.truth:
            if t.source == "charity_commission":
                c = charities[t.record_key]
                if c.linked_charity_number:
                    identifiers = []
                    break
                charity = str(c.registered_charity_number)
                identifiers.append(f"GB-CHC-{charity}")
            elif t.source == "companies_house":
                company = t.record_key
                identifiers.append(f"GB-COH-{company}")
            elif t.source == "fca_mutuals" and t.record_key in societies:
                identifiers.append(f"GB-MPR-{t.record_key}")
        if not identifiers:
            continue
        lad = world.geo.lad_of.get(normalise_postcode(rows[0].record_postcode) or "", "")
        if not lad:
            continue
        entry = (org, identifiers, company, charity, lad, rows[0])
        if org.is_vcse and lad == WIRRAL:
            wirral_vcse.append(entry)
        elif org.is_vcse:
            other_vcse.append(entry)
        elif company and org.form in ("private", "plc"):
            businesses.append(entry)
    picked: list[Supplier] = []
    number = iter(range(100001, 999999, 37))

    def add(entry, kind: str, annual: float, write: float, areas: tuple[str, ...], name: str | None = None) -> None:
        org, identifiers, company, charity, lad, row = entry
        picked.append(Supplier(name or org.name, f"S{next(number):06d}", kind, identifiers, lad, company, charity,
                               write, annual, areas))

    for entry in rng.sample(wirral_vcse, min(70, len(wirral_vcse))):
        name = entry[0].name.upper() if rng.random() < 0.4 else entry[0].name
        add(entry, "vcse", rng.lognormvariate(10.8, 1.0), 0.3, (rng.choice(list(VCSE_AREAS.values())),), name)
    for entry in rng.sample(other_vcse, min(20, len(other_vcse))):
        # Not in Wirral's register unless it operates there: its number is on every line.
        add(entry, "vcse", rng.lognormvariate(10.8, 1.0), 1.0, (rng.choice(list(VCSE_AREAS.values())),))
    for entry in rng.sample(businesses, min(90, len(businesses))):
        name = entry[5].record_name
        if rng.random() < 0.5:
            name = name.upper()
        if rng.random() < 0.3:
            name = name.replace(" Limited", " Ltd") if " Limited" in name else name.replace(" Ltd", " Limited")
        add(entry, "business", rng.lognormvariate(11.5, 1.3), 0.2, tuple(rng.sample(BUSINESS_AREAS, 2)), name)
    # Care contracts with big providers based elsewhere: most of Adult Social Care's money leaves Wirral while
    # Wirral VCSEs provide that service (an opportunity the report shows).
    chosen = {p.company_number for p in picked}
    outside = [e for e in businesses if e[4] != WIRRAL and e[2] not in chosen]
    for entry in rng.sample(outside, min(4, len(outside))):
        add(entry, "business", rng.lognormvariate(14.3, 0.2), 0.2, ("Adult Social Care",))
    for name, lad in PUBLIC_BODIES:
        picked.append(Supplier(name, f"S{next(number):06d}", "public body", [], lad, annual=rng.lognormvariate(12, 1),
                               areas=("Corporate Services",)))
    picked.append(Supplier("REDACTED PERSONAL DATA", "", "individual", [], "", annual=900_000,
                           areas=("Children, Families and Education", "Adult Social Care")))
    picked.append(Supplier("Redacted Commercial Data", "", "redacted", [], "", annual=60_000,
                           areas=("Children, Families and Education",)))
    for name in SOLE_TRADERS:
        picked.append(Supplier(name, "ONETIME", "unregistered", [], WIRRAL, annual=rng.uniform(600, 2500),
                               areas=("Highways and Infrastructure",)))
    return picked


def _money(amount: float, rng: random.Random) -> str:
    """As the demo council's finance system writes it: "£1,234.56", sometimes "1234.56"; credits with a minus."""
    text = f"£{abs(amount):,.2f}" if rng.random() < 0.7 else f"{abs(amount):.2f}"
    return ("-" + text) if amount < 0 else text


def _lines(suppliers: list[Supplier], rng: random.Random) -> dict[str, list[list[str]]]:
    """Rows per month ("2025-04"): each supplier's annual value spread over payments of at least £500."""
    months: dict[str, list[list[str]]] = {}
    ref = 500000
    for supplier in suppliers:
        count = max(1, min(40, int(supplier.annual / rng.uniform(3000, 15000))))
        amounts = [max(500.0, supplier.annual / count * rng.uniform(0.6, 1.4)) for _ in range(count)]
        if count > 4 and rng.random() < 0.3:
            amounts.append(-round(rng.uniform(100, 0.5 * min(amounts)), 2))   # a credit note
        for amount in amounts:
            day = YEAR_START + timedelta(days=rng.randint(0, 364))
            ref += rng.randint(1, 9)
            write = rng.random() < supplier.write_numbers
            area = rng.choice(supplier.areas)
            row = [BODY, "Wirral Council", day.strftime("%d/%m/%Y"), str(ref), f"INV{ref * 7 % 1000003:07d}",
                   _money(round(amount, 2), rng), "0.00", supplier.name,
                   supplier.company_number if write else "", supplier.charity_number if write else "",
                   supplier.supplier_id, "", area, CATEGORY.get(area, "Other"),
                   "#N/A" if rng.random() < 0.05 else f"E{rng.randint(1000, 9999)}", "", "", "", "", "", "",
                   "Payment to supplier", "Yes" if supplier.kind == "vcse" and write else ""]
            months.setdefault(day.strftime("%Y-%m"), []).append(row)
    for rows in months.values():
        rows.sort(key=lambda r: (r[2][6:] + r[2][3:5] + r[2][:2], int(r[3])))
    return months


def write_spend_year(world: DemoWorld, seed: int, out_dir: Path) -> dict:
    """Write spend/wirral-spend-YYYY-MM.csv (cp1252) and truth/spend_suppliers.csv under out_dir."""
    rng = random.Random(seed * 31 + 17)
    suppliers = _suppliers(world, rng)
    months = _lines(suppliers, rng)
    folder = Path(out_dir) / "spend"
    folder.mkdir(parents=True, exist_ok=True)
    paths, lines = [], 0
    for month in sorted(months):
        buffer = io.StringIO()
        year, number = month.split("-")
        title = date(int(year), int(number), 1).strftime("%B %Y")
        buffer.write(f"Wirral Council - payments over £500 - {title}\r\n")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(months[month])
        path = folder / f"wirral-spend-{month}.csv"
        path.write_bytes(buffer.getvalue().encode("cp1252"))
        paths.append(str(path))
        lines += len(months[month])
    truth = Path(out_dir) / "truth" / "spend_suppliers.csv"
    truth.parent.mkdir(parents=True, exist_ok=True)
    with truth.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(TRUTH_COLUMNS)
        for s in suppliers:
            writer.writerow([s.name, s.supplier_id, s.kind, "|".join(s.identifiers),
                             s.lad if s.kind not in ("unregistered",) else "", _region(s.lad) if s.lad else ""])
    return {"paths": paths, "truth": str(truth), "lines": lines, "suppliers": len(suppliers)}
