"""The local spend measures: the [spend] settings as tables the views read, the opportunities (expense areas whose
money goes outside while local VCSEs provide the service), and the views of sql/spend/10_measures.sql."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ..config import Config
from .load import run_spend_sql

EXPENSE_SERVICE_AREAS = Path(__file__).with_name("expense_service_areas.csv")
# An expense area is an opportunity when at least this share of its in-scope money goes outside the district.
OPPORTUNITY_OUTSIDE_SHARE = 0.5


@dataclass(frozen=True)
class Definition:
    name: str
    label: str
    scheme: str       # 'lad' or 'region'
    codes: tuple[str, ...]


def definitions(cfg: Config) -> list[Definition]:
    """District, wider area and region, from [spend] (district [] = the register's areas)."""
    spend = cfg.section("spend")
    district = tuple(spend["district"] or cfg.areas)
    return [Definition("district", spend["district_label"], "lad", district),
            Definition("wider_area", spend["wider_area_label"], "lad", tuple(spend["wider_area"])),
            Definition("region", spend["region_label"], "region", tuple(spend["region"]))]


def apply_settings(con: duckdb.DuckDBPyConnection, cfg: Config) -> None:
    """spend_definition and spend_setting from [spend] (checked when the configuration loads: config.SpendSettings),
    so the views read the settings of this run."""
    spend = cfg.section("spend")
    con.execute("DELETE FROM spend_definition")
    con.execute("DELETE FROM spend_setting")
    rows = [[d.name, d.label, d.scheme, code] for d in definitions(cfg) for code in d.codes]
    con.executemany("INSERT INTO spend_definition VALUES (?, ?, ?, ?)", rows)
    con.execute("INSERT INTO spend_setting VALUES (?, ?, ?)",
                [float(spend["target_share"]), list(spend["excluded_kinds"]), int(spend["top_suppliers"])])


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    run_spend_sql(con, "10_measures.sql")


def expense_service_areas() -> list[tuple[re.Pattern, str]]:
    """expense_service_areas.csv: each row's words (a regular expression of alternatives) and its service area. Every
    alternative matches from the start of a word ("sport" is not in "Transport", "arts" not in "Vehicle Parts"); one
    may end inside a word ("disabilit", "environment" in "Environmental") unless it ends with \\b."""
    with EXPENSE_SERVICE_AREAS.open(encoding="utf-8", newline="") as fh:
        return [(re.compile(rf"\b(?:{r['pattern']})", re.I), r["service_area"]) for r in csv.DictReader(fh)]


def service_areas_of(text: str, patterns: list[tuple[re.Pattern, str]]) -> list[str]:
    """The service areas an expense area's words (with its expense type) name, each once, in the file's order."""
    return list(dict.fromkeys(service_area for pattern, service_area in patterns if pattern.search(text)))


def build_opportunities(con: duckdb.DuckDBPyConnection, district: tuple[str, ...]) -> int:
    """spend_opportunity: each expense area (with its expense type) mapped to the register's service areas by its
    words (expense_service_areas.csv); where most of its in-scope money goes outside the district and active VCSEs
    based in the district work in that service area, the area, the money and up to ten providers to talk to, with
    the service area's CPV codes. Needs the register attached as `register` and the views created."""
    areas = con.execute("""
        SELECT coalesce(expense_area, '(not given)') AS expense_area, coalesce(expense_type, '') AS expense_type,
               sum(amount) AS amount,
               coalesce(sum(amount) FILTER (WHERE NOT d.is_local), 0) AS outside_amount
        FROM spend_line_scope l JOIN spend_supplier_local d
             ON d.supplier_key = l.supplier_key AND d.definition = 'district'
        WHERE l.in_scope GROUP BY 1, 2""").fetchall()
    patterns = expense_service_areas()
    mapped = []
    for expense_area, expense_type, amount, outside in areas:
        for service_area in service_areas_of(f"{expense_area} {expense_type}", patterns):
            mapped.append({"expense_area": expense_area, "service_area": service_area, "amount": float(amount),
                           "outside_amount": float(outside)})
    frame = pd.DataFrame(mapped, columns=["expense_area", "service_area", "amount", "outside_amount"])
    con.register("_mapped", frame)
    try:
        con.execute(f"""
            CREATE OR REPLACE TABLE spend_opportunity AS
            WITH by_area AS (
                SELECT expense_area, service_area, sum(amount) AS amount, sum(outside_amount) AS outside_amount
                FROM _mapped GROUP BY ALL),
            providers AS (
                SELECT s.service_area, count(DISTINCT o.org_id) AS local_providers,
                       list(DISTINCT o.name ORDER BY o.name)[1:10] AS providers
                FROM register.organisation_service_area s
                JOIN register.organisation o USING (area_code, org_id)
                WHERE o.is_active AND o.in_area_by_postcode AND o.area_code IN (SELECT unnest(?))
                GROUP BY s.service_area),
            cpv AS (SELECT service_area, list(cpv_code ORDER BY cpv_code) AS cpv_codes
                    FROM register.service_area_cpv GROUP BY service_area)
            SELECT a.expense_area, a.service_area, sa.label AS service_label, a.amount, a.outside_amount,
                   round(a.outside_amount / nullif(a.amount, 0), 4) AS outside_share, p.local_providers,
                   p.providers, c.cpv_codes
            FROM by_area a
            JOIN providers p USING (service_area)
            LEFT JOIN register.service_area sa USING (service_area)
            LEFT JOIN cpv c USING (service_area)
            WHERE a.outside_amount >= {OPPORTUNITY_OUTSIDE_SHARE} * a.amount AND a.amount > 0
            ORDER BY a.outside_amount DESC, a.expense_area, a.service_area""", [list(district)])
    finally:
        con.unregister("_mapped")
    return con.execute("SELECT count(*) FROM spend_opportunity").fetchone()[0]


def summary(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """spend_local_share as dicts (definition, label, scope_amount, local_amount, local_share, target_share, ...)."""
    cursor = con.execute("SELECT * FROM spend_local_share")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
