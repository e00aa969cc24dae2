"""UKCAT rules, hierarchy closure, metrics, service areas and CPV matching."""

from __future__ import annotations

import re

import pytest

from vcse_pipeline.errors import PipelineError
from vcse_pipeline.tagging.metrics import score_sets
from vcse_pipeline.tagging.rules import UkcatRule, close_codes, load_rules, match_rules, parent_codes
from vcse_pipeline.tagging.tagger import TextRecord, UkcatTagger
from vcse_pipeline.tagging.taxonomy import areas_for_tags, load_service_areas, service_areas_for_cpv

RULES = load_rules()
KNOWN = frozenset(r.code for r in RULES)


def test_exclusion_suppresses_a_hit():
    rule = UkcatRule("HE210", "Mental health", "Health", 3, re.compile(r"\bmental health\b", re.I),
                     re.compile(r"\bmental health act tribunal\b", re.I))
    assert "HE210" in match_rules([rule], "Supports people with Mental Health needs in Wirral")
    assert match_rules([rule], "Representation at the Mental Health Act Tribunal") == {}


def test_real_ukcat_exclusion_applies():
    with_excl = [r for r in RULES if r.exclude is not None]
    assert with_excl, "the packaged UKCAT file has exclusion expressions"
    # RL302 (church or place of worship) excludes text mentioning a school: church schools are schools.
    hits = match_rules(RULES, "Worship and pastoral care at St Mary's church")
    assert "RL302" in hits and "[worship]" in hits["RL302"].lower()
    hits = match_rules(RULES, "Supports St Mary's Church of England primary school")
    assert "RL302" not in hits and "ED106" in hits


def test_parent_convention():
    assert parent_codes("AR201", KNOWN) == ["AR200", "AR"]
    assert parent_codes("AR101", KNOWN) == ["AR"]  # there is no AR100
    assert parent_codes("AR", KNOWN) == []
    assert close_codes(["HE210", "SW301"], KNOWN) == {"HE210", "HE200", "HE", "SW301", "SW300", "SW"}


def test_metrics_hand_computed():
    gold = [{"AR201"}, {"HE210"}]
    pred = [{"AR101"}, {"HE210", "SW301"}]
    overall, per = score_sets(gold, pred, KNOWN)
    # row 1: gold {AR201, AR200, AR}, pred {AR101, AR}: tp 1 (AR), fp 1, fn 2
    # row 2: gold {HE210, HE200, HE}, pred + {SW301, SW300, SW}: tp 3, fp 3, fn 0
    assert (overall.tp, overall.fp, overall.fn) == (4, 4, 2)
    assert overall.precision == pytest.approx(0.5) and overall.recall == pytest.approx(4 / 6)
    assert overall.f1 == pytest.approx(2 * 0.5 * (4 / 6) / (0.5 + 4 / 6))
    assert (per["AR"].tp, per["AR"].fp, per["AR"].fn) == (1, 1, 2)
    assert (per["SW"].tp, per["SW"].fp) == (0, 3)


def test_rules_only_tagger_gives_evidence_and_parents():
    tagger = UkcatTagger(RULES)
    [tags] = tagger.tag([TextRecord(name="Wirral Food Bank", activities="Emergency food parcels for families")])
    by_code = {t.code: t for t in tags}
    assert by_code["SW301"].method == "regex" and by_code["SW301"].source_field == "name"
    assert "[Food Bank]" in by_code["SW301"].evidence
    assert {"SW300", "SW"} <= set(by_code)  # closed under the hierarchy
    for tag in tags:  # every code either fired itself (with a snippet) or was implied by a child
        assert "[" in tag.evidence or re.fullmatch(r"implied by [A-Z]{2}\d{3}", tag.evidence)


def test_tags_map_to_service_areas_and_cpv():
    areas = load_service_areas()
    found = areas_for_tags([("ukcat", c) for c in close_codes(["SW301", "HE210"], KNOWN)]
                           + [("ccew_classification", "202"), ("sic", "87300")], areas)
    assert "food_poverty" in found and "mental_health" in found
    assert found["older_people"] == ["ccew_classification:202", "sic:87300"]
    by_code = {a.code: a for a in areas}
    assert ("85311100", "Welfare services for the elderly") in by_code["older_people"].cpv


def test_service_areas_for_cpv_prefixes():
    matches = service_areas_for_cpv(["85312000-5"])
    how = {area: (cpv, h) for area, cpv, h in matches}
    assert how["carers"] == ("85312000", "exact")
    # 85312300 (guidance and counselling) is below the notice's 85312000: the notice covers it
    assert how["advice_advocacy"] == ("85312300", "notice code covers area")
    assert "arts_culture" not in how
    # a notice at 85312300 falls under an area mapped to 85312000
    assert ("domestic_abuse", "85312000", "area code covers notice") in service_areas_for_cpv(["85312300"])
    with pytest.raises(PipelineError):
        service_areas_for_cpv(["social care"])


