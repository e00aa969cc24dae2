"""Per-organisation facts the procurement layer needs, copied from staging into the register file: finances by
year, filing health and classifications (sql/enrich). The published register is self-contained because staging is
detached after the build.

Run for a batch of areas at once (build.write_areas): reads `_org_member` (area_code, record_id, org_id, source,
member_rank: 0 = canonical) and `_write_areas` (the batch's areas in build order) made by build.py. Overdue flags and
years operating are counted at `as_of`, the run's date, so every area and worker of one run counts from the same day.
"""

from __future__ import annotations

from datetime import date

import duckdb

from ..db import run_sql_dir
from .area_facts import rows_by_area

MEMBERS = "_org_member"  # read by sql/enrich


COUNTED = {"finance_rows": "organisation_finance", "filing_rows": "organisation_filing",
           "classification_rows": "organisation_classification"}


def enrich(con: duckdb.DuckDBPyConnection, area_codes: list[str], as_of: date) -> dict[str, dict[str, int]]:
    """Write the enrich tables of the areas being written; returns each area's row counts."""
    run_sql_dir(con, "enrich", {"as_of": as_of})
    return rows_by_area(con, COUNTED, area_codes)
