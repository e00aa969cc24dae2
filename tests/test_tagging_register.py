"""tag_register on small register and staging tables built in memory with the contract columns."""

from __future__ import annotations

from pathlib import Path

import duckdb

from vcse_pipeline.config import SQL_DIR, Config
from vcse_pipeline.db import run_sql_file, sql_literal
from vcse_pipeline.tagging.apply import tag_register

AREA = "E08000015"


def build(con):
    for name in ("charity_commission", "companies_house", "fca_mutuals"):
        con.execute(f"ATTACH ':memory:' AS {name}")
    con.execute("CREATE TABLE organisation (area_code VARCHAR, org_id VARCHAR, name VARCHAR)")
    con.execute("CREATE TABLE organisation_identifier (area_code VARCHAR, org_id VARCHAR, identifier VARCHAR, "
                "scheme VARCHAR, source VARCHAR, record_id VARCHAR, is_canonical BOOLEAN)")
    con.execute("CREATE TABLE organisation_name (area_code VARCHAR, org_id VARCHAR, name VARCHAR, name_type VARCHAR,"
                " source VARCHAR, normalised_name VARCHAR)")
    con.execute("CREATE TABLE charity_commission.charity (organisation_number BIGINT, registered_charity_number "
                "BIGINT, linked_charity_number BIGINT, charity_name VARCHAR, charity_activities VARCHAR)")
    con.execute("CREATE TABLE charity_commission.charity_governing_document (organisation_number BIGINT, "
                "charitable_objects VARCHAR)")
    con.execute("CREATE TABLE charity_commission.charity_classification (organisation_number BIGINT, "
                "classification_code VARCHAR, classification_type VARCHAR, classification_description VARCHAR)")
    con.execute("CREATE TABLE companies_house.company_sic (company_number VARCHAR, position INTEGER, "
                "sic_code VARCHAR, sic_description VARCHAR)")
    con.execute("CREATE TABLE fca_mutuals.society (registration_number VARCHAR, society_name VARCHAR, "
                "sic_code VARCHAR, reporting_classification VARCHAR)")
    orgs = [("GB-CHC-1100001", "WIRRAL FOOD BANK"), ("GB-COH-12000001", "BIRKENHEAD CARE AT HOME CIC"),
            ("GB-MPR-31234R", "HOYLAKE COMMUNITY HOUSING CO-OPERATIVE LIMITED"), ("GB-COH-12000002", "XQZ LIMITED")]
    con.executemany("INSERT INTO organisation VALUES (?, ?, ?)", [(AREA, o, n) for o, n in orgs])
    ids = [("GB-CHC-1100001", "charity_commission:5001001"), ("GB-CHC-1100001", "companies_house:11000001"),
           ("GB-COH-12000001", "companies_house:12000001"), ("GB-MPR-31234R", "fca_mutuals:31234R"),
           ("GB-COH-12000002", "companies_house:12000002")]
    con.executemany("INSERT INTO organisation_identifier VALUES (?, ?, ?, ?, ?, ?, true)",
                    [(AREA, o, o, o[:6], r.split(":")[0], r) for o, r in ids])
    con.execute("INSERT INTO organisation_name VALUES (?, 'GB-CHC-1100001', 'Wirral Foodbank Trust', 'working', "
                "'charity_commission', 'wirral foodbank trust')", [AREA])
    con.execute("INSERT INTO charity_commission.charity VALUES (5001001, 1100001, 0, 'WIRRAL FOOD BANK', "
                "'Provides emergency food parcels to people in crisis across Wirral, with debt advice.')")
    con.execute("INSERT INTO charity_commission.charity_governing_document VALUES (5001001, "
                "'THE RELIEF OF POVERTY IN WIRRAL')")
    con.executemany("INSERT INTO charity_commission.charity_classification VALUES (5001001, ?, ?, ?)",
                    [("105", "What", "The Prevention Or Relief Of Poverty"), ("207", "Who", "The General Public")])
    con.execute("INSERT INTO companies_house.company_sic VALUES ('12000001', 1, '88100', "
                "'Social work activities without accommodation for the elderly and disabled')")
    con.execute("INSERT INTO fca_mutuals.society VALUES ('31234R', 'HOYLAKE COMMUNITY HOUSING CO-OPERATIVE', "
                "NULL, 'Housing')")
    run_sql_file(con, SQL_DIR / "core" / "20_tagging.sql")


