"""Build one area's register inside an open connection: the entry point `build_area`.

On entry the register DDL (sql/core/) has run, the postcode macros exist, every staging database is attached
read-only under its source name and the national state (register/national.py: all staged rows in one shape, the
national exact links and their clusters) is attached as `national` (built in memory when it is not); the build's
areas' records, exact links and staged facts are usually held already (register/area_facts.py: build_register
selects them for all its areas at once; build_area holds its own area otherwise). The steps, each in its own
module:

area (postcode / area of operation) -> records joined to the area's records by exact links -> fuzzy links and
successor links inside the area -> clusters -> survivorship -> organisation tables -> enrich (finance, filing,
classification).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import duckdb
import pandas as pd

from ..config import Config
from ..db import sql_literal
from .area import AREA_TABLE, build_area_membership, operation_codes
from .area_facts import AREA_RECORD_TABLE, held_area_exact_links, hold_area_tables, select_area_facts
from .clusters import cluster
from .enrich import MEMBERS, enrich
from .fuzzy_links import fuzzy_links
from .national import area_exact_links, area_members, national_records
from .other_names import organisation_names, other_names_by_record, record_names
from .records import RECORDS_TABLE, SOURCE_RECORD_SELECT
from .successor_links import successor_links
from .survivorship import order_records, survive

AREA_TABLES = ("source_record", "organisation", "organisation_identifier", "organisation_name",
               "organisation_link", "link_review", "unmapped_postcode", "organisation_finance",
               "organisation_filing", "organisation_classification")



def delete_area(con: duckdb.DuckDBPyConnection, area_code: str) -> None:
    operation_codes(area_code)  # a GSS code (checked), so safe as a literal: one round trip for every table
    area = sql_literal(area_code)
    con.execute("\n".join(f"DELETE FROM {table} WHERE area_code = {area};" for table in AREA_TABLES))


def _insert_df(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    if df.empty:
        return
    con.register("_insert_df", df)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _insert_df")
    finally:
        con.unregister("_insert_df")


def _fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _write_source_records(con: duckdb.DuckDBPyConnection, area_code: str, held: bool,
                          count_national: bool) -> pd.DataFrame:
    """Write the area's source_record rows (its records and every record an exact link joins to them); return the
    exact links among them. From the build's area tables when they hold the area (a few row groups of tables sorted
    by area; `held`: register/area_facts.py), else by selecting the area's records from the national records."""
    if held:
        con.execute(f"INSERT INTO source_record BY NAME SELECT * FROM {AREA_RECORD_TABLE} "
                    "WHERE area_code = ? ORDER BY record_id", [area_code])
        return held_area_exact_links(con, area_code)
    build_area_membership(con, area_code, count_national)
    members = area_members(con, AREA_TABLE)
    con.register("_members_df", pd.DataFrame({"record_id": sorted(members)}, dtype=object))
    try:
        con.execute(f"""
            INSERT INTO source_record BY NAME
            SELECT ? AS area_code, {SOURCE_RECORD_SELECT}
            FROM {RECORDS_TABLE} r JOIN _members_df USING (record_id)
            LEFT JOIN {AREA_TABLE} a USING (record_id)
            ORDER BY record_id
        """, [area_code])
        return area_exact_links(con, "_members_df")
    finally:
        con.unregister("_members_df")


