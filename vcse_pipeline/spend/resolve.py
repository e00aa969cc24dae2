"""Supplier resolution: every supplier of the loaded lines becomes an organisation id or a known kind, with the
method, score and evidence of the decision, and a location (postcode, local authority, region, ward, deprivation).

A supplier is the council's supplier id, else the name key; an id written with names of different suppliers (a
shared "SUNDRY CREDITOR" or one-off account the id macro does not know) is one supplier per name under it
(`split_shared_ids`).

The routes, first that decides wins (docs/spend.md):
  1. the overrides file (supplier id or name -> org id or kind), applied on every run;
  2. a redaction ("REDACTED PERSONAL DATA": an individual; "Redacted Commercial Data": a redacted supplier);
  3. a company or charity number written in the file; the supplier id carries it to the lines that lack it
     ("supplier id" method when only some lines had it); a number whose registered name is not a name written for
     the supplier (`name_similarity` below SAME_NAME) decides nothing: the name is matched (route 5) and, when it
     finds no one, the number's organisation goes to review, the reason in the evidence;
  4. public bodies (councils, NHS trusts, police, schools, ...) and people's names ("Mr J Smith") by pattern; a
     name a public body's pattern finds is still checked against the register and the national charities and
     societies first: an identical register name or one charity/society of the name key wins ("Eastham High
     School PTA"); a school's friends, PTA or parents' association is never a public body by name;
  5. the name (and postcode) against the published register (vcse_pipeline.matching, as `vcse match` does) and
     against every Companies House company (exact name key; the active company when several share it).
Uncertain decisions (a register candidate between the review and link thresholds, several companies of one name)
have status 'review' and count as unresolved until a person decides (an override).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from rapidfuzz import fuzz

from ..config import Config
from ..db import attach_staging, sql_literal
from ..errors import PipelineError
from ..matching import MATCHED, REVIEW, default_thresholds, register_index
from ..names import name_variants
from ..tabular_io import read_table, require_columns

RESOLVED, UNRESOLVED = "resolved", "unresolved"
# The LSOAs ranked by the English Indices of Deprivation 2019: a rank's decile, as the register computes it
# (sql/records/register_records.sql).
ENGLISH_LSOAS = 32844
VCSE, BUSINESS, PUBLIC, INDIVIDUAL, REDACTED, UNKNOWN = (
    "vcse", "business", "public body", "individual", "redacted", "unknown")
KINDS = (VCSE, BUSINESS, PUBLIC, INDIVIDUAL, REDACTED)
PERSONAL_REDACTION = re.compile(r"personal|individual|data protection", re.I)
# Public bodies by name. "Council for Voluntary Service" is a VCSE: a council must be a city/borough/... council
# or the name must end with "Council".
PUBLIC_BODY = re.compile(
    r"\b(city|borough|county|district|metropolitan|parish|town|unitary)\s+council\b|\bcouncil\s*$"
    r"|\bnhs\b|\b(foundation|hospitals?|ambulance service|health ?care)\s+(nhs\s+)?trust\b"
    r"|\bintegrated care board\b|\bclinical commissioning group\b"
    r"|\bpolice\b|\bconstabulary\b|\bfire (and|&) rescue\b|\bcombined authority\b"
    r"|\b(primary|secondary|infant|junior|high|grammar|special|nursery|catholic|c of e|ce)\s+school\b"
    r"|\bacademy trust\b|\buniversity\b|\bcollege\b"
    r"|\bhm revenue\b|\bhmrc\b|\bdepartment (for|of)\b|\bministry of\b|\benvironment agency\b|\bdvla\b"
    r"|\bhm courts\b|\bland registry\b|\bpension fund\b", re.I)
# ...but a school's friends, PTA or parents' association is a charity, never a public body by name.
SUPPORTS_A_PUBLIC_BODY = re.compile(
    r"\bfriends of\b|\bp\.?t\.?f?\.?a\b|\bparents?'?\s*(and teachers?'?\s*|teachers?'?\s*)?(association|friends)\b"
    r"|\bparent teacher\b", re.I)
PERSON = re.compile(r"^(mr|mrs|miss|ms|mx|dr)\.?\s+\S", re.I)
# ...unless the name is a business's ("Mrs Buckets Cafe Ltd", "Dr Foster Services").
NOT_A_PERSON = re.compile(r"\b(ltd|limited|llp|plc|cic|trust|services|cafe|shop|and sons|associates|group)\b", re.I)
# Accounts categories of companies too big for SME (a full or group audit); a PLC is large as well.
LARGE_ACCOUNTS = ("FULL", "GROUP")
OVERRIDE_KINDS = {"public": PUBLIC, "public body": PUBLIC, "individual": INDIVIDUAL, "redacted": REDACTED}

# Two names are spellings of one supplier ("Wirral Mind", "WIRRAL MIND LTD", "Mind in Wirral", "Age UK Wirral" /
# "Age Concern Wirral") at this rapidfuzz token_set_ratio of their normalised forms or more; one name's words all in
# the other's count as the same. "Tranmere Mind" and "Chester Motors" score about 30.
SAME_NAME = 80.0

RESOLUTION_COLUMNS = ["supplier_key", "supplier_name", "org_id", "matched_name", "kind", "method", "score",
                      "status", "evidence", "company_number", "charity_number"]


@dataclass
class Decision:
    org_id: str | None = None
    matched_name: str | None = None
    kind: str = UNKNOWN
    method: str = "none"
    score: float = 0.0
    status: str = UNRESOLVED
    evidence: dict | None = None
    company_number: str | None = None
    charity_number: str | None = None


def read_overrides(path: Path | None) -> dict[str, str]:
    """supplier (the council's supplier id, or the name as written) -> org id or kind, from a CSV/XLSX with columns
    supplier and org_id (and any notes). Keys compared upper-case with spacing collapsed."""
    if path is None or not Path(path).exists():
        return {}
    frame = read_table(Path(path), "spend overrides")
    require_columns(frame, ["supplier", "org_id"], "spend overrides", Path(path))
    overrides = {}
    for number, row in enumerate(frame.to_dict("records"), start=2):
        supplier, org_id = (str(row["supplier"] or "").strip(), str(row["org_id"] or "").strip())
        if not supplier or not org_id:
            raise PipelineError(f"spend overrides file {path} row {number}: supplier and org_id must both be given")
        overrides[_override_key(supplier)] = org_id
    return overrides


def _override_key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().upper()


def name_similarity(left: str | None, right: str | None) -> float:
    """0-100: how alike two names of a supplier are, the best over their forms (the whole name, without asides, a
    former or trading name it declares)."""
    return max((fuzz.token_set_ratio(a, b) for a in name_variants(left) for b in name_variants(right)), default=0.0)


def _name_groups(names: list[str]) -> list[list[int]]:
    """The positions of `names` grouped where they are spellings of one name (SAME_NAME, chained): each group is
    one supplier, in the order of its first name."""
    groups: list[list[int]] = []
    for i, name in enumerate(names):
        joined = [g for g in groups if any(name_similarity(name, names[j]) >= SAME_NAME for j in g)]
        groups = [g for g in groups if g not in joined] + [sorted([j for g in joined for j in g] + [i])]
    return sorted(groups)


def split_shared_ids(con: duckdb.DuckDBPyConnection) -> int:
    """Key spend_line's id lines again over every file: a supplier id whose lines name different suppliers (names
    that are not spellings of one another) is keyed by the id and the name, 'id:<id>|name:<name key>' (the
    most-written name key of each group of spellings), so a shared id merges no suppliers; a name-less line keeps
    'id:<id>'. Other id lines keep 'id:<id>'. Returns the number of ids split."""
    con.execute("""
        UPDATE spend_line SET supplier_key = 'id:' || supplier_id
        WHERE supplier_id IS NOT NULL AND NOT is_redacted AND supplier_key <> 'id:' || supplier_id""")
    written = con.execute("""
        WITH several AS (
            SELECT supplier_id FROM spend_line WHERE supplier_id IS NOT NULL AND NOT is_redacted
            GROUP BY 1 HAVING count(DISTINCT supplier_name) > 1)
        SELECT supplier_id, spend_name_key(supplier_name) AS name_key, mode(supplier_name), count(*) AS lines
        FROM spend_line WHERE supplier_id IN (SELECT supplier_id FROM several) AND NOT is_redacted
              AND spend_name_key(supplier_name) IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, lines DESC, 2""").fetchall()
    by_id: dict[str, list[tuple[str, str]]] = {}
    for supplier_id, name_key, name, _lines in written:   # most-written key first
        by_id.setdefault(supplier_id, []).append((name_key, name))
    rekeyed = []
    for supplier_id, keys in by_id.items():
        groups = _name_groups([name for _key, name in keys])
        if len(groups) > 1:
            for group in groups:
                rekeyed += [(supplier_id, keys[i][0], f"id:{supplier_id}|name:{keys[group[0]][0]}") for i in group]
    if rekeyed:
        con.register("_rekeyed", pd.DataFrame(rekeyed, columns=["supplier_id", "name_key", "supplier_key"]))
        try:
            con.execute("""
                UPDATE spend_line l SET supplier_key = r.supplier_key FROM _rekeyed r
                WHERE l.supplier_id = r.supplier_id AND NOT l.is_redacted
                  AND spend_name_key(l.supplier_name) = r.name_key""")
        finally:
            con.unregister("_rekeyed")
    return len({supplier_id for supplier_id, _key, _ in rekeyed})


def build_suppliers(con: duckdb.DuckDBPyConnection) -> None:
    """spend_supplier: one row per supplier key (the council's supplier id, else the name key; a shared id split by
    name, `split_shared_ids`) over every file."""
    split_shared_ids(con)
    con.execute("""
        CREATE OR REPLACE TABLE spend_supplier AS
        SELECT supplier_key,
               mode(supplier_name) AS supplier_name,
               any_value(supplier_id) AS supplier_id,
               mode(company_number) AS company_number,
               mode(charity_number) AS charity_number,
               mode(supplier_postcode) AS postcode,
               count(DISTINCT supplier_name) AS name_count,
               list(DISTINCT supplier_name ORDER BY supplier_name) FILTER (WHERE supplier_name IS NOT NULL)
                   AS names,
               count(*) AS line_count,
               sum(amount) AS total_amount,
               bool_and(company_number IS NOT NULL OR charity_number IS NOT NULL) AS number_on_every_line,
               bool_or(is_redacted) AS is_redacted
        FROM spend_line GROUP BY supplier_key ORDER BY supplier_key""")


STAGING_NEEDED = ("companies_house", "charity_commission", "fca_mutuals", "postcodes")


@contextmanager
def attached(con: duckdb.DuckDBPyConnection, cfg: Config):
    """The published register (as `register`) and the staging resolution reads, attached read-only for a run."""
    register = cfg.register_path
    if not register.exists():
        raise PipelineError(f"register {register} not found: build it first (`vcse run`, or `vcse demo`)")
    con.execute(f"ATTACH {sql_literal(str(register))} AS register (READ_ONLY)")
    try:
        attach_staging(con, cfg, STAGING_NEEDED)
        yield con
    finally:
        for alias in ("register", *STAGING_NEEDED):
            con.execute(f"DETACH DATABASE IF EXISTS {alias}")


def resolve_suppliers(con: duckdb.DuckDBPyConnection, cfg: Config, overrides: dict[str, str]) -> dict[str, int]:
    """Build spend_supplier and supplier_resolution (with locations) from spend_line; returns counts by status.
    `con` is the spend database with the register and staging attached (`attached`)."""
    build_suppliers(con)
    suppliers = con.execute("SELECT * FROM spend_supplier").fetchdf()
    decisions = _decide(con, cfg, suppliers, overrides)
    frame = pd.DataFrame([
        {"supplier_key": key, "supplier_name": name, **{c: getattr(d, c) for c in RESOLUTION_COLUMNS[2:]}}
        for (key, name), d in decisions.items()], columns=RESOLUTION_COLUMNS)
    frame["evidence"] = [json.dumps(e, sort_keys=True) if e else None for e in frame["evidence"]]
    frame["score"] = frame["score"].astype(float)
    con.register("_decisions", frame)
    try:
        _locate(con, cfg)
    finally:
        con.unregister("_decisions")
    return dict(con.execute("SELECT status, count(*) FROM supplier_resolution GROUP BY 1").fetchall())


def _decide(con, cfg: Config, suppliers: pd.DataFrame, overrides: dict[str, str]) -> dict[tuple, Decision]:
    decisions: dict[tuple, Decision] = {}
    by_number = _number_lookups(con, suppliers)
    pending = []
    for row in suppliers.to_dict("records"):
        key = (row["supplier_key"], row["supplier_name"])
        decision = (_override(con, row, overrides) or _redaction(row) or _by_number(row, by_number)
                    or _by_pattern(row))
        if decision and decision.status == "review":   # a number not of the name written (_by_number)
            pending.append({**row, "number_mismatch": decision})   # the name decides, else this review
        elif decision and decision.kind == PUBLIC and decision.method == "public body name":
            pending.append({**row, "public_body": decision})   # unless the register or a charity has the name
        elif decision:
            decisions[key] = decision
        else:
            pending.append(row)
    if pending:
        decisions.update(_by_name(con, cfg, pending))
    return decisions


def _override(con, row: dict, overrides: dict[str, str]) -> Decision | None:
    for said in (row["supplier_id"], row["supplier_name"], *(row["names"] if row["names"] is not None else [])):
        if said and _override_key(str(said)) in overrides:
            target = overrides[_override_key(str(said))]
            kind = OVERRIDE_KINDS.get(target.lower())
            evidence = {"override": str(said), "to": target}
            if kind:
                return Decision(kind=kind, method="override", score=100.0, status=RESOLVED, evidence=evidence)
            company = re.fullmatch(r"GB-COH-(\w+)", target, re.I)
            charity = re.fullmatch(r"GB-CHC-(\d+)", target, re.I)
            return Decision(org_id=target, kind=UNKNOWN, method="override", score=100.0, status=RESOLVED,
                            evidence=evidence, company_number=company.group(1).upper().zfill(8) if company else None,
                            charity_number=charity.group(1) if charity else None)
    return None


def _redaction(row: dict) -> Decision | None:
    if not row["is_redacted"]:
        return None
    kind = INDIVIDUAL if PERSONAL_REDACTION.search(row["supplier_name"] or "") else REDACTED
    return Decision(kind=kind, method="redaction", score=100.0, status=RESOLVED,
                    evidence={"name": row["supplier_name"]})


def _number_lookups(con, suppliers: pd.DataFrame) -> dict[str, dict]:
    """company number -> its all_company row, charity number -> its main charity row, for the numbers written."""
    companies = [c for c in suppliers["company_number"].dropna().unique()]
    charities = [c for c in suppliers["charity_number"].dropna().unique()]
    found: dict[str, dict] = {}
    if companies:
        for number, name, status in con.execute(
                "SELECT company_number, company_name, company_status FROM companies_house.all_company "
                "WHERE company_number IN (SELECT unnest(?))", [companies]).fetchall():
            found[f"COH:{number}"] = {"name": name, "status": status}
    if charities:
        for number, name in con.execute(
                "SELECT CAST(registered_charity_number AS VARCHAR), charity_name FROM charity_commission.charity "
                "WHERE linked_charity_number = 0 AND CAST(registered_charity_number AS VARCHAR) IN (SELECT unnest(?))",
                [charities]).fetchall():
            found[f"CHC:{number}"] = {"name": name}
    return found


def _by_number(row: dict, found: dict[str, dict]) -> Decision | None:
    """The organisation a written number names, when a name written for the supplier is its registered name or a
    spelling of it (SAME_NAME). A number whose registered name is none of them (mistyped, or another body's) is a
    'review' decision, kept only when the name finds nothing (`_by_name`)."""
    method = "company number" if row["number_on_every_line"] or not row["supplier_id"] else "supplier id"
    written = [n for n in (row["names"] if row["names"] is not None else [row["supplier_name"]]) if n]
    mismatch = None
    for scheme, number in (("COH", row["company_number"]), ("CHC", row["charity_number"])):
        if not number or f"{scheme}:{number}" not in found:
            continue
        registered = found[f"{scheme}:{number}"]["name"]
        similarity = max((name_similarity(name, registered) for name in written), default=0.0)
        decision = Decision(org_id=f"GB-{scheme}-{number}", matched_name=registered,
                            method=method if scheme == "COH" else method.replace("company", "charity"),
                            score=100.0, status=RESOLVED, evidence={"number": number, "written": row["supplier_name"]},
                            company_number=number if scheme == "COH" else None,
                            charity_number=number if scheme == "CHC" else None)
        if similarity >= SAME_NAME or not written:
            return decision
        if mismatch is None:
            decision.score, decision.status = round(similarity, 1), "review"
            decision.evidence = {**decision.evidence, "registered_name": registered,
                                 "name_similarity": round(similarity, 1),
                                 "reason": f"{registered}, the organisation of the number written, is not the "
                                           f"name written: to review unless the name finds the supplier"}
            mismatch = decision
    return mismatch


def _by_pattern(row: dict) -> Decision | None:
    name = row["supplier_name"] or ""
    if PUBLIC_BODY.search(name) and not SUPPORTS_A_PUBLIC_BODY.search(name):
        return Decision(kind=PUBLIC, method="public body name", score=100.0, status=RESOLVED,
                        evidence={"pattern": PUBLIC_BODY.search(name).group(0)})
    if PERSON.match(name) and not NOT_A_PERSON.search(name):
        return Decision(kind=INDIVIDUAL, method="personal name", score=100.0, status=RESOLVED,
                        evidence={"name": name})
    return None


# Every organisation of the national registers, by exact name key (spend_name_key): scheme, number, name, whether
# it is live, postcode. A charitable company or CIO is in two of them under one name: the same organisation.
NATIONAL_NAMES = """
    SELECT 'COH' AS scheme, company_number AS number, company_name AS name,
           coalesce(company_status, '') ILIKE 'active%' AS live, postcode
    FROM companies_house.all_company WHERE spend_name_key(company_name) IN (SELECT name_key FROM keys)
    UNION ALL
    SELECT 'CHC', CAST(registered_charity_number AS VARCHAR), charity_name,
           charity_registration_status = 'Registered', upper(charity_contact_postcode)
    FROM charity_commission.charity
    WHERE linked_charity_number = 0 AND spend_name_key(charity_name) IN (SELECT name_key FROM keys)
    UNION ALL
    SELECT 'MPR', registration_number, society_name, coalesce(society_status, '') ILIKE 'registered%', postcode
    FROM fca_mutuals.society WHERE spend_name_key(society_name) IN (SELECT name_key FROM keys)"""
# When names tie across registers, the record to take: the charity (its contact postcode is the one kept up to
# date), then the society, then the company.
SCHEME_ORDER = ("CHC", "MPR", "COH")


def _national_candidates(con, rows: list[dict]) -> dict[str, list[tuple]]:
    """supplier_key -> [(scheme, number, name, live, postcode), ...] with the supplier's exact name key."""
    wanted = pd.DataFrame({"supplier_key": [r["supplier_key"] for r in rows],
                           "supplier_name": [r["supplier_name"] for r in rows]})
    con.register("_wanted", wanted)
    try:
        found = con.execute(f"""
            WITH keys AS (SELECT supplier_key, spend_name_key(supplier_name) AS name_key FROM _wanted),
                 national AS ({NATIONAL_NAMES})
            SELECT k.supplier_key, n.scheme, n.number, n.name, n.live, n.postcode
            FROM keys k JOIN national n ON spend_name_key(n.name) = k.name_key
            ORDER BY k.supplier_key, n.scheme, n.number""").fetchall()
    finally:
        con.unregister("_wanted")
    by_key: dict[str, list[tuple]] = {}
    for supplier_key, *candidate in found:
        by_key.setdefault(supplier_key, []).append(tuple(candidate))
    return by_key


def _one_organisation(candidates: list[tuple]) -> tuple | None:
    """The one organisation a name key names: the only live record in each register where it is in any, and then
    the first register of SCHEME_ORDER; None when a register has several live records of the name."""
    pool = [c for c in candidates if c[3]] or candidates
    by_scheme: dict[str, list[tuple]] = {}
    for candidate in pool:
        by_scheme.setdefault(candidate[0], []).append(candidate)
    if any(len(found) > 1 for found in by_scheme.values()):
        return None
    return next((by_scheme[s][0] for s in SCHEME_ORDER if s in by_scheme), None)


def _by_name(con, cfg: Config, rows: list[dict]) -> dict[tuple, Decision]:
    """The register (fuzzy, with postcodes) and every company, charity and society (exact name key) for suppliers
    with neither a number nor a pattern: an exact register name wins, then one national record of the name, then a
    register match; a register candidate to review, or several records of the name, go to review. A supplier a
    public body's pattern named (row["public_body"]) keeps that decision unless the register has its name exactly
    or one charity or society has its name key (a company does not: academy trusts and NHS companies are
    companies)."""
    cursor = con.cursor()      # the register's organisation / organisation_name, unqualified, on its own cursor
    cursor.execute("USE register")
    index = register_index(cursor)
    cursor.close()
    link, review = default_thresholds(cfg)
    national = _national_candidates(con, rows)
    decisions = {}
    for row in rows:
        name, postcode = row["supplier_name"], row["postcode"]
        found = index.match(name, postcode, link_threshold=link, review_threshold=review) if name else None
        candidates = national.get(row["supplier_key"], [])
        public = row.get("public_body")
        if public:
            candidates = [c for c in candidates if c[0] in ("CHC", "MPR")]
        one = _one_organisation(candidates)
        evidence = {"name": name, "postcode": postcode}
        if public and not (found and found.status == MATCHED and found.score >= 99.5) and not one:
            decision = public
        elif found and found.status == MATCHED and found.score >= 99.5:
            decision = Decision(found.org_id, found.matched_name, UNKNOWN, "register name", found.score, RESOLVED,
                                evidence)
        elif one:
            scheme, number, matched, _live, _postcode = one
            decision = Decision(f"GB-{scheme}-{number}", matched, UNKNOWN, "national register name",
                                100.0 if len(candidates) == 1 else 95.0, RESOLVED,
                                {**evidence, "records_of_this_name": len(candidates)},
                                company_number=number if scheme == "COH" else None,
                                charity_number=number if scheme == "CHC" else None)
        elif found and found.status in (MATCHED, REVIEW):
            decision = Decision(found.org_id, found.matched_name, UNKNOWN, "register name", found.score,
                                RESOLVED if found.status == MATCHED else "review", evidence)
        elif candidates:
            decision = Decision(None, candidates[0][2], UNKNOWN, "national register name", 50.0, "review",
                                {**evidence, "records": [f"GB-{c[0]}-{c[1]}" for c in candidates[:10]]})
        else:
            decision = Decision(evidence=evidence)
        mismatch = row.get("number_mismatch")
        if mismatch and decision.status == RESOLVED:
            decision.evidence = {**(decision.evidence or {}),
                                 "number_not_this_name": {k: mismatch.evidence[k] for k in (
                                     "number", "registered_name", "name_similarity")}}
        elif mismatch:
            decision = mismatch
        decisions[(row["supplier_key"], row["supplier_name"])] = decision
    return decisions


def _locate(con, cfg: Config) -> None:
    """supplier_resolution: the decisions, each resolved organisation mapped to the register's organisation (by
    org id or any identifier) or to its Companies House / Charity Commission record, with its location and size."""
    vcse_categories = list(cfg.source("companies_house")["categories"])
    con.execute(f"""
        CREATE OR REPLACE TABLE supplier_resolution AS
        WITH reg AS (   -- one row per register organisation (an organisation built for two areas is one)
            SELECT org_id, any_value(name) AS name, any_value(postcode) AS postcode
            FROM register.organisation GROUP BY org_id),
        reg_id AS (SELECT DISTINCT identifier, org_id FROM register.organisation_identifier),
        d AS (
            SELECT d.*, coalesce(r1.org_id, r2.org_id, r3.org_id) AS register_org_id
            FROM _decisions d
            LEFT JOIN reg r1 ON r1.org_id = d.org_id
            LEFT JOIN reg_id r2 ON r2.identifier = d.org_id
            LEFT JOIN reg_id r3 ON r3.identifier = 'GB-COH-' || d.company_number),
        company AS (
            SELECT d.supplier_key, c.* FROM d JOIN companies_house.all_company c
                ON c.company_number = coalesce(d.company_number, regexp_extract(d.org_id, '^GB-COH-(.+)$', 1))),
        -- A company record without an address (a CIO's, say) is placed by the one charity of the same name.
        charity_by_name AS (
            SELECT spend_name_key(charity_name) AS name_key, any_value(upper(charity_contact_postcode)) AS postcode
            FROM charity_commission.charity
            WHERE linked_charity_number = 0 AND spend_name_key(charity_name) IN (
                SELECT spend_name_key(company_name) FROM company WHERE postcode IS NULL)
            GROUP BY 1 HAVING count(*) = 1),
        placed AS (
            SELECT d.*, coalesce(reg.postcode, c.postcode, ch.charity_contact_postcode, m.postcode, cn.postcode)
                       AS located_postcode,
                   c.company_category, c.accounts_category
            FROM d
            LEFT JOIN reg ON reg.org_id = d.register_org_id
            LEFT JOIN company c USING (supplier_key)
            LEFT JOIN charity_commission.charity ch
                   ON ch.linked_charity_number = 0
                  AND CAST(ch.registered_charity_number AS VARCHAR) = coalesce(
                          d.charity_number, regexp_extract(d.org_id, '^GB-CHC-(\\d+)', 1))
            LEFT JOIN fca_mutuals.society m ON m.registration_number = regexp_extract(d.org_id, '^GB-MPR-(.+)$', 1)
            LEFT JOIN charity_by_name cn ON c.postcode IS NULL AND cn.name_key = spend_name_key(c.company_name))
        SELECT p.supplier_key, p.supplier_name, coalesce(p.register_org_id, p.org_id) AS org_id, p.matched_name,
               CASE WHEN p.kind <> '{UNKNOWN}' THEN p.kind
                    WHEN p.status <> '{RESOLVED}' THEN '{UNKNOWN}'
                    WHEN p.register_org_id IS NOT NULL THEN '{VCSE}'
                    WHEN p.company_category IN (SELECT unnest({sql_literal(vcse_categories)}::VARCHAR[]))
                      OR p.org_id LIKE 'GB-CHC-%' OR p.org_id LIKE 'GB-MPR-%' THEN '{VCSE}'
                    WHEN p.org_id IS NOT NULL THEN '{BUSINESS}'
                    ELSE '{UNKNOWN}' END AS kind,
               p.method, p.score, p.status, p.evidence, p.register_org_id IS NOT NULL AS in_register,
               p.company_category, p.accounts_category,
               CASE WHEN p.status = '{RESOLVED}' THEN pc.postcode END AS postcode,
               CASE WHEN p.status = '{RESOLVED}' THEN pc.lad_code END AS lad_code,
               CASE WHEN p.status = '{RESOLVED}' THEN pc.region_code END AS region_code,
               CASE WHEN p.status = '{RESOLVED}' THEN pc.ward_code END AS ward_code,
               CASE WHEN p.status = '{RESOLVED}' THEN w.ward_name END AS ward_name,
               CASE WHEN p.status = '{RESOLVED}' THEN CAST(ceil(pc.imd_rank * 10.0 / {ENGLISH_LSOAS}) AS INTEGER)
                    END AS imd_decile
        FROM placed p
        LEFT JOIN postcodes.postcode pc ON pc.postcode_key = upper(replace(p.located_postcode, ' ', ''))
        LEFT JOIN postcodes.ward w ON w.ward_code = pc.ward_code
        ORDER BY p.supplier_key""")
    # The size class the splits use: VCSE / SME / large / public / individual / redacted / unresolved.
    con.execute(f"""
        ALTER TABLE supplier_resolution ADD COLUMN size_class VARCHAR;
        UPDATE supplier_resolution SET size_class = CASE
            WHEN kind = '{VCSE}' THEN 'VCSE'
            WHEN kind = '{PUBLIC}' THEN 'public'
            WHEN kind IN ('{INDIVIDUAL}', '{REDACTED}') THEN kind
            WHEN kind = '{BUSINESS}' AND (accounts_category IN {tuple(LARGE_ACCOUNTS)}
                                         OR company_category = 'Public Limited Company') THEN 'large'
            WHEN kind = '{BUSINESS}' THEN 'SME'
            ELSE 'unresolved' END""")
