"""Search the published register for providers: by service, keyword, place, distance, form, size, readiness.

Every user value reaches DuckDB as a named `$parameter`, never as SQL text. The search reads the
provider_directory and provider_readiness views (sql/views/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from ..db import table_exists
from ..errors import PipelineError
from ..lookups import POSTCODE_NOT_FOUND, area_name, check_limit, close_matches, key, plain, unknown
from ..postcode import normalise_postcode, postcode_district, postcode_key
from .choices import register_areas, resolve_area, resolve_legal_forms, resolve_service_areas, resolve_ward

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
    "name", "based", "legal_form", "ward_name", "ward_code", "imd_decile", "postcode", "service_areas",
    "latest_income", "latest_expenditure", "latest_financial_year_end", "readiness_level", "readiness_reasons",
    "employees", "volunteers", "website", "email", "phone", "org_id", "identifiers", "other_names", "date_registered",
    "based_in_area", "postcode_terminated", "area_basis", "area_code", "address", "charity_commission_url",
    "companies_house_url", "fca_mutuals_url",
)
# how each output column is read from the search subquery (directory columns plus readiness)
_OUTPUT = {"service_areas": "service_area_labels", "readiness_level": "readiness", "based": "NULL::VARCHAR"}


@dataclass
class FindQuery:
    service_areas: list[str] = field(default_factory=list)  # service area codes or labels (any of them)
    # Keyword sets (a string is one set): a provider matches a set when every word of it appears, as a whole word
    # (plurals and apostrophes aside), in one of its name, other names, service areas, activities or
    # classifications; it matches the query when it matches any set.
    keyword: str | list[str] | None = None
    ward: str | None = None              # ward code (E05...) or name
    postcode_district: str | None = None  # outward code, e.g. CH41, or a full postcode (its district is used)
    near_postcode: str | None = None     # distance from this postcode (needs postcode_location)
    within_km: float | None = None
    legal_forms: list[str] = field(default_factory=list)  # short forms (CIC, CIO, charity, CBS, co-op) or part
    min_income: float | None = None
    max_income: float | None = None
    readiness: list[str] = field(default_factory=list)
    area_code: str | None = None         # GSS code or area name
    limit: int | None = None             # None or 0: every provider


@dataclass
class FindResult:
    columns: list[str]
    rows: list[tuple]
    total: int | None = None              # how many providers match before --limit (None: same as rows)
    notes: list[str] = field(default_factory=list)  # how forgiving input was read ("read 'Mental Helth' as ...")

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    @property
    def matched(self) -> int:
        return len(self.rows) if self.total is None else self.total


def _origin(con: duckdb.DuckDBPyConnection, postcode: str, area_code: str | None) -> tuple[float, float]:
    if not table_exists(con, "postcode_location"):
        raise PipelineError("distance search (--near) is not possible with this register: it was built without "
                            "postcode locations; rebuild it with `vcse run`")
    pc = normalise_postcode(postcode)
    if pc is None:
        raise PipelineError(f"{postcode!r} is not a UK postcode")
    row = con.execute("SELECT lat, long FROM postcode_location WHERE postcode = ? AND lat IS NOT NULL",
                      [pc]).fetchone()
    if row is None:
        areas = register_areas(con)
        names = " and ".join(areas[area_code] for area_code in ([area_code] if area_code else areas))
        raise PipelineError(
            f"the register does not know where {pc} is, so it cannot measure distances from it: --near takes a "
            f"current postcode in {names}, or the postcode of a provider listed in the register. {pc} may be "
            "mistyped, discontinued, or outside the area; try a nearby postcode in the area (a town hall's, say)")
    return row


def _keyword_sets(keyword: str | list[str] | None) -> list[list[str]]:
    """Each keyword as its words ("Women's refuge" -> ["womens", "refuge"]); check_query refuses empty ones."""
    given = [keyword] if isinstance(keyword, str) else list(keyword or [])
    return [words for words in (plain(k).split() for k in given) if words]


def _word_pattern(word: str) -> str:
    """A whole-word regular expression for `word` that also takes its plural or singular ("refuge" matches
    "refuges", never "refugee"; "charity" matches "charities"). Words are [a-z0-9] only (see `plain`), so
    nothing needs escaping."""
    stems = {word}
    if len(word) > 3 and word.endswith("ies"):
        stems.add(word[:-3] + "y")
    elif len(word) > 3 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        stems.add(word[:-2])
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        stems.add(word[:-1])
    if len(word) > 2 and word.endswith("y"):
        stems.add(word[:-1] + "ies")

    def plural(stem: str) -> str:
        return stem + ("(es)?" if stem.endswith(("ch", "sh", "s", "x", "z")) else "(s)?")
    return r"\b(" + "|".join(plural(stem) for stem in sorted(stems)) + r")\b"


def _text(sql: str) -> str:
    """SQL for a text value as keyword search sees it, as `plain` reads the keyword: lower case, accents stripped
    (café -> cafe), "&" read as "and", apostrophes dropped (women's -> womens)."""
    return f"regexp_replace(replace(strip_accents(lower(coalesce({sql}, ''))), '&', ' and '), '[''’`]', '', 'g')"


def _has_all(sql: str, patterns: list[str]) -> str:
    """SQL true when every pattern (the named parameters `patterns`) is found in the text `sql`. One
    regexp_matches per word rather than a lambda over a list of patterns, which DuckDB ran about five times slower."""
    return "(" + " AND ".join(f"regexp_matches({_text(sql)}, ${p})" for p in patterns) + ")"


def _keyword_relevance(con: duckdb.DuckDBPyConnection, words: list[str], n: int, area_code: str | None,
                       descriptions: list[str]) -> tuple[str, str, dict]:
    """How well keyword set `n` fits (exact name 100, name starts with it 80, every word in the name 60, other
    names 40, service areas 20, activities or objects 15, classification 10): its SQL, the joins it reads and its
    named parameters. The organisations whose texts and classifications match are found once, as sets, then
    joined: a correlated EXISTS per provider matched every text of the register (every English area's, even for
    a search of one area: 11.6 s for "youth" in Wirral in a register of all 295). `descriptions` are the
    register's distinct classification descriptions (45, on 2.9 million rows at national size): the ones that
    match are found first, here, since DuckDB pushes a filter on a DISTINCT's column back to every row."""
    phrase = f"keyword_{n}"
    patterns = [f"keyword_{n}_pattern_{i}" for i in range(len(words))]
    params: dict = {phrase: " ".join(words), **{p: _word_pattern(w) for p, w in zip(patterns, words, strict=True)}}
    texts, classified = f"keyword_{n}_texts", f"keyword_{n}_classified"
    params[classified] = [r[0] for r in con.execute(
        f"SELECT description FROM (SELECT unnest($descriptions::VARCHAR[]) AS description) "
        f"WHERE {_has_all('description', patterns)}",
        {"descriptions": descriptions, **{p: params[p] for p in patterns}}).fetchall()]
    in_area = " AND {t}.area_code = $area_code" if area_code else ""
    text = _has_all("concat_ws(' ', t.activities, t.objects)", patterns)
    text_hits = f"SELECT DISTINCT t.area_code, t.org_id FROM organisation_text t WHERE {text}{in_area.format(t='t')}"
    classified_hits = (f"SELECT DISTINCT c.area_code, c.org_id FROM organisation_classification c WHERE "
                       f"list_contains(${classified}::VARCHAR[], c.description){in_area.format(t='c')}")
    joins = "".join(f" LEFT JOIN ({hits}) {alias} ON {alias}.area_code = d.area_code AND {alias}.org_id = d.org_id"
                    for hits, alias in ((text_hits, texts), (classified_hits, classified)))
    name = "trim(regexp_replace(" + _text("d.name") + ", '[^a-z0-9]+', ' ', 'g'))"
    sql = f"""CASE
        WHEN {name} = ${phrase} THEN 100
        WHEN starts_with({name}, ${phrase} || ' ') THEN 80
        WHEN {_has_all("d.name", patterns)} THEN 60
        WHEN list_bool_or(list_transform(d.other_names, lambda n: {_has_all("n", patterns)})) THEN 40
        WHEN list_bool_or(list_transform(d.service_area_labels, lambda n: {_has_all("n", patterns)})) THEN 20
        WHEN {texts}.org_id IS NOT NULL THEN 15
        WHEN {classified}.org_id IS NOT NULL THEN 10
        ELSE 0 END"""
    return sql, joins, params


def _used(sql: str, params: dict) -> dict:
    """The parameters `sql` names: DuckDB refuses a named parameter the statement does not use."""
    return {name: value for name, value in params.items() if re.search(rf"\${name}\b", sql)}


def check_query(q: FindQuery) -> None:
    """Values no search can use: a clear error rather than an empty list (or, for an empty value, every provider)."""
    check_limit(q.limit, "providers")
    keywords = [q.keyword] if isinstance(q.keyword, str) else list(q.keyword or [])
    empty = [option for option, value in (("--ward", q.ward), ("--near", q.near_postcode),
                                          ("--postcode-district", q.postcode_district), ("--area", q.area_code))
             if value is not None and not str(value).strip()]
    empty += ["--keyword"] if any(not plain(k) for k in keywords) else []
    if empty:
        raise PipelineError(f"{empty[0]} is empty: give a value, or leave the option out to search without it")
    if q.within_km is not None and q.within_km < 0:
        raise PipelineError(f"--within-km {q.within_km:g}: a distance cannot be negative")
    for option, value in (("--min-income", q.min_income), ("--max-income", q.max_income)):
        if value is not None and value < 0:
            raise PipelineError(f"{option} {value:,.0f}: income cannot be negative")
    if q.min_income is not None and q.max_income is not None and q.min_income > q.max_income:
        raise PipelineError(f"--min-income £{q.min_income:,.0f} is more than --max-income £{q.max_income:,.0f}: "
                            "no provider can match both")


def district_of(text: str) -> str:
    """The postcode district (outward code) of "CH41", "ch41" or a full postcode "CH41 1AA"."""
    district = postcode_district(text) or postcode_district(text.strip() + " 1AA")
    if district is None or not postcode_key(district + "1AA"):
        raise PipelineError(f"--postcode-district {text!r} is not a postcode district (like CH41) or a postcode")
    return district


def resolve_district(con: duckdb.DuckDBPyConnection, text: str, area_code: str | None = None) -> str:
    """The district of `text` (district_of) if a provider in the register (in the area) has a postcode there; an
    unknown-value error naming the districts it has otherwise, so a typo never reads as "0 providers"."""
    district = district_of(text)
    known = [r[0] for r in con.execute("SELECT DISTINCT postcode_district FROM provider_directory WHERE "
                                       "postcode_district IS NOT NULL AND (? IS NULL OR area_code = ?)",
                                       [area_code, area_code]).fetchall()]
    if district in known:
        return district
    # CH4 before CH41, CH41 before CH5: by area letters, then number
    ordered = sorted(known, key=lambda d: (re.sub(r"[0-9].*", "", d), int(re.sub(r"^[A-Z]+([0-9]*).*", r"\1", d)
                                                                          or 0), d))
    raise unknown("postcode district", text, ordered, near=close_matches(district, ordered))


def find_providers(con: duckdb.DuckDBPyConnection, q: FindQuery) -> FindResult:
    """Providers matching every given filter, best first (relevance, then distance, then income, then name)."""
    check_query(q)
    notes: list[str] = []
    area_code = resolve_area(con, q.area_code) if q.area_code else None
    params: dict = {"postcode_not_found": list(POSTCODE_NOT_FOUND)}  # every value, by name
    computed = ["coalesce(r.readiness_level, 'unknown') AS readiness", "r.readiness_reasons",
                "coalesce(r.readiness_rank, 3) AS readiness_rank",
                # a postcode the postcode directory does not know (mistyped, or too new): said in `based`
                "coalesce(list_contains($postcode_not_found::VARCHAR[], o.postcode_status), FALSE) "
                "AS postcode_not_found"]
    joins = ("LEFT JOIN provider_readiness r ON r.area_code = d.area_code AND r.org_id = d.org_id "
             "LEFT JOIN organisation o ON o.area_code = d.area_code AND o.org_id = d.org_id")
    where: list[str] = []
    extra_cols: list[str] = []
    order: list[str] = []
    # distance filters apply after the others, so the providers they leave out for want of a location are counted
    near_where: list[str] = []

    keyword_sets = _keyword_sets(q.keyword)
    if keyword_sets:
        # a provider matching several keywords ranks by its best fit
        descriptions = [r[0] for r in con.execute("SELECT DISTINCT description FROM organisation_classification "
                                                  "WHERE description IS NOT NULL").fetchall()]
        fits = [_keyword_relevance(con, words, n, area_code, descriptions) for n, words in enumerate(keyword_sets)]
        computed.append(("greatest(" + ", ".join(sql for sql, _, _ in fits) + ")" if len(fits) > 1 else fits[0][0])
                        + " AS relevance")
        for _sql, fit_joins, fit_params in fits:
            joins += fit_joins
            params.update(fit_params)
        extra_cols.append("relevance")
        where.append("relevance > 0")
        order.append("relevance DESC")
    if q.near_postcode:
        params["lat"], params["long"] = _origin(con, q.near_postcode, area_code)
        joins += " LEFT JOIN postcode_location pl ON pl.postcode = d.postcode"
        # haversine distance on the mean Earth radius; filtered and sorted as it is, rounded only to show, so
        # 3.003 km is not "within 3 km"
        computed.append("2 * 6371.0088 * asin(sqrt(pow(sin(radians(pl.lat - $lat) / 2), 2) + "
                        "cos(radians($lat)) * cos(radians(pl.lat)) * pow(sin(radians(pl.long - $long) / 2), 2))) "
                        "AS distance_km")
        extra_cols.append("round(f.distance_km, 2) AS distance_km")
        near_where.append("f.distance_km IS NOT NULL")
        if q.within_km is not None:
            near_where.append("f.distance_km <= $within_km")
            params["within_km"] = float(q.within_km)
        order.append("f.distance_km")
    elif q.within_km is not None:
        raise PipelineError("--within-km needs --near POSTCODE")

    if q.service_areas:
        where.append("len(list_intersect(service_areas, $service_areas::VARCHAR[])) > 0")
        params["service_areas"] = resolve_service_areas(con, q.service_areas, notes)
    if q.ward:
        where.append("list_contains($wards::VARCHAR[], ward_code)")
        params["wards"] = resolve_ward(con, q.ward, area_code)
    if q.postcode_district:
        where.append("postcode_district = $postcode_district")
        params["postcode_district"] = resolve_district(con, q.postcode_district, area_code)
    if q.legal_forms:
        where.append("list_contains($legal_forms::VARCHAR[], legal_form)")
        params["legal_forms"] = resolve_legal_forms(con, q.legal_forms)
    if q.min_income is not None:
        where.append("latest_income >= $min_income")
        params["min_income"] = float(q.min_income)
    if q.max_income is not None:
        where.append("latest_income <= $max_income")
        params["max_income"] = float(q.max_income)
    if q.readiness:
        bad = [lvl for lvl in q.readiness if lvl.lower() not in READINESS_LEVELS]
        if bad:
            raise unknown("readiness level", bad[0], list(READINESS_LEVELS))
        where.append("list_contains($readiness::VARCHAR[], readiness)")
        params["readiness"] = [lvl.lower() for lvl in q.readiness]
    if area_code:
        where.append("area_code = $area_code")
        params["area_code"] = area_code

    # based in the area before those only operating in it from elsewhere, then the largest first; the area and
    # identifier last, so providers of one name and income (two "Poplarside Youth Club"s, neither filing) come in
    # one order on every run: a page of results is the same page however often it is asked for
    order += ["based_in_area DESC", "latest_income DESC NULLS LAST", "name", "area_code", "org_id"]
    out = [_OUTPUT.get(c, c) + f" AS {c}" for c in COLUMNS] + extra_cols + ["postcode_not_found", "unlocated",
                                                                             "count(*) OVER () AS matched"]
    filtered = ("SELECT *, count(*) FILTER (WHERE distance_km IS NULL) OVER () AS unlocated FROM "
                if near_where else "SELECT *, 0 AS unlocated FROM ")
    filtered += (f"(SELECT d.*, {', '.join(computed)} FROM provider_directory d {joins}) "
                 + ("WHERE " + " AND ".join(where) if where else ""))
    sql = (f"SELECT {', '.join(out)} FROM ({filtered}) f " + ("WHERE " + " AND ".join(near_where) if near_where else "")
           + " ORDER BY " + ", ".join(order))
    if q.limit:
        sql += " LIMIT $limit"
        params["limit"] = int(q.limit)
    cur = con.execute(sql, _used(sql, params))
    names = [d[0] for d in cur.description]
    fetched = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    columns = names[:-3]  # without postcode_not_found, unlocated and matched
    if q.near_postcode:
        unlocated = fetched[0]["unlocated"] if fetched else _unlocated(con, filtered, _used(filtered, params))
        if unlocated:
            notes.append(f"{unlocated:,} provider{' is' if unlocated == 1 else 's are'} left out of this distance "
                         "search because the register has no location for them: no postcode, or one the "
                         "postcode directory does not know")
    total = fetched[0]["matched"] if fetched else 0
    place = _area_names()
    for r in fetched:
        r["based"] = based_where(place(r["area_code"]), r["based_in_area"], r["ward_name"], r["address"],
                                 r["postcode"], r["postcode_terminated"], r["postcode_not_found"])
    rows = [tuple(r[c] for c in columns) for r in fetched]
    return FindResult(columns, rows, total=total, notes=notes)


def _unlocated(con: duckdb.DuckDBPyConnection, filtered: str, params: dict) -> int:
    """How many providers matching every other filter have no location, when the distance search kept none."""
    return con.execute(f"SELECT count(*) FROM ({filtered}) WHERE distance_km IS NULL", params).fetchone()[0]


def _area_names():
    names: dict[str, str] = {}

    def place(code: str) -> str:
        if code not in names:
            names[code] = area_name(code)
        return names[code]
    return place


def base_town(address: str | None, postcode: str | None, area_name: str | None = None) -> str | None:
    """The town of an address: the last part before a county, the area's own name or the postcode ("..., Ancoats,
    Manchester, Greater Manchester" -> "Manchester"; "..., Upton, Wirral" -> "Upton" in Wirral). Register
    addresses end with the town, sometimes followed by the county."""
    parts = [p.strip() for p in (address or "").split(",") if p.strip()]
    if postcode:
        parts = [p for p in parts if p.upper().replace(" ", "") != postcode.upper().replace(" ", "")]
    parts = [p for p in parts if not re.search(r"\d", p)]  # street numbers, flats, postcodes
    while len(parts) > 1 and (parts[-1].lower() in COUNTIES or (area_name and key(parts[-1]) == key(area_name))):
        parts.pop()
    return parts[-1].title() if parts and parts[-1].isupper() else (parts[-1] if parts else None)


def based_where(area_name: str, based_in_area: bool, ward_name: str | None, address: str | None,
                postcode: str | None, postcode_terminated: bool = False, postcode_not_found: bool = False) -> str:
    """"based in Wirral (Liscard)" or "operates in Wirral from Manchester (M4)": whether a provider is local.

    A postcode the ONS has since terminated still places the provider (by its last ward) but is said, since the
    address on record probably needs checking before anyone writes to it. A postcode the postcode directory does
    not know (often mistyped) places it nowhere: said plainly, with the address's town, rather than guessing.
    """
    if based_in_area:
        where = "; ".join(filter(None, [ward_name, "postcode discontinued" if postcode_terminated else None]))
        return f"based in {area_name}" + (f" ({where})" if where else "")
    town = base_town(address, postcode, area_name)
    if postcode and postcode_not_found:
        return f"operates in {area_name} (postcode {postcode} not found" + (f"; address in {town})" if town else ")")
    if not postcode:  # listed as operating here, but its address has no postcode to place it
        return f"operates in {area_name} (no postcode on record" + (f"; address in {town})" if town else ")")
    return f"operates in {area_name} from " + " ".join(filter(None, [town, f"({postcode_district(postcode)})"]))
