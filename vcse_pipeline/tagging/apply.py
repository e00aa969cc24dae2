"""Tag a built register: UKCAT tags from the registers' text, plus the classifications registers state,
then service areas from both. Called by pipeline.build_register once an area's organisation tables exist.

The rules and taxonomy are loaded once per build (prepare_tagging), the model only when a text is not in the tag
cache; each distinct text is tagged once and remembered across builds (tagging/cache.py); rows are written
set-wise."""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import duckdb
import pandas as pd

from ..config import Config
from ..db import table_exists
from .areas import Evidence, implied_by, name_evidence, place
from .cache import (
    PLACED_ROW,
    PLACEMENT_COLUMNS,
    TEXT_ROW,
    PlacementCache,
    TagCache,
    keyed_field_sql,
    placement_signature,
    tagging_signature,
    text_key_sql,
)
from .model import ModelFile, find_model, rules_signature
from .rules import UkcatRule, load_rules_from_db
from .tagger import TextRecord, UkcatTagger
from .taxonomy import ServiceArea, load_generic_evidence, load_service_areas

log = logging.getLogger(__name__)

TAG_COLUMNS = ["area_code", "org_id", "code", "tag_scheme", "source_field", "evidence", "method"]
SERVICE_AREA_COLUMNS = ["area_code", "org_id", "service_area", "evidence", "strength"]
UKCAT_COLUMNS = ["code", "tag", "category", "subcategory", "level", "notes", "related_icnptso", "regex",
                 "exclude_regex"]


# The build's areas (area_code, n: their order), then what tag_areas makes of them, each sorted by area so one area's
# rows are a few row groups: organisations and their text (TEXT_TABLE), the register-stated tags (REGISTER_TABLE), the
# tag cache's rows of the build's texts (KNOWN_TABLE), and organisation_tag's rows (ROWS_TABLE).
AREAS_TABLE, TEXT_TABLE, REGISTER_TABLE, KNOWN_TABLE = "_tag_areas", "_tag_text", "_tag_register", "_tag_known"
TODO_TABLE, ROWS_TABLE, SCORES_TABLE = "_tag_todo", "_tag_rows", "_tag_scores"
# Each organisation's place key (area_code, org_id, place_key), and the placement cache's rows of the build's keys.
PLACE_KEY_TABLE, PLACED_TABLE = "_tag_place_keys", "_tag_placed"
BUILD_AREAS = f"i.area_code IN (SELECT area_code FROM {AREAS_TABLE})"


def _text_sql(con) -> str:
    """Per organisation of the build's areas (AREAS_TABLE): name, other names, (for charities) activities and
    objects, and the text's key (cache.text_key_sql), sorted by area and organisation. Every aggregate is ordered:
    the text feeds the model, so the same staging must give the same text (and scores). One pass over each staging
    table for all the areas, not one per area."""
    cc_id = "CAST(split_part(i.record_id, ':', 2) AS BIGINT)"

    def charity_text(table: str, column: str, alias: str) -> str:
        if not table_exists(con, table, "charity_commission"):
            return f"(SELECT NULL AS area_code, NULL AS org_id, NULL AS {alias} WHERE false)"
        return f"""(SELECT i.area_code, i.org_id, string_agg(DISTINCT c.{column}, ' ' ORDER BY c.{column}) AS {alias}
                    FROM organisation_identifier i JOIN charity_commission.{table} c ON c.organisation_number = {cc_id}
                    WHERE {BUILD_AREAS} AND i.record_id LIKE 'charity_commission:%'
                    GROUP BY i.area_code, i.org_id)"""

    other = (f"""(SELECT n.area_code, n.org_id, string_agg(DISTINCT n.name, '; ' ORDER BY n.name) AS other_names
                 FROM organisation_name n JOIN organisation i USING (area_code, org_id)
                 WHERE {BUILD_AREAS} AND n.name <> i.name GROUP BY n.area_code, n.org_id)"""
             if table_exists(con, "organisation_name") else
             "(SELECT NULL AS area_code, NULL AS org_id, NULL AS other_names WHERE false)")
    return f"""SELECT area_code, org_id, name, other_names, activities, objects,
                      {text_key_sql("name", "other_names", "activities", "objects")} AS text_key
               FROM (SELECT i.area_code, i.org_id, i.name, n.other_names, a.activities, g.objects
                     FROM organisation i
                     LEFT JOIN {other} n USING (area_code, org_id)
                     LEFT JOIN {charity_text("charity", "charity_activities", "activities")} a USING (area_code, org_id)
                     LEFT JOIN {charity_text("charity_governing_document", "charitable_objects", "objects")} g
                          USING (area_code, org_id)
                     WHERE {BUILD_AREAS})
               ORDER BY area_code, org_id"""