def test_tag_register_writes_tags_with_evidence_and_is_idempotent(tmp_path):
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    con = duckdb.connect()
    build(con)
    first = tag_register(con, cfg, AREA)
    second = tag_register(con, cfg, AREA)
    assert first["organisations"] == 4 and first == second
    assert con.execute("SELECT count(*) FROM organisation_tag").fetchone()[0] == first["tags"]

    food = con.execute("SELECT code, tag_scheme, source_field, evidence, method FROM organisation_tag "
                       "WHERE org_id = 'GB-CHC-1100001' ORDER BY tag_scheme, code").fetchall()
    by_code = {row[0]: row for row in food}
    assert by_code["SW301"][2:] == ("name", "WIRRAL [FOOD BANK]", "regex")
    assert by_code["105"][1:] == ("ccew_classification", "charity_classification",
                                  "What: The Prevention Or Relief Of Poverty", "register")
    assert by_code["CA101"][2] == "activities" and "[debt advice]" in by_code["CA101"][3].lower()

    areas = dict(con.execute("SELECT org_id || '/' || service_area, evidence FROM organisation_service_area")
                 .fetchall())
    assert "ukcat:SW301" in areas["GB-CHC-1100001/food_poverty"]
    assert "ccew_classification:105" in areas["GB-CHC-1100001/food_poverty"]
    # SIC 88100 (social work for the elderly and disabled) is generic: alone it places no one in older people
    # or disability; the name's domiciliary care does place the company in adult social care
    assert "GB-COH-12000001/older_people" not in areas and "GB-COH-12000001/disability" not in areas
    assert "ukcat:SC105 (name)" in areas["GB-COH-12000001/adult_social_care"]
    assert "sic:88100 (generic)" in areas["GB-COH-12000001/adult_social_care"]
    assert "fca:Housing" in areas["GB-MPR-31234R/housing_homelessness"]
    assert first["untagged"] == ["GB-COH-12000002"]  # no text match and no register classification
    assert first["with_service_area"] == 3
    strengths = dict(con.execute("SELECT org_id || '/' || service_area, strength FROM organisation_service_area")
                     .fetchall())
    assert strengths["GB-CHC-1100001/food_poverty"] == 0.8       # the charity states relief of poverty
    assert strengths["GB-COH-12000001/adult_social_care"] == 0.7  # a UKCAT expression on the name
    assert con.execute("SELECT count(*) FROM service_area").fetchone()[0] >= 17
    assert con.execute("SELECT count(*) FROM ukcat_tag").fetchone()[0] == 254
    assert con.execute("SELECT count(*) FROM service_area_cpv WHERE service_area = 'domestic_abuse'").fetchone()[0]


def test_tag_register_with_model_caches_it_and_honours_threshold(tmp_path):
    con = duckdb.connect()
    build(con)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}})
    summary = tag_register(con, cfg, AREA)
    assert summary["method"] == "regex+model"
    cached = list((tmp_path / "cache" / "tagging").glob("ukcat-tagger-v*.pkl"))
    assert len(cached) == 1  # trained once on the packaged labels, then reused
    food = {r[0]: r for r in con.execute("SELECT code, source_field, evidence, method FROM organisation_tag "
                                         "WHERE org_id = 'GB-CHC-1100001' AND tag_scheme = 'ukcat'").fetchall()}
    assert "SW" in food  # poverty relief, by expression or model
    loose = tag_register(con, cfg, AREA)["tags"]
    strict_cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)},
                                                    "tagging": {"threshold": 0.95}})
    strict = tag_register(con, strict_cfg, AREA)["tags"]
    assert strict < loose
    # with text, the model's second stage decides (its probability is the evidence's "model" figure) and the first
    # stage's text score is the strength; the register's classification supports it
    food_area = con.execute("SELECT evidence, strength FROM organisation_service_area "
                            "WHERE org_id = 'GB-CHC-1100001' AND service_area = 'food_poverty'").fetchone()
    assert food_area[0].startswith("model ") and "ccew_classification:105" in food_area[0]
    # its name ("FOOD BANK") places it too: the strength is the stronger of the name's 0.8 and the text score
    assert "name:food bank (name)" in food_area[0]
    assert 0.8 <= food_area[1] <= 1.0
    assert list((tmp_path / "cache" / "tagging").glob("ukcat-tagger-v*.pkl")) == cached


