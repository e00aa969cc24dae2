"""The W3C Reconciliation Service API 0.2 over the published register, for OpenRefine and other clients.

    GET  /reconcile                      the service manifest
    GET or POST /reconcile  queries=...  a batch of reconciliation queries (name, optional postcode and type)
    GET or POST /reconcile  extend=...   data extension: postcode, ward, legal form, income, ... of matched ids
    GET  /reconcile/preview?id=          a small HTML card for an organisation (OpenRefine shows it in a frame)
    GET  /reconcile/suggest/entity|type|property?prefix=&cursor=    auto-complete
    GET  /reconcile/propose_properties?type=&limit=                 the properties data extension offers

Identifiers are org-ids (org-id.guide): GB-CHC-..., GB-COH-..., GB-MPR-...; preview, data extension and view take
any of an organisation's org-ids (organisation_identifier; locate_ids, which /api reads them by too), candidates give
its own. A candidate's `match` is true only
when `vcse match` would mark the name 'matched' (vcse_pipeline.matching: the configured link threshold and a
lead of DEFAULT_MARGIN points over the next organisation); its score is the matcher's 0-100 score.

The logic is plain functions over a DuckDB cursor and a ReconcileIndex (the matcher's index of one register
version, built once per version and kept while requests use it); the router at the end reads OpenRefine's request
forms (form-encoded `queries=` / `extend=` by POST, or the same in the query string by GET), and puts CORS
headers on every answer, errors included, and JSONP (`callback=`) on GET answers for older clients. Requests are
bounded (queries per batch, characters per name, ids per extension) and every value reaches DuckDB as a parameter.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import duckdb
from fastapi import APIRouter, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..db import release_freed_memory
from ..errors import PipelineError
from ..matching import (
    DEFAULT_MARGIN,
    MATCHED,
    POSTCODE_ADJUSTMENT,
    Candidate,
    MatchIndex,
    fetched,
    most_given,
    register_index,
)
from .register import RegisterReader, RegisterUnavailable, RegisterView, fetch_dicts

log = logging.getLogger(__name__)

SERVICE_NAME = "VCSE register (org-id reconciliation)"
IDENTIFIER_SPACE = "http://org-id.guide"
SCHEMA_SPACE = "http://org-id.guide"
# Where OpenRefine links a reconciled cell: a redirect to the organisation's profile page in this app (whose
# address also names the area).
PROFILE_PATH = "reconcile/view/{{id}}"
PREVIEW_SIZE = (400, 200)   # the frame OpenRefine opens for a preview, in pixels

# Bounds on what one request may ask (a bigger request is a 400 saying which bound, never a slow server).
MAX_BATCH = 100            # queries in one batch (OpenRefine sends 10 by default)
MAX_QUERY_CHARS = 300      # characters in one name; real organisation names are under 200
MAX_CANDIDATES = 25        # candidates per query; DEFAULT_CANDIDATES when the query gives no limit
DEFAULT_CANDIDATES = 5
MAX_EXTEND_IDS = 500       # ids in one data extension request
MAX_REQUEST_CHARS = 500_000  # the JSON text of one `queries` or `extend` value
MAX_BODY_BYTES = 2 * MAX_REQUEST_CHARS  # a form-encoded body, read before any of it is parsed
MAX_PREFIX_CHARS = 100
SUGGEST_LIMIT = 10         # suggestions per page (`cursor` pages on)
MAX_SUGGEST_CURSOR = 10_000


class ReconcileError(PipelineError):
    """A request the service cannot answer as asked: a 400 with this message."""


class RegisterTooLarge(PipelineError):
    """A register with more organisations than `[web] reconcile_max_organisations`: a 503 with this message."""


# ---------------------------------------------------------------------------------------------- types

@dataclass(frozen=True)
class EntityType:
    id: str
    name: str
    description: str
    scheme: str    # the org-id scheme that makes an organisation this type


TYPES = (
    EntityType("charity", "Registered charity", "Registered with the Charity Commission for England and Wales",
               "GB-CHC"),
    EntityType("company", "Company", "Registered at Companies House (company, CIC, CIO or society number)", "GB-COH"),
    EntityType("society", "Registered society", "A co-operative or community benefit society on the FCA Mutuals "
               "Public Register", "GB-MPR"),
)
TYPE_BY_ID = {t.id: t for t in TYPES}
TYPE_BY_SCHEME = {t.scheme: t.id for t in TYPES}


def type_json(type_id: str) -> dict:
    t = TYPE_BY_ID[type_id]
    return {"id": t.id, "name": t.name}


# ---------------------------------------------------------------------------------------------- the index

@dataclass(frozen=True, slots=True)
class Entity:
    """What a candidate shows of an organisation: its registered name and a line telling namesakes apart."""

    org_id: str
    name: str
    types: frozenset[str]
    description: str
    is_active: bool


@dataclass(frozen=True)
class ReconcileIndex:
    """The matcher's index of one register version and what candidates show, with the thresholds `vcse match`
    uses. Read-only once built, so requests share it across threads."""

    matcher: MatchIndex
    entities: dict[str, Entity]
    link_threshold: float
    review_threshold: float

    @classmethod
    def build(cls, con: duckdb.DuckDBPyConnection, thresholds: tuple[float, float]) -> ReconcileIndex:
        # An organisation in several areas is described by its row (one per area) with the postcode the matcher
        # uses (matching.most_given), then by the first area: the same description every time, and the
        # preview card's
        matcher = register_index(con)
        cursor = con.execute(f"""
            WITH schemes AS (SELECT org_id, list(DISTINCT scheme ORDER BY scheme) AS schemes
                             FROM organisation_identifier GROUP BY org_id),
            described AS ({described_rows("organisation")})
            SELECT d.org_id, any_value(d.name) FILTER (place = 1) AS name,
                   any_value(d.legal_form) FILTER (place = 1) AS legal_form,
                   any_value(d.postcode) FILTER (place = 1) AS postcode,
                   any_value(d.ward_name) FILTER (place = 1) AS ward_name,
                   any_value(d.status) FILTER (place = 1) AS status, bool_or(d.is_active) AS is_active,
                   any_value(s.schemes) AS schemes
            FROM described d LEFT JOIN schemes s USING (org_id)
            GROUP BY d.org_id""")
        # A register of every English area has 604,373 organisations: each entity shares its org_id (and its name,
        # when the same) with the matcher's, and its types with every other entity of those types.
        org_ids, names = matcher.table.org_ids, matcher.org_name
        number = matcher.table.org_number
        type_sets: dict[frozenset[str], frozenset[str]] = {}
        entities = {}
        for org_id, name, legal_form, postcode, ward_name, status, is_active, schemes in fetched(cursor):
            at = number.get(org_id)
            if at is not None:
                org_id = org_ids[at]
                name = names[org_id] if names[org_id] == name else name
            parts = [legal_form, postcode, ward_name] + ([] if is_active else [status or "no longer registered"])
            types = frozenset(TYPE_BY_SCHEME[s] for s in schemes or [] if s in TYPE_BY_SCHEME)
            types = type_sets.setdefault(types, types)
            entities[org_id] = Entity(org_id, name, types, " · ".join(p for p in parts if p), bool(is_active))
        # the two queries' memory, freed but kept by DuckDB (about 0.5 GB for a register of every English area),
        # goes back to the system rather than staying with the app beside the index
        release_freed_memory()
        link, review = thresholds
        return cls(matcher, entities, link, review)


def described_rows(rows: str) -> str:
    """SQL of `rows` (a table or CTE of organisation rows) with `place`: 1 for the row that describes each
    organisation (the one with the postcode the matcher uses, then the first area), 2, 3, ... for its others."""
    return f"""
        SELECT r.*, row_number() OVER (PARTITION BY r.org_id ORDER BY r.postcode IS NOT DISTINCT FROM p.postcode DESC,
                                                                   r.area_code) AS place
        FROM {rows} r LEFT JOIN ({most_given("postcode", rows)}) p USING (org_id)"""


class IndexCache:
    """One ReconcileIndex per register version, built on first use (one build at a time: concurrent first
    requests wait for it rather than each building it). A publish brings a new version; the two newest are kept,
    so requests still finishing on the old one do not rebuild it."""

    KEEP = 2

    def __init__(self, thresholds: tuple[float, float], max_organisations: int) -> None:
        self.thresholds = thresholds
        self.max_organisations = max_organisations
        self._indexes: dict[tuple, ReconcileIndex] = {}
        self._lock = threading.Lock()

    def get(self, view: RegisterView) -> ReconcileIndex:
        key = (view.info.version, view.info.run_id, view.info.published_at)
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                self._check_size(view)
                index = ReconcileIndex.build(view.cursor, self.thresholds)
                self._indexes[key] = index
                while len(self._indexes) > self.KEEP:
                    self._indexes.pop(next(iter(self._indexes)))
            return index

    def _check_size(self, view: RegisterView) -> None:
        """Refuse a register too big to index in the app's memory. The index holds every organisation's names and
        description in the app's memory, about 1.1 KB an organisation once built and 2.1 KB while it is built (its
        queries' memory beside it): for a register of every English area (604,000) 0.67 GB, 1.25 GB at the peak,
        built in about 30 s by the first batch, on top of the app's own. Past the limit a batch would risk the whole
        app, every officer's page with it, being stopped for want of memory."""
        organisations = view.remember("organisations", lambda: view.cursor.execute(
            "SELECT count(DISTINCT org_id) FROM organisation").fetchone()[0])
        if organisations > self.max_organisations:
            raise RegisterTooLarge(
                f"this register has {organisations:,} organisations, more than the {self.max_organisations:,} "
                "this service indexes for reconciliation (about 2.1 KB of memory each while the index is built, 1.1 KB "
                "after); an administrator can raise "
                "[web] reconcile_max_organisations where the machine has the memory, or serve a register of fewer "
                "areas. Suggest, preview and data extension work as before")


