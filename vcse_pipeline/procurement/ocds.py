"""Read contract notices published in the Open Contracting Data Standard (OCDS), as Contracts Finder and Find a
Tender publish them: the releases in a file, and what a release says (its phase, CPV codes, value, delivery regions).

Dates are read as moments (ocds.as_datetime; one without a zone is UTC) and shown in UK time; a value keeps its
currency, and an award's is what was awarded (notice_value).

Pure reading of the notice's JSON: no database. Matching a notice to providers is opportunities.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import PipelineError


def read_releases(path: str | Path) -> tuple[list[dict], list[str]]:
    """(releases, skipped) of a release JSON or a release package (`releases`): skipped says, for each entry that is
    no release (not a JSON object, or an object with neither id nor ocid), which entry it was and why."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise PipelineError(f"notice file {path} not found") from None
    except IsADirectoryError:
        raise PipelineError(f"notice file {path} is a folder: give the OCDS JSON file inside it") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"notice file {path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("releases"), list):
        releases, skipped = [], []
        for n, r in enumerate(data["releases"], start=1):
            if not isinstance(r, dict):
                skipped.append(f"entry {n} of releases is not a JSON object ({type(r).__name__})")
            elif not (r.get("id") or r.get("ocid")):
                skipped.append(f"entry {n} of releases has neither an id nor an ocid")
            else:
                releases.append(r)
        return releases, skipped
    if isinstance(data, dict) and ("tender" in data or "ocid" in data):
        return [data], []
    raise PipelineError(f"notice file {path} is neither an OCDS release nor a release package with 'releases'")


def _read_releases(path: str | Path) -> list[dict]:
    return read_releases(path)[0]


def load_release(path: str | Path, release_id: str | None = None) -> dict:
    """One OCDS release from a release JSON or a release package (`releases`), chosen by id or ocid."""
    releases = _read_releases(path)
    if release_id:
        chosen = [r for r in releases if release_id in (r.get("id"), r.get("ocid"))]
        if not chosen:
            raise PipelineError(f"notice file {path} has no release with id or ocid {release_id!r}; "
                                f"list them with `vcse opportunities list {path}`")
        return _latest(chosen)  # the latest release of an ocid
    if len({r.get("ocid") or r.get("id") for r in releases}) > 1:
        shown = "\n".join(f"  {r.get('id')}  {release_tender(r).get('title') or '(no title)'} "
                           f"({notice_phase(r)['phase']})" for r in releases[:5])
        more = f"\n  ... and {len(releases) - 5} more" if len(releases) > 5 else ""
        raise PipelineError(f"notice file {path} holds {len(releases)} releases: pick one with --release-id ID, "
                            f"e.g.\n{shown}{more}\nSee them all with `vcse opportunities list {path}`.")
    if not releases:
        raise PipelineError(f"notice file {path} holds no releases")
    return _latest(releases)


def release_order(release: dict) -> tuple[datetime, str]:
    """Where a release comes among its ocid's: by date, compared as moments whatever their zone ("12:30+02:00" is
    before "11:00Z"; no date first), then by id."""
    return as_datetime(release.get("date")) or datetime.min.replace(tzinfo=UTC), str(release.get("id") or "")


def _latest(releases: list[dict]) -> dict:
    """The latest of an ocid's releases (release_order)."""
    return max(releases, key=release_order)


