"""Tag a built register: UKCAT tags from the registers' text, plus the classifications registers state,
then service areas from both. Called by pipeline.build_register once an area's organisation tables exist."""

from __future__ import annotations

import dataclasses
import logging

from ..config import Config
from ..db import table_exists
from .areas import Evidence, implied_by, name_evidence, place
from .model import cached_model
from .rules import load_rules_from_db
from .tagger import TextRecord, UkcatTagger
from .taxonomy import ServiceArea, load_generic_evidence, load_service_areas

log = logging.getLogger(__name__)

TAG_COLUMNS = ["area_code", "org_id", "code", "tag_scheme", "source_field", "evidence", "method"]


def _text_sql(con) -> str:
    """Per organisation: name, other names, and (for charities) activities and objects. Every aggregate is
    ordered: the text feeds the model, so the same staging must give the same text (and scores)."""
    has_charity = table_exists(con, "charity", "charity_commission")
    has_gov = table_exists(con, "charity_governing_document", "charity_commission")
    cc_id = "CAST(split_part(i.record_id, ':', 2) AS BIGINT)"
    activities = (f"""(SELECT string_agg(DISTINCT c.charity_activities, ' ' ORDER BY c.charity_activities)
                      FROM organisation_identifier i
                      JOIN charity_commission.charity c ON c.organisation_number = {cc_id}
                      WHERE i.area_code = o.area_code AND i.org_id = o.org_id
                        AND i.record_id LIKE 'charity_commission:%')""" if has_charity else "NULL")
    objects = (f"""(SELECT string_agg(DISTINCT g.charitable_objects, ' ' ORDER BY g.charitable_objects)
                   FROM organisation_identifier i
                   JOIN charity_commission.charity_governing_document g ON g.organisation_number = {cc_id}
                   WHERE i.area_code = o.area_code AND i.org_id = o.org_id
                     AND i.record_id LIKE 'charity_commission:%')""" if has_gov else "NULL")
    other = """(SELECT string_agg(DISTINCT n.name, '; ' ORDER BY n.name) FROM organisation_name n
                WHERE n.area_code = o.area_code AND n.org_id = o.org_id AND n.name <> o.name)""" \
        if table_exists(con, "organisation_name") else "NULL"
    return f"""SELECT o.org_id, o.name, {other} AS other_names, {activities} AS activities, {objects} AS objects
               FROM organisation o WHERE o.area_code = ? ORDER BY o.org_id"""


def _register_tags_sql(con) -> list[str]:
    """SELECTs giving (org_id, code, tag_scheme, source_field, evidence) for what registers state outright."""
    parts = []
    join = """FROM organisation_identifier i JOIN {table} t ON {key}
              WHERE i.area_code = ? AND i.record_id LIKE '{source}:%'"""
    if table_exists(con, "charity_classification", "charity_commission"):
        parts.append("SELECT DISTINCT i.org_id, CAST(t.classification_code AS VARCHAR), 'ccew_classification', "
                     "'charity_classification', t.classification_type || ': ' || t.classification_description "
                     + join.format(table="charity_commission.charity_classification", source="charity_commission",
                                   key="t.organisation_number = CAST(split_part(i.record_id, ':', 2) AS BIGINT)"))
    if table_exists(con, "company_sic", "companies_house"):
        parts.append("SELECT DISTINCT i.org_id, t.sic_code, 'sic', 'company_sic', "
                     "t.sic_code || ' - ' || coalesce(t.sic_description, '') "
                     + join.format(table="companies_house.company_sic", source="companies_house",
                                   key="t.company_number = split_part(i.record_id, ':', 2)")
                     + " AND t.sic_code IS NOT NULL")
    if table_exists(con, "society", "fca_mutuals"):
        key = "t.registration_number = split_part(i.record_id, ':', 2)"
        parts.append("SELECT DISTINCT i.org_id, t.sic_code, 'sic', 'society.sic_code', 'FCA SIC ' || t.sic_code "
                     + join.format(table="fca_mutuals.society", source="fca_mutuals", key=key)
                     + " AND t.sic_code IS NOT NULL")
        parts.append("SELECT DISTINCT i.org_id, t.reporting_classification, 'fca', 'society.reporting_classification',"
                     " t.reporting_classification "
                     + join.format(table="fca_mutuals.society", source="fca_mutuals", key=key)
                     + " AND t.reporting_classification IS NOT NULL")
    return parts


