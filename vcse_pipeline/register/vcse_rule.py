"""The VCSE rule: which register records count as voluntary, community or social enterprise organisations.

The rule is SQL, so it runs inside DuckDB (the Companies House table is far too big for pandas): the macros of
sql/macros/30_vcse_rule.sql, called by the staging models (sql/staging/*.sql) with the [vcse] switches.
docs/vcse-rule.md explains the rule in words. Here: the legal forms survivorship compares, and the switches.
"""

from __future__ import annotations

# Legal forms the macros write (tests/test_sql_macros.py checks they agree), which survivorship.py compares.
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

# The [vcse] switches the staging models take as {{placeholders}}; a switch left out of the settings is off.
SWITCHES = ("include_charities", "include_cios", "include_linked_charities", "include_community_interest_companies",
            "include_companies_limited_by_guarantee", "include_registered_societies",
            "include_royal_charter_companies")


def rule_params(vcse: dict) -> dict:
    """The [vcse] section as the staging models' parameters: each switch, and the society types that count."""
    return {**{key: bool(vcse.get(key, False)) for key in SWITCHES},
            "society_types": [str(t) for t in vcse.get("society_types", [])]}
