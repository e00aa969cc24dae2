"""Read contract notices published in the Open Contracting Data Standard (OCDS), as Contracts Finder and Find a
Tender publish them: the releases in a file, and what a release says (its phase, CPV codes, value, delivery regions).

Pure reading of the notice's JSON: no database. Matching a notice to providers is opportunities.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import PipelineError


def _read_releases(path: str | Path) -> list[dict]:
    """Every release in a release JSON or a release package (`releases`)."""
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
        return [r for r in data["releases"] if isinstance(r, dict)]
    if isinstance(data, dict) and ("tender" in data or "ocid" in data):
        return [data]
    raise PipelineError(f"notice file {path} is neither an OCDS release nor a release package with 'releases'")


def load_release(path: str | Path, release_id: str | None = None) -> dict:
    """One OCDS release from a release JSON or a release package (`releases`), chosen by id or ocid."""
    releases = _read_releases(path)
    if release_id:
        chosen = [r for r in releases if release_id in (r.get("id"), r.get("ocid"))]
        if not chosen:
            raise PipelineError(f"notice file {path} has no release with id or ocid {release_id!r}; "
                                f"list them with `vcse opportunities list {path}`")
        return max(chosen, key=lambda r: str(r.get("date") or ""))  # the latest release of an ocid
    if len({r.get("ocid") or r.get("id") for r in releases}) > 1:
        shown = "\n".join(f"  {r.get('id')}  {release_tender(r).get('title') or '(no title)'} "
                           f"({notice_phase(r)['phase']})" for r in releases[:5])
        more = f"\n  ... and {len(releases) - 5} more" if len(releases) > 5 else ""
        raise PipelineError(f"notice file {path} holds {len(releases)} releases: pick one with --release-id ID, "
                            f"e.g.\n{shown}{more}\nSee them all with `vcse opportunities list {path}`.")
    if not releases:
        raise PipelineError(f"notice file {path} holds no releases")
    return max(releases, key=lambda r: str(r.get("date") or ""))


def list_releases(path: str | Path, today: date | None = None) -> list[dict]:
    """One row per release in a notice file: what an officer needs to pick one (id, title, stage, deadline...,
    and the notice_phase warning, e.g. a deadline already passed); the phase in the column "stage", as shown."""
    rows = []
    for r in _read_releases(path):
        tender = release_tender(r)
        phase = notice_phase(r, today)
        value, _annual, _years = contract_value(r)
        suitability = tender.get("suitability") if isinstance(tender.get("suitability"), dict) else {}
        buyer = r.get("buyer") if isinstance(r.get("buyer"), dict) else {}
        rows.append({"id": r.get("id"), "ocid": r.get("ocid"), "title": tender.get("title"),
                     "buyer": buyer.get("name"), "stage": phase["phase"], "tender_status": phase["tender_status"],
                     "deadline": phase["deadline"], "tender_expected": phase["tender_expected"],
                     "regions": delivery_regions(r),
                     "suitable_for_vcse": suitability.get("vcse"), "value": value, "warning": phase["warning"]})
    return rows


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
    """The items' delivery regions (else postcodes), as published, no repeats."""
    found: list[str] = []
    for item in tender_items(release_tender(release)):
        for a in [a for a in item.get("deliveryAddresses") or [] if isinstance(a, dict)]:
            where = a.get("region") or a.get("postalCode")
            if where and str(where) not in found:
                found.append(str(where))
    return found


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
    return {"phase": phase, "tender_status": status, "deadline": deadline, "tender_expected": expected,
            "warning": warning}


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


def contract_value(release: dict) -> tuple[float | None, float | None, float | None]:
    """(total value, annual value, contract years). Without a contract period the value is taken as annual."""
    tender = release_tender(release)
    value = None
    for key in ("value", "minValue"):
        amount = (tender.get(key) or {}).get("amount") if isinstance(tender.get(key), dict) else None
        if isinstance(amount, (int, float)) and amount > 0:
            value = float(amount)
            break
    period = tender.get("contractPeriod") or {}
    start, end = _as_date(period.get("startDate")), _as_date(period.get("endDate"))
    years = max(1.0, round((end - start).days / 365.25, 1)) if start and end and end > start else None
    if value is None:
        return None, None, years
    return value, value / (years or 1.0), years