def _register_tags_sql(con) -> list[str]:
    """SELECTs giving (area_code, org_id, code, tag_scheme, source_field, evidence) for what registers state
    outright, for every organisation of the build's areas (AREAS_TABLE) at once."""
    parts = []
    join = f"""FROM organisation_identifier i JOIN {{table}} t ON {{key}}
              WHERE {BUILD_AREAS} AND i.record_id LIKE '{{source}}:%'"""
    if table_exists(con, "charity_classification", "charity_commission"):
        parts.append("SELECT DISTINCT i.area_code, i.org_id, CAST(t.classification_code AS VARCHAR), "
                     "'ccew_classification', 'charity_classification', "
                     "t.classification_type || ': ' || t.classification_description "
                     + join.format(table="charity_commission.charity_classification", source="charity_commission",
                                   key="t.organisation_number = CAST(split_part(i.record_id, ':', 2) AS BIGINT)"))
    if table_exists(con, "company_sic", "companies_house"):
        parts.append("SELECT DISTINCT i.area_code, i.org_id, t.sic_code, 'sic', 'company_sic', "
                     "t.sic_code || ' - ' || coalesce(t.sic_description, '') "
                     + join.format(table="companies_house.company_sic", source="companies_house",
                                   key="t.company_number = split_part(i.record_id, ':', 2)")
                     + " AND t.sic_code IS NOT NULL")
    if table_exists(con, "society", "fca_mutuals"):
        key = "t.registration_number = split_part(i.record_id, ':', 2)"
        parts.append("SELECT DISTINCT i.area_code, i.org_id, t.sic_code, 'sic', 'society.sic_code', "
                     "'FCA SIC ' || t.sic_code "
                     + join.format(table="fca_mutuals.society", source="fca_mutuals", key=key)
                     + " AND t.sic_code IS NOT NULL")
        parts.append("SELECT DISTINCT i.area_code, i.org_id, t.reporting_classification, 'fca', "
                     "'society.reporting_classification', t.reporting_classification "
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
    places: PlacementCache
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

    def flush(self) -> None:
        """Write what this build tagged and placed to the caches."""
        self.cache.flush()
        self.places.flush()


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
    signature = tagging_signature(rules_signature(rules), model_identity)
    folder = cache_dir if remember else None
    return BuildTagging(areas, generic, rules, model_file, threshold, _ukcat_rows(con), TagCache(folder, signature),
                        PlacementCache(folder, placement_signature(signature, areas, generic)))


def _ukcat_tags(con, tagging: BuildTagging, flush_after: int | None) -> int:
    """Make KNOWN_TABLE hold the tags and model scores of every text of the build's areas: the tag cache's (read
    once), and the rest tagged now, each distinct text once, area by area in build order (so a process holds at most
    `flush_after` texts' new tags before writing them to the cache). Returns how many texts were tagged now."""
    tagging.cache.load(con, KNOWN_TABLE, f"SELECT text_key FROM {TEXT_TABLE}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {TODO_TABLE} AS
        SELECT min(a.n) AS first_area, t.text_key, any_value(t.name) AS name, any_value(t.other_names) AS other_names,
               any_value(t.activities) AS activities, any_value(t.objects) AS objects
        FROM {TEXT_TABLE} t JOIN {AREAS_TABLE} a USING (area_code)
        WHERE t.text_key NOT IN (SELECT text_key FROM {KNOWN_TABLE} WHERE position = {TEXT_ROW})
        GROUP BY t.text_key ORDER BY first_area, t.text_key""")
    areas = [n for (n,) in con.execute(f"SELECT DISTINCT first_area FROM {TODO_TABLE} ORDER BY 1").fetchall()]
    tagged = 0
    for n in areas:
        todo = con.execute(f"SELECT text_key, name, other_names, activities, objects FROM {TODO_TABLE} "
                           "WHERE first_area = ? ORDER BY text_key", [n]).fetchall()
        records = [TextRecord(name=name, other_names=other, activities=act, objects=obj)
                   for _key, name, other, act, obj in todo]
        tags, area_scores = tagging.tagger.tag_with_area_arrays(records)
        tagging.cache.add(con, KNOWN_TABLE, [row[0] for row in todo], tags, area_scores)
        tagged += len(todo)
        if flush_after is not None and tagging.cache.pending >= flush_after:
            tagging.cache.flush()
    con.execute(f"DROP TABLE {TODO_TABLE}")
    return tagged


def _placements(tagging: BuildTagging, evidence: list[Evidence], scores: dict | None, threshold: float) -> list:
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


def _write_inputs(con, areas: list[str]) -> None:
    """AREAS_TABLE, TEXT_TABLE, REGISTER_TABLE for the build's areas: one pass over the staging for all of them."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {AREAS_TABLE} AS SELECT area_code, n "
                "FROM (SELECT unnest(?::VARCHAR[]) AS area_code, generate_subscripts(?::VARCHAR[], 1) AS n)",
                [areas, areas])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TEXT_TABLE} AS {_text_sql(con)}")
    parts = _register_tags_sql(con)
    columns = "area_code, org_id, code, tag_scheme, source_field, evidence"
    select = " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts) if parts else \
        "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {REGISTER_TABLE} AS SELECT * FROM ({select}) AS r({columns}) "
                "ORDER BY area_code, org_id")