# ---------------------------------------------------------------------------------------------- manifest

def manifest(base_url: str) -> dict:
    """The service manifest, with every URL under `base_url` (the app's root, ending in /)."""
    root = base_url.rstrip("/")
    return {
        "versions": ["0.2"],
        "name": SERVICE_NAME,
        "identifierSpace": IDENTIFIER_SPACE,
        "schemaSpace": SCHEMA_SPACE,
        "documentation": f"{root}/api/docs",
        "defaultTypes": [{"id": t.id, "name": t.name} for t in TYPES],
        "view": {"url": f"{root}/{PROFILE_PATH}"},
        "preview": {"url": f"{root}/reconcile/preview?id={{{{id}}}}", "width": PREVIEW_SIZE[0],
                    "height": PREVIEW_SIZE[1]},
        "suggest": {
            "entity": {"service_url": root, "service_path": "/reconcile/suggest/entity"},
            "type": {"service_url": root, "service_path": "/reconcile/suggest/type"},
            "property": {"service_url": root, "service_path": "/reconcile/suggest/property"},
        },
        "extend": {
            "propose_properties": {"service_url": root, "service_path": "/reconcile/propose_properties"},
            "property_settings": [],
        },
    }


# ---------------------------------------------------------------------------------------------- queries

# The properties a query may give to narrow its name (pid -> what it is).
QUERY_PROPERTIES = {"postcode": "Postcode: the same postcode, sector or district raises a candidate's score"}


