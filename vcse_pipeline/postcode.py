"""UK postcode normalisation, in Python and as a DuckDB macro, so every step compares postcodes alike."""

from __future__ import annotations

import re

# The SQL twins of these functions are macros in sql/macros/10_postcode.sql; stage and build register them here.
from .db import register_macros  # noqa: F401

_SHAPE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")


def postcode_key(value: str | None) -> str | None:
    """Upper case with no spaces ("CH411AA"), or None when it is not shaped like a UK postcode."""
    if value is None:
        return None
    key = re.sub(r"[^A-Za-z0-9]", "", str(value)).upper()
    return key if _SHAPE.match(key) else None


def normalise_postcode(value: str | None) -> str | None:
    """The ONS `pcds` form: upper case, one space before the inward code ("CH41 1AA")."""
    key = postcode_key(value)
    return f"{key[:-3]} {key[-3:]}" if key else None


def postcode_sector(value: str | None) -> str | None:
    """Outward code plus the first inward digit ("CH41 1"): a blocking key for name matching."""
    return sector_of(normalise_postcode(value))


def postcode_district(value: str | None) -> str | None:
    """The outward code ("CH41")."""
    return district_of(normalise_postcode(value))


# The two below take a postcode already normalised ("CH41 1AA"), as matching holds them, so that code comparing
# millions of them slices each once rather than normalising it again; None (or "") gives None.
def sector_of(normalised: str | None) -> str | None:
    """The sector ("CH41 1") of a normalised postcode."""
    return normalised[:-2] if normalised else None


def district_of(normalised: str | None) -> str | None:
    """The district ("CH41") of a normalised postcode."""
    return normalised.split(" ")[0] if normalised else None
