"""Every name a source record is known by: registered, working (charity) and previous (charity, company) names."""

from __future__ import annotations

import duckdb
import pandas as pd

from ..names import normalise_name

NAME_TYPES = {"working name": "working", "previous name": "previous"}


def record_names(con: duckdb.DuckDBPyConnection, area_code: str) -> pd.DataFrame:
    """record_id, source, name, name_type for every source_record of the area (registered name included)."""
    rows = con.execute("""
        SELECT record_id, source, name, 'registered' AS name_type, 0 AS ord
        FROM source_record WHERE area_code = $area
        UNION ALL
        SELECT s.record_id, s.source, o.charity_name,
               CASE lower(o.charity_name_type) WHEN 'working name' THEN 'working'
                    WHEN 'previous name' THEN 'previous' ELSE 'other' END, 1 + coalesce(o.charity_name_id, 0)
        FROM source_record s
        JOIN charity_commission.charity_other_names o
          ON s.record_id = 'charity_commission:' || o.organisation_number
        WHERE s.area_code = $area AND s.source = 'charity_commission' AND o.charity_name IS NOT NULL
        UNION ALL
        SELECT s.record_id, s.source, p.previous_name, 'previous', 1 + coalesce(p.position, 0)
        FROM source_record s
        JOIN companies_house.company_previous_name p ON s.record_id = 'companies_house:' || p.company_number
        WHERE s.area_code = $area AND s.source = 'companies_house' AND p.previous_name IS NOT NULL
        ORDER BY record_id, ord
    """, {"area": area_code}).fetchall()
    df = pd.DataFrame(rows, columns=["record_id", "source", "name", "name_type", "ord"]).drop(columns="ord")
    return df


def other_names_by_record(names: pd.DataFrame) -> dict[str, list[str]]:
    others = names[names["name_type"] != "registered"]
    return {rid: list(group["name"]) for rid, group in others.groupby("record_id", sort=False)}


def organisation_names(names: pd.DataFrame, org_of: dict[str, str], area_code: str) -> pd.DataFrame:
    """organisation_name rows: one per distinct (organisation, name, type, source), with the normalised name."""
    out = names.assign(org_id=names["record_id"].map(org_of), area_code=area_code)
    out = out.drop_duplicates(["org_id", "name", "name_type", "source"])
    out["normalised_name"] = [normalise_name(n) for n in out["name"]]
    return out[["area_code", "org_id", "name", "name_type", "source", "normalised_name"]]
