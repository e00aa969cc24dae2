"""The VCSE rule: which register records count as voluntary, community or social enterprise organisations.

Each function returns SQL expressions over one source's staging table, so the rule runs inside DuckDB
(the Companies House table is far too big for pandas). docs/vcse-rule.md explains the rule in words.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from ..db import sql_literal

SUFFIXES_FILE = Path(__file__).resolve().parent.parent / "reference" / "mutuals-suffixes.csv"

CIO = "Charitable incorporated organisation"
CHARITABLE_COMPANY = "Charitable company"
UNINCORPORATED_CHARITY = "Unincorporated charity / Trust"
LINKED_CHARITY = "Linked charity (subsidiary or group member)"
CIC = "Community interest company"
GUARANTEE = "Company limited by guarantee"
REGISTERED_SOCIETY = "Registered society (community benefit society / co-operative)"
CREDIT_UNION = "Registered society (credit union)"
SCOTTISH_CIO = "Scottish charitable incorporated organisation"
ROYAL_CHARTER = "Royal charter company"

# Companies House CompanyCategory -> (readable legal form, [vcse] switch that includes it)
COMPANY_CATEGORIES: dict[str, tuple[str, str]] = {
    "Community Interest Company": (CIC, "include_community_interest_companies"),
    "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)":
        (GUARANTEE, "include_companies_limited_by_guarantee"),
    "PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of 'Limited' exemption)":
        (GUARANTEE, "include_companies_limited_by_guarantee"),
    "Charitable Incorporated Organisation": (CIO, "include_cios"),
    "Scottish Charitable Incorporated Organisation": (SCOTTISH_CIO, "include_cios"),
    "Registered Society": (REGISTERED_SOCIETY, "include_registered_societies"),
    "Industrial and Provident Society": (REGISTERED_SOCIETY, "include_registered_societies"),
    "Royal Charter Company": (ROYAL_CHARTER, "include_royal_charter_companies"),
}


def _on(vcse: dict, key: str) -> str:
    return "TRUE" if vcse.get(key, False) else "FALSE"


def charity_legal_form_sql(alias: str = "c") -> str:
    """Readable legal form of a charity extract row. charity_type is only given for main charities."""
    return f"""CASE
        WHEN coalesce({alias}.linked_charity_number, 0) <> 0 THEN {sql_literal(LINKED_CHARITY)}
        WHEN {alias}.charity_is_cio OR {alias}.charity_type = 'CIO' THEN {sql_literal(CIO)}
        WHEN {alias}.charity_type = 'Charitable company' THEN {sql_literal(CHARITABLE_COMPANY)}
        ELSE {sql_literal(UNINCORPORATED_CHARITY)} END"""


def charity_is_vcse_sql(vcse: dict, alias: str = "c") -> str:
    # Removed charities stay in (flagged inactive): the rule is about legal form, not status.
    return f"""CASE
        WHEN coalesce({alias}.linked_charity_number, 0) <> 0 THEN {_on(vcse, 'include_linked_charities')}
        WHEN {alias}.charity_is_cio OR {alias}.charity_type = 'CIO' THEN {_on(vcse, 'include_cios')}
        ELSE {_on(vcse, 'include_charities')} END"""


def company_legal_form_sql(alias: str = "co") -> str:
    whens = " ".join(f"WHEN {sql_literal(cat)} THEN {sql_literal(form)}"
                     for cat, (form, _) in COMPANY_CATEGORIES.items())
    return f"CASE {alias}.company_category {whens} ELSE {alias}.company_category END"


def company_is_vcse_sql(vcse: dict, alias: str = "co") -> str:
    whens = " ".join(f"WHEN {sql_literal(cat)} THEN {_on(vcse, key)}"
                     for cat, (_, key) in COMPANY_CATEGORIES.items())
    return f"coalesce(CASE {alias}.company_category {whens} ELSE FALSE END, FALSE)"


@cache
def suffix_types() -> dict[str, str]:
    """FCA suffix (or prefix) -> society type, from the FCA's own table."""
    with SUFFIXES_FILE.open(encoding="utf-8-sig", newline="") as fh:
        return {row["Suffix/Prefix"].replace("(prefix)", "").strip().upper(): row["Society Type"].strip()
                for row in csv.DictReader(fh)}


def society_type_sql(alias: str = "s") -> str:
    """The society type from the suffix; post-2014 numbers have no suffix: 4xxx co-operative, else CBS."""
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in sorted(suffix_types().items()))
    return f"""CASE
        WHEN nullif(trim({alias}.society_suffix), '') IS NULL THEN
            CASE WHEN CAST({alias}.society_number AS VARCHAR) LIKE '4%' THEN 'Co-operative Society'
                 ELSE 'Community Benefit Society' END
        ELSE CASE upper(trim({alias}.society_suffix)) {whens} ELSE {alias}.registered_as END END"""


def society_legal_form_sql(alias: str = "s") -> str:
    return f"""CASE WHEN ({society_type_sql(alias)}) = 'Credit Union' THEN {sql_literal(CREDIT_UNION)}
        WHEN ({society_type_sql(alias)}) IN ('Registered Society', 'Co-operative Society',
             'Community Benefit Society') THEN {sql_literal(REGISTERED_SOCIETY)}
        ELSE coalesce(({society_type_sql(alias)}), {alias}.registered_as, 'Society') END"""


def society_is_vcse_sql(vcse: dict, alias: str = "s") -> str:
    if not vcse.get("include_registered_societies", False):
        return "FALSE"
    types = list(vcse.get("society_types", []))
    if not types:
        return "FALSE"
    return f"(({society_type_sql(alias)}) IN {tuple_sql(types)} OR {alias}.registered_as IN {tuple_sql(types)})"


def tuple_sql(values: list[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"