def describe_releases(releases: list[dict], today: date | datetime | None = None,
                      details: bool = False) -> list[dict]:
    """One row per release: what an officer needs to pick one (id, title, stage, deadline..., the value as published
    and the notice_phase warning, e.g. a deadline already passed; the phase in the column "stage", as shown). The
    warning also says when the value is not in pounds and when a later release of the same ocid supersedes this one.
    With `details`, also: value_text, currency, value_basis (awarded or estimated), lots, milestone (the planning
    notice's next or last milestone: planning_milestone) and superseded_by (the later release's id)."""
    latest = {}
    for r in releases:
        if r.get("ocid"):
            latest.setdefault(r["ocid"], []).append(r)
    latest = {ocid: _latest(rs) for ocid, rs in latest.items()}
    rows = []
    for r in releases:
        tender = release_tender(r)
        phase = notice_phase(r, today)
        value = notice_value(r)
        suitability = tender.get("suitability") if isinstance(tender.get("suitability"), dict) else {}
        buyer = r.get("buyer") if isinstance(r.get("buyer"), dict) else {}
        newer = latest.get(r.get("ocid"))
        superseded_by = newer.get("id") if newer is not None and newer is not r else None
        notes = [phase["warning"]]
        if value["amount"] and value["currency"] != "GBP":
            notes.append(f"the value is in {value['currency']}, not pounds" if value["currency"] else
                         "the value's currency is not stated")
        if superseded_by:
            notes.append(f"superseded by release {superseded_by} of the same procurement")
        row = {"id": r.get("id"), "ocid": r.get("ocid"), "title": tender.get("title"),
               "buyer": buyer.get("name"), "stage": phase["phase"], "tender_status": phase["tender_status"],
               "deadline": phase["deadline"], "tender_expected": phase["tender_expected"],
               "regions": delivery_regions(r), "suitable_for_vcse": suitability.get("vcse"),
               "value": value["amount"], "warning": "; ".join(n for n in notes if n) or None}
        if details:
            row.update(value_text=value_text(r), currency=value["currency"], value_basis=value["basis"],
                       lots=value["lots"], milestone=planning_milestone(r, today), superseded_by=superseded_by)
        rows.append(row)
    return rows


def list_releases(path: str | Path, today: date | datetime | None = None) -> list[dict]:
    """describe_releases of the releases in a notice file (entries that are no release left out: read_releases)."""
    return describe_releases(read_releases(path)[0], today)


# NUTS1 / ITL1 regions of the UK: a delivery region published as a code (UKL14, TLD7) is shown with its name.
REGION_NAMES = {"C": "North East", "D": "North West", "E": "Yorkshire and The Humber", "F": "East Midlands",
                "G": "West Midlands", "H": "East of England", "I": "London", "J": "South East", "K": "South West",
                "L": "Wales", "M": "Scotland", "N": "Northern Ireland"}
_REGION_CODE = re.compile(r"^(?:UK|TL)([C-N])[0-9A-Z]{0,3}$")


def region_label(region: str) -> str:
    """A NUTS/ITL code with its region's name ("UKL14" -> "UKL14 (Wales)"); anything else as published."""
    m = _REGION_CODE.match(str(region).strip().upper())
    return f"{region} ({REGION_NAMES[m.group(1)]})" if m else str(region)


def delivery_regions(release: dict) -> list[str]:
    """The items' delivery regions (else postcodes), as published, no repeats; when no delivery address gives a
    region or postcode, the countries they name (delivery_countries: "Guernsey", "Jersey")."""
    found: list[str] = []
    for item in tender_items(release_tender(release)):
        for a in [a for a in item.get("deliveryAddresses") or [] if isinstance(a, dict)]:
            where = a.get("region") or a.get("postalCode")
            if where and str(where) not in found:
                found.append(str(where))
    return found or delivery_countries(release)


# Contracts Finder lets a buyer tick every place it offers; such a notice lists all of these as delivery addresses
# (45 of the 290 reference releases), which says nothing about where the work is.
EVERY_COUNTRY = frozenset({"united kingdom", "british oversea territories", "channel islands", "europe",
                           "isle of man", "rest of the world"})


def delivery_countries(release: dict) -> list[str]:
    """The countries the items' delivery addresses name (`countryName`), as published, no repeats; none when they
    are Contracts Finder's list of every place it offers (EVERY_COUNTRY)."""
    found: list[str] = []
    for item in tender_items(release_tender(release)):
        for a in [a for a in item.get("deliveryAddresses") or [] if isinstance(a, dict)]:
            country = str(a.get("countryName") or "").strip()
            if country and country not in found:
                found.append(country)
    return [] if EVERY_COUNTRY <= {c.lower() for c in found} else found