@dataclass(frozen=True)
class NameQuery:
    name: str
    postcode: str | None
    types: frozenset[str]
    limit: int


def parse_json(text: str, field: str) -> object:
    """The JSON text of a `queries` or `extend` value, or a ReconcileError saying what is wrong with it."""
    if len(text) > MAX_REQUEST_CHARS:
        raise ReconcileError(f"{field}: {len(text):,} characters is more than the {MAX_REQUEST_CHARS:,} this "
                             "service takes in one request; send smaller batches")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReconcileError(f"{field} is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise ReconcileError(f"{field} is nested too deeply to read") from None
    except ValueError as exc:   # a number too long to read (Python's limit on an integer's digits)
        raise ReconcileError(f"{field} is not JSON this service can read: {exc}") from None


def parse_query(key: str, raw: object) -> NameQuery:
    """One query of a batch, checked: a name (or none, when it gives only properties), optional postcode, types
    and limit."""
    if not isinstance(raw, dict):
        raise ReconcileError(f"query {key!r} is not an object with a 'query' field")
    name = raw.get("query", "")
    if not isinstance(name, str):
        raise ReconcileError(f"query {key!r}: 'query' must be a string")
    if len(name) > MAX_QUERY_CHARS:
        raise ReconcileError(f"query {key!r}: a name of {len(name):,} characters is longer than the "
                             f"{MAX_QUERY_CHARS} this service matches")
    given = raw.get("type")
    given = [] if given in (None, "") else [given] if isinstance(given, str) else given
    if not isinstance(given, list) or not all(isinstance(t, str) for t in given):
        raise ReconcileError(f"query {key!r}: 'type' must be a type id or a list of them")
    unknown_types = [t for t in given if t not in TYPE_BY_ID]
    if unknown_types:
        raise ReconcileError(f"query {key!r}: unknown type {unknown_types[0]!r}; the types are "
                             + ", ".join(TYPE_BY_ID))
    limit = raw.get("limit", DEFAULT_CANDIDATES)
    # JSON's 1e400 reads as infinity and NaN as nan: neither is a number of candidates
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit) or limit < 1:
        raise ReconcileError(f"query {key!r}: 'limit' must be a positive number")
    postcode = None
    properties = raw.get("properties") or []
    if not isinstance(properties, list):
        raise ReconcileError(f"query {key!r}: 'properties' must be a list of {{pid, v}} objects")
    for prop in properties:
        if not isinstance(prop, dict) or "pid" not in prop:
            raise ReconcileError(f"query {key!r}: each property needs a 'pid' and a 'v'")
        if prop["pid"] not in QUERY_PROPERTIES:
            raise ReconcileError(f"query {key!r}: unknown property {prop['pid']!r}; a query may give "
                                 + ", ".join(QUERY_PROPERTIES))
        values = prop.get("v")
        values = values if isinstance(values, list) else [values]
        postcode = next((v.strip() for v in values if isinstance(v, str) and v.strip()), postcode)
    return NameQuery(name.strip(), postcode, frozenset(given), min(int(limit), MAX_CANDIDATES))


def parse_batch(raw: object) -> dict[str, NameQuery]:
    if not isinstance(raw, dict):
        raise ReconcileError('queries must be a JSON object of queries: {"q0": {"query": "..."}, ...}')
    if len(raw) > MAX_BATCH:
        raise ReconcileError(f"{len(raw):,} queries is more than the {MAX_BATCH} this service takes in one batch")
    return {str(key): parse_query(str(key), value) for key, value in raw.items()}