def test_bad_taxonomy_file_is_named(tmp_path):
    bad = tmp_path / "areas.toml"
    bad.write_text('[[service_area]]\ncode = "x"\nlabel = "X"\ncpv = [["8531", "short"]]\n')
    with pytest.raises(PipelineError, match="service area 'x'"):
        load_service_areas(bad)


@pytest.mark.slow
def test_the_shipped_model_is_a_fresh_training_on_the_packaged_labels_and_rules():
    """The model under reference/models/ is what `train` makes now (else run `make tagger-model`).

    Its choices (codes, settings, vocabulary, training rows) must be identical. Its fitted numbers may differ in
    the last bits between machines: the BLAS kernels round differently on different CPUs (seen: the dual
    coefficients 1e-14 apart on an AMD EPYC against the Intel machine that trained them, the area stage's
    iterative fit amplifying that to 4e-10), so those are compared to a tolerance, and the model must make the
    same decisions as a fresh training on every labelled text.
    """
    import gzip
    import pickle

    import numpy as np

    from vcse_pipeline.tagging.model import (
        PACKAGED_LABELLED,
        packaged_model_path,
        predict_codes,
        read_labelled,
        shipped_rules,
        texts_and_hits,
        train,
    )

    rules = shipped_rules()
    path = packaged_model_path(rules)
    assert path.exists(), f"no shipped model {path.name}: run `make tagger-model`"
    with gzip.open(path, "rb") as fh:
        shipped = pickle.load(fh)
    labelled = read_labelled(PACKAGED_LABELLED)
    fresh = train(labelled, rules)
    assert shipped.codes == fresh.codes and shipped.known == fresh.known and shipped.areas == fresh.areas
    for name in ("threshold", "prior_weight", "alpha", "rules_signature", "inner_cv"):
        assert getattr(shipped, name) == getattr(fresh, name), name
    assert shipped.area_threshold == fresh.area_threshold
    assert (shipped.train_x != fresh.train_x).nnz == 0
    assert shipped.vectorizer.vocabulary_ == fresh.vectorizer.vocabulary_
    assert np.array_equal(shipped.vectorizer.idf_, fresh.vectorizer.idf_)
    close = {"rtol": 1e-6, "atol": 1e-9}
    assert np.allclose(shipped.area_stage.weights, fresh.area_stage.weights, **close)
    for name in ("dual", "offsets", "regex_precision", "area_dual", "area_offsets"):
        assert np.allclose(getattr(shipped, name), getattr(fresh, name), **close), name

    texts, hits = texts_and_hits(rules, labelled["name"], labelled["activities"], labelled["objects"])
    has_text = [bool(t.strip()) for t in texts]
    ours, theirs = shipped.scores(texts, hits, areas=True), fresh.scores(texts, hits, areas=True)
    assert predict_codes(shipped, ours.codes, has_text) == predict_codes(fresh, theirs.codes, has_text)
    assert np.array_equal(ours.area_decision >= shipped.area_threshold,
                          theirs.area_decision >= fresh.area_threshold)


def test_a_fresh_data_folder_uses_the_shipped_model_without_training(tmp_path, monkeypatch):
    from vcse_pipeline.tagging import model

    def no_training(*_args, **_kw):
        raise AssertionError("trained although the package ships this model")

    monkeypatch.setattr(model, "train", no_training)
    loaded = model.cached_model(model.shipped_rules(), tmp_path / "cache")
    assert loaded.codes and loaded.threshold > 0
    tagger = UkcatTagger(model.shipped_rules(), loaded)
    assert any(t.code.startswith("SW") for t in tagger.tag([TextRecord(name="Wirral Food Bank")])[0])


# -- service areas from evidence (issue 13) ---------------------------------------------------------

def test_generic_evidence_alone_places_no_one():
    from vcse_pipeline.tagging.areas import Evidence, place
    from vcse_pipeline.tagging.taxonomy import load_generic_evidence

    areas, generic = load_service_areas(), load_generic_evidence()
    assert "88100" in generic.sic and "101" in generic.ccew
    # SIC 88100 could mean older people, disability or adult social care; SW is all of social welfare
    weak = [Evidence("sic", "88100", "company_sic"), Evidence("ukcat", "SW", "name", "regex"),
            Evidence("ccew_classification", "101", "charity_classification")]
    assert place(weak, areas, generic) == []
    # a specific code beside it places the organisation; the generic one is listed as support
    [carers] = [p for p in place(weak + [Evidence("ukcat", "SC102", "name", "regex")], areas, generic)
                if p.service_area == "carers"]
    assert carers.strength == 0.7 and carers.evidence == "ukcat:SC102 (name)"
    [older] = place([Evidence("sic", "87300", "company_sic"), Evidence("sic", "88100", "company_sic")],
                    [a for a in areas if a.code == "older_people"], generic)
    assert older.strength == 0.8 and older.evidence == "sic:87300 (company_sic); sic:88100 (generic)"
    # a level-1 code implied by a specific child is as specific as the child: a youth theatre is arts
    theatre = [Evidence("ukcat", "AR", "name", "regex", implied_by="AR307"),
               Evidence("ukcat", "AR300", "name", "regex", implied_by="AR307"),
               Evidence("ukcat", "AR307", "name", "regex")]
    assert [p.service_area for p in place(theatre, areas, generic)] == ["arts_culture"]


