"""Tag a built register: UKCAT tags from the registers' text, plus the classifications registers state,
then service areas from both. Called by pipeline.build_register once an area's organisation tables exist.

The rules and taxonomy are loaded once per build (prepare_tagging), the model only when a text is not in the tag
cache; each distinct text is tagged once and remembered across builds (tagging/cache.py); rows are written
set-wise."""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd

from ..config import Config
from ..db import table_exists
from .areas import Evidence, implied_by, name_evidence, place
from .cache import TagCache, Tagged, tagging_signature, text_key
from .model import ModelFile, find_model, rules_signature
from .rules import UkcatRule, load_rules_from_db
from .tagger import TextRecord, UkcatTagger
from .taxonomy import ServiceArea, load_generic_evidence, load_service_areas

log = logging.getLogger(__name__)

TAG_COLUMNS = ["area_code", "org_id", "code", "tag_scheme", "source_field", "evidence", "method"]
SERVICE_AREA_COLUMNS = ["area_code", "org_id", "service_area", "evidence", "strength"]
UKCAT_COLUMNS = ["code", "tag", "category", "subcategory", "level", "notes", "related_icnptso", "regex",
                 "exclude_regex"]


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
    _insert_rows(con, "service_area", ["service_area", "label", "description"],
                 [(a.code, a.label, a.description) for a in areas])
    _insert_rows(con, "service_area_cpv", ["service_area", "cpv_code", "cpv_label"],
                 [(a.code, code, label) for a in areas for code, label in a.cpv])
    rule_rows = [(a.code, scheme, code) for a in areas for scheme, codes in
                 (("ukcat", sorted(a.ukcat)), ("ccew_classification", sorted(a.ccew)), ("sic", a.sic), ("fca", a.fca))
                 for code in codes]
    _insert_rows(con, "service_area_rule", ["service_area", "tag_scheme", "code"], rule_rows)
    _insert_rows(con, "ukcat_tag", UKCAT_COLUMNS, ukcat_rows)


def _ukcat_rows(con) -> list[tuple]:
    if table_exists(con, "ukcat_tag", "ukcat"):
        rows = con.execute(f"SELECT {', '.join(UKCAT_COLUMNS)} FROM ukcat.ukcat_tag").fetchall()
        if rows:
            return rows
    from .rules import read_ukcat_csv

    return [(r["code"], r["tag"], r["category"], r["subcategory"], int(r["level"]), r["notes"],
             r["related_icnptso"], r["regex"], r["exclude_regex"]) for r in read_ukcat_csv()]


@dataclasses.dataclass
class BuildTagging:
    """What tagging needs once per build, not once per area: the service areas and the generic evidence that alone
    places no one, rules, the model file (None: rules only), the UKCAT rows for the taxonomy tables, and the tag
    cache (tagging/cache.py). The tagger, and the model in it, are made when a text is not in the cache (`tagger`):
    a build whose texts are all remembered never loads them. `taxonomy_written`: the build's first area has written
    the taxonomy tables, which are the same for every area, so later areas leave them be."""

    areas: list[ServiceArea]
    generic: object  # taxonomy.load_generic_evidence's answer, handed to areas.place
    rules: list[UkcatRule]
    model_file: ModelFile | None
    threshold: float  # the model's code threshold (a configured one overrides the one chosen in training)
    ukcat_rows: list[tuple]
    cache: TagCache
    taxonomy_written: bool = False
    placed: dict = dataclasses.field(default_factory=dict)  # place()'s answers without scores (see _place)
    _tagger: UkcatTagger | None = None

    @property
    def tagger(self) -> UkcatTagger:
        if self._tagger is None:
            model = self.model_file.load() if self.model_file is not None else None
            if model is not None and model.threshold != self.threshold:
                model = dataclasses.replace(model, threshold=self.threshold)
            self._tagger = UkcatTagger(self.rules, model)
        return self._tagger

    @property
    def area_threshold(self) -> float:
        return self.model_file.area_threshold if self.model_file is not None else 0.0

    @property
    def method(self) -> str:
        return "regex+model" if self.model_file is not None else "regex"


def prepare_tagging(con, cfg: Config, remember: bool = True) -> BuildTagging:
    """Load the taxonomy and rules, and find the model, once for a build (the staging attached); `remember` False
    keeps no tags across builds."""
    settings = cfg.section("tagging")
    areas = load_service_areas(settings.get("service_areas") or None)
    generic = load_generic_evidence(settings.get("service_areas") or None)
    rules = load_rules_from_db(con)
    cache_dir = cfg.data_dir / "cache" / "tagging"
    model_file = find_model(rules, cache_dir, areas=areas) if settings.get("use_model", True) else None
    threshold = float(settings.get("threshold") or 0)
    if model_file is not None and threshold <= 0:  # a configured threshold overrides the one chosen in training
        threshold = model_file.threshold
    model_identity = (f"{model_file.identity}@{threshold}@{model_file.area_threshold}"
                      if model_file is not None else None)
    cache = TagCache(cache_dir if remember else None, tagging_signature(rules_signature(rules), model_identity))
    return BuildTagging(areas, generic, rules, model_file, threshold, _ukcat_rows(con), cache)


