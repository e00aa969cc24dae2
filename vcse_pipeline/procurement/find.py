"""Search the published register for providers: by service, keyword, place, distance, form, size, readiness.

Every user value reaches DuckDB as a `?` parameter, never as SQL text. The search reads the
provider_directory and provider_readiness views (sql/views/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from ..db import table_exists
from ..errors import PipelineError
from ..postcode import normalise_postcode, postcode_district

READINESS_LEVELS = ("ready", "caution", "unknown", "not ready")
MONEY_COLUMNS = ("latest_income", "latest_expenditure")
# County and region names that close an address after the town (so "Liverpool, Merseyside" -> Liverpool).
COUNTIES = frozenset({
    "merseyside", "cheshire", "greater manchester", "lancashire", "cumbria", "west yorkshire", "south yorkshire",
    "north yorkshire", "east riding of yorkshire", "tyne and wear", "county durham", "northumberland",
    "west midlands", "staffordshire", "shropshire", "warwickshire", "worcestershire", "herefordshire",
    "derbyshire", "nottinghamshire", "leicestershire", "lincolnshire", "northamptonshire", "rutland",
    "greater london", "london", "kent", "surrey", "east sussex", "west sussex", "hampshire", "isle of wight",
    "berkshire", "buckinghamshire", "oxfordshire", "hertfordshire", "bedfordshire", "cambridgeshire", "essex",
    "norfolk", "suffolk", "bristol", "gloucestershire", "wiltshire", "somerset", "dorset", "devon", "cornwall",
    "wales", "clwyd", "flintshire", "wrexham", "england", "united kingdom", "uk",
})

# Output columns, in order; distance_km and relevance are added when the search uses them.
COLUMNS = (
    "name", "based", "legal_form", "ward_name", "postcode", "service_areas", "latest_income", "readiness_level",
    "readiness_reasons", "employees", "volunteers", "website", "email", "phone", "org_id", "identifiers",
    "based_in_area", "area_basis", "area_code", "address", "charity_commission_url", "companies_house_url",
    "fca_mutuals_url",
)
# how each output column is read from the search subquery (directory columns plus readiness)
_OUTPUT = {"service_areas": "service_area_labels", "readiness_level": "readiness", "based": "NULL::VARCHAR"}


@dataclass
class FindQuery:
    service_areas: list[str] = field(default_factory=list)  # service area codes or labels (any of them)
    keyword: str | None = None           # in the name, other names, service areas, activities or classifications
    ward: str | None = None              # ward code (E05...) or name
    postcode_district: str | None = None  # outward code, e.g. CH41
    near_postcode: str | None = None     # distance from this postcode (needs postcode_location)
    within_km: float | None = None
    legal_forms: list[str] = field(default_factory=list)  # case-insensitive, part of the legal form
    min_income: float | None = None
    max_income: float | None = None
    readiness: list[str] = field(default_factory=list)
    area_code: str | None = None
    limit: int | None = None


@dataclass
class FindResult:
    columns: list[str]
    rows: list[tuple]

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def known_service_areas(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """service_area code -> label."""
    return dict(con.execute("SELECT service_area, coalesce(label, service_area) FROM service_area").fetchall())


def resolve_service_areas(con: duckdb.DuckDBPyConnection, names: list[str]) -> list[str]:
    """Service area codes for codes or labels the user typed (case-insensitive); a clear error otherwise."""
    known = known_service_areas(con)
    lookup = {k.lower(): k for k in known} | {v.lower(): k for k, v in known.items()}
    resolved = []
    for name in names:
        code = lookup.get(name.strip().lower())
        if code is None:
            choices = ", ".join(sorted(known))
            raise PipelineError(f"unknown service area {name!r}; choose from: {choices}")
        resolved.append(code)
    return resolved


def _origin(con: duckdb.DuckDBPyConnection, postcode: str) -> tuple[float, float]:
    if not table_exists(con, "postcode_location"):
        raise PipelineError("distance search needs postcode coordinates, but this register has no "
                            "postcode_location table (rebuild it with a register that includes one)")
    pc = normalise_postcode(postcode)
    if pc is None:
        raise PipelineError(f"{postcode!r} is not a UK postcode")
    row = con.execute("SELECT lat, long FROM postcode_location WHERE postcode = ? AND lat IS NOT NULL",
                      [pc]).fetchone()
    if row is None:
        raise PipelineError(f"postcode {pc} has no coordinates in the register's postcode_location table")
    return row


def find_providers(con: duckdb.DuckDBPyConnection, q: FindQuery) -> FindResult:
    """Providers matching every given filter, best first (relevance, then distance, then income, then name)."""
    computed = ["coalesce(r.readiness_level, 'unknown') AS readiness", "r.readiness_reasons",
                "coalesce(r.readiness_rank, 3) AS readiness_rank"]
    computed_params: list = []
    joins = "LEFT JOIN provider_readiness r ON r.area_code = d.area_code AND r.org_id = d.org_id"
    where: list[str] = []
    params: list = []
    extra_cols: list[str] = []
    order: list[str] = []

    if q.keyword is not None and q.keyword.strip():
        kw = q.keyword.strip().lower()
        # how well the keyword fits: exact name, name start, in the name, other names, what they do
        computed.append("""CASE
            WHEN lower(d.name) = ? THEN 100
            WHEN starts_with(lower(d.name), ?) THEN 80
            WHEN contains(lower(d.name), ?) THEN 60
            WHEN list_bool_or(list_transform(d.other_names, lambda n: contains(lower(n), ?))) THEN 40
            WHEN list_bool_or(list_transform(d.service_area_labels, lambda n: contains(lower(n), ?))) THEN 20
            WHEN EXISTS (SELECT 1 FROM organisation_text t WHERE t.area_code = d.area_code AND t.org_id = d.org_id
                         AND (contains(lower(t.activities), ?) OR contains(lower(t.objects), ?))) THEN 15
            WHEN EXISTS (SELECT 1 FROM organisation_classification c WHERE c.area_code = d.area_code
                         AND c.org_id = d.org_id AND contains(lower(c.description), ?)) THEN 10
            ELSE 0 END AS relevance""")
        computed_params += [kw] * 8
        extra_cols.append("relevance")
        where.append("relevance > 0")
        order.append("relevance DESC")
    if q.near_postcode:
        lat, long = _origin(con, q.near_postcode)
        joins += " LEFT JOIN postcode_location pl ON pl.postcode = d.postcode"
        # haversine distance on the mean Earth radius
        computed.append("round(2 * 6371.0088 * asin(sqrt(pow(sin(radians(pl.lat - ?) / 2), 2) + cos(radians(?)) "
                        "* cos(radians(pl.lat)) * pow(sin(radians(pl.long - ?) / 2), 2))), 2) AS distance_km")
        computed_params += [lat, lat, long]
        extra_cols.append("distance_km")
        where.append("distance_km IS NOT NULL")
        if q.within_km is not None:
            where.append("distance_km <= ?")
            params.append(float(q.within_km))
        order.append("distance_km")
    elif q.within_km is not None:
        raise PipelineError("--within-km needs --near POSTCODE")

    if q.service_areas:
        where.append("len(list_intersect(service_areas, ?::VARCHAR[])) > 0")
        params.append(resolve_service_areas(con, q.service_areas))
    if q.ward:
        where.append("(ward_code = ? OR lower(ward_name) = ?)")
        params += [q.ward.strip().upper(), q.ward.strip().lower()]
    if q.postcode_district:
        district = postcode_district(q.postcode_district + " 1AA") or q.postcode_district.strip().upper()
        where.append("postcode_district = ?")
        params.append(district)
    if q.legal_forms:
        where.append("list_bool_or(list_transform(?::VARCHAR[], lambda f: contains(lower(legal_form), f)))")
        params.append([f.strip().lower() for f in q.legal_forms])
    if q.min_income is not None:
        where.append("latest_income >= ?")
        params.append(float(q.min_income))
    if q.max_income is not None:
        where.append("latest_income <= ?")
        params.append(float(q.max_income))
    if q.readiness:
        bad = [lvl for lvl in q.readiness if lvl.lower() not in READINESS_LEVELS]
        if bad:
            raise PipelineError(f"unknown readiness level {bad[0]!r}; choose from: {', '.join(READINESS_LEVELS)}")
        where.append("list_contains(?::VARCHAR[], readiness)")
        params.append([lvl.lower() for lvl in q.readiness])
    if q.area_code:
        where.append("area_code = ?")
        params.append(q.area_code.strip().upper())

    # based in the area before those only operating in it from elsewhere, then the largest first
    order += ["based_in_area DESC", "latest_income DESC NULLS LAST", "name"]
    out = [_OUTPUT.get(c, c) + f" AS {c}" for c in COLUMNS] + extra_cols
    sql = (f"SELECT {', '.join(out)} FROM (SELECT d.*, {', '.join(computed)} FROM provider_directory d {joins}) "
           + ("WHERE " + " AND ".join(where) if where else "") + " ORDER BY " + ", ".join(order))
    all_params = computed_params + params
    if q.limit:
        sql += " LIMIT ?"
        all_params.append(int(q.limit))
    cur = con.execute(sql, all_params)
    columns = [d[0] for d in cur.description]
    rows = cur.fetchall()
    place = _area_names(rows, columns)
    at = {c: columns.index(c) for c in ("based", "based_in_area", "ward_name", "address", "postcode", "area_code")}
    rows = [tuple(based_where(place(r[at["area_code"]]), r[at["based_in_area"]], r[at["ward_name"]],
                              r[at["address"]], r[at["postcode"]]) if i == at["based"] else v
                  for i, v in enumerate(r)) for r in rows]
    return FindResult(columns, rows)


def _area_names(rows, columns):
    from .opportunities import area_profile

    names: dict[str, str] = {}

    def place(code: str) -> str:
        if code not in names:
            names[code] = area_profile(code)["area_name"] or code
        return names[code]
    return place


def base_town(address: str | None, postcode: str | None) -> str | None:
    """The town of an address: the last part before a county or the postcode ("..., Ancoats, Manchester, Greater
    Manchester" -> "Manchester"). Register addresses end with the town, sometimes followed by the county."""
    parts = [p.strip() for p in (address or "").split(",") if p.strip()]
    if postcode:
        parts = [p for p in parts if p.upper().replace(" ", "") != postcode.upper().replace(" ", "")]
    parts = [p for p in parts if not re.search(r"\d", p)]  # street numbers, flats, postcodes
    while len(parts) > 1 and parts[-1].lower() in COUNTIES:
        parts.pop()
    return parts[-1].title() if parts and parts[-1].isupper() else (parts[-1] if parts else None)


def based_where(area_name: str, based_in_area: bool, ward_name: str | None, address: str | None,
                postcode: str | None) -> str:
    """"based in Wirral (Liscard)" or "operates in Wirral from Manchester (M4)": whether a provider is local."""
    if based_in_area:
        return f"based in {area_name}" + (f" ({ward_name})" if ward_name else "")
    town = base_town(address, postcode)
    if not postcode:  # listed as operating here, but its address has no postcode to place it
        return f"operates in {area_name} (no postcode on record" + (f"; address in {town})" if town else ")")
    return f"operates in {area_name} from " + " ".join(filter(None, [town, f"({postcode_district(postcode)})"]))