# OCDS release tags (codelist releaseTag) grouped into the phases an officer knows. "Phase", not OCDS's "phase":
# staging is what the pipeline does to a source; the phase is still shown to users as the notice's "phase".
PHASE_BY_TAG = {"planning": "planning", "planningUpdate": "planning", "tender": "tender",
                "tenderAmendment": "tender", "tenderUpdate": "tender", "tenderCancellation": "cancelled",
                "award": "award", "awardUpdate": "award", "awardCancellation": "cancelled", "contract": "contract",
                "contractUpdate": "contract", "contractAmendment": "contract", "implementation": "contract",
                "implementationUpdate": "contract", "contractTermination": "contract", "compiled": "unknown"}
LET = "the contract has been let; shortlist shown for reference"


def notice_phase(release: dict, today: date | datetime | None = None) -> dict:
    """{phase, tender_status, deadline, tender_expected, warning} from the release's `tag` and tender.status, on
    `today` (a day, or a moment: see passed; default now).

    The phase is the latest one the tags name; a cancelled, withdrawn or unsuccessful tender, an award, a contract,
    a deadline already passed or a planning notice whose tender was expected by a date already passed carries a
    warning, so nobody mistakes the shortlist for an open opportunity."""
    tender = release_tender(release)
    tags = release.get("tag") if isinstance(release.get("tag"), list) else [release.get("tag")]
    order = ["unknown", "planning", "tender", "award", "contract", "cancelled"]
    phase = max((PHASE_BY_TAG.get(str(t), "unknown") for t in tags if t), key=order.index, default="unknown")
    status = tender.get("status")
    if status in ("cancelled", "unsuccessful", "withdrawn"):
        phase = "cancelled"
    elif phase == "unknown" and status in ("planning", "planned", "active", "complete"):
        phase = {"planning": "planning", "planned": "planning", "active": "tender", "complete": "award"}[status]
    period = tender.get("tenderPeriod") if isinstance(tender.get("tenderPeriod"), dict) else {}
    deadline = period.get("endDate")
    communication = tender.get("communication") if isinstance(tender.get("communication"), dict) else {}
    expected = communication.get("futureNoticeDate") if phase == "planning" else None
    warning = None
    if phase == "award":
        warning = f"this notice is an award: {LET}"
    elif phase == "contract":
        warning = f"this notice records a signed contract: {LET}"
    elif phase == "cancelled":
        warning = f"this notice was {status or 'cancelled'}: there is nothing to bid for; shortlist shown for reference"
    elif phase == "tender" and passed(deadline, today):
        warning = f"the deadline ({str(deadline)[:10]}) has passed; shortlist shown for reference"
    elif phase == "planning" and passed(expected, today):
        warning = (f"the tender was expected by {str(expected)[:10]}, which has passed: look for its tender or award "
                   "notice before acting on this shortlist")
    elif phase == "planning" and (milestone := planning_milestone(release, today)) and milestone["passed"]:
        warning = (f"the {milestone['title'][:1].lower() + milestone['title'][1:]} ({str(milestone['due'])[:10]}) "
                   "has passed: look for its tender or award notice before acting on this shortlist")
    return {"phase": phase, "tender_status": status, "deadline": deadline, "tender_expected": expected,
            "warning": warning}


def planning_milestone(release: dict, today: date | datetime | None = None) -> dict | None:
    """The notice's next milestone with a due date (planning.milestones, then tender.milestones: e.g. a planning
    notice's "Engagement end date"), else its last one when all have passed: {title, due, passed}; None without any.
    """
    found = []
    for holder in (release.get("planning"), release_tender(release)):
        milestones = holder.get("milestones") if isinstance(holder, dict) else None
        for m in milestones if isinstance(milestones, list) else []:
            if isinstance(m, dict) and as_datetime(m.get("dueDate")):
                found.append({"title": str(m.get("title") or m.get("type") or "milestone"), "due": m["dueDate"],
                              "passed": passed(m["dueDate"], today)})
    if not found:
        return None
    found.sort(key=lambda m: as_datetime(m["due"]))
    return next((m for m in found if not m["passed"]), found[-1])