def _ukcat_tags(tagging: BuildTagging, records: list[TextRecord]) -> list[Tagged]:
    """Each record's tags and the model's service-area scores: remembered ones by text key, the rest tagged now
    (each distinct text once)."""
    keys = [text_key(r) for r in records]
    known = tagging.cache.lookup(list(dict.fromkeys(keys)))
    todo = {k: r for k, r in zip(keys, records, strict=True) if k not in known}
    if todo:
        tagged, area_scores = tagging.tagger.tag_with_area_scores(list(todo.values()))
        for key, tags, scores in zip(todo, tagged, area_scores, strict=True):
            tagging.cache.add(key, tags, scores)
            known[key] = (tags, scores)
    return [known[k] for k in keys]


def _place(tagging: BuildTagging, evidence: list[Evidence], scores: dict | None, threshold: float) -> list:
    """areas.place for one organisation. Organisations without text (no model scores) and the same evidence
    (companies stating the same SIC code, say) are placed once per build; scores are all but unique to their text,
    so those placements are not kept (a national build would hold one per charity)."""
    if scores is not None:
        return place(evidence, tagging.areas, tagging.generic, scores, threshold)
    key = (tuple(evidence), threshold)
    found = tagging.placed.get(key)
    if found is None:
        found = tagging.placed[key] = place(evidence, tagging.areas, tagging.generic, None, threshold)
    return found


def _insert_rows(con, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Insert rows set-wise: one DataFrame, one INSERT ... SELECT."""
    if not rows:
        return
    con.register("_tag_rows_df", pd.DataFrame(rows, columns=columns, dtype=object))
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _tag_rows_df")
    finally:
        con.unregister("_tag_rows_df")


def tag_register(con, cfg: Config, area_code: str, tagging: BuildTagging | None = None) -> dict:
    """Write organisation_tag and organisation_service_area for one area (replacing its rows); return counts.

    `tagging` is the build's (prepare_tagging); without one this call prepares its own and writes its tags to the
    cache at the end."""
    own = tagging is None
    tagging = tagging or prepare_tagging(con, cfg)
    areas = tagging.areas

    orgs = con.execute(_text_sql(con), [area_code]).fetchall()
    records = [TextRecord(name=name, other_names=other, activities=act, objects=obj)
               for _org, name, other, act, obj in orgs]
    tag_rows: list[tuple] = []
    scores_by_org = {}
    named_by_org = {}
    tagged = _ukcat_tags(tagging, records) if records else []
    for (org_id, *_), record, (tags, scores) in zip(orgs, records, tagged, strict=True):
        tag_rows += [(area_code, org_id, t.code, "ukcat", t.source_field, t.evidence, t.method) for t in tags]
        scores_by_org[org_id] = scores
        named_by_org[org_id] = name_evidence(record, areas)
    for select in _register_tags_sql(con):
        tag_rows += [(area_code, org, code, scheme, field, evidence or "", "register")
                     for org, code, scheme, field, evidence in con.execute(select, [area_code]).fetchall()]

    tag_rows.sort()  # same staging, same row order (every column is a string: organisation_tag has no NULLs)
    by_org: dict[str, list[Evidence]] = {}
    for row in tag_rows:
        by_org.setdefault(row[1], []).append(Evidence(row[3], row[2], row[4], row[6],
                                                      implied_by(row[5]) if row[3] == "ukcat" else ""))
    threshold = tagging.area_threshold
    area_rows = [(area_code, org, p.service_area, p.evidence, p.strength)
                 for org in sorted(set(by_org) | {o for o, named in named_by_org.items() if named})
                 for p in _place(tagging, by_org.get(org, []) + named_by_org.get(org, []), scores_by_org.get(org),
                                 threshold)]

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM organisation_tag WHERE area_code = ?", [area_code])
        con.execute("DELETE FROM organisation_service_area WHERE area_code = ?", [area_code])
        _insert_rows(con, "organisation_tag", TAG_COLUMNS, tag_rows)
        _insert_rows(con, "organisation_service_area", SERVICE_AREA_COLUMNS, area_rows)
        if not tagging.taxonomy_written:
            write_taxonomy(con, areas, tagging.ukcat_rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    tagging.taxonomy_written = True
    if own:
        tagging.cache.flush()

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
        "method": tagging.method,
    }
    log.info("area %s: %d of %d organisations tagged, %.1f%% with a service area; %d with no evidence",
             area_code, len(by_org), total, 100 * summary["service_area_share"], len(untagged))
    return summary
