"""Exact links: pairs of register records that share an identifier, found by SQL joins over `_register_records`.

Methods (score 100, evidence is JSON naming the fields compared):
- 'charity company number': the charity extract's charity_company_registration_number = a Companies House
  company number (zero-padded; placeholders and malformed numbers were dropped in records.py). A CIO's
  CE/CS number there links the same way.
- 'society number': FCA full registration number <-> Companies House RS/IP/SP number (see `society_key_sql`).
- 'shared website' / 'shared email': the same specific website (domain + path) or email address, on no generic
  domain and shared by at most [linking].max_records_sharing_contact records.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ..db import sql_literal
from .records import RECORDS_TABLE

LINK_COLUMNS = ["left_record", "right_record", "method", "score", "evidence"]


def society_key_sql(source_expr: str, number_expr: str) -> str:
    """A key that is equal for an FCA society and its Companies House record.

    FCA full registration numbers are digits plus a suffix that names the register (R = England & Wales
    before August 2014, RS = Scotland, C = credit union) or, since 2014, digits alone (4xxx co-operatives,
    7xxx+ community benefit societies). Companies House writes the same society as a 2-letter prefix and
    6 characters: IP + digits zero-padded + suffix (28116R -> IP28116R, 149C -> IP00149C), IP + 6 digits when
    the R was dropped (IP032356 -> 32356R), RS + digits for post-2014 societies (8053 -> RS008053) and SP for
    Scottish ones (2054RS -> SP002054). Northern Ireland (NP/NO/NI IP-prefixed) numbers are keyed apart.
    """
    num = f"upper(regexp_replace(coalesce({number_expr}, ''), '[^A-Za-z0-9]', '', 'g'))"
    fca = f"""CASE WHEN regexp_full_match({num}, '(IP|CU)[0-9]+[A-Z]*') THEN 'NI:' || {num}
        WHEN regexp_full_match({num}, '[0-9]+[A-Z]*')
        THEN CAST(CAST(regexp_extract({num}, '^([0-9]+)', 1) AS BIGINT) AS VARCHAR) || '/'
             || regexp_extract({num}, '^[0-9]+([A-Z]*)$', 1) END"""
    digits = f"CAST(CAST(regexp_extract({num}, '^[A-Z]{{2}}([0-9]+)', 1) AS BIGINT) AS VARCHAR)"
    ch = f"""CASE
        WHEN regexp_full_match({num}, 'IP[0-9]+[A-Z]') THEN {digits} || '/' || right({num}, 1)
        WHEN regexp_full_match({num}, 'IP[0-9]{{6}}') THEN {digits} || '/R'
        WHEN regexp_full_match({num}, 'RS[0-9]{{6}}') THEN {digits} || '/'
        WHEN regexp_full_match({num}, 'SP[0-9]{{6}}') THEN {digits} || '/RS'
        END"""
    return f"CASE {source_expr} WHEN 'fca_mutuals' THEN ({fca}) WHEN 'companies_house' THEN ({ch}) END"


def website_key_sql(expr: str) -> str:
    """Domain + path, lower case, without scheme, 'www.', query, fragment or trailing slash."""
    pattern = r"^(?:[a-z]+://)?(?:www\.)?([^?#\s]*)"
    return f"nullif(rtrim(regexp_extract(lower(trim({expr})), '{pattern}', 1), '/'), '')"


def email_key_sql(expr: str) -> str:
    pattern = r"[^@\s]+@[^@\s]+\.[^@\s]+"
    return f"CASE WHEN regexp_full_match(lower(trim({expr})), '{pattern}') THEN lower(trim({expr})) END"


def _generic_sql(domain_expr: str, domains: list[str]) -> str:
    if not domains:
        return "FALSE"
    listed = ", ".join(sql_literal(d.lower()) for d in domains)
    return f"""({domain_expr} IN ({listed}) OR list_bool_or(list_transform([{listed}],
        lambda g: ends_with({domain_expr}, '.' || g))))"""


def find_exact_links(con: duckdb.DuckDBPyConnection, linking: dict) -> pd.DataFrame:
    """Every exact link among all staged records (nationally): the area is chosen later."""
    generic = list(linking.get("generic_contact_domains", []))
    max_share = int(linking.get("max_records_sharing_contact", 2))
    r = RECORDS_TABLE
    contact_keys = f"""
        contact AS (
            SELECT record_id, source, charity_number, 'shared website' AS method, website AS raw_value,
                   {website_key_sql('website')} AS value
            FROM {r} WHERE website IS NOT NULL
            UNION ALL
            SELECT record_id, source, charity_number, 'shared email', email, {email_key_sql('email')}
            FROM {r} WHERE email IS NOT NULL
        ),
        contact_ok AS (
            SELECT * FROM contact
            WHERE value IS NOT NULL AND NOT {_generic_sql(
                "CASE WHEN method = 'shared email' THEN split_part(value, '@', 2) ELSE split_part(value, '/', 1) END",
                generic)}
            QUALIFY count(*) OVER (PARTITION BY method, value) BETWEEN 2 AND {max_share}
        )"""
    df = con.execute(f"""
        WITH {contact_keys},
        society AS (
            SELECT record_id, source, coalesce(society_number, company_number) AS number,
                   {society_key_sql('source', 'coalesce(society_number, company_number)')} AS skey
            FROM {r} WHERE source IN ('fca_mutuals', 'companies_house')
        )
        SELECT c.record_id AS left_record, co.record_id AS right_record,
               'charity company number' AS method, 100.0 AS score,
               CAST(json_object('charity_company_registration_number', c.raw_company_number,
                                'company_number', co.company_number) AS VARCHAR) AS evidence
        FROM {r} c JOIN {r} co ON co.source = 'companies_house' AND co.company_number = c.company_number
        WHERE c.source = 'charity_commission'
        UNION ALL
        SELECT f.record_id, ch.record_id, 'society number', 100.0,
               CAST(json_object('fca_registration_number', f.number, 'company_number', ch.number,
                                'society_key', f.skey) AS VARCHAR)
        FROM society f JOIN society ch ON ch.source = 'companies_house' AND ch.skey = f.skey
        WHERE f.source = 'fca_mutuals' AND f.skey IS NOT NULL
        UNION ALL
        SELECT a.record_id, b.record_id, a.method, 100.0,
               CAST(json_object('field', CASE a.method WHEN 'shared email' THEN 'email' ELSE 'website' END,
                                'left_value', a.raw_value, 'right_value', b.raw_value,
                                'normalised', a.value) AS VARCHAR)
        FROM contact_ok a JOIN contact_ok b ON a.method = b.method AND a.value = b.value
             AND a.record_id < b.record_id
        -- a main charity and its linked charities share contact details but are separate entries
        WHERE a.charity_number IS DISTINCT FROM b.charity_number OR a.source <> b.source
    """).df()
    return df[LINK_COLUMNS]