def tag_rows(con):
    return con.execute("SELECT * FROM organisation_tag ORDER BY ALL").fetchall()


def names_tagged(monkeypatch) -> list[str]:
    """The names of the records the tagger is given from now on (the list grows as it tags)."""
    from vcse_pipeline.tagging.tagger import UkcatTagger

    tagged: list[str] = []
    real_tag = UkcatTagger.tag_with_area_arrays  # what a build calls: tags and the model's area scores at once

    def counting_tag(self, records):
        tagged.extend(r.name for r in records)
        return real_tag(self, records)

    monkeypatch.setattr(UkcatTagger, "tag_with_area_arrays", counting_tag)
    return tagged


def evidence_placed(monkeypatch) -> list:
    """The evidence lists tagging places from now on (apply.place; the list grows as it places)."""
    from vcse_pipeline.tagging import apply

    placed: list = []
    real_place = apply.place
    monkeypatch.setattr(apply, "place", lambda evidence, *args: placed.append(evidence) or real_place(evidence, *args))
    return placed


def test_each_text_is_tagged_once_and_remembered_across_builds(tmp_path, monkeypatch):
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    tagged = names_tagged(monkeypatch)
    con = duckdb.connect()
    build(con)
    first = tag_register(con, cfg, AREA)
    rows = tag_rows(con)
    assert sorted(tagged) == sorted(n for (n,) in con.execute("SELECT name FROM organisation").fetchall())
    assert list((tmp_path / "cache" / "tagging").glob("tags-*/*.parquet"))

    # A later build on the same text tags nothing and writes the same rows (the untagged organisation included).
    tagged.clear()
    fresh = duckdb.connect()
    build(fresh)
    assert tag_register(fresh, cfg, AREA) == first and tagged == []
    assert tag_rows(fresh) == rows

    # A changed text is tagged again; the others are read back.
    fresh.execute("UPDATE organisation SET name = 'OXTON FOOD BANK' WHERE org_id = 'GB-COH-12000002'")
    tag_register(fresh, cfg, AREA)
    assert tagged == ["OXTON FOOD BANK"]
    assert fresh.execute("SELECT source_field, evidence FROM organisation_tag WHERE org_id = 'GB-COH-12000002' "
                         "AND code = 'SW301'").fetchall() == [("name", "OXTON [FOOD BANK]")]


def test_tag_cache_is_per_rules_and_model(tmp_path):
    from vcse_pipeline.tagging.cache import tagging_signature

    assert tagging_signature("rules-a", None) != tagging_signature("rules-b", None)
    assert tagging_signature("rules-a", None) != tagging_signature("rules-a", "model.pkl@0.3")
    assert tagging_signature("rules-a", "model.pkl@0.3") != tagging_signature("rules-a", "model.pkl@0.95")


def test_damaged_tag_cache_is_tagged_again(tmp_path):
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    con = duckdb.connect()
    build(con)
    first = tag_register(con, cfg, AREA)
    rows = tag_rows(con)
    for path in (tmp_path / "cache" / "tagging").glob("tags-*/*.parquet"):
        path.write_bytes(b"not parquet")
    assert tag_register(con, cfg, AREA) == first and tag_rows(con) == rows