def write_taxonomy(con, areas: list[ServiceArea], ukcat_rows: list[tuple]) -> None:
    """(Re)write the taxonomy tables: the same for every area, so they are replaced whole."""
    for table in ("service_area", "service_area_cpv", "service_area_rule", "ukcat_tag"):
        con.execute(f"DELETE FROM {table}")
    con.executemany("INSERT INTO service_area VALUES (?, ?, ?)", [(a.code, a.label, a.description) for a in areas])
    con.executemany("INSERT INTO service_area_cpv VALUES (?, ?, ?)",
                    [(a.code, code, label) for a in areas for code, label in a.cpv])
    rule_rows = [(a.code, scheme, code) for a in areas for scheme, codes in
                 (("ukcat", sorted(a.ukcat)), ("ccew_classification", sorted(a.ccew)), ("sic", a.sic), ("fca", a.fca))
                 for code in codes]
    con.executemany("INSERT INTO service_area_rule VALUES (?, ?, ?)", rule_rows)
    con.executemany("INSERT INTO ukcat_tag VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ukcat_rows)


def _ukcat_rows(con) -> list[tuple]:
    cols = "code, tag, category, subcategory, level, notes, related_icnptso, regex, exclude_regex"
    if table_exists(con, "ukcat_tag", "ukcat"):
        rows = con.execute(f"SELECT {cols} FROM ukcat.ukcat_tag").fetchall()
        if rows:
            return rows
    from .rules import read_ukcat_csv

    return [(r["code"], r["tag"], r["category"], r["subcategory"], int(r["level"]), r["notes"],
             r["related_icnptso"], r["regex"], r["exclude_regex"]) for r in read_ukcat_csv()]


def tag_register(con, cfg: Config, area_code: str) -> dict:
    """Write organisation_tag and organisation_service_area for one area (replacing its rows); return counts."""
    settings = cfg.section("tagging")
    areas = load_service_areas(settings.get("service_areas") or None)
    generic = load_generic_evidence(settings.get("service_areas") or None)
    rules = load_rules_from_db(con)
    model = (cached_model(rules, cfg.data_dir / "cache" / "tagging", areas=areas)
             if settings.get("use_model", True) else None)
    threshold = float(settings.get("threshold") or 0)
    if model is not None and threshold > 0:  # a configured threshold overrides the one chosen in training
        model = dataclasses.replace(model, threshold=threshold)
    tagger = UkcatTagger(rules, model)

    orgs = con.execute(_text_sql(con), [area_code]).fetchall()
    records = [TextRecord(name=name, other_names=other, activities=act, objects=obj)
               for _org, name, other, act, obj in orgs]
    tag_rows: list[tuple] = []
    tagged, area_scores = tagger.tag_with_area_scores(records) if records else ([], [])
    scores_by_org = {}
    named_by_org = {}
    for (org_id, *_), record, tags, scores in zip(orgs, records, tagged, area_scores, strict=True):
        tag_rows += [(area_code, org_id, t.code, "ukcat", t.source_field, t.evidence, t.method) for t in tags]
        scores_by_org[org_id] = scores
        named_by_org[org_id] = name_evidence(record, areas)
    for select in _register_tags_sql(con):
        tag_rows += [(area_code, org, code, scheme, field, evidence or "", "register")
                     for org, code, scheme, field, evidence in con.execute(select, [area_code]).fetchall()]

    tag_rows.sort(key=lambda row: tuple("" if v is None else v for v in row))  # same staging, same row order
    by_org: dict[str, list[Evidence]] = {}
    for row in tag_rows:
        by_org.setdefault(row[1], []).append(Evidence(row[3], row[2], row[4], row[6],
                                                      implied_by(row[5]) if row[3] == "ukcat" else ""))
    threshold = model.area_threshold if model is not None else 0.0
    area_rows = [(area_code, org, p.service_area, p.evidence, p.strength)
                 for org in sorted(set(by_org) | {o for o, named in named_by_org.items() if named})
                 for p in place(by_org.get(org, []) + named_by_org.get(org, []), areas, generic, scores_by_org.get(org),
                                threshold)]

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM organisation_tag WHERE area_code = ?", [area_code])
        con.execute("DELETE FROM organisation_service_area WHERE area_code = ?", [area_code])
        if tag_rows:
            con.executemany(f"INSERT INTO organisation_tag ({', '.join(TAG_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            tag_rows)
        if area_rows:
            con.executemany("INSERT INTO organisation_service_area (area_code, org_id, service_area, evidence, "
                            "strength) VALUES (?, ?, ?, ?, ?)", area_rows)
        write_taxonomy(con, areas, _ukcat_rows(con))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise

    org_ids = [o[0] for o in orgs]
    with_area = {r[1] for r in area_rows}
    untagged = [o for o in org_ids if o not in by_org]
    no_area_with_evidence = [o for o in org_ids if o in by_org and o not in with_area]
    total = len(org_ids)
    summary = {
        "organisations": total,
        "organisations_tagged": len(by_org),
        "tags": len(tag_rows),
        "service_area_rows": len(area_rows),
        "with_service_area": len(with_area),
        "service_area_share": round(len(with_area) / total, 4) if total else 0.0,
        "untagged": untagged,
        "tagged_without_service_area": no_area_with_evidence,
        "method": "regex+model" if model else "regex",
    }
    log.info("area %s: %d of %d organisations tagged, %.1f%% with a service area; %d with no evidence",
             area_code, len(by_org), total, 100 * summary["service_area_share"], len(untagged))
    return summary
