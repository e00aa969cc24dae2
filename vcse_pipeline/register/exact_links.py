"""Exact links: pairs of register records that share an identifier (a charity's company number, a society number,
a specific website or email address), found by SQL joins over `_register_records`: sql/links/exact_links.sql,
with the identifier keys of sql/macros/20_identifiers.sql. docs/linking.md describes the methods.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ..db import run_sql_file, sql_file

LINK_COLUMNS = ["left_record", "right_record", "method", "score", "evidence"]


def find_exact_links(con: duckdb.DuckDBPyConnection, linking: dict) -> pd.DataFrame:
    """Every exact link among all staged records (nationally): the area is chosen later."""
    run_sql_file(con, sql_file("links/exact_links.sql"), {
        "generic_contact_domains": [str(d).lower() for d in linking.get("generic_contact_domains", [])],
        "max_records_sharing_contact": int(linking.get("max_records_sharing_contact", 2))})
    return con.execute("SELECT * FROM _exact_links").df()[LINK_COLUMNS]