def release_tender(release: dict) -> dict:
    tender = release.get("tender")
    return tender if isinstance(tender, dict) else {}


def tender_items(tender: dict) -> list[dict]:
    return [i for i in tender.get("items") or [] if isinstance(i, dict)]


def cpv_codes(release: dict) -> list[str]:
    """The notice's CPV codes (8 digits, check digit dropped), main classification first, no repeats."""
    tender = release_tender(release)
    classifications = [tender.get("classification"), *(tender.get("additionalClassifications") or [])]
    for item in tender_items(tender):
        classifications += [item.get("classification"), *(item.get("additionalClassifications") or [])]
    codes: list[str] = []
    for c in classifications:
        if not isinstance(c, dict) or str(c.get("scheme", "CPV")).upper() != "CPV":
            continue
        digits = re.sub(r"[^0-9]", "", str(c.get("id", "")).split("-")[0])[:8]
        if len(digits) == 8 and digits not in codes:
            codes.append(digits)
    return codes


UK_TIME = ZoneInfo("Europe/London")


def as_datetime(text) -> datetime | None:
    """An OCDS date-time as an aware datetime (one published without a zone is taken as UTC); None when absent or
    unreadable. A bare date is midnight UTC of that day."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def passed(text, today: date | datetime | None = None) -> bool:
    """Whether the date-time `text` is before `today`: a moment (datetime; naive is UTC; default now) is compared
    with the full date-time, so a deadline of 09:00 has passed at 13:55 the same day; a day (date) with the
    deadline's day in UK time. A bare date (no time) lasts to the end of its day."""
    when = as_datetime(text)
    if when is None:
        return False
    day = when.date() if len(str(text).strip()) == 10 else when.astimezone(UK_TIME).date()
    if today is None or isinstance(today, datetime):
        now = today or datetime.now(UTC)
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        return day < now.astimezone(UK_TIME).date() if len(str(text).strip()) == 10 else when < now
    return day < today


def _as_date(text) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _amount(value) -> tuple[float, str | None] | None:
    """(amount, currency) of an OCDS Value object with a positive amount; the currency upper-cased, None when the
    notice does not state it."""
    amount = value.get("amount") if isinstance(value, dict) else None
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= 0:
        return None
    currency = value.get("currency")
    return float(amount), (str(currency).strip().upper() or None) if currency else None


def _years(period) -> float | None:
    """A contractPeriod's length in years (at least 1, to one decimal): its start and end dates, else its
    durationInDays; None when it states neither."""
    if not isinstance(period, dict):
        return None
    start, end = _as_date(period.get("startDate")), _as_date(period.get("endDate"))
    if start and end and end > start:
        days = (end - start).days
    else:
        days = period.get("durationInDays")
        if isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0:
            return None
    return max(1.0, round(days / 365.25, 1))


def _one_currency(found: list[tuple[float, str | None]]) -> tuple[float, str | None] | None:
    """The sum of amounts in one currency; None when they are in more than one (they cannot be added)."""
    currencies = {c for _a, c in found}
    return (sum(a for a, _c in found), currencies.pop()) if len(currencies) == 1 else None


