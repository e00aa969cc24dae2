"""Write the demo world in the registers' real file formats, byte for byte reproducibly.

Each writer copies one real format: the Charity Commission's tab-separated, CRLF, unquoted TXT extract;
Companies House's fully quoted CSV with dd/mm/yyyy dates; the ONSPD CSV (text quoted, numbers bare) with
its Documents lookups; the FCA's SocietyList.csv. Zips carry a fixed timestamp so reruns are identical.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

from .formats import CCEW_HEADERS, COMPANIES_HOUSE_HEADER, FCA_SOCIETY_HEADER, ONSPD_2025_HEADER
from .geography import Geography, PostcodeRow
from .organisations import COMPANIES_DATE, EXTRACT_DATE, add_months
from .records import TRUTH_COLUMNS, Charity, Company, Society, TruthRow
from .vocabulary import sic_text

ZIP_TIME = (2026, 11, 20, 0, 0, 0)
CCEW_EXTRACT = f"{EXTRACT_DATE.isoformat()} 00:00:00.0000000"


def write_zip(path: Path, members: Iterable[tuple[str, Iterable[str]]]) -> None:
    """A zip whose bytes depend only on the content: fixed timestamps, attributes and compression."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, lines in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                buffer: list[str] = []
                for line in lines:
                    buffer.append(line)
                    if len(buffer) >= 2000:
                        fh.write("".join(buffer).encode("utf-8"))
                        buffer.clear()
                fh.write("".join(buffer).encode("utf-8"))
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------- Charity Commission
def _ccew_date(value: date | None) -> str:
    return f"{value.isoformat()} 00:00:00.0000000" if value else ""


def _bool(value: bool | None) -> str:
    return "" if value is None else ("True" if value else "False")


_CCEW_COLUMN_SETS = {table: frozenset(columns) for table, columns in CCEW_HEADERS.items()}


def _header(table: str) -> str:
    """The table's header line, in the extract's column order and CRLF line end."""
    return "\t".join(CCEW_HEADERS[table]) + "\r\n"


def _tsv(table: str, row: dict) -> str:
    # The real extract never quotes or escapes: tabs and line breaks simply never occur inside values.
    unknown = row.keys() - _CCEW_COLUMN_SETS[table]
    if unknown:
        raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
    return "\t".join(str(row.get(c, "")) for c in CCEW_HEADERS[table]) + "\r\n"


class AnnualReturns:
    """A charity's filing history, drawn from its own seeded generator so it does not depend on file order."""

    def __init__(self, charity: Charity, seed: int):
        rng = random.Random(f"{seed}:returns:{charity.organisation_number}")
        self.rows: list[dict] = []
        self.received: list[dict] = []
        self.latest: dict | None = None
        if charity.linked_charity_number or charity.status != "Registered":
            return
        month, day = charity.year_end
        first_possible = charity.date_of_registration + timedelta(days=200)
        ends = [date(y, month, day) for y in range(2019, 2027)]
        ends = [e for e in ends if first_possible <= e <= date(2026, 3, 31)][-5:]
        missed = False
        for end in ends:
            start = date(end.year - 1, month, day) + timedelta(days=1)
            due = add_months(end, 10)
            received = None
            if due < EXTRACT_DATE:
                if charity.overdue and (missed or end == max(e for e in ends if add_months(e, 10) < EXTRACT_DATE)):
                    missed = True
                elif rng.random() < 0.08:
                    received = due + timedelta(days=rng.randint(1, 80))
                    received = min(received, EXTRACT_DATE - timedelta(days=1))
                else:
                    received = due - timedelta(days=rng.randint(0, 240))
                    received = max(received, end + timedelta(days=20))
            else:
                early = end + timedelta(days=rng.randint(40, 230))
                if rng.random() < 0.45 and early < EXTRACT_DATE:
                    received = early
                else:
                    continue
            income = int(charity.income * rng.uniform(0.75, 1.25)) if received else None
            spent = int(income * rng.uniform(0.8, 1.15)) if income is not None else None
            self.rows.append({"start": start, "end": end, "due": due, "received": received, "income": income,
                              "spent": spent, "cycle": f"AR{end.year % 100:02d}", "late": bool(received and
                                                                                           received > due)})
        self.rows.reverse()  # newest first
        self.received = [r for r in self.rows if r["received"]]
        self.latest = self.received[0] if self.received else None

    def reporting_status(self, charity: Charity) -> str:
        if charity.status == "Removed":
            return "Removed"
        if charity.linked_charity_number:
            return ""
        if any(r["received"] is None for r in self.rows):
            return "Submission Overdue"
        if not self.rows:
            return "New"
        return "Submission Received Late" if self.rows[0]["late"] else "Submission Received"


