"""Source records: every staged register row in one shape (record_id, org-id identifier, name, legal form,
status, contact details, postcode geography), as the temporary table `_register_records`.

The table covers the whole country; area selection and linking read it. All work stays in DuckDB.
"""

from __future__ import annotations

import duckdb

from ..db import sql_literal
from . import vcse_rule

RECORDS_TABLE = "_register_records"
ENGLISH_LSOAS = 32844  # LSOAs ranked by the English Indices of Deprivation 2019

# Companies House number prefixes (SC Scotland, NI Northern Ireland, CE/CS CIOs, IP/RS/SP/NP societies, ...).
COMPANY_PREFIXES = ("AC", "BR", "CE", "CS", "ES", "FC", "GE", "GN", "GS", "IC", "IP", "LP", "NA", "NC", "NF", "NI",
                    "NL", "NO", "NP", "NR", "NV", "NZ", "OC", "OE", "PC", "RC", "RS", "SA", "SC", "SE", "SF", "SG",
                    "SI", "SL", "SO", "SP", "SR", "SZ", "ZC")
# A company number as Companies House writes it: 8 digits, or a known prefix and 6 digits, or an IP/NP society
# number with a trailing letter (IP28116R). Anything else (the sample's "XX002802") is not a company number.
COMPANY_NUMBER_SHAPE = rf"^([0-9]{{8}}|({'|'.join(COMPANY_PREFIXES)})[0-9]{{6}}|(IP|NP)[0-9]{{5}}[A-Z])$"


def clean_company_number_sql(expr: str, placeholders: list[str]) -> str:
    """Zero-pad a company number to 8 characters; NULL for placeholders and anything not shaped like one."""
    stripped = f"upper(regexp_replace(coalesce(CAST({expr} AS VARCHAR), ''), '[^A-Za-z0-9]', '', 'g'))"
    padded = f"""CASE
        WHEN regexp_full_match({stripped}, '[0-9]{{1,8}}') THEN lpad({stripped}, 8, '0')
        WHEN regexp_full_match({stripped}, '[A-Z]{{2}}[0-9]{{1,6}}')
            THEN left({stripped}, 2) || lpad(substr({stripped}, 3), 6, '0')
        ELSE {stripped} END"""
    bad = ", ".join(sql_literal(p) for p in [*placeholders, "00000000"])
    return f"""CASE WHEN regexp_matches(({padded}), '{COMPANY_NUMBER_SHAPE}')
        AND ({padded}) NOT IN ({bad}) AND NOT regexp_full_match(({padded}), '[A-Z]{{2}}0{{6}}')
        THEN ({padded}) END"""


def _charity_sql(vcse: dict, placeholders: list[str]) -> str:
    lines = [f"c.charity_contact_address{i}" for i in range(1, 6)]
    return f"""
    SELECT
        'charity_commission:' || c.organisation_number AS record_id,
        'charity_commission' AS source,
        'GB-CHC-' || c.registered_charity_number
            || CASE WHEN coalesce(c.linked_charity_number, 0) <> 0 THEN '-' || c.linked_charity_number ELSE '' END
            AS identifier,
        CASE WHEN coalesce(c.linked_charity_number, 0) <> 0 THEN 'GB-CHC-' || c.registered_charity_number END
            AS parent_identifier,
        c.charity_name AS name,
        {vcse_rule.charity_legal_form_sql('c')} AS legal_form,
        {vcse_rule.charity_is_vcse_sql(vcse, 'c')} AS is_vcse,
        coalesce(c.charity_registration_status = 'Registered' AND c.date_of_removal IS NULL, FALSE) AS is_active,
        c.charity_registration_status AS status,
        nullif(concat_ws(', ', {', '.join(lines)}), '') AS address,
        c.charity_contact_postcode AS raw_postcode,
        -- The extract has no town field: the last address line before the postcode is usually the town.
        coalesce({', '.join(reversed(lines[1:]))}) AS town,
        c.charity_contact_web AS website,
        c.charity_contact_email AS email,
        c.charity_contact_phone AS phone,
        CAST(c.registered_charity_number AS VARCHAR) AS charity_number,
        {clean_company_number_sql('c.charity_company_registration_number', placeholders)} AS company_number,
        CAST(NULL AS VARCHAR) AS society_number,
        CAST(c.charity_company_registration_number AS VARCHAR) AS raw_company_number,
        CAST(c.latest_income AS DOUBLE) AS latest_income,
        CAST(c.latest_expenditure AS DOUBLE) AS latest_expenditure,
        CAST(c.latest_acc_fin_period_end_date AS DATE) AS latest_financial_year_end,
        CAST(c.date_of_registration AS DATE) AS date_registered,
        CAST(c.date_of_removal AS DATE) AS date_removed
    FROM charity_commission.charity c"""


