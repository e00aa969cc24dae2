"""Per-organisation facts the procurement layer needs, copied from staging into the register file: finances by
year, filing health and classifications (sql/enrich). The published register is self-contained because staging is
detached after the build.

Reads `_org_member` (record_id, org_id, source, member_rank: 0 = canonical) made by build.py. Overdue flags and
years operating are counted at `as_of`, the run's date, so every area and worker of one run counts from the same day.
"""

from __future__ import annotations

from datetime import date

import duckdb

from ..db import run_sql_dir

MEMBERS = "_org_member"  # read by sql/enrich


COUNTED = {"finance_rows": "organisation_finance", "filing_rows": "organisation_filing",
           "classification_rows": "organisation_classification"}


def enrich(con: duckdb.DuckDBPyConnection, area_code: str, as_of: date) -> dict[str, int]:
    run_sql_dir(con, "enrich", {"area_code": area_code, "as_of": as_of})
    counts = con.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {table} WHERE area_code = $area)"
                                               for table in COUNTED.values()), {"area": area_code}).fetchall()[0]
    return dict(zip(COUNTED, counts, strict=True))