def charity_rows(charities: list[Charity], returns: dict[int, AnnualReturns]) -> Iterator[str]:
    yield _header("charity")
    for c in charities:
        row = {"date_of_extract": CCEW_EXTRACT, "organisation_number": c.organisation_number,
               "registered_charity_number": c.registered_charity_number,
               "linked_charity_number": c.linked_charity_number, "charity_name": c.name,
               "charity_type": c.charity_type, "charity_registration_status": c.status,
               "date_of_registration": _ccew_date(c.date_of_registration),
               "date_of_removal": _ccew_date(c.date_of_removal), "charity_insolvent": _bool(c.insolvent),
               "charity_in_administration": _bool(c.in_administration)}
        if not c.linked_charity_number:
            ar = returns[c.organisation_number]
            row.update({
                "charity_reporting_status": ar.reporting_status(c),
                "charity_previously_excepted": _bool(c.previously_excepted),
                "charity_is_cio": _bool(c.is_cio), "cio_is_dissolved": _bool(c.cio_dissolved),
                "charity_company_registration_number": c.company_number,
                "charity_activities": c.activities, "charity_gift_aid": _bool(c.gift_aid),
                "charity_has_land": _bool(c.has_land),
            })
            if ar.latest:
                row.update({"latest_acc_fin_period_start_date": _ccew_date(ar.latest["start"]),
                             "latest_acc_fin_period_end_date": _ccew_date(ar.latest["end"]),
                             "latest_income": ar.latest["income"], "latest_expenditure": ar.latest["spent"]})
            if c.status == "Registered" and c.address:
                a = c.address
                lines = [x for x in (a.line1, a.locality, a.town, a.county) if x]
                for i, line in enumerate(lines[:5]):
                    row[f"charity_contact_address{i + 1}"] = line
                row.update({"charity_contact_postcode": a.postcode, "charity_contact_phone": c.phone,
                            "charity_contact_email": c.email, "charity_contact_web": c.web})
            if c.cio_dissolved:
                row["date_cio_dissolution_notice"] = _ccew_date(c.date_of_removal - timedelta(days=60))
        yield _tsv("charity", row)


def _keys(c: Charity) -> dict:
    return {"date_of_extract": CCEW_EXTRACT, "organisation_number": c.organisation_number,
            "registered_charity_number": c.registered_charity_number,
            "linked_charity_number": c.linked_charity_number}


def classification_rows(charities: list[Charity], labels: dict[int, tuple[str, str]]) -> Iterator[str]:
    yield _header("charity_classification")
    for c in charities:
        if c.linked_charity_number:
            continue
        for code in c.classifications:
            kind, label = labels[code]
            yield _tsv("charity_classification", {**_keys(c), "classification_code": code, "classification_type": kind,
                                 "classification_description": label})


def area_rows(charities: list[Charity]) -> Iterator[str]:
    yield _header("charity_area_of_operation")
    for c in charities:
        if c.linked_charity_number:
            continue
        for kind, name, parent_kind, parent, welsh in c.areas:
            yield _tsv("charity_area_of_operation", {
                **_keys(c), "geographic_area_type": kind, "geographic_area_description": name,
                "parent_geographic_area_type": parent_kind,
                                 "parent_geographic_area_description": parent, "welsh_ind": _bool(welsh)})


def other_name_rows(charities: list[Charity]) -> Iterator[str]:
    yield _header("charity_other_names")
    name_id = 1000
    for c in charities:
        for kind, name in c.other_names:
            name_id += 7
            yield _tsv("charity_other_names", {**_keys(c), "charity_name_id": name_id, "charity_name_type": kind,
                                 "charity_name": name})


def governing_rows(charities: list[Charity]) -> Iterator[str]:
    yield _header("charity_governing_document")
    for c in charities:
        yield _tsv("charity_governing_document", {**_keys(c), "governing_document_description": c.governing_document,
                             "charitable_objects": c.objects, "area_of_benefit": c.area_of_benefit})


def _ar_keys(c: Charity) -> dict:
    return {"date_of_extract": CCEW_EXTRACT, "organisation_number": c.organisation_number,
            "registered_charity_number": c.registered_charity_number}