def _fuzzy(records: list[dict], exact_pairs: set[frozenset[str]], others: dict[str, list[str]],
           linking: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fuzzy name links among the VCSE records that no identifier links (linked charities stay out: they share
    their parent's name but are separate entries)."""
    linked = {r for pair in exact_pairs for r in pair}
    rows = [{"record_id": r["record_id"], "source": r["source"], "name": r["name"],
             "other_names": others.get(r["record_id"], []), "postcode": r["postcode"], "town": r["town"]}
            for r in records
            if r["is_vcse"] and r["record_id"] not in linked and r["parent_identifier"] is None]
    frame = pd.DataFrame(rows, columns=["record_id", "source", "name", "other_names", "postcode", "town"])
    if frame["source"].nunique() < 2:
        empty = pd.DataFrame(columns=["left_record", "right_record", "method", "score", "evidence"])
        return empty, pd.DataFrame(columns=["left_record", "right_record", "left_name", "right_name", "score",
                                            "evidence"])
    return fuzzy_links(frame, link_threshold=float(linking.get("link_threshold", 90)),
                       review_threshold=float(linking.get("review_threshold", 75)), already_linked=exact_pairs)


def _organisations(records: list[dict], pairs: list[tuple[str, str]], area_code: str):
    """Cluster the area's records and apply survivorship: organisation rows, record -> org_id, members."""
    by_id = {r["record_id"]: r for r in records}
    roots = cluster(by_id, pairs)
    groups: dict[str, list[dict]] = {}
    for record_id, root in roots.items():
        groups.setdefault(root, []).append(by_id[record_id])
    orgs, org_of, members = [], {}, []
    for group in groups.values():
        org = survive(group)
        for rank, rec in enumerate(order_records(group)):
            org_of[rec["record_id"]] = org["org_id"]
            members.append((rec["record_id"], org["org_id"], rec["source"], rank, rec["identifier"],
                            rec["parent_identifier"]))
        orgs.append(org)
    org_by_identifier = {m[4]: m[1] for m in members}
    for org in orgs:
        canonical = by_id[org.pop("canonical_record")]
        parent = canonical["parent_identifier"]
        org["parent_org_id"] = org_by_identifier.get(parent, parent) if parent else None
        org["area_code"] = area_code
    _inherit_main_charity_address(orgs)
    return orgs, org_of, members


# The extract publishes no address for linked charities: they are run from their main charity's address.
LOCATION_FIELDS = ("address", "postcode", "lad_code", "ward_code", "ward_name", "lsoa_code", "imd_decile",
                   "postcode_status")


def _inherit_main_charity_address(orgs: list[dict]) -> None:
    by_org_id = {o["org_id"]: o for o in orgs}
    for org in orgs:
        main = by_org_id.get(org["parent_org_id"] or "")
        if main and not org.get("postcode") and main.get("postcode"):
            for field in LOCATION_FIELDS:
                org[field] = main.get(field)


def build_area(con: duckdb.DuckDBPyConnection, cfg: Config, area_code: str, as_of: date | None = None) -> dict:
    """Build (or rebuild) the register rows of one area; returns a summary of what was built. Filing flags and years
    operating are counted at `as_of`, the run's date (today when not given)."""
    started = time.monotonic()
    vcse, linking = cfg.section("vcse"), cfg.section("linking")
    delete_area(con, area_code)
    staged = national_records(con, cfg)
    held = bool(hold_area_tables(con, [area_code]))  # build_register selected them for all its areas at once
    exact = _write_source_records(con, area_code, held, bool(vcse.get("count_national_area_of_operation", False)))
    select_area_facts(con, area_code, held)
    exact_pairs = {frozenset(p) for p in zip(exact["left_record"], exact["right_record"], strict=True)}
    records = _fetch_dicts(con, "SELECT * FROM source_record WHERE area_code = ? ORDER BY record_id", [area_code])
    names = record_names(con, area_code)
    others = other_names_by_record(names)
    fuzzy, review = _fuzzy(records, exact_pairs, others, linking)
    successor, successor_review = successor_links(
        records, others, before_days=int(linking.get("successor_before_days", 365)),
        after_days=int(linking.get("successor_after_days", 1095)), already_linked=exact_pairs)
    links = pd.concat([f for f in (exact, fuzzy, successor) if not f.empty] or [exact], ignore_index=True)
    review = pd.concat([f for f in (review, successor_review) if not f.empty] or [review], ignore_index=True)
    links = links.drop_duplicates(["left_record", "right_record", "method"]).assign(area_code=area_code)
    # The same staging always writes the same rows in the same order (the links come from several sources).
    links = links.sort_values(["left_record", "right_record", "method"], kind="stable", ignore_index=True)

    link_started = time.monotonic()
    orgs, org_of, member_rows = _organisations(
        records, list(zip(links["left_record"], links["right_record"], strict=True)), area_code)
    organisation_df = pd.DataFrame(orgs)
    _insert_df(con, "organisation", organisation_df)
    ids = pd.DataFrame(member_rows, columns=["record_id", "org_id", "source", "member_rank", "identifier",
                                             "parent_identifier"])
    identifiers = ids.assign(area_code=area_code, scheme=ids["identifier"].str[:6],
                             is_canonical=ids["member_rank"] == 0)
    _insert_df(con, "organisation_identifier",
               identifiers[["area_code", "org_id", "identifier", "scheme", "source", "record_id", "is_canonical"]])
    _insert_df(con, "organisation_name", organisation_names(names, org_of, area_code))
    _insert_df(con, "organisation_link", links[["area_code", "left_record", "right_record", "method", "score",
                                                "evidence"]])
    _insert_df(con, "link_review", review.assign(area_code=area_code))
    con.execute("""
        INSERT INTO unmapped_postcode
        SELECT area_code, record_id, source, name, raw_postcode, postcode_status
        FROM source_record WHERE area_code = ? AND postcode_status <> 'mapped'
    """, [area_code])

    con.register("_members_rank_df", ids[["record_id", "org_id", "source", "member_rank"]])
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {MEMBERS} AS SELECT * FROM _members_rank_df")
    finally:
        con.unregister("_members_rank_df")
    enriched = enrich(con, area_code, as_of or date.today())

    return {
        "area_code": area_code,
        "staged_records": staged,
        "source_records": len(records),
        "organisations": len(orgs),
        "active_organisations": sum(o["is_active"] for o in orgs),
        "by_legal_form": dict(Counter(o["legal_form"] for o in orgs).most_common()),
        "by_area_basis": dict(Counter(o["area_basis"] for o in orgs).most_common()),
        "links_by_method": {str(k): int(v) for k, v in links["method"].value_counts().items()},
        "review_count": len(review),
        "unmapped_postcodes": con.execute("SELECT count(*) FROM unmapped_postcode WHERE area_code = ?",
                                          [area_code]).fetchall()[0][0],
        **enriched,
        "cluster_seconds": round(time.monotonic() - link_started, 3),
        "seconds": round(time.monotonic() - started, 3),
    }