def reconcile_batch(index: ReconcileIndex, raw: object) -> dict:
    """The answer to a batch of queries (the `queries` JSON, parsed): {key: {"result": [candidate, ...]}}."""
    return {key: {"result": candidates(index, query)} for key, query in parse_batch(raw).items()}


def candidates(index: ReconcileIndex, query: NameQuery) -> list[dict]:
    """The best organisations for one query, best first; the one `vcse match` would mark matched has match true
    (and comes first). A type narrows the candidates; it never makes a name 'matched' that the matcher, which
    sees every organisation, would not."""
    if not query.name:
        return []
    matcher = index.matcher
    accept = _type_filter(index, query.types)
    # scored once: the candidates the matcher's decision reads, among every organisation, and the first ones of the
    # types asked for (MatchIndex.leading: the same as scoring every organisation the name blocks with)
    every = matcher.leading(query.name, query.postcode, shown=accept, count=query.limit, margin=DEFAULT_MARGIN)
    decision = matcher.match(query.name, query.postcode, link_threshold=index.link_threshold,
                             review_threshold=index.review_threshold, margin=DEFAULT_MARGIN, found=every)
    matched = decision.org_id if decision.status == MATCHED else None
    found = [c for c in every if accept is None or accept(c.org_id)]
    found.sort(key=lambda c: c.org_id != matched)   # stable: otherwise in the matcher's order
    return [candidate_json(index, c, c.org_id == matched) for c in found[:query.limit]]


def _type_filter(index: ReconcileIndex, types: frozenset[str]) -> Callable[[str], bool] | None:
    if not types:
        return None
    return lambda org_id: org_id in index.entities and bool(index.entities[org_id].types & types)


def candidate_json(index: ReconcileIndex, candidate: Candidate, match: bool) -> dict:
    entity = index.entities.get(candidate.org_id)
    evidence = candidate.evidence
    description = entity.description if entity else ""
    if evidence.get("name_variant") == "other name":
        description = f"matched on the name {evidence['matched_name']!r}" + (f" · {description}" if description else "")
    out = {
        "id": candidate.org_id,
        "name": entity.name if entity else candidate.matched_name,
        "score": candidate.score,
        "match": match,
        "type": [type_json(t) for t in sorted(entity.types)] if entity else [],
        # what the score is made of, so OpenRefine users can sort and facet on it
        "features": [
            {"id": "name_score", "value": evidence.get("name_score", candidate.score)},
            {"id": "postcode_points", "value": POSTCODE_ADJUSTMENT[evidence.get("postcode_agreement", "unknown")]},
            {"id": "word_overlap", "value": evidence.get("idf_overlap", 0.0)},
            {"id": "other_name", "value": evidence.get("name_variant") == "other name"},
            {"id": "active", "value": bool(entity and entity.is_active)},
        ],
    }
    if description:
        out["description"] = description
    return out


# ---------------------------------------------------------------------------------------------- suggest

def suggest_entities(con: duckdb.DuckDBPyConnection, prefix: str, cursor: int = 0, limit: int = SUGGEST_LIMIT) -> dict:
    """Organisations with a name (registered, working or former) starting with `prefix`, or with a word of it
    starting so: the names that start with it first, then alphabetical."""
    prefix = _check_prefix(prefix)
    if not 0 <= cursor <= MAX_SUGGEST_CURSOR:
        raise ReconcileError(f"cursor must be from 0 to {MAX_SUGGEST_CURSOR:,}")
    if not prefix:
        return {"result": []}
    words = _words_prefix(prefix)
    # Every name either test finds holds the prefix's first word as it is (lower case): a plain `contains` on it
    # leaves the regular expression a few names to clean instead of every one. With the schemes read for the page
    # only (not grouped for every organisation first), a suggestion in a register of every English area (1.2
    # million names) took 0.2 s instead of 1.3-1.6 s.
    literal = words.split(" ")[0] if words else ""
    # each organisation described by one row, as the candidates and the preview card are (described_rows)
    rows = con.execute(f"""
        WITH hits AS (
            SELECT n.org_id, min(CASE WHEN starts_with(lower(n.name), $prefix) THEN 0 ELSE 1 END) AS rank
            FROM organisation_name n
            WHERE contains(lower(n.name), $literal)
              AND (($words <> '' AND contains(' ' || regexp_replace(lower(n.name), '[^a-z0-9]+', ' ', 'g'),
                                                   ' ' || $words))
                   OR starts_with(lower(n.name), $prefix))
            GROUP BY n.org_id),
        hit_rows AS (SELECT * FROM organisation WHERE org_id IN (SELECT org_id FROM hits)),
        described AS ({described_rows("hit_rows")}),
        page AS (
            SELECT h.org_id, d.name, d.legal_form, d.postcode, h.rank
            FROM hits h JOIN described d ON d.org_id = h.org_id AND d.place = 1
            ORDER BY h.rank, d.name, h.org_id
            LIMIT $limit OFFSET $cursor)
        SELECT p.org_id, p.name, p.legal_form, p.postcode, p.rank, list_sort(list(DISTINCT i.scheme)) AS schemes
        FROM page p LEFT JOIN organisation_identifier i ON i.org_id = p.org_id
        GROUP BY ALL
        ORDER BY p.rank, p.name, p.org_id""",
        {"prefix": prefix, "literal": literal, "words": words, "limit": limit, "cursor": cursor}).fetchall()
    result = []
    for org_id, name, legal_form, postcode, _rank, schemes in rows:
        types = sorted({TYPE_BY_SCHEME[s] for s in schemes or [] if s in TYPE_BY_SCHEME})
        description = " · ".join(p for p in (legal_form, postcode) if p)
        result.append({"id": org_id, "name": name, "description": description,
                       "notable": [type_json(t) for t in types]})
    return {"result": result}