def test_later_areas_of_a_build_reuse_its_taxonomy_tables_and_placements(tmp_path, monkeypatch):
    from vcse_pipeline.tagging import apply

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    con = duckdb.connect()
    build(con)
    other = "E08000014"  # Sefton: the same organisations again, as when two areas share a registered charity
    for table in ("organisation", "organisation_identifier", "organisation_name"):
        con.execute(f"INSERT INTO {table} SELECT * REPLACE (? AS area_code) FROM {table}", [other])
    placed, written = evidence_placed(monkeypatch), []
    real_write = apply.write_taxonomy
    monkeypatch.setattr(apply, "write_taxonomy", lambda *args: written.append(args) or real_write(*args))
    tagging = apply.prepare_tagging(con, cfg, remember=False)

    first = apply.tag_register(con, cfg, AREA, tagging)
    taxonomy = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("service_area", "service_area_cpv", "service_area_rule", "ukcat_tag")}
    assert len(placed) == first["organisations_tagged"] and len(written) == 1
    second = apply.tag_register(con, cfg, other, tagging)

    # The same organisations elsewhere are placed from what the first area worked out, the taxonomy kept as it was.
    assert len(placed) == first["organisations_tagged"] and len(written) == 1
    assert {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in taxonomy} == taxonomy
    assert second == first
    rows = ("SELECT org_id, service_area, evidence, strength FROM organisation_service_area WHERE area_code = ? "
            "ORDER BY ALL")
    assert con.execute(rows, [other]).fetchall() == con.execute(rows, [AREA]).fetchall()
    assert ("GB-CHC-1100001", "food_poverty") in {r[:2] for r in con.execute(rows, [other]).fetchall()}


def placements(con, area: str = AREA) -> list[tuple]:
    """organisation_service_area's rows of `area` in stored order (the order a build writes them in)."""
    return con.execute("SELECT org_id, service_area, evidence, strength FROM organisation_service_area "
                       "WHERE area_code = ? ORDER BY rowid", [area]).fetchall()


def test_each_placement_is_remembered_across_builds_until_its_evidence_changes(tmp_path, monkeypatch):
    """Service areas depend on an organisation's text and its register-stated tags: a later build places none of
    the unchanged organisations again and writes the same rows in the same order; an organisation whose SIC code
    changed is placed again, by its new code."""
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    placed = evidence_placed(monkeypatch)
    con = duckdb.connect()
    build(con)
    first = tag_register(con, cfg, AREA)
    rows = placements(con)
    assert len(placed) == first["organisations_tagged"] == 3  # XQZ Limited has no evidence: placed nowhere
    assert ("GB-CHC-1100001", "food_poverty") in {r[:2] for r in rows}
    assert list((tmp_path / "cache" / "tagging").glob("places-*/*.parquet"))

    placed.clear()
    fresh = duckdb.connect()
    build(fresh)
    assert tag_register(fresh, cfg, AREA) == first and placed == []
    assert placements(fresh) == rows

    # Birkenhead Care at Home now states SIC 88910 (child day-care) instead of the generic 88100: it alone is placed
    # again, and its rows show the new code; the others' rows are read back as they were.
    def care(placed_rows):
        return [r for r in placed_rows if r[0] == "GB-COH-12000001"]

    fresh.execute("UPDATE companies_house.company_sic SET sic_code = '88910', sic_description = 'Child day-care "
                  "activities' WHERE company_number = '12000001'")
    tag_register(fresh, cfg, AREA)
    assert len(placed) == 1 and "88910" in {e.code for e in placed[0]}
    evidence = " ".join(r[2] for r in care(placements(fresh)))
    assert "sic:88910" in evidence and "88100" not in evidence and "88100" in " ".join(r[2] for r in care(rows))
    assert [r for r in placements(fresh) if r[0] != "GB-COH-12000001"] == \
        [r for r in rows if r[0] != "GB-COH-12000001"]


def test_placement_cache_is_per_tagging_signature_and_taxonomy():
    import dataclasses

    from vcse_pipeline.tagging.cache import placement_signature
    from vcse_pipeline.tagging.taxonomy import load_generic_evidence, load_service_areas

    areas, generic = load_service_areas(), load_generic_evidence()
    signature = placement_signature("tags-a", areas, generic)
    assert signature == placement_signature("tags-a", list(areas), generic)
    assert signature != placement_signature("tags-b", areas, generic)
    assert signature != placement_signature("tags-a", areas, dataclasses.replace(generic, sic=generic.sic | {"1"}))
    moved = [dataclasses.replace(areas[0], sic=(*areas[0].sic, "99999")), *areas[1:]]
    assert signature != placement_signature("tags-a", moved, generic)