def _write_rows(con) -> None:
    """ROWS_TABLE (organisation_tag's rows of every area: the texts' UKCAT tags and the registers' tags, sorted as
    they are written) and SCORES_TABLE (each organisation's model scores, when its text has any)."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {ROWS_TABLE} AS
        SELECT t.area_code, t.org_id, k.code, 'ukcat' AS tag_scheme, k.source_field, k.evidence, k.method
        FROM {TEXT_TABLE} t JOIN {KNOWN_TABLE} k USING (text_key) WHERE k.position <> {TEXT_ROW}
        UNION ALL
        SELECT area_code, org_id, code, tag_scheme, source_field, coalesce(evidence, ''), 'register'
        FROM {REGISTER_TABLE}
        ORDER BY ALL""")  # every column a string (organisation_tag has no NULLs): byte order, as Python sorts
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {SCORES_TABLE} AS
        SELECT t.area_code, t.org_id, k.score_areas, k.decision, k.strength
        FROM {TEXT_TABLE} t JOIN {KNOWN_TABLE} k USING (text_key)
        WHERE k.position = {TEXT_ROW} AND k.score_areas IS NOT NULL
        ORDER BY t.area_code, t.org_id""")


def _evidence(rows: list[tuple]) -> dict[str, list[Evidence]]:
    """Each organisation's tags as areas.place's evidence (rows: the organisation, as _place names it (area_code ||
    org_id), code, tag_scheme, source_field, evidence, method); equal tags share one Evidence (an area has thousands
    of companies stating the same SIC code)."""
    by_org: dict[str, list[Evidence]] = {}
    made: dict[tuple, Evidence] = {}
    for org, code, scheme, field, evidence, method in rows:
        key = (scheme, code, field, method, implied_by(evidence) if scheme == "ukcat" else "")
        item = made.get(key)
        if item is None:
            item = made[key] = Evidence(*key)
        by_org.setdefault(org, []).append(item)
    return by_org


def _write_place_keys(con, tagging: BuildTagging) -> None:
    """PLACE_KEY_TABLE: each organisation's place key, a digest of its text key and the tags registers state for it
    (every column of its REGISTER_TABLE rows, as ROWS_TABLE has them): what areas.place reads, given the build's
    taxonomy and thresholds (the placement cache's signature). Then PLACED_TABLE: the placement cache's rows of those
    keys."""
    stated = " || ".join(keyed_field_sql(c) for c in ("code", "tag_scheme", "source_field", "coalesce(evidence, '')"))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {PLACE_KEY_TABLE} AS
        SELECT t.area_code, t.org_id, sha256(t.text_key || '|' || coalesce(r.stated, '')) AS place_key
        FROM {TEXT_TABLE} t
        LEFT JOIN (SELECT area_code, org_id, string_agg(tag, '' ORDER BY tag) AS stated
                   FROM (SELECT area_code, org_id, {stated} AS tag FROM {REGISTER_TABLE}) GROUP BY ALL) r
             USING (area_code, org_id)
        ORDER BY t.area_code, t.org_id""")
    tagging.places.load(con, PLACED_TABLE, f"SELECT place_key FROM {PLACE_KEY_TABLE}")


