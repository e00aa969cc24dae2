"""Build areas' registers inside an open connection: the entry points `build_areas` (a batch of areas, written
set-wise) and `build_area` (one).

On entry the register DDL (sql/core/) has run, the postcode macros exist, every staging database is attached
read-only under its source name and the national state (register/national.py: all staged rows in one shape, the
national exact links and their clusters) is attached as `national` (built in memory when it is not); the build's
areas' records, exact links and staged facts are usually held already (register/area_facts.py: build_register
selects them for all its areas at once; build_area holds its own area otherwise). The steps, each in its own
module:

area (postcode / area of operation) -> records joined to the area's records by exact links -> fuzzy links and
successor links inside the area -> clusters -> survivorship -> organisation tables -> enrich (finance, filing,
classification).

Linking and survivorship are worked out area by area in Python (`link_area`: an area's links depend on all of its
names); everything written to the register is written for a batch of areas at once (`write_areas`: one INSERT per
table, one statement per enrich step). Each statement costs DuckDB 10-20 ms to plan and schedule whatever its rows,
and an area of a national build has a few hundred organisations: per area, those fixed costs were most of the SQL.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from ..config import Config
from ..db import sql_literal
from ..name_caches import clear_name_caches
from .area import AREA_TABLE, build_area_membership, operation_codes
from .area_facts import (
    AREA_RECORD_TABLE,
    WRITE_AREAS,
    held_area_exact_links,
    hold_area_tables,
    select_area_facts,
    write_area_order,
)
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



def delete_areas(con: duckdb.DuckDBPyConnection, area_codes: list[str]) -> None:
    for area_code in area_codes:
        operation_codes(area_code)  # GSS codes (checked), so safe as literals: one round trip for every table
    areas = ", ".join(sql_literal(a) for a in area_codes)
    con.execute("\n".join(f"DELETE FROM {table} WHERE area_code IN ({areas});" for table in AREA_TABLES))


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


def _write_held_source_records(con: duckdb.DuckDBPyConnection) -> None:
    """Write the source_record rows of every area of WRITE_AREAS (held: its records and every record an exact link
    joins to them, from the build's area tables) in one statement, area by area in build order."""
    con.execute(f"INSERT INTO source_record BY NAME SELECT r.* FROM {AREA_RECORD_TABLE} r "
                f"JOIN {WRITE_AREAS} w USING (area_code) ORDER BY w.n, r.record_id")


def _write_source_records(con: duckdb.DuckDBPyConnection, area_code: str, count_national: bool) -> pd.DataFrame:
    """Write the source_record rows of an area the build's area tables do not hold, selecting its records from the
    national records; return the exact links among them."""
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


@dataclass
class LinkedArea:
    """One area linked and organised (link_area), its rows not yet written (write_areas writes a batch of them)."""

    area_code: str
    summary: dict
    tables: dict[str, pd.DataFrame]  # register table -> the area's rows
    members: pd.DataFrame  # area_code, record_id, org_id, source, member_rank (0: canonical), for sql/enrich
    seconds: float


# What write_areas inserts from each LinkedArea, in this order.
LINKED_TABLES = ("organisation", "organisation_identifier", "organisation_name", "organisation_link", "link_review")


def link_area(con: duckdb.DuckDBPyConnection, cfg: Config, area_code: str, held: bool,
              staged_records: int) -> LinkedArea:
    """Link and organise one area whose rows start_areas cleared (and, `held`, whose source_record rows it wrote):
    exact links, fuzzy and successor links among its records, clusters, survivorship."""
    started = time.monotonic()
    vcse, linking = cfg.section("vcse"), cfg.section("linking")
    if held:
        exact = held_area_exact_links(con, area_code)
    else:
        exact = _write_source_records(con, area_code, bool(vcse.get("count_national_area_of_operation", False)))
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
    ids = pd.DataFrame(member_rows, columns=["record_id", "org_id", "source", "member_rank", "identifier",
                                             "parent_identifier"])
    identifiers = ids.assign(area_code=area_code, scheme=ids["identifier"].str[:6],
                             is_canonical=ids["member_rank"] == 0)
    tables = {
        "organisation": pd.DataFrame(orgs),
        "organisation_identifier": identifiers[["area_code", "org_id", "identifier", "scheme", "source", "record_id",
                                                "is_canonical"]],
        "organisation_name": organisation_names(names, org_of, area_code),
        "organisation_link": links[["area_code", "left_record", "right_record", "method", "score", "evidence"]],
        "link_review": review.assign(area_code=area_code),
    }
    summary = {
        "area_code": area_code,
        "staged_records": staged_records,
        "source_records": len(records),
        "organisations": len(orgs),
        "active_organisations": sum(o["is_active"] for o in orgs),
        "by_legal_form": dict(Counter(o["legal_form"] for o in orgs).most_common()),
        "by_area_basis": dict(Counter(o["area_basis"] for o in orgs).most_common()),
        "links_by_method": {str(k): int(v) for k, v in links["method"].value_counts().items()},
        "review_count": len(review),
        # what write_areas copies to unmapped_postcode (postcode_status <> 'mapped': a NULL status is not copied)
        "unmapped_postcodes": sum(1 for r in records if r["postcode_status"] not in (None, "mapped")),
        "cluster_seconds": round(time.monotonic() - link_started, 3),
    }
    members = ids[["record_id", "org_id", "source", "member_rank"]].assign(area_code=area_code)
    return LinkedArea(area_code, summary, tables, members, time.monotonic() - started)


def start_areas(con: duckdb.DuckDBPyConnection, area_codes: list[str], held: bool) -> None:
    """Clear a batch of areas' rows, number them in build order (WRITE_AREAS), write their source_record rows when the
    build's area tables hold them (`held`; link_area writes an area's otherwise) and make the _area_<fact> views over
    them."""
    delete_areas(con, area_codes)
    write_area_order(con, area_codes)
    if held:
        _write_held_source_records(con)
    select_area_facts(con, area_codes, held)


def write_areas(con: duckdb.DuckDBPyConnection, linked: list[LinkedArea], as_of: date) -> dict[str, dict]:
    """Write a batch of linked areas (those start_areas began, in its order): each register table in one INSERT,
    unmapped postcodes, and the enrich steps for all of them at once; returns each area's summary."""
    started = time.monotonic()
    for table in LINKED_TABLES:
        _insert_df(con, table, pd.concat([a.tables[table] for a in linked if not a.tables[table].empty]
                                         or [linked[0].tables[table]], ignore_index=True))
    con.execute(f"""
        INSERT INTO unmapped_postcode
        SELECT s.area_code, s.record_id, s.source, s.name, s.raw_postcode, s.postcode_status
        FROM source_record s JOIN {WRITE_AREAS} w USING (area_code) WHERE s.postcode_status <> 'mapped'
        ORDER BY w.n, s.record_id
    """)
    members = pd.concat([a.members for a in linked], ignore_index=True)
    con.register("_members_rank_df", members)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {MEMBERS} AS "
                    "SELECT area_code, record_id, org_id, source, member_rank FROM _members_rank_df")
    finally:
        con.unregister("_members_rank_df")
    enriched = enrich(con, [a.area_code for a in linked], as_of)
    # the batch's writing shared out by organisations, so the areas' seconds add up to the build's
    writing = time.monotonic() - started
    organisations = sum(a.summary["organisations"] for a in linked) or 1
    return {a.area_code: {**a.summary, **enriched[a.area_code],
                          "seconds": round(a.seconds + writing * a.summary["organisations"] / organisations, 3)}
            for a in linked}


def build_areas(con: duckdb.DuckDBPyConnection, cfg: Config, area_codes: list[str], held: bool,
                as_of: date | None = None) -> dict[str, dict]:
    """Build (or rebuild) the register rows of a batch of areas, all held by the build's area tables or none
    (`held`); returns each area's summary. Filing flags and years operating are counted at `as_of`, the run's date
    (today when not given)."""
    staged = national_records(con, cfg)
    start_areas(con, area_codes, held)
    linked = []
    for area_code in area_codes:
        linked.append(link_area(con, cfg, area_code, held, staged))
        clear_name_caches()  # few hits across areas, and a process building many would grow with them
    return write_areas(con, linked, as_of or date.today())


def build_area(con: duckdb.DuckDBPyConnection, cfg: Config, area_code: str, as_of: date | None = None) -> dict:
    """Build (or rebuild) the register rows of one area (a batch of one); returns a summary of what was built. Filing
    flags and years operating are counted at `as_of`, the run's date (today when not given)."""
    national_records(con, cfg)  # attaches a national state built in memory when none is
    held = bool(hold_area_tables(con, [area_code]))  # build_register selected them for all its areas at once
    return build_areas(con, cfg, [area_code], held, as_of)[area_code]
