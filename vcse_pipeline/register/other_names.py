"""Every name a source record is known by: registered, working (charity) and previous (charity, company) names."""

from __future__ import annotations

import duckdb
import pandas as pd

from ..db import sql_text
from ..names import normalise_name

NAME_TYPES = {"working name": "working", "previous name": "previous"}


def record_names(con: duckdb.DuckDBPyConnection, area_code: str) -> pd.DataFrame:
    """record_id, source, name, name_type for every source_record of the area (registered name included):
    sql/links/record_names.sql."""
    rows = con.execute(sql_text("links/record_names.sql"), {"area": area_code}).fetchall()
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
