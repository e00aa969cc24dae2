"""Grants in the 360Giving Data Standard's JSON form (`{"grants": [...]}`, as GrantNav exports them) as canonical
rows; the flat CSV/XLSX form is a layout like any payment file's (layouts.BUILT_IN, "360giving_flat")."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import SourceError
from .layouts import FIELDS
from .read import CANONICAL_HEADER, SOURCE, ReadResult

HEADERS = {"payment_date": "awardDate", "amount": "amountAwarded", "supplier_name": "recipientOrganization.name",
           "supplier_id": "recipientOrganization.id", "company_number": "recipientOrganization.companyNumber",
           "charity_number": "recipientOrganization.charityNumber",
           "supplier_postcode": "recipientOrganization.postalCode", "expense_area": "grantProgramme.title",
           "description": "title", "transaction_ref": "id"}


def is_360giving_json(path: Path) -> bool:
    """A .json file, or a file whose first non-blank byte opens a JSON object."""
    if path.suffix.lower() == ".json":
        return True
    with path.open("rb") as fh:
        return fh.read(64).lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"{")


def _first(items) -> dict:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def grant_fields(grant: dict) -> dict[str, str]:
    """One grant's canonical fields (text): the first recipient organisation, the first programme."""
    recipient = _first(grant.get("recipientOrganization"))
    programme = _first(grant.get("grantProgramme")) or _first(grant.get("fundingOrganization"))
    values = {"payment_date": str(grant.get("awardDate") or "")[:10], "amount": grant.get("amountAwarded"),
              "supplier_name": recipient.get("name"), "supplier_id": recipient.get("id"),
              "company_number": recipient.get("companyNumber"), "charity_number": recipient.get("charityNumber"),
              "supplier_postcode": recipient.get("postalCode"),
              "expense_area": programme.get("title") or programme.get("name"), "description": grant.get("title"),
              "transaction_ref": grant.get("id")}
    return {field: "" if values.get(field) is None else str(values[field]).strip() for field in FIELDS}


def write_360giving_json(path: Path, out: Path) -> ReadResult:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(SOURCE, f"not 360Giving JSON: {exc}", file=path.name) from None
    grants = data.get("grants") if isinstance(data, dict) else None
    if not isinstance(grants, list):
        raise SourceError(SOURCE, "not 360Giving JSON: no \"grants\" list at the top", file=path.name)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CANONICAL_HEADER)
        for number, grant in enumerate(grants, start=1):   # "row" is the grant's position in the list
            fields = grant_fields(grant if isinstance(grant, dict) else {})
            writer.writerow([number, *(fields[f] for f in FIELDS)])
    return ReadResult(path.name, "360giving_json", "gross", "utf-8", 0, len(grants), dict(HEADERS))