def _words_prefix(prefix: str) -> str:
    """The prefix as the word search sees names: lower case letters and digits, single spaces."""
    return re.sub(r"[^a-z0-9]+", " ", prefix.lower()).strip()


def _check_prefix(prefix: str) -> str:
    if len(prefix) > MAX_PREFIX_CHARS:
        raise ReconcileError(f"prefix: {len(prefix):,} characters is more than the {MAX_PREFIX_CHARS} suggest takes")
    return prefix.strip().lower()


def suggest_types(prefix: str) -> dict:
    prefix = _check_prefix(prefix)
    return {"result": [{"id": t.id, "name": t.name, "description": t.description} for t in TYPES
                       if _starts(prefix, t.id, t.name)]}


def suggest_properties(prefix: str) -> dict:
    """The query property (postcode) and every data extension property whose id or name starts with `prefix`."""
    prefix = _check_prefix(prefix)
    found = [{"id": p.id, "name": p.name, "description": p.description} for p in EXTEND_PROPERTIES]
    return {"result": [p for p in found if _starts(prefix, p["id"], p["name"])]}


def _starts(prefix: str, *texts: str) -> bool:
    return not prefix or any(word.startswith(prefix) for text in texts
                             for word in [text.lower(), *re.split(r"[^a-z0-9]+", text.lower())])


# ---------------------------------------------------------------------------------------------- data extension

@dataclass(frozen=True)
class ExtendProperty:
    id: str
    name: str
    description: str
    column: str     # a column of the organisation table (or service_areas, read from organisation_service_area)
    kind: str       # str, float, int or date: the cell form of the 0.2 data extension response


EXTEND_PROPERTIES = (
    ExtendProperty("postcode", "Postcode", "Contact or registered office postcode", "postcode", "str"),
    ExtendProperty("ward", "Ward", "Electoral ward of the postcode", "ward_name", "str"),
    ExtendProperty("ward_code", "Ward code", "GSS code of the ward (E05...)", "ward_code", "str"),
    ExtendProperty("legal_form", "Legal form", "Charity, CIO, CIC, company limited by guarantee, society, ...",
                   "legal_form", "str"),
    ExtendProperty("income", "Latest income (£)", "Income in the latest accounts filed", "latest_income", "float"),
    ExtendProperty("financial_year_end", "Latest financial year end", "End of the year the latest income is for",
                   "latest_financial_year_end", "date"),
    ExtendProperty("service_areas", "Service areas", "What the organisation does, in commissioners' service areas "
                   "(one value each)", "service_areas", "str"),
    ExtendProperty("status", "Status", "Registered / Active, or Removed / Dissolved", "status", "str"),
    ExtendProperty("address", "Address", "Contact or registered office address", "address", "str"),
    ExtendProperty("imd_decile", "Deprivation decile", "Index of Multiple Deprivation decile of the postcode's "
                   "neighbourhood (1 = most deprived 10%)", "imd_decile", "int"),
    ExtendProperty("charity_number", "Charity number", "Charity Commission registration number", "charity_number",
                   "str"),
    ExtendProperty("company_number", "Company number", "Companies House number", "company_number", "str"),
    ExtendProperty("society_number", "Society number", "FCA Mutuals Public Register number", "society_number", "str"),
    ExtendProperty("website", "Website", "Website, as the register gives it", "website", "str"),
)
EXTEND_BY_ID = {p.id: p for p in EXTEND_PROPERTIES}
_ORGANISATION_COLUMNS = sorted({p.column for p in EXTEND_PROPERTIES if p.column != "service_areas"})


def propose_properties(type_id: str | None, limit: int | None = None) -> dict:
    """The properties data extension offers for a type (every type has the same ones). No type (or an empty one,
    as OpenRefine asks for a column reconciled against no particular type) is every type: the same properties."""
    if type_id and type_id not in TYPE_BY_ID:
        raise ReconcileError(f"unknown type {type_id!r}; the types are " + ", ".join(TYPE_BY_ID))
    if limit is not None and limit < 1:
        raise ReconcileError("limit must be a positive number")
    shown = EXTEND_PROPERTIES[:limit] if limit else EXTEND_PROPERTIES
    out = {"type": type_id} if type_id else {}
    out["properties"] = [{"id": p.id, "name": p.name, "description": p.description} for p in shown]
    if limit:
        out["limit"] = limit
    return out