def history_rows(charities: list[Charity], returns: dict[int, AnnualReturns]) -> Iterator[str]:
    yield _header("charity_annual_return_history")
    for c in charities:
        for r in reversed(returns[c.organisation_number].rows if not c.linked_charity_number else []):
            received = r["received"]
            yield _tsv("charity_annual_return_history", {
                **_ar_keys(c), "fin_period_start_date": _ccew_date(r["start"]),
                "fin_period_end_date": _ccew_date(r["end"]), "ar_cycle_reference": r["cycle"],
                "reporting_due_date": _ccew_date(r["due"]), "date_annual_return_received": _ccew_date(received),
                "date_accounts_received": _ccew_date(received) if received and r["income"] > 25000 else "",
                "total_gross_income": "" if r["income"] is None else r["income"],
                "total_gross_expenditure": "" if r["spent"] is None else r["spent"],
                "suppression_ind": "False"})


def _part_keys(c: Charity, r: dict, order: int) -> dict:
    return {**_ar_keys(c), "latest_fin_period_submitted_ind": _bool(order == 1), "fin_period_order_number": order,
            "ar_cycle_reference": r["cycle"], "fin_period_start_date": _ccew_date(r["start"]),
            "fin_period_end_date": _ccew_date(r["end"]), "ar_due_date": _ccew_date(r["due"]),
            "ar_received_date": _ccew_date(r["received"])}


def _received_returns(charities: list[Charity], returns: dict[int, AnnualReturns], seed: int, part: str,
                      over: int) -> Iterator[tuple[Charity, int, dict, random.Random]]:
    """(charity, order, return, rng) for each main charity's received annual returns with income over `over` (order 1
    the latest), for the annual return part `part`: each charity draws from its own stream seeded by the part, so
    one part's rows do not shift when another changes."""
    for c in charities:
        if c.linked_charity_number:
            continue
        rng = random.Random(f"{seed}:{part}:{c.organisation_number}")
        for order, r in enumerate(returns[c.organisation_number].received, start=1):
            if r["income"] > over:
                yield c, order, r, rng


def parta_rows(charities: list[Charity], returns: dict[int, AnnualReturns], seed: int) -> Iterator[str]:
    yield _header("charity_annual_return_parta")
    for c, order, r, rng in _received_returns(charities, returns, seed, "parta", over=10000):
        contracts = rng.random() < 0.25
        grants = rng.random() < 0.5
        big = r["income"] > 1_000_000
        yield _tsv("charity_annual_return_parta", {
            **_part_keys(c, r, order), "total_gross_income": r["income"],
            "total_gross_expenditure": r["spent"], "charity_raises_funds_from_public": _bool(rng.random() < 0.6),
            "charity_professional_fundraiser": _bool(False), "charity_commercial_participator": _bool(False),
            "grant_making_is_main_activity": _bool(rng.random() < 0.05),
            "charity_receives_govt_funding_contracts": _bool(contracts),
            "count_govt_contracts": rng.randint(1, 6) if contracts else "",
            "charity_receives_govt_funding_grants": _bool(grants),
            "count_govt_grants": rng.randint(1, 4) if grants else "",
            "income_from_government_contracts": int(r["income"] * rng.uniform(0.1, 0.6)) if contracts else "",
            "income_from_government_grants": int(r["income"] * rng.uniform(0.05, 0.4)) if grants else "",
            "charity_has_trading_subsidiary": _bool(big and rng.random() < 0.5),
            "does_trustee_receive_any_benefit": _bool(False), "trustee_resigned_employment": _bool(False),
            "employees_salary_over_60k": _bool(big),
            "count_salary_band_60001_70000": rng.randint(1, 4) if big else "",
            "count_volunteers": rng.randint(0, 120)})