TAG_IN_A_PROCESS = """
import json, sys
import duckdb
from test_tagging_register import AREA, build, tag_rows
from vcse_pipeline.config import Config
from vcse_pipeline.tagging.apply import tag_register

cfg = Config.load(environ={}, overrides={"paths": {"data_dir": sys.argv[1]}})
con = duckdb.connect()
build(con)
summary = tag_register(con, cfg, AREA)
areas = con.execute("SELECT * FROM organisation_service_area ORDER BY ALL").fetchall()
print(json.dumps({"sklearn": "sklearn" in sys.modules, "method": summary["method"], "tags": tag_rows(con),
                  "areas": areas}))
"""


def tag_in_a_process(data_dir) -> dict:
    """tag_register with the model on, in a fresh Python process (so its imports are its own)."""
    import json
    import os
    import subprocess
    import sys

    tests = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests.parent), str(tests)]))
    out = subprocess.run([sys.executable, "-c", TAG_IN_A_PROCESS, str(data_dir)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_build_with_every_text_remembered_does_not_load_the_model(tmp_path):
    # The first build tags with the model (unpickling it imports scikit-learn); the second finds every text in the
    # tag cache and writes the same rows from the model's summary alone, never importing scikit-learn.
    cold = tag_in_a_process(tmp_path)
    assert cold["sklearn"] and cold["method"] == "regex+model"
    assert any(method == "model" for *_, method in cold["tags"])  # the model tagged, not the expressions alone
    warm = tag_in_a_process(tmp_path)
    assert not warm["sklearn"]
    assert warm == dict(cold, sklearn=False)
    assert ["E08000015", "GB-CHC-1100001", "food_poverty"] in [row[:3] for row in warm["areas"]]


# The per-area queries tag_register ran before tag_areas read every area at once (one area: the `?`); the once-per-build
# tables must give each area exactly their rows.
PER_AREA_TEXT = """
SELECT o.org_id, o.name,
  (SELECT string_agg(DISTINCT n.name, '; ' ORDER BY n.name) FROM organisation_name n
   WHERE n.area_code = o.area_code AND n.org_id = o.org_id AND n.name <> o.name) AS other_names,
  (SELECT string_agg(DISTINCT c.charity_activities, ' ' ORDER BY c.charity_activities)
   FROM organisation_identifier i
   JOIN charity_commission.charity c ON c.organisation_number = CAST(split_part(i.record_id, ':', 2) AS BIGINT)
   WHERE i.area_code = o.area_code AND i.org_id = o.org_id AND i.record_id LIKE 'charity_commission:%') AS activities,
  (SELECT string_agg(DISTINCT g.charitable_objects, ' ' ORDER BY g.charitable_objects)
   FROM organisation_identifier i
   JOIN charity_commission.charity_governing_document g
     ON g.organisation_number = CAST(split_part(i.record_id, ':', 2) AS BIGINT)
   WHERE i.area_code = o.area_code AND i.org_id = o.org_id AND i.record_id LIKE 'charity_commission:%') AS objects
FROM organisation o WHERE o.area_code = ? ORDER BY o.org_id
"""
PER_AREA_REGISTER = """
SELECT DISTINCT i.org_id, CAST(t.classification_code AS VARCHAR), 'ccew_classification', 'charity_classification',
       t.classification_type || ': ' || t.classification_description
FROM organisation_identifier i JOIN charity_commission.charity_classification t
  ON t.organisation_number = CAST(split_part(i.record_id, ':', 2) AS BIGINT)
WHERE i.area_code = ? AND i.record_id LIKE 'charity_commission:%'
UNION ALL
SELECT DISTINCT i.org_id, t.sic_code, 'sic', 'company_sic', t.sic_code || ' - ' || coalesce(t.sic_description, '')
FROM organisation_identifier i JOIN companies_house.company_sic t ON t.company_number = split_part(i.record_id, ':', 2)
WHERE i.area_code = ? AND i.record_id LIKE 'companies_house:%' AND t.sic_code IS NOT NULL
UNION ALL
SELECT DISTINCT i.org_id, t.sic_code, 'sic', 'society.sic_code', 'FCA SIC ' || t.sic_code
FROM organisation_identifier i JOIN fca_mutuals.society t ON t.registration_number = split_part(i.record_id, ':', 2)
WHERE i.area_code = ? AND i.record_id LIKE 'fca_mutuals:%' AND t.sic_code IS NOT NULL
UNION ALL
SELECT DISTINCT i.org_id, t.reporting_classification, 'fca', 'society.reporting_classification',
       t.reporting_classification
FROM organisation_identifier i JOIN fca_mutuals.society t ON t.registration_number = split_part(i.record_id, ':', 2)
WHERE i.area_code = ? AND i.record_id LIKE 'fca_mutuals:%' AND t.reporting_classification IS NOT NULL
"""
SEFTON = "E08000014"


def two_areas(con):
    """build()'s Wirral, and Sefton holding the food bank charity (with a second name and a second charity record)
    and a company of its own."""
    build(con)
    con.execute("INSERT INTO organisation VALUES (?, 'GB-CHC-1100001', 'WIRRAL FOOD BANK'), "
                "(?, 'GB-COH-13000001', 'SEFTON PLAY SCHEME LTD')", [SEFTON, SEFTON])
    con.executemany("INSERT INTO organisation_identifier VALUES (?, ?, ?, ?, ?, ?, true)",
                    [(SEFTON, "GB-CHC-1100001", "GB-CHC-1100001", "GB-CHC", "charity_commission",
                      "charity_commission:5001001"),
                     (SEFTON, "GB-CHC-1100001", "GB-CHC-1100002", "GB-CHC", "charity_commission",
                      "charity_commission:5001002"),
                     (SEFTON, "GB-COH-13000001", "GB-COH-13000001", "GB-COH", "companies_house",
                      "companies_house:13000001")])
    con.execute("INSERT INTO organisation_name VALUES (?, 'GB-CHC-1100001', 'Sefton Food Share', 'working', "
                "'charity_commission', 'sefton food share')", [SEFTON])
    con.execute("INSERT INTO charity_commission.charity VALUES (5001002, 1100002, 0, 'SEFTON FOOD SHARE', "
                "'Runs a community pantry and holiday meals for children.')")
    con.execute("INSERT INTO charity_commission.charity_classification VALUES (5001002, '108', 'What', "
                "'Amateur Sport')")
    con.execute("INSERT INTO companies_house.company_sic VALUES ('13000001', 1, '88910', 'Child day-care activities')")


def test_the_build_wide_tables_give_each_area_the_rows_its_own_queries_gave():
    from vcse_pipeline.tagging import apply

    con = duckdb.connect()
    two_areas(con)
    apply._write_inputs(con, [AREA, SEFTON])
    for area in (AREA, SEFTON):
        text = con.execute(f"SELECT org_id, name, other_names, activities, objects FROM {apply.TEXT_TABLE} "
                           "WHERE area_code = ? ORDER BY org_id", [area]).fetchall()
        assert text == con.execute(PER_AREA_TEXT, [area]).fetchall()
        register = con.execute(f"SELECT org_id, code, tag_scheme, source_field, evidence FROM {apply.REGISTER_TABLE} "
                               "WHERE area_code = ?", [area]).fetchall()
        assert sorted(register) == sorted(con.execute(PER_AREA_REGISTER, [area] * 4).fetchall())
    sefton = dict((r[0], r[1:]) for r in con.execute(PER_AREA_TEXT, [SEFTON]).fetchall())
    # the same charity in Sefton has two records there: both activities, in order, and the name it is known by there
    assert sefton["GB-CHC-1100001"][1] == "Sefton Food Share"
    assert sefton["GB-CHC-1100001"][2].startswith("Provides emergency food") and "community pantry" in \
        sefton["GB-CHC-1100001"][2]
    # a text's key tells NULL from '' and differs with any field
    keys = dict(con.execute(f"SELECT area_code || org_id, text_key FROM {apply.TEXT_TABLE}").fetchall())
    assert keys[AREA + "GB-CHC-1100001"] != keys[SEFTON + "GB-CHC-1100001"]
    assert len(set(keys.values())) == len(keys)


def test_tagging_areas_together_writes_what_tagging_each_alone_writes(tmp_path):
    from vcse_pipeline.tagging import apply

    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    alone, together = duckdb.connect(), duckdb.connect()
    two_areas(alone)
    two_areas(together)
    summaries = {area: apply.tag_register(alone, cfg, area, apply.prepare_tagging(alone, cfg, remember=False))
                 for area in (AREA, SEFTON)}
    tagging = apply.prepare_tagging(together, cfg, remember=False)
    assert apply.tag_areas(together, cfg, [AREA, SEFTON], tagging) == summaries
    for table in ("organisation_tag", "organisation_service_area"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert together.execute(sql).fetchall() == alone.execute(sql).fetchall()
    assert summaries[SEFTON]["organisations"] == 2 and summaries[SEFTON]["untagged"] == []
    assert ("108", "ccew_classification") in {r[:2] for r in together.execute(
        "SELECT code, tag_scheme FROM organisation_tag WHERE area_code = ?", [SEFTON]).fetchall()}
    # no build table is left in the connection once the build has written its new tags
    tagging.cache.flush()
    assert not together.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_tag\\_%' "
                                "ESCAPE '\\'").fetchall()


def test_a_cache_file_in_another_format_is_skipped_and_its_texts_tagged_again(tmp_path, monkeypatch):
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path)}, "tagging": {"use_model": False}})
    con = duckdb.connect()
    build(con)
    first = tag_register(con, cfg, AREA)
    rows = tag_rows(con)
    (folder,) = (tmp_path / "cache" / "tagging").glob("tags-*")
    # A file as the JSON-scores format wrote it (area scores as JSON on every row): not this format's columns.
    duckdb.connect().execute(
        "COPY (SELECT 'x' AS text_key, 0 AS position, 'SW301' AS code, 'name' AS source_field, 'e' AS evidence, "
        f"'regex' AS method, '{{}}' AS area_scores) TO {sql_literal(folder / '0-old.parquet')} (FORMAT parquet)")
    tagged = names_tagged(monkeypatch)
    fresh = duckdb.connect()
    build(fresh)
    # the good file is still read (nothing tagged again), the old one skipped
    assert tag_register(fresh, cfg, AREA) == first and tag_rows(fresh) == rows and tagged == []
    # and with only the old file, every text is tagged again, to the same rows
    for path in folder.glob("*.parquet"):
        if path.name != "0-old.parquet":
            path.unlink()
    again = duckdb.connect()
    build(again)
    assert tag_register(again, cfg, AREA) == first and tag_rows(again) == rows and len(tagged) == 4


