"""Source records: every staged register row in one shape (record_id, org-id identifier, name, legal form,
status, contact details, postcode geography), as the temporary table `_register_records`.

The SQL is in sql/staging (one staging model per source, the VCSE rule applied) and sql/records (their union with
postcode geography). The table covers the whole country; area selection and linking read it. All work stays in
DuckDB.
"""

from __future__ import annotations

import duckdb

from ..db import run_sql_dir, run_sql_file, sql_file
from .vcse_rule import rule_params

RECORDS_TABLE = "_register_records"  # made by sql/records/register_records.sql
# The columns of `_register_records` a register's source_record keeps (with its area and area membership).
SOURCE_RECORD_COLUMNS = [
    "record_id", "source", "identifier", "parent_identifier", "name", "legal_form", "is_vcse", "is_active",
    "status", "address", "postcode", "raw_postcode", "town", "website", "email", "phone", "charity_number",
    "company_number", "society_number", "latest_income", "latest_expenditure", "latest_financial_year_end",
    "date_registered", "date_removed", "lad_code", "ward_code", "ward_name", "lsoa_code", "imd_decile",
    "postcode_status"]
# source_record's columns after area_code, from records `r` LEFT JOIN area membership `a` (a record joined to the area
# only by an exact link is in it by neither postcode nor area of operation).
SOURCE_RECORD_SELECT = ", ".join(f"r.{c}" for c in SOURCE_RECORD_COLUMNS) + """,
    coalesce(a.in_area_by_postcode, FALSE) AS in_area_by_postcode,
    coalesce(a.in_area_by_operation, FALSE) AS in_area_by_operation,
    a.operation_areas"""


def build_records(con: duckdb.DuckDBPyConnection, vcse: dict, placeholders: list[str]) -> int:
    """(Re)create `_register_records` with postcode geography; returns its row count. The connection has the build
    macros (db.register_macros) and the staging files attached."""
    run_sql_dir(con, "staging", {**rule_params(vcse), "placeholder_company_numbers": [str(p) for p in placeholders]})
    run_sql_file(con, sql_file("records/register_records.sql"))
    return con.execute(f"SELECT count(*) FROM {RECORDS_TABLE}").fetchall()[0][0]