def test_model_area_scores_decide_for_text():
    from vcse_pipeline.tagging.areas import Evidence, place
    from vcse_pipeline.tagging.taxonomy import load_generic_evidence

    areas = [a for a in load_service_areas() if a.code in ("food_poverty", "advice_advocacy")]
    evidence = [Evidence("ukcat", "SW301", "name", "regex"), Evidence("ukcat", "CA101", "activities", "model")]
    placed = place(evidence, areas, load_generic_evidence(), {"food_poverty": 0.83, "advice_advocacy": 0.2}, 0.35)
    # the model's low score for advice overrules the code the text gave: on held-out charities it decides better
    assert [(p.service_area, p.strength) for p in placed] == [("food_poverty", 0.83)]
    assert placed[0].evidence == "model 0.83; ukcat:SW301 (name)"


def test_corrected_definitions_keep_level_one_codes_out_of_specific_areas():
    from vcse_pipeline.tagging.model import area_label_sets

    by_code = {a.code: a for a in load_service_areas()}
    assert "SW" not in by_code["food_poverty"].ukcat and "CA102" not in by_code["food_poverty"].ukcat
    assert "SC" not in by_code["adult_social_care"].ukcat
    assert not {"EC", "AS"} & by_code["community_development"].ukcat
    # fundraising for one cause (CV102, via level-1 "CV") is not infrastructure for the sector
    assert not {"CV", "CV101", "CV102"} & by_code["vcs_infrastructure"].ukcat
    assert {"CV103", "CV104"} <= by_code["vcs_infrastructure"].ukcat
    # humanitarian relief (SL102, via level-1 "SL") is international aid, not community safety
    assert "SL" not in by_code["community_safety_justice"].ukcat and "SL102" in by_code["international"].ukcat
    # campaigning on any cause, and men as beneficiaries, are not equality work
    assert not {"CA103", "BE106"} & by_code["equality_rights"].ukcat
    truth = area_label_sets([close_codes(["CV102", "SL102", "CA103"], KNOWN)], list(by_code.values()))
    assert truth == [{"international"}]


def test_an_organisations_own_name_places_it():
    from vcse_pipeline.tagging.areas import Evidence, name_evidence, place
    from vcse_pipeline.tagging.taxonomy import load_generic_evidence, name_words

    areas = load_service_areas()
    assert name_words("Upton Carers Centre", areas) == ["carers"]
    assert name_words("Birkenhead Women's Refuge", areas)[0] in {"women's refuge", "womens refuge"}
    assert name_words("Refuge Street Allotments", areas) == []   # whole phrases only
    evidence = name_evidence(TextRecord(name="Upton Carers Centre", objects="To relieve the needs of carers"), areas)
    # the model scored carers low (its text is thin), but the organisation calls itself a carers' centre
    placed = place(evidence + [Evidence("ccew_classification", "101")], areas, load_generic_evidence(),
                   {"carers": 0.1}, 0.35)
    assert [(p.service_area, p.strength, p.evidence) for p in placed] == [("carers", 0.8,
                                                                           "model 0.10; name:carers (name)")]


def test_a_model_is_known_by_its_summary_and_a_stale_summary_is_ignored(tmp_path):
    import dataclasses
    import gzip
    import pickle

    from vcse_pipeline.tagging import model

    rules = model.shipped_rules()
    shipped = model.find_model(rules, None)
    assert shipped.loaded is None and shipped.path == model.packaged_model_path(rules)  # the package's summary
    cached = tmp_path / model.model_name(rules)  # a model this data folder cached before summaries existed
    cached.write_bytes(gzip.decompress(shipped.path.read_bytes()))
    first = model.find_model(rules, tmp_path)
    assert first.loaded is not None and model.summary_path(cached).exists()
    assert (first.threshold, first.area_threshold) == (shipped.threshold, shipped.area_threshold)
    second = model.find_model(rules, tmp_path)  # the next build reads the summary it wrote
    assert second.loaded is None and second.identity == first.identity
    assert second.load().threshold == first.threshold

    # The file changes under its summary: the summary is not trusted, and the tag cache's key changes with the file.
    cached.write_bytes(pickle.dumps(dataclasses.replace(first.loaded, threshold=0.45)))
    third = model.find_model(rules, tmp_path)
    assert third.loaded is not None and third.threshold == 0.45 and third.identity != first.identity