def remembered(cache, keys: list[str]) -> dict:
    """What `cache` gives a build for `keys`: key -> (tags in order, area scores or None)."""
    from vcse_pipeline.tagging.cache import TEXT_ROW
    from vcse_pipeline.tagging.tagger import Tag

    con = duckdb.connect()
    con.execute("CREATE TABLE wanted AS SELECT unnest(?::VARCHAR[]) AS text_key", [keys])
    cache.load(con, "_known", "SELECT text_key FROM wanted")
    found = {}
    for key, position, code, field, evidence, method, areas, decision, strength in con.execute(
            "SELECT * FROM _known ORDER BY text_key, position").fetchall():
        if position == TEXT_ROW:
            found[key] = ([], {a: [d, s] for a, d, s in zip(areas, decision, strength, strict=True)}
                          if areas is not None else None)
        else:
            found[key][0].append(Tag(code, field, evidence, method))
    return found


def test_builds_writing_the_tag_cache_at_once_lose_no_tags(tmp_path):
    """Two builds' caches on one folder (parallel workers, Airflow area tasks), their flushes interleaved and each
    merging the files the other wrote (MERGE_AFTER_FILES): every text either tagged stays remembered, with its tags
    in order and its scores exactly."""
    from vcse_pipeline.tagging.cache import MERGE_AFTER_FILES, TagCache
    from vcse_pipeline.tagging.tagger import Tag

    first, second = TagCache(tmp_path, "sig"), TagCache(tmp_path, "sig")
    expected = {}
    for i in range(MERGE_AFTER_FILES * 2 + 3):
        writer = first if i % 2 else second
        con = duckdb.connect()
        writer.load(con, "_known", "SELECT 'nothing' AS text_key")
        key = f"text-{i}"
        tags = [Tag(f"CD{i}", "activities", f"community {i}", "regex"), Tag("CD", "activities", f"implied by CD{i}",
                                                                             "regex")] if i % 3 else []
        scores = {"community_development": [i / 7, 1 - i / 7], "older_people": [0.1 + i / 3, 0.3]} if i % 4 else None
        writer.add(con, "_known", [key], [tags], [scores])
        writer.flush()
        expected[key] = (tags, scores)
    assert len(list(first.folder.glob("*.parquet"))) < MERGE_AFTER_FILES  # merged along the way
    assert not list(first.folder.glob("*.tmp"))
    for reader in (TagCache(tmp_path, "sig"), first, second):
        assert remembered(reader, list(expected)) == expected


