"""The staged rows an area build reads beyond its records (names, finances, filing, classifications, charity texts,
postcode coordinates), selected once for every area instead of scanning a national staging table per area.

Each fact is a staging table and how a source record keys it (a charity's organisation number, a company number, a
society number, a postcode). The national state (register/national.py) holds, for every area it covers, the rows of
each fact table keyed by the area's source records: `area_<fact>` (area_code + the staging table's columns,
sorted by area, then in staging order, so an area reads a few row groups; only the columns the area SQL reads). Per
area, `select_area_facts` makes `_area_<fact>` temp views (only the area's rows): over the national state when it
covers the area, else over staging. The SQL of sql/enrich, sql/reference and sql/links/record_names.sql reads those.

An area's rows are exactly what a join of its source_record rows to the staging table finds, duplicates included:
every organisation, name and member of an area comes from its source records.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb

from ..db import sql_literal
from .area import national_covers, operation_codes

FACTS_AREA = "_area_facts_area"  # a view naming the area the _area_<fact> views select
CHARITY_NUMBER = "TRY_CAST(split_part(s.record_id, ':', 2) AS BIGINT)"
REGISTER_NUMBER = "split_part(s.record_id, ':', 2)"
CHARITY = "s.source = 'charity_commission'"
COMPANY = "s.source = 'companies_house'"
SOCIETY = "s.source = 'fca_mutuals'"


class Fact(NamedTuple):
    table: str           # the staging table
    key: str             # its column a source record keys
    record_key: str      # that key for a source record `s`
    has_key: str         # which source records have one
    columns: tuple[str, ...]  # what the area SQL reads (the key first)


FACTS = {
    "charity": Fact("charity_commission.charity", "organisation_number", CHARITY_NUMBER, CHARITY, (
        "organisation_number", "charity_insolvent", "charity_in_administration", "charity_reporting_status",
        "charity_activities")),
    "charity_other_names": Fact("charity_commission.charity_other_names", "organisation_number", CHARITY_NUMBER,
                                CHARITY, ("organisation_number", "charity_name", "charity_name_type",
                                          "charity_name_id")),
    "charity_governing_document": Fact("charity_commission.charity_governing_document", "organisation_number",
                                       CHARITY_NUMBER, CHARITY, ("organisation_number", "charitable_objects")),
    "charity_classification": Fact("charity_commission.charity_classification", "organisation_number",
                                   CHARITY_NUMBER, CHARITY, ("organisation_number", "classification_type",
                                                             "classification_code", "classification_description")),
    "charity_annual_return_history": Fact("charity_commission.charity_annual_return_history", "organisation_number",
                                          CHARITY_NUMBER, CHARITY, (
        "organisation_number", "fin_period_end_date", "total_gross_income", "total_gross_expenditure",
        "reporting_due_date", "date_annual_return_received", "date_accounts_received")),
    "charity_annual_return_parta": Fact("charity_commission.charity_annual_return_parta", "organisation_number",
                                        CHARITY_NUMBER, CHARITY, (
        "organisation_number", "fin_period_end_date", "income_from_government_contracts",
        "income_from_government_grants", "count_volunteers")),
    "charity_annual_return_partb": Fact("charity_commission.charity_annual_return_partb", "organisation_number",
                                        CHARITY_NUMBER, CHARITY, ("organisation_number", "fin_period_end_date",
                                                                  "count_employees")),
    "company": Fact("companies_house.company", "company_number", REGISTER_NUMBER, COMPANY, (
        "company_number", "company_status", "accounts_next_due_date", "conf_stmt_next_due_date", "dissolution_date")),
    "company_sic": Fact("companies_house.company_sic", "company_number", REGISTER_NUMBER, COMPANY,
                        ("company_number", "sic_code", "sic_description")),
    "company_previous_name": Fact("companies_house.company_previous_name", "company_number", REGISTER_NUMBER, COMPANY,
                                  ("company_number", "previous_name", "position")),
    "society": Fact("fca_mutuals.society", "registration_number", REGISTER_NUMBER, SOCIETY,
                    ("registration_number", "sic_code")),
    "postcode": Fact("postcodes.postcode", "postcode", "s.postcode", "s.postcode IS NOT NULL",
                     ("postcode", "lad_code", "ward_code", "lat", "long")),
}


def write_area_facts(con: duckdb.DuckDBPyConnection, database: str, area_records: str) -> None:
    """Create `area_<fact>` in `database` for every area of `area_records` (area_code + source_record columns)."""
    for name, fact in FACTS.items():
        con.execute(f"""
            CREATE TABLE {database}.area_{name} AS
            SELECT k.area_code, {', '.join('t.' + c for c in fact.columns)} FROM (
                SELECT DISTINCT s.area_code, {fact.record_key} AS _key FROM {area_records} s WHERE {fact.has_key}
            ) k JOIN {fact.table} t ON t.{fact.key} = k._key
            ORDER BY k.area_code, t.rowid
        """)


def select_area_facts(con: duckdb.DuckDBPyConnection, area_code: str, national: bool) -> None:
    """(Re)create the `_area_<fact>` temp views for one area whose source_record rows are written: over the national
    state's area tables when it covers the area (`national`: area.national_covers), else over staging. Views, not
    copies: the SQL reading them reads the area's row groups once. One statement list, one round trip."""
    from .national import SCHEMA

    operation_codes(area_code)  # a GSS code (checked), so safe as a literal in the views
    area = sql_literal(area_code)
    views = []
    for name, fact in FACTS.items():
        columns = ", ".join(fact.columns)
        if national:
            body = f"SELECT {columns} FROM {SCHEMA}.area_{name} WHERE area_code = {area}"
        else:
            body = (f"SELECT {columns} FROM {fact.table} WHERE {fact.key} IN "
                    f"(SELECT {fact.record_key} FROM source_record s WHERE s.area_code = {area} AND {fact.has_key})")
        views.append(f"CREATE OR REPLACE TEMP VIEW _area_{name} AS {body};")
    views.append(f"CREATE OR REPLACE TEMP VIEW {FACTS_AREA} AS SELECT {area} AS area_code;")
    con.execute("\n".join(views))


def ensure_area_facts(con: duckdb.DuckDBPyConnection, area_code: str) -> None:
    """select_area_facts unless the views already select `area_code` (build_area made them)."""
    try:
        held = con.execute(f"SELECT area_code FROM {FACTS_AREA}").fetchall()
    except duckdb.CatalogException:
        held = None
    if held != [(area_code,)]:
        select_area_facts(con, area_code, national_covers(con, area_code))
