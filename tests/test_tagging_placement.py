"""areas.place looks evidence up by tag (taxonomy.AreaIndex) and gives exactly what the area-by-area definition it
replaced gives (bench/placement.py's baseline): the same service areas in the same order, strengths and evidence
strings, on the demo register's own evidence and the model scores its build remembered."""

from __future__ import annotations

import duckdb
import pytest
from bench_scripts import load_bench

from vcse_pipeline.tagging.areas import Evidence, implied_by, name_evidence, place
from vcse_pipeline.tagging.tagger import TextRecord
from vcse_pipeline.tagging.taxonomy import area_index, load_generic_evidence, load_service_areas, name_words

WIRRAL = "E08000015"
# Reporting classifications as the FCA Mutuals register writes them (the demo writes only the first two), so the
# taxonomy's FCA words ("housing", "social club", "sport") are exercised as substrings of real values.
FCA_CLASSIFICATIONS = ["Registered Society", "Credit Union", "Housing Association", "Social Club",
                       "Sports and Recreation Club", "Community Benefit Society", "Agriculture and Horticulture"]


@pytest.fixture(scope="module")
def demo_organisations(demo_register) -> list[tuple[TextRecord, list[Evidence]]]:
    """Each Wirral organisation's name and other names, and its tags as tag_register turns them into evidence
    (sorted as it sorts them; a UKCAT parent keeps the child that implied it)."""
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        names = con.execute("""
            SELECT o.org_id, o.name, (SELECT string_agg(DISTINCT n.name, '; ' ORDER BY n.name) FROM organisation_name n
                                      WHERE n.area_code = o.area_code AND n.org_id = o.org_id
                                        AND n.name_type <> 'registered')
            FROM organisation o WHERE o.area_code = ? ORDER BY o.org_id""", [WIRRAL]).fetchall()
        tags = con.execute("""SELECT org_id, code, tag_scheme, source_field, evidence, method FROM organisation_tag
                              WHERE area_code = ? ORDER BY ALL""", [WIRRAL]).fetchall()
    finally:
        con.close()
    by_org: dict[str, list[Evidence]] = {}
    for org, code, scheme, field, evidence, method in tags:
        by_org.setdefault(org, []).append(
            Evidence(scheme, code, field, method, implied_by(evidence) if scheme == "ukcat" else ""))
    return [(TextRecord(name=name, other_names=other), by_org.get(org, [])) for org, name, other in names]


@pytest.fixture(scope="module")
def demo_area_scores(demo_register) -> list[dict]:
    """The model's service-area scores ({area: [decision, strength]}) the demo build remembered in its tag cache."""
    files = sorted((demo_register.cfg.data_dir / "cache" / "tagging").glob("tags-*/*.parquet"))
    assert files, "the demo build keeps its tags and area scores"
    con = duckdb.connect()
    try:
        # a text's scores are three lists in the model's area order (tagging/cache.py)
        rows = con.execute("SELECT DISTINCT score_areas, decision, strength FROM read_parquet(?) "
                           "WHERE score_areas IS NOT NULL ORDER BY ALL", [[str(f) for f in files]]).fetchall()
    finally:
        con.close()
    return [{area: [d, s] for area, d, s in zip(areas, decisions, strengths, strict=True)}
            for areas, decisions, strengths in rows]


def test_indexed_placement_equals_the_area_by_area_definition(demo_organisations, demo_area_scores):
    definition = load_bench("placement").area_by_area_place
    areas, generic = load_service_areas(), load_generic_evidence()
    decisions = sorted(d for scores in demo_area_scores for d, _ in scores.values())
    # no threshold, a high one (few areas reach it) and the median (half of them do)
    thresholds = [0.0, decisions[len(decisions) * 9 // 10], decisions[len(decisions) // 2]]
    assert thresholds[1] > thresholds[2] > 0
    cases = []
    for n, (record, tags) in enumerate(demo_organisations):
        evidence = tags + name_evidence(record, areas)
        if n % 5 == 0:  # a society's classification beside them
            evidence.append(Evidence("fca", FCA_CLASSIFICATIONS[n // 5 % len(FCA_CLASSIFICATIONS)],
                                     "society.reporting_classification"))
        cases.append((evidence, None, 0.0))          # placed by evidence alone (no text, or rules only)
        scores = demo_area_scores[n % len(demo_area_scores)]
        cases += [(evidence, scores, t) for t in thresholds]
        # the same decision as one number, and an area the model did not score
        cases.append((evidence, {a: d for a, (d, _) in list(scores.items())[1:]}, thresholds[2]))

    placed = []
    for evidence, scores, threshold in cases:
        got = place(evidence, areas, generic, scores, threshold)
        assert got == definition(evidence, areas, generic, scores, threshold), (evidence, scores, threshold)
        placed += [(p, scores, threshold) for p in got]

    # Every kind of evidence was there to be placed by: a SIC prefix (health's "86" for 86900), an FCA word,
    # generic evidence beside specific, an organisation's own name overruling a low model score, and the model alone.
    evidence_strings = [p.evidence for p, _, _ in placed]
    assert any("sic:86900" in e for e in evidence_strings)
    assert any("fca:Housing Association" in e for e in evidence_strings)
    assert any("fca:Sports and Recreation Club" in e for e in evidence_strings)
    assert any("(generic)" in e for e in evidence_strings)
    assert any("name:" in p.evidence and isinstance(s.get(p.service_area), list) and s[p.service_area][0] < t
               for p, s, t in placed if s)
    assert any(e.startswith("model ") and ";" not in e for e in evidence_strings)
    assert len({p.service_area for p, _, _ in placed}) >= 20


def test_name_words_are_those_of_every_area_in_word_order(demo_organisations):
    definition = load_bench("placement").area_by_area_name_evidence
    areas = load_service_areas()
    found = [name_evidence(record, areas) for record, _ in demo_organisations]
    assert found == [definition(record, areas) for record, _ in demo_organisations]
    assert sum(1 for words in found if words) > 50
    assert name_words("Wirral Young Carers and Carers Centre", areas) == ["carers", "young carers"]
    assert name_words("Women's Aid Foodbank", areas) == ["foodbank", "women's aid", "womens aid"]


def test_an_index_belongs_to_its_areas_and_remembers_string_codes_only():
    areas = load_service_areas()
    assert area_index(areas) is area_index(list(areas))  # the same areas, in the same order
    health = [a for a in areas if a.code == "health_wellbeing"]
    assert area_index(health).areas == tuple(health) and area_index(health) is not area_index(areas)
    generic = load_generic_evidence()
    # 101 and 101.0 are one dict key but not one string: area_matches reads str(code)
    for code in (101, 101.0, "101", 103, 103.0):
        evidence = [Evidence("ccew_classification", code, "charity_classification")]
        assert place(evidence, areas, generic) == load_bench("placement").area_by_area_place(evidence, areas, generic)
    placed = [[p.service_area for p in place([Evidence("ccew_classification", code)], areas, generic)]
              for code in (103, 103.0)]
    assert placed == [["health_wellbeing"], []]
    with pytest.raises(ValueError, match="unknown tag scheme"):
        place([Evidence("postcode", "CH41")], areas, generic)