def test_a_writer_finding_another_merging_leaves_the_merge_to_it(tmp_path):
    """Merging is one writer at a time (two merging the same files would each keep a copy of every row): a flush that
    finds the merge lock held writes its own file and leaves the others be; the next flush merges them all."""
    import fcntl

    from vcse_pipeline.tagging.cache import MERGE_AFTER_FILES, MERGE_LOCK, TagCache
    from vcse_pipeline.tagging.tagger import Tag

    cache = TagCache(tmp_path, "sig")

    def tag_one(i: int) -> None:
        con = duckdb.connect()
        cache.load(con, "_known", "SELECT 'nothing' AS text_key")
        cache.add(con, "_known", [f"text-{i}"], [[Tag(f"CD{i}", "name", f"club {i}", "regex")]], [None])
        cache.flush()

    for i in range(MERGE_AFTER_FILES - 1):
        tag_one(i)
    with open(cache.folder / MERGE_LOCK, "a") as held:  # another build's merge
        fcntl.flock(held, fcntl.LOCK_EX)
        tag_one(MERGE_AFTER_FILES - 1)
        assert len(list(cache.folder.glob("*.parquet"))) == MERGE_AFTER_FILES
    tag_one(MERGE_AFTER_FILES)
    assert len(list(cache.folder.glob("*.parquet"))) == 1
    keys = [f"text-{i}" for i in range(MERGE_AFTER_FILES + 1)]
    found = remembered(TagCache(tmp_path, "sig"), keys)
    assert sorted(found) == sorted(keys)
    assert all(tags == [Tag(f"CD{key[5:]}", "name", f"club {key[5:]}", "regex")] for key, (tags, _) in found.items())
    rows = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)",
                                    [[str(p) for p in cache.folder.glob("*.parquet")]]).fetchall()
    assert rows == [(2 * (MERGE_AFTER_FILES + 1),)]  # each text's own row and its tag, once