def _place_new(con, tagging: BuildTagging) -> int:
    """Place the organisations of the build's areas whose place key the cache does not know (each key once, for its
    first organisation in build order), and add the placements to PLACED_TABLE and the cache. Returns how many keys
    were placed."""
    new = con.execute(f"""
        SELECT k.area_code || k.org_id AS who, k.area_code, k.org_id, k.place_key, t.name, t.other_names
        FROM {PLACE_KEY_TABLE} k JOIN {TEXT_TABLE} t USING (area_code, org_id) JOIN {AREAS_TABLE} a USING (area_code)
        WHERE k.place_key NOT IN (SELECT place_key FROM {PLACED_TABLE} WHERE position = {PLACED_ROW})
        QUALIFY row_number() OVER (PARTITION BY k.place_key ORDER BY a.n, k.org_id) = 1
        ORDER BY a.n, k.org_id""").fetchall()
    for start in range(0, len(new), PLACED_AT_ONCE):
        _place(con, tagging, new[start:start + PLACED_AT_ONCE])
    return len(new)


# Organisations placed together (_place_new): their tags, scores and evidence are Python objects while they are
# placed (a dict of every service area's scores each). Placing a whole tag batch (20,000) at once took one worker's
# half of England at 1x to 898 MB; 2,000 at a time, 799 MB.
PLACED_AT_ONCE = 2_000


def _place(con, tagging: BuildTagging, new: list[tuple]) -> None:
    """Place `new` (who, area_code, org_id, place_key, name, other_names) and add the placements to PLACED_TABLE and
    the cache."""
    # area codes are nine characters, so area_code || org_id names an organisation of an area unambiguously
    con.execute("CREATE OR REPLACE TEMP TABLE _tag_new_orgs AS SELECT unnest(?::VARCHAR[]) AS area_code, "
                "unnest(?::VARCHAR[]) AS org_id", [[r[1] for r in new], [r[2] for r in new]])
    try:
        rows = con.execute(f"SELECT area_code || org_id, code, tag_scheme, source_field, evidence, method "
                           f"FROM {ROWS_TABLE} SEMI JOIN _tag_new_orgs USING (area_code, org_id) ORDER BY ALL"
                           ).fetchall()
        scores = con.execute(f"SELECT area_code || org_id AS who, score_areas, decision, strength FROM {SCORES_TABLE} "
                             "SEMI JOIN _tag_new_orgs USING (area_code, org_id)"
                             ).fetchnumpy()  # arrays: no Python object per score until the dict below
    finally:
        con.execute("DROP TABLE _tag_new_orgs")
    scores_by_org = {who: dict(zip(names.tolist(), zip(decision.tolist(), strength.tolist(), strict=True),
                                   strict=True))
                     for who, names, decision, strength in zip(scores["who"], scores["score_areas"],
                                                               scores["decision"], scores["strength"], strict=True)}
    by_org = _evidence(rows)
    placed: list[tuple] = []
    for who, _area, _org, key, name, other in new:
        evidence = by_org.get(who, []) + name_evidence(TextRecord(name=name, other_names=other), tagging.areas)
        placed.append((key, PLACED_ROW, None, None, None))
        if evidence:  # an organisation with neither tags nor a telling name is in no area, whatever its scores
            placed += [(key, i, p.service_area, p.evidence, p.strength) for i, p in enumerate(
                _placements(tagging, evidence, scores_by_org.get(who), tagging.area_threshold))]
    tagging.places.add(con, PLACED_TABLE, pd.DataFrame(placed, columns=PLACEMENT_COLUMNS, dtype=object))