def _company_sql(vcse: dict) -> str:
    inactive = "(?i).*(dissolved|liquidation|converted|closed|removed).*"
    return f"""
    SELECT
        'companies_house:' || co.company_number AS record_id,
        'companies_house' AS source,
        'GB-COH-' || co.company_number AS identifier,
        CAST(NULL AS VARCHAR) AS parent_identifier,
        co.company_name AS name,
        {vcse_rule.company_legal_form_sql('co')} AS legal_form,
        {vcse_rule.company_is_vcse_sql(vcse, 'co')} AS is_vcse,
        co.dissolution_date IS NULL AND NOT regexp_full_match(coalesce(co.company_status, ''), '{inactive}')
            AS is_active,
        co.company_status AS status,
        nullif(concat_ws(', ', co.care_of, co.po_box, co.address_line1, co.address_line2, co.post_town,
                         co.county), '') AS address,
        co.postcode AS raw_postcode,
        co.post_town AS town,
        CAST(NULL AS VARCHAR) AS website, CAST(NULL AS VARCHAR) AS email, CAST(NULL AS VARCHAR) AS phone,
        CAST(NULL AS VARCHAR) AS charity_number,
        co.company_number AS company_number,
        CAST(NULL AS VARCHAR) AS society_number,
        CAST(NULL AS VARCHAR) AS raw_company_number,
        CAST(NULL AS DOUBLE) AS latest_income, CAST(NULL AS DOUBLE) AS latest_expenditure,
        CAST(NULL AS DATE) AS latest_financial_year_end,
        CAST(co.incorporation_date AS DATE) AS date_registered,
        CAST(co.dissolution_date AS DATE) AS date_removed
    FROM companies_house.company co"""


def _society_sql(vcse: dict) -> str:
    inactive = "(?i).*(deregist|cancel|dissolv|removed).*"
    return f"""
    SELECT
        'fca_mutuals:' || s.registration_number AS record_id,
        'fca_mutuals' AS source,
        'GB-MPR-' || s.registration_number AS identifier,
        CAST(NULL AS VARCHAR) AS parent_identifier,
        s.society_name AS name,
        {vcse_rule.society_legal_form_sql('s')} AS legal_form,
        {vcse_rule.society_is_vcse_sql(vcse, 's')} AS is_vcse,
        s.deregistration_date IS NULL AND NOT regexp_full_match(coalesce(s.society_status, ''), '{inactive}')
            AS is_active,
        s.society_status AS status,
        s.society_address AS address,
        s.postcode AS raw_postcode,
        -- The register gives one address string: the town is the last part that is not the postcode.
        list_filter(list_transform(string_split(coalesce(s.society_address, ''), ','), lambda x: trim(x)),
                    lambda x: x <> '' AND postcode_key(x) IS NULL)[-1] AS town,
        CAST(NULL AS VARCHAR) AS website, CAST(NULL AS VARCHAR) AS email, CAST(NULL AS VARCHAR) AS phone,
        CAST(NULL AS VARCHAR) AS charity_number,
        CAST(NULL AS VARCHAR) AS company_number,
        s.registration_number AS society_number,
        CAST(NULL AS VARCHAR) AS raw_company_number,
        CAST(NULL AS DOUBLE) AS latest_income, CAST(NULL AS DOUBLE) AS latest_expenditure,
        CAST(NULL AS DATE) AS latest_financial_year_end,
        CAST(s.registration_date AS DATE) AS date_registered,
        CAST(s.deregistration_date AS DATE) AS date_removed
    FROM fca_mutuals.society s"""


def build_records(con: duckdb.DuckDBPyConnection, vcse: dict, placeholders: list[str]) -> int:
    """(Re)create `_register_records` with postcode geography; returns its row count."""
    union = " UNION ALL ".join([_charity_sql(vcse, placeholders), _company_sql(vcse), _society_sql(vcse)])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {RECORDS_TABLE} AS
        WITH r AS ({union}),
        keyed AS (SELECT r.*, postcode_key(r.raw_postcode) AS pc_key FROM r)
        SELECT k.* EXCLUDE (pc_key),
            normalise_postcode(k.raw_postcode) AS postcode,
            -- ONSPD keeps a terminated postcode with its last geography: it still places the record
            -- (postcode_status 'terminated' flags it for someone to chase the address).
            p.lad_code, p.ward_code, w.ward_name, p.lsoa_code,
            CAST(ceil(p.imd_rank * 10.0 / {ENGLISH_LSOAS}) AS INTEGER) AS imd_decile,
            CASE WHEN nullif(trim(coalesce(k.raw_postcode, '')), '') IS NULL THEN 'missing'
                 WHEN k.pc_key IS NULL THEN 'malformed'
                 WHEN p.postcode_key IS NULL THEN 'not in postcode directory'
                 WHEN p.is_terminated THEN 'terminated'
                 ELSE 'mapped' END AS postcode_status
        FROM keyed k
        LEFT JOIN postcodes.postcode p ON p.postcode_key = k.pc_key
        LEFT JOIN (SELECT ward_code, any_value(ward_name) AS ward_name FROM postcodes.ward GROUP BY ward_code) w
            ON w.ward_code = p.ward_code
    """)
    return con.execute(f"SELECT count(*) FROM {RECORDS_TABLE}").fetchall()[0][0]