def partb_rows(charities: list[Charity], returns: dict[int, AnnualReturns], seed: int) -> Iterator[str]:
    yield _header("charity_annual_return_partb")
    for c, order, r, rng in _received_returns(charities, returns, seed, "partb", over=500000):
        income, spent = r["income"], r["spent"]
        donations = int(income * rng.uniform(0.05, 0.5))
        trading = int(income * rng.uniform(0, 0.2))
        investments = int(income * rng.uniform(0, 0.03))
        other = int(income * rng.uniform(0, 0.02))
        charitable = income - donations - trading - investments - other
        raising = int(spent * rng.uniform(0.02, 0.15))
        governance = int(spent * rng.uniform(0.01, 0.05))
        fixed = int(income * rng.uniform(0.1, 2.0))
        cash = int(income * rng.uniform(0.1, 0.6))
        liabilities = int(income * rng.uniform(0.05, 0.2))
        net = fixed + cash - liabilities
        restricted = int(net * rng.uniform(0, 0.4))
        yield _tsv("charity_annual_return_partb", {
            **_part_keys(c, r, order), "income_donations_and_legacies": donations,
            "income_other_trading_activities": trading, "income_charitable_activities": charitable,
            "income_investments": investments, "income_other": other,
            "income_total_income_and_endowments": income, "income_legacies": 0, "income_endowments": 0,
            "expenditure_raising_funds": raising, "expenditure_charitable_expenditure": spent - raising,
            "expenditure_other": 0, "expenditure_total": spent, "expenditure_investment_management": 0,
            "expenditure_grants_institution": 0, "expenditure_governance": governance,
            "expenditure_support_costs": int(spent * rng.uniform(0.05, 0.2)),
            "expenditure_depreciation": int(fixed * 0.03), "gain_loss_investment": 0,
            "gain_loss_pension_fund": 0, "gain_loss_revaluation_fixed_investment": 0, "gain_loss_other": 0,
            "reserves": net - restricted - fixed if net - restricted - fixed > 0 else 0,
            "assets_total_fixed": fixed, "assets_own_use": fixed, "assets_long_term_investment": 0,
            "defined_benefit_pension_scheme": 0, "assets_other_assets": cash,
            "assets_total_liabilities": liabilities, "assets_current_investment": 0,
            "assets_total_assets_and_liabilities": net, "creditors_one_year_total_current": liabilities,
            "creditors_falling_due_after_one_year": 0, "assets_cash": cash, "funds_endowment": 0,
            "funds_unrestricted": net - restricted, "funds_restricted": restricted, "funds_total": net,
            "count_employees": max(1, income // 32000), "charity_only_accounts": "True"})


# ---------------------------------------------------------------------------------------------- Companies House
def _ch_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _anniversary_before(start: date, limit: date) -> date | None:
    """The latest anniversary of `start` on or before `limit` (None if the first is after it)."""
    year = limit.year
    while year >= start.year:
        try:
            candidate = date(year, start.month, start.day)
        except ValueError:
            candidate = date(year, start.month, 28)
        if candidate <= limit and candidate > start:
            return candidate
        year -= 1
    return None


def company_fields(co: Company, seed: int) -> list[str]:
    rng = random.Random(f"{seed}:company:{co.number}")
    a = co.address
    today = co.dissolution_date or COMPANIES_DATE
    # Keyed by the stripped column name: the real header's leading spaces are restored on output.
    row = {c.strip(): "" for c in COMPANIES_HOUSE_HEADER}
    n_columns = len(row)
    row.update({
        "CompanyName": co.name, "CompanyNumber": co.number, "RegAddress.AddressLine1": a.line1.upper(),
        "RegAddress.AddressLine2": a.locality.upper(), "RegAddress.PostTown": a.town.upper(),
        "RegAddress.County": a.county.upper() if rng.random() < 0.5 else "",
        "RegAddress.Country": rng.choice(["ENGLAND", "UNITED KINGDOM", ""]) if a.postcode else "",
        "RegAddress.PostCode": a.postcode, "CompanyCategory": co.category, "CompanyStatus": co.status,
        "CountryOfOrigin": "United Kingdom", "DissolutionDate": _ch_date(co.dissolution_date),
        "IncorporationDate": _ch_date(co.incorporation_date), "Mortgages.NumMortCharges": "0",
        "Mortgages.NumMortOutstanding": "0", "Mortgages.NumMortPartSatisfied": "0",
        "Mortgages.NumMortSatisfied": "0", "LimitedPartnerships.NumGenPartners": "0",
        "LimitedPartnerships.NumLimPartners": "0", "URI": f"http://business.data.gov.uk/id/company/{co.number}",
        "Accounts.AccountCategory": "NO ACCOUNTS FILED",
    })
    if len(row) != n_columns:
        raise KeyError(f"unknown Companies House column(s) {sorted(row)[n_columns:]}")
    for i, code in enumerate(co.sic_codes[:4], start=1):
        row[f"SICCode.SicText_{i}"] = sic_text(code)
    if not co.sic_codes:
        row["SICCode.SicText_1"] = "None Supplied"
    for i, (when, name) in enumerate(co.previous_names[:10], start=1):
        row[f"PreviousName_{i}.CONDATE"] = _ch_date(when)
        row[f"PreviousName_{i}.CompanyName"] = name
    if co.number.startswith(("CE", "RS", "IP")):
        if co.number.startswith(("RS", "IP")) and rng.random() < 0.4:
            row["ConfStmtNextDueDate"] = "15/01/2017"
        return [row[c.strip()] for c in COMPANIES_HOUSE_HEADER]
    if rng.random() < 0.08:
        row["Mortgages.NumMortCharges"] = row["Mortgages.NumMortOutstanding"] = str(rng.randint(1, 3))
    ref_month, ref_day = rng.choice([(3, 31), (3, 31), (12, 31), (9, 30), (6, 30), (8, 31),
                                     (co.incorporation_date.month, 28)])
    row["Accounts.AccountRefDay"], row["Accounts.AccountRefMonth"] = str(ref_day), str(ref_month)
    # The last reference date whose filing deadline (9 months on) has passed.
    last = None
    year = today.year
    while year > co.incorporation_date.year:
        candidate = date(year, ref_month, ref_day)
        if candidate > co.incorporation_date + timedelta(days=300) and add_months(candidate, 9) < today:
            last = candidate
            break
        year -= 1
    if last and co.accounts_overdue:
        last = date(last.year - 1, ref_month, ref_day)
        if last <= co.incorporation_date + timedelta(days=300):
            last = None
    if last:
        row["Accounts.LastMadeUpDate"] = _ch_date(last)
        row["Accounts.NextDueDate"] = _ch_date(add_months(date(last.year + 1, ref_month, ref_day), 9))
        row["Accounts.AccountCategory"] = co.accounts_category
    else:
        row["Accounts.NextDueDate"] = _ch_date(add_months(co.incorporation_date, 21))
    if co.incorporation_date < date(2016, 6, 30):
        made_up = _anniversary_before(co.incorporation_date, date(2016, 6, 29))
        if made_up:
            row["Returns.LastMadeUpDate"] = _ch_date(made_up)
            row["Returns.NextDueDate"] = _ch_date(made_up + timedelta(days=393))
    else:
        row["Returns.NextDueDate"] = _ch_date(co.incorporation_date + timedelta(days=393))
    made_up = _anniversary_before(co.incorporation_date, today - timedelta(days=20))
    if made_up:
        row["ConfStmtLastMadeUpDate"] = _ch_date(made_up)
        row["ConfStmtNextDueDate"] = _ch_date(made_up + timedelta(days=379))
    else:
        row["ConfStmtNextDueDate"] = _ch_date(co.incorporation_date + timedelta(days=379))
    return [row[c.strip()] for c in COMPANIES_HOUSE_HEADER]


def company_rows(companies: list[Company], seed: int) -> Iterator[str]:
    yield _csv_line(COMPANIES_HOUSE_HEADER, quote_all=False)
    for co in sorted(companies, key=lambda c: (c.name, c.number)):
        yield _csv_line(company_fields(co, seed), quote_all=True)


def _csv_line(values: list[str], *, quote_all: bool, terminator: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
               lineterminator=terminator).writerow(values)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- ONS postcodes
_NHSER = {"E12000002": "E40000010", "E12000007": "E40000003", "E12000003": "E40000012"}
_EER = {"E12000002": "E15000002", "E12000007": "E15000007", "E12000003": "E15000003"}


def _pcd7(pcds: str) -> str:
    outward, inward = pcds.split(" ")
    return outward.ljust(4) + inward


def _pcd8(pcds: str) -> str:
    outward, inward = pcds.split(" ")
    return outward.ljust(5) + inward


def onspd_line(r: PostcodeRow, index: int) -> str:
    la, ward = r.ward.la, r.ward
    east = int(400000 + (r.long + 2) * 66600)
    north = int((r.lat - 49.89) * 111200)
    lsoa_n = int(r.lsoa[3:])
    values = {
        "pcd7": _pcd7(r.pcds), "pcd8": _pcd8(r.pcds), "pcds": r.pcds, "dointr": r.dointr, "doterm": r.doterm,
        "cty25cd": "E99999999", "ced25cd": "E99999999", "lad25cd": la.code, "wd25cd": ward.code,
        "parncp25cd": f"E43000{int(la.code[-3:]):03d}", "usrtypind": r.usertype, "east1m": str(east),
        "north1m": f"{north:07d}", "gridind": "1", "hlth19cd": f"E38{la.code[-6:]}",
        "nhser24cd": _NHSER[la.region_code], "ctry25cd": "E92000001", "rgn25cd": la.region_code,
        "ssr95cd": "0", "pcon24cd": f"E14001{int(ward.code[-3:]):03d}", "eer20cd": _EER[la.region_code],
        "educ23cd": la.code, "ttwa15cd": f"E30000{int(la.code[-3:]):03d}", "pco19cd": f"E16{la.code[-6:]}",
        "itl25cd": la.code, "wdstl05cd": "99ZZ00", "oa01cd": f"E00{lsoa_n * 5 + index % 5:06d}",
        "wdcas03cd": "99ZZ00", "npark16cd": "E65000001", "lsoa01cd": r.lsoa, "msoa01cd": f"E02{lsoa_n // 5:06d}",
        "ruc01ind": "5", "oac01ind": "3C2", "oa11cd": f"E00{lsoa_n * 5 + index % 5:06d}", "lsoa11cd": r.lsoa,
        "msoa11cd": f"E02{lsoa_n // 5:06d}", "wz11cd": f"E33{lsoa_n * 3:06d}", "sicbl24cd": f"E38{la.code[-6:]}",
        "bua24cd": f"E63{int(la.code[-3:]) * 10:06d}", "ruc11ind": "A1", "oac11ind": "1C3",
        "lep21cd1": "E37000022", "lep21cd2": "", "pfa23cd": "E23000004", "cal24cd": "E56000001",
        "icb23cd": "E54000008", "oa21cd": f"E00{lsoa_n * 5 + index % 5:06d}", "lsoa21cd": r.lsoa,
        "msoa21cd": f"E02{lsoa_n // 5:06d}", "ruc21ind": "UN1",
    }
    parts = []
    for column in ONSPD_2025_HEADER:
        if column == "lat":
            parts.append(f"{r.lat:.6f}")
        elif column == "long":
            parts.append(f"{r.long:.6f}")
        elif column == "imd20ind":
            parts.append(str(r.imd))
        else:
            parts.append('"' + values[column] + '"')
    return ",".join(parts) + "\n"


def onspd_rows(geo: Geography) -> Iterator[str]:
    yield ",".join(ONSPD_2025_HEADER) + "\n"
    for index, row in enumerate(sorted(geo.rows, key=lambda r: _pcd7(r.pcds))):
        yield onspd_line(row, index)


def ward_lookup_rows(geo: Geography) -> Iterator[str]:
    yield "WD25CD,WD25NM,WD25NMW\n"
    for ward in sorted(geo.wards, key=lambda w: w.code):
        yield _csv_line([ward.code, ward.name, ""], quote_all=False)


def la_lookup_rows(geo: Geography) -> Iterator[str]:
    yield "LAD25CD,LAD25NM,LAD25NMW\n"
    seen = {}
    for ward in geo.wards:
        seen[ward.la.code] = ward.la.name
    for code in sorted(seen):
        yield _csv_line([code, seen[code], ""], quote_all=False)


# ---------------------------------------------------------------------------------------------- FCA mutuals
def society_rows(societies: list[Society]) -> Iterator[str]:
    yield _csv_line(FCA_SOCIETY_HEADER, quote_all=False, terminator="\r\n")
    for s in sorted(societies, key=lambda s: (int(s.number), s.suffix)):
        yield _csv_line([s.number, s.suffix, s.full_number, s.name, s.registered_as, s.address,
                         _ch_date(s.registration_date), _ch_date(s.deregistration_date), s.act, s.sic,
                         s.reporting_classification, s.status], quote_all=False, terminator="\r\n")


# ---------------------------------------------------------------------------------------------- ground truth
def truth_lines(rows: list[TruthRow]) -> Iterator[str]:
    yield ",".join(TRUTH_COLUMNS) + "\n"
    for t in sorted(rows, key=lambda t: (t.truth_org_id, t.source, t.record_key)):
        values = [getattr(t, c) for c in TRUTH_COLUMNS]
        yield _csv_line([("true" if v else "false") if isinstance(v, bool) else str(v) for v in values],
                        quote_all=False)