def test_a_build_removes_cache_folders_of_signatures_long_unused(tmp_path):
    """A build writing its tags removes the folders of other signatures (older rules, model or tagging code) that
    nothing has written to for STALE_AFTER_DAYS, and keeps recent ones (another deployment's code may still use
    them), its own, the other cache's, and the model files beside them."""
    import os
    import time

    from vcse_pipeline.tagging.cache import STALE_AFTER_DAYS, TagCache
    from vcse_pipeline.tagging.tagger import Tag

    def folder(name: str, age_days: float) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "0.parquet").write_bytes(b"x")
        then = time.time() - age_days * 86_400
        os.utime(path / "0.parquet", (then, then))
        return path

    old, recent = folder("tags-oldsignature", STALE_AFTER_DAYS + 1), folder("tags-recentsignature", 1)
    places = folder("places-oldsignature", STALE_AFTER_DAYS + 1)
    model = tmp_path / "ukcat-tagger-v3-abc.pkl.gz"
    model.write_bytes(b"model")
    cache = TagCache(tmp_path, "current")
    con = duckdb.connect()
    cache.load(con, "_known", "SELECT 'nothing' AS text_key")
    cache.add(con, "_known", ["text-1"], [[Tag("CD1", "name", "club", "regex")]], [None])
    cache.flush()
    assert not old.exists()
    assert recent.exists() and places.exists() and model.exists() and list(cache.folder.glob("*.parquet"))
    # a flush that wrote nothing removes nothing
    os.utime(recent / "0.parquet", (0, 0))
    TagCache(tmp_path, "current").flush()
    assert recent.exists()