def _write_tags(con, tagging: BuildTagging) -> None:
    """Replace organisation_tag and organisation_service_area of the build's areas (AREAS_TABLE) with one INSERT
    each, area by area in build order: the tags from ROWS_TABLE, the service areas from each organisation's place key
    in PLACED_TABLE. The taxonomy tables are written with the first areas."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("organisation_tag", "organisation_service_area"):
            con.execute(f"DELETE FROM {table} WHERE area_code IN (SELECT area_code FROM {AREAS_TABLE})")
        con.execute(f"""INSERT INTO organisation_tag ({', '.join(TAG_COLUMNS)})
            SELECT {', '.join('r.' + c for c in TAG_COLUMNS)} FROM {ROWS_TABLE} r JOIN {AREAS_TABLE} a USING (area_code)
            ORDER BY a.n, {', '.join('r.' + c for c in TAG_COLUMNS[1:])}""")
        con.execute(f"""INSERT INTO organisation_service_area ({', '.join(SERVICE_AREA_COLUMNS)})
            SELECT k.area_code, k.org_id, p.service_area, p.evidence, p.strength
            FROM {PLACE_KEY_TABLE} k JOIN {AREAS_TABLE} a USING (area_code) JOIN {PLACED_TABLE} p USING (place_key)
            WHERE p.position <> {PLACED_ROW}
            ORDER BY a.n, k.org_id, p.position""")
        if not tagging.taxonomy_written:
            write_taxonomy(con, tagging.areas, tagging.ukcat_rows)
        con.execute("COMMIT")
    except BaseException:
        # A COMMIT that failed (a full disk) has already rolled back: a ROLLBACK then fails too, and its error
        # ("no transaction is active") would hide the one that says what happened.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    tagging.taxonomy_written = True


def _summaries(con, tagging: BuildTagging, areas: list[str]) -> dict[str, dict]:
    """Each area's tagging summary, from one query: per organisation, in org_id order, its tags and service areas."""
    counts: dict[str, list[tuple]] = {area: [] for area in areas}
    for area, org, tags, placed in con.execute(f"""
            SELECT t.area_code, t.org_id, coalesce(r.tags, 0), coalesce(s.areas, 0)
            FROM {TEXT_TABLE} t
            LEFT JOIN (SELECT area_code, org_id, count(*) AS tags FROM {ROWS_TABLE} GROUP BY ALL) r
                 USING (area_code, org_id)
            LEFT JOIN (SELECT area_code, org_id, count(*) AS areas FROM organisation_service_area
                       WHERE area_code IN (SELECT area_code FROM {AREAS_TABLE}) GROUP BY ALL) s
                 USING (area_code, org_id)
            ORDER BY t.area_code, t.org_id""").fetchall():
        counts[area].append((org, tags, placed))
    summaries = {}
    for area in areas:
        orgs = counts[area]
        total = len(orgs)
        with_area = sum(1 for _, _, placed in orgs if placed)
        summaries[area] = {
            "organisations": total,
            "organisations_tagged": sum(1 for _, tags, _ in orgs if tags),
            "tags": sum(tags for _, tags, _ in orgs),
            "service_area_rows": sum(placed for _, _, placed in orgs),
            "with_service_area": with_area,
            "service_area_share": round(with_area / total, 4) if total else 0.0,
            "untagged": [org for org, tags, _ in orgs if not tags],
            "tagged_without_service_area": [org for org, tags, placed in orgs if tags and not placed],
            "method": tagging.method,
        }
        log.info("area %s: %d of %d organisations tagged, %.1f%% with a service area; %d with no evidence",
                 area, summaries[area]["organisations_tagged"], total,
                 100 * summaries[area]["service_area_share"], len(summaries[area]["untagged"]))
    return summaries


def tag_areas(con, cfg: Config, areas: list[str], tagging: BuildTagging | None = None,
              flush_after: int | None = None) -> dict[str, dict]:
    """Write organisation_tag and organisation_service_area for each area (replacing their rows); return each
    area's counts. Called once a build's areas exist, so every step is one set-wise pass for all of them: the text
    and register queries over the staging, the tag cache and placement cache reads, the join of texts to tags, the
    placing of the organisations whose place key is new, one INSERT per table.

    `tagging` is the build's (prepare_tagging); without one this call prepares its own and writes its tags to the
    cache at the end. `flush_after`: write new tags to the cache whenever this many texts' are held."""
    own = tagging is None
    tagging = tagging or prepare_tagging(con, cfg)
    areas = list(dict.fromkeys(areas))
    tables = (AREAS_TABLE, TEXT_TABLE, REGISTER_TABLE, KNOWN_TABLE, ROWS_TABLE, SCORES_TABLE, PLACE_KEY_TABLE,
              PLACED_TABLE)
    try:
        _write_inputs(con, areas)
        _ukcat_tags(con, tagging, flush_after)
        for column in ("activities", "objects"):  # every text is tagged: free the texts (every charity's, nationally)
            con.execute(f"ALTER TABLE {TEXT_TABLE} DROP COLUMN {column}")
        _write_rows(con)
        _write_place_keys(con, tagging)
        placed = _place_new(con, tagging)
        log.info("%d organisations placed in service areas now, the rest remembered", placed)
        if flush_after is not None and tagging.places.pending >= flush_after:
            tagging.places.flush()
        _write_tags(con, tagging)
        summaries = _summaries(con, tagging, areas)
    finally:
        for table in tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    if own:
        tagging.flush()
    return summaries


def tag_register(con, cfg: Config, area_code: str, tagging: BuildTagging | None = None) -> dict:
    """Write organisation_tag and organisation_service_area for one area (replacing its rows); return counts
    (tag_areas for one area)."""
    return tag_areas(con, cfg, [area_code], tagging)[area_code]