def parse_extend(raw: object) -> tuple[list[str], list[ExtendProperty]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("ids"), list) or not isinstance(raw.get("properties"),
                                                                                          list):
        raise ReconcileError('extend must be a JSON object {"ids": [...], "properties": [{"id": ...}, ...]}')
    ids = raw["ids"]
    if len(ids) > MAX_EXTEND_IDS:
        raise ReconcileError(f"{len(ids):,} ids is more than the {MAX_EXTEND_IDS} this service extends at once")
    if not all(isinstance(i, str) and len(i) <= MAX_QUERY_CHARS for i in ids):
        raise ReconcileError("extend: every id must be an org-id string")
    props = []
    for prop in raw["properties"]:
        pid = prop.get("id") if isinstance(prop, dict) else None
        if pid not in EXTEND_BY_ID:
            raise ReconcileError(f"extend: unknown property {pid!r}; the properties are " + ", ".join(EXTEND_BY_ID))
        props.append(EXTEND_BY_ID[pid])
    return ids, props


def locate_ids(con: duckdb.DuckDBPyConnection, ids: list[str], area: str | None = None) -> dict[str, tuple[str, str]]:
    """Where each id is ({id: (area_code, org_id)}; an id the register does not hold is left out): an org-id is any
    of an organisation's identifiers (organisation_identifier). An id that is an organisation's own org-id names it, in
    the first area that holds it, even where another area links the same id into another organisation; another id is
    its organisation in the first area that gives it. `area`: only that area's identifiers. The one rule of preview,
    data extension, /reconcile/view and /api/organisations/{id}."""
    found = con.execute("""
        SELECT identifier, area_code, org_id FROM organisation_identifier
        WHERE list_contains(?::VARCHAR[], identifier) AND (?::VARCHAR IS NULL OR area_code = ?::VARCHAR)
        QUALIFY row_number() OVER (PARTITION BY identifier ORDER BY is_canonical DESC, area_code) = 1""",
                        [ids, area, area]).fetchall()
    return {identifier: (area_code, org_id) for identifier, area_code, org_id in found}


def resolve_ids(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, str]:
    """The organisation each id names ({id: org_id}), by locate_ids."""
    return {identifier: org_id for identifier, (_, org_id) in locate_ids(con, ids).items()}


def extend(con: duckdb.DuckDBPyConnection, raw: object) -> dict:
    """The data extension answer for the `extend` JSON (parsed): each id's values of each property (none for an id
    the register does not hold), keyed by the id as asked (any of an organisation's org-ids)."""
    ids, props = parse_extend(raw)
    wanted = list(dict.fromkeys(ids))
    org_of = resolve_ids(con, wanted)
    org_ids = sorted(set(org_of.values()))
    columns = ", ".join(_ORGANISATION_COLUMNS)   # constants of this module, never request text
    # an organisation in several areas: the row that describes it, as its candidates and preview card are
    found = con.execute(f"""
        WITH its_rows AS (SELECT * FROM organisation WHERE list_contains(?::VARCHAR[], org_id)),
        described AS ({described_rows("its_rows")})
        SELECT org_id, {columns} FROM described WHERE place = 1""", [org_ids]).fetchall()
    values = {row[0]: dict(zip(_ORGANISATION_COLUMNS, row[1:], strict=True)) for row in found}
    if any(p.column == "service_areas" for p in props):
        for org_id, labels in service_area_labels(con, org_ids).items():
            values.setdefault(org_id, {})["service_areas"] = labels
    rows = {asked: {p.id: _cells(p, values.get(org_of.get(asked), {}).get(p.column)) for p in props}
            for asked in wanted}
    return {"meta": [{"id": p.id, "name": p.name} for p in props], "rows": rows}


def service_area_labels(con: duckdb.DuckDBPyConnection, org_ids: list[str]) -> dict[str, list[str]]:
    """Each organisation's service areas as commissioners name them, alphabetical (any area's tags: the same)."""
    return dict(con.execute("""
        SELECT s.org_id, list(DISTINCT coalesce(a.label, s.service_area) ORDER BY coalesce(a.label, s.service_area))
        FROM organisation_service_area s LEFT JOIN service_area a USING (service_area)
        WHERE list_contains(?::VARCHAR[], s.org_id) GROUP BY s.org_id""", [org_ids]).fetchall())


def _cells(prop: ExtendProperty, value) -> list[dict]:
    if value is None:
        return []
    if isinstance(value, list):
        return [{"str": str(v)} for v in value]
    if prop.kind == "float":
        return [{"float": float(value)}]
    if prop.kind == "int":
        return [{"int": int(value)}]
    if prop.kind == "date":
        return [{"date": f"{value.isoformat()}T00:00:00Z"}]
    return [{"str": str(value)}]


# ---------------------------------------------------------------------------------------------- preview