def notice_value(release: dict) -> dict:
    """What the notice says it is worth: {amount, currency, basis, years, annual, lots}.

    basis is "awarded" for an award or contract notice whose awards state a value (their sum, cancelled and
    unsuccessful awards left out), else "estimated" (tender.value, else tender.minValue, else the lots' values
    summed), None without a value. currency is as published ("GBP", "EUR"; None when not stated). years is the
    contract term: tender.contractPeriod (start and end, else durationInDays), else the longest of the lots' (or,
    for an award, the awards') contractPeriod; annual = amount / years (the amount itself without a term). lots
    holds each lot with a value or term: {id, title, amount, currency, years, annual}, so a notice for several
    lots can be judged by the size of one."""
    tender = release_tender(release)
    raw_lots = [lot for lot in tender.get("lots") or [] if isinstance(lot, dict)]
    lots = []
    for lot in raw_lots:
        money, years = _amount(lot.get("value")), _years(lot.get("contractPeriod"))
        if money or years:
            lots.append({"id": lot.get("id"), "title": lot.get("title"), "amount": money[0] if money else None,
                         "currency": money[1] if money else None, "years": years,
                         "annual": money[0] / (years or 1.0) if money else None})
    awards = [a for a in release.get("awards") or [] if isinstance(a, dict)
              and a.get("status") not in ("cancelled", "unsuccessful")]
    years = _years(tender.get("contractPeriod")) or max(
        (y for y in [lot["years"] for lot in lots] + [_years(a.get("contractPeriod")) for a in awards] if y),
        default=None)
    money, basis = None, None
    awarded = [m for m in (_amount(a.get("value")) for a in awards) if m]
    if notice_phase(release, date.max)["phase"] in ("award", "contract") and awarded:
        money, basis = _one_currency(awarded), "awarded"
    if money is None:
        money = _amount(tender.get("value")) or _amount(tender.get("minValue")) or (
            _one_currency([(lot["amount"], lot["currency"]) for lot in lots if lot["amount"]])
            if any(lot["amount"] for lot in lots) else None)
        basis = "estimated" if money else None
    amount, currency = money or (None, None)
    return {"amount": amount, "currency": currency, "basis": basis, "years": years,
            "annual": amount / (years or 1.0) if amount else None, "lots": lots}


def contract_value(release: dict) -> tuple[float | None, float | None, float | None]:
    """(total value, annual value, contract years) in pounds, for judging a contract's size against a provider's
    income: notice_value's (the awarded value for an award or contract notice; the term from contractPeriod's dates
    or durationInDays, the tender's or its lots'). A value in another currency, or with none stated, is no amount in
    pounds: (None, None, years). Without a contract period the value is taken as annual."""
    value = notice_value(release)
    if value["amount"] is None or value["currency"] != "GBP":
        return None, None, value["years"]
    return value["amount"], value["annual"], value["years"]


# A value under one pound is a placeholder a form demanded (Contracts Finder notices state £0.01), not an estimate:
# shown as nominal, never as "£0", and not compared with a provider's income (opportunities: size not assessed).
NOMINAL_BELOW = 1.0


def is_nominal(amount: float | None) -> bool:
    """Whether a stated amount is only a placeholder (under NOMINAL_BELOW: £0.01)."""
    return amount is not None and 0 < amount < NOMINAL_BELOW


def _money(amount: float, currency: str | None) -> str:
    if is_nominal(amount):   # £0.01, as published: whole pounds would read "£0"
        shown = f"£{amount:.2f}" if currency == "GBP" else f"{amount:.2f} {currency or '(currency not stated)'}"
        return f"nominal {shown}"
    if currency == "GBP":
        return f"£{amount:,.0f}"
    return f"{amount:,.0f} {currency}" if currency else f"{amount:,.0f} (currency not stated)"


def value_text(release: dict) -> str:
    """notice_value in words: '£1,400,000 awarded', '£20,000,000 over 3.9 years (£5,128,205 a year); 4 lots,
    the largest £5,000,000 over 3.9 years', '150,000 EUR', 'nominal £0.01 over 2 years' (a placeholder: is_nominal),
    'value not stated'."""
    value = notice_value(release)
    if value["amount"] is None:
        return "value not stated"
    text = _money(value["amount"], value["currency"]) + (" awarded" if value["basis"] == "awarded" else "")
    if value["years"] and is_nominal(value["amount"]):   # no a-year share of a placeholder
        text += f" over {value['years']:g} year{'' if value['years'] == 1 else 's'}"
    elif value["years"]:
        years = value["years"]
        text += (f" over {years:g} year{'' if years == 1 else 's'} "
                 f"({_money(value['annual'], value['currency'])} a year)")
    priced = [lot for lot in value["lots"] if lot["amount"]]
    if len(priced) > 1:
        largest = max(priced, key=lambda lot: lot["amount"])
        text += f"; {len(priced)} lots, the largest {_money(largest['amount'], largest['currency'])}" + (
            f" over {largest['years']:g} year{'' if largest['years'] == 1 else 's'}" if largest["years"] else "")
    return text