def preview(con: duckdb.DuckDBPyConnection, org_id: str) -> dict | None:
    """What the preview card shows of one organisation (`org_id` any of its org-ids), or None when the register does
    not hold the id."""
    if len(org_id) > MAX_QUERY_CHARS:
        return None
    org_id = resolve_ids(con, [org_id]).get(org_id)
    if org_id is None:
        return None
    found = fetch_dicts(con, f"""
        WITH its_rows AS (SELECT * FROM organisation WHERE org_id = ?),
        described AS ({described_rows("its_rows")})
        SELECT org_id, name, legal_form, status, is_active, address, postcode, ward_name, latest_income,
               latest_financial_year_end
        FROM described WHERE place = 1""", [org_id])
    if not found:
        return None
    org = found[0]
    org["service_areas"] = service_area_labels(con, [org_id]).get(org_id, [])
    return org


# ---------------------------------------------------------------------------------------------- HTTP

# Every answer of the service carries these: OpenRefine calls it from its own origin in the browser.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
# A JSONP callback name: a JavaScript identifier path, nothing that could carry script of its own.
CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,63}(\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}")
# The preview is shown inside OpenRefine's page: it may be framed by any site, and needs no script.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *; base-uri 'none'; form-action 'none'"


class CorsRoute(APIRoute):
    """A route whose every answer, errors included, carries CORS_HEADERS and is JSON (or JSONP) a client can read:
    400 with the reason for a request the service cannot answer, 503 with no register or one too big to index, 500
    (logged, never a traceback) for anything else."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                length = request.headers.get("content-length", "")
                if length.isdigit() and int(length) > MAX_BODY_BYTES:
                    raise StarletteHTTPException(413, f"a request body over {MAX_BODY_BYTES:,} bytes is more than "
                                                      "this service takes; send smaller batches")
                response = await handler(request)
            except ReconcileError as exc:
                response = _error(request, 400, "invalid request", str(exc))
            except RequestValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}"
                                     for e in exc.errors())
                response = _error(request, 400, "invalid request", problems)
            except RegisterTooLarge as exc:
                response = _error(request, 503, "reconciliation is not available for this register", str(exc))
            except RegisterUnavailable as exc:
                log.error("register unavailable: %s", exc)
                response = _error(request, 503, "the register is not available",
                                  "The register has not been published yet, or cannot be read. Try again later.")
            except StarletteHTTPException as exc:
                response = _error(request, exc.status_code, "request failed", str(exc.detail))
                response.headers.update(exc.headers or {})
            except Exception:
                log.exception("error answering %s", request.url.path)
                response = _error(request, 500, "internal error", "Sorry, there is a problem with the service.")
            response.headers.update(CORS_HEADERS)
            return response

        return with_cors


def _error(request: Request, status: int, error: str, detail: str) -> Response:
    return _json(request, {"error": error, "detail": detail}, status)


def _json(request: Request, payload: object, status: int = 200) -> Response:
    """JSON, or JSONP when a GET request names a valid `callback`."""
    callback = request.query_params.get("callback") if request.method == "GET" else None
    if callback:
        if not CALLBACK.fullmatch(callback):
            callback, payload, status = None, {"error": "invalid request", "detail": "callback must be a "
                                               "JavaScript function name"}, 400
        else:
            body = f"/**/{callback}({json.dumps(payload)});"
            return Response(body, status_code=status, media_type="application/javascript")
    return JSONResponse(payload, status_code=status)


router = APIRouter(prefix="/reconcile", tags=["reconciliation (W3C 0.2)"], route_class=CorsRoute)


def _reader(request: Request) -> RegisterReader:
    return request.app.state.register


def _index(request: Request, view: RegisterView) -> ReconcileIndex:
    """The index of the version `view` is on; the app keeps one IndexCache."""
    state = request.app.state
    with _CACHE_LOCK:
        if getattr(state, "reconcile_indexes", None) is None:
            from ..matching import default_thresholds

            state.reconcile_indexes = IndexCache(default_thresholds(state.cfg),
                                                 state.settings["reconcile_max_organisations"])
    return state.reconcile_indexes.get(view)


_CACHE_LOCK = threading.Lock()


def _answer(request: Request, queries: str | None, extend_text: str | None) -> Response:
    if queries is not None and extend_text is not None:
        raise ReconcileError("send either queries or extend, not both")
    if queries is not None:
        raw = parse_json(queries, "queries")
        with _reader(request).view() as view:
            return _json(request, reconcile_batch(_index(request, view), raw))
    if extend_text is not None:
        raw = parse_json(extend_text, "extend")
        with _reader(request).view() as view:
            return _json(request, extend(view.cursor, raw))
    return _json(request, manifest(str(request.base_url)))


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")   # the bodies a POST is read from
QUERIES_HELP = ('A JSON object of queries: {"q0": {"query": "Wirral Mind", "type": "charity", "limit": 3, '
                '"properties": [{"pid": "postcode", "v": "CH41 1AA"}]}}')
EXTEND_HELP = '{"ids": ["GB-CHC-1234567"], "properties": [{"id": "postcode"}, {"id": "income"}]}'


@router.get("", summary="Manifest, reconciliation queries or data extension (GET)")
def reconcile_get(request: Request, queries: str | None = Query(None, description=QUERIES_HELP),
                  extend: str | None = Query(None, description=EXTEND_HELP),
                  callback: str | None = Query(None, description="JSONP: wrap the answer in this function call")):
    """With no parameters, the service manifest; with `queries`, candidates for each name; with `extend`, property
    values of reconciled ids. JSON Schemas: the W3C Reconciliation Service API 0.2."""
    return _answer(request, queries, extend)


@router.post("", summary="Reconciliation queries or data extension (form-encoded POST, as OpenRefine sends)")
def reconcile_post(request: Request, queries: str | None = Form(None, description=QUERIES_HELP),
                   extend: str | None = Form(None, description=EXTEND_HELP)):
    """OpenRefine posts `queries=` (or `extend=`) form-encoded; the query string is read too. A body of another kind
    (JSON, say) is a 400 saying so, not the manifest as if nothing had been asked."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in FORM_TYPES and request.headers.get("content-length") != "0":
        raise ReconcileError(f"a {content_type} body is not read: send queries= (or extend=) form-encoded "
                             "(application/x-www-form-urlencoded), as OpenRefine does, e.g. "
                             'queries={"q0": {"query": "Wirral Mind"}}')
    params = request.query_params
    return _answer(request, queries if queries is not None else params.get("queries"),
                   extend if extend is not None else params.get("extend"))


@router.get("/preview", summary="A small HTML card of one organisation", response_class=HTMLResponse)
def preview_get(request: Request, id: str = Query(..., description="An org-id, e.g. GB-CHC-1234567")):
    with _reader(request).view() as view:
        org = preview(view.cursor, id)
    templates = request.app.state.templates
    response = templates.TemplateResponse(request, "reconcile_preview.html",
                                          {"org": org, "org_id": id,
                                           "profile": PROFILE_PATH.replace("{{id}}", quote(id, safe=""))},
                                          status_code=200 if org else 404)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@router.get("/view/{org_id}", summary="The organisation's profile page (a redirect)", status_code=303)
def view_get(request: Request, org_id: str):
    """Where the manifest's `view` sends a reconciled id: the profile page of the organisation it names (any of its
    org-ids; locate_ids, as the preview card and data extension read it), in the first area that holds it."""
    asked = org_id[:MAX_QUERY_CHARS]
    with _reader(request).view() as view:
        row = locate_ids(view.cursor, [asked]).get(asked)
    if row is None:
        raise StarletteHTTPException(404, f"no organisation {org_id[:40]} in the register")
    return RedirectResponse(str(request.url_for("profile", area_code=row[0], org_id=row[1])), status_code=303)


@router.get("/suggest/entity", summary="Organisations whose name starts with a prefix")
def suggest_entity_get(request: Request, prefix: str = Query("", description="What the user has typed"),
                       cursor: int = Query(0, description="How many suggestions to skip (paging)"),
                       callback: str | None = Query(None, description="JSONP callback")):
    with _reader(request).view() as view:
        return _json(request, suggest_entities(view.cursor, prefix, cursor))


@router.get("/suggest/type", summary="Entity types whose name starts with a prefix")
def suggest_type_get(request: Request, prefix: str = Query(""), cursor: int = Query(0),
                     callback: str | None = Query(None, description="JSONP callback")):
    return _json(request, suggest_types(prefix))


@router.get("/suggest/property", summary="Properties whose name starts with a prefix")
def suggest_property_get(request: Request, prefix: str = Query(""), cursor: int = Query(0),
                         callback: str | None = Query(None, description="JSONP callback")):
    return _json(request, suggest_properties(prefix))


@router.get("/propose_properties", summary="The properties data extension offers for a type")
def propose_properties_get(request: Request, type: str | None = Query(None, description="A type id: charity, "
                                                                                        "company or society; none "
                                                                                        "or empty for any type"),
                           limit: int | None = Query(None), callback: str | None = Query(None)):
    return _json(request, propose_properties(type, limit))


# Every method a client may send: whatever this service does not answer is still answered here, with CORS headers.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("", methods=ANY_METHOD, include_in_schema=False)
@router.api_route("/{path:path}", methods=ANY_METHOD, include_in_schema=False)
def preflight_or_not_here(request: Request) -> Response:
    """CORS preflight (a browser asks before a POST with a JSON body or other headers) on any path; any other request
    no route above answers (the last routes: a request a route answers goes there) is a 405 on a path of the service
    and a 404 elsewhere, with CORS headers as every answer has, rather than the framework's plain 405."""
    if request.method == "OPTIONS":
        return Response(status_code=204)
    path = request.url.path
    allowed = sorted({method for route in router.routes if isinstance(route, APIRoute)
                      and route.endpoint is not preflight_or_not_here and route.path_regex.match(path)
                      for method in route.methods})
    if allowed:
        raise StarletteHTTPException(405, f"{path} answers {' and '.join(allowed)}, not {request.method}",
                                     headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
    raise StarletteHTTPException(404, f"no {path} in this service: its manifest is GET /reconcile")
