"""lookups: one wording for unknown values and --limit, the area profiles read once, and the build's area check."""

from pathlib import Path

import pytest
from test_publish import stage_postcode_directory

from vcse_pipeline import lookups
from vcse_pipeline.config import Config
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.pipeline import resolve_areas


def test_area_profiles_are_read_once_and_unknown_codes_read_blank():
    lookups._area_profiles.cache_clear()
    wirral = lookups.area_profile("E08000015")
    assert (wirral["area_name"], wirral["county"], wirral["region"]) == ("Wirral", "Merseyside", "North West")
    assert "Birkenhead" in wirral["places"].split(";")
    wirral["area_name"] = "changed by a caller"     # a copy: the cached profile is not changed
    assert lookups.area_name("E08000015") == "Wirral"
    assert lookups.area_profile_named(" wirral ")["area_code"] == "E08000015"
    assert lookups.area_profile_named("Atlantis") is None
    assert lookups.area_profile("E99999999") == {"area_code": "E99999999", "area_name": "", "county": "",
                                                 "region": "", "region_codes": "", "places": ""}
    assert lookups.area_name("E99999999") == "E99999999"
    info = lookups._area_profiles.cache_info()
    assert (info.misses, info.hits) == (1, 5)   # six lookups, one read of the file


def test_unknown_lists_few_choices_and_counts_many():
    few = lookups.unknown("ward", "Birkenhed", ["Birkenhead and Tranmere", "Upton"], "vcse find --list wards")
    assert str(few) == ("unknown ward 'Birkenhed' (did you mean Birkenhead and Tranmere?); choose from: "
                        "Birkenhead and Tranmere, Upton (`vcse find --list wards` lists them)")
    districts = [f"CH{n}" for n in range(1, 66)]
    listed = lookups.unknown("postcode district", "ZZ99", districts, "vcse find --list districts")
    assert str(listed) == "unknown postcode district 'ZZ99'; `vcse find --list districts` lists them"
    counted = lookups.unknown("postcode district", "ZZ99", districts)
    assert str(counted) == "unknown postcode district 'ZZ99'; there are 65 to choose from"


@pytest.mark.parametrize(("limit", "minimum", "message"), [
    (-5, 0, "--limit -5: give a number of providers, 0 or more (0 lists them all)"),
    (0, 1, "--limit 0: give a number of providers, 1 or more"),
])
def test_check_limit_wording(limit, minimum, message):
    with pytest.raises(PipelineError) as err:
        lookups.check_limit(limit, "providers", minimum)
    assert str(err.value) == message


def test_check_limit_accepts_no_limit_and_the_minimum():
    for limit, minimum in ((None, 1), (0, 0), (1, 1), (50, 1)):
        lookups.check_limit(limit, "rows", minimum)   # no error


def _staged(tmp_path: Path, areas) -> Config:
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                             "register": {"areas": areas}})
    stage_postcode_directory(cfg)
    return cfg


def test_resolve_areas_uses_the_one_unknown_wording(tmp_path):
    cfg = _staged(tmp_path, ["Wirral"])
    assert resolve_areas(cfg) == ["E08000015"]
    assert resolve_areas(cfg, ["liverpool", "E08000015", "wirral"]) == ["E08000012", "E08000015"]
    with pytest.raises(PipelineError) as err:
        resolve_areas(cfg, ["Wiral"])
    assert str(err.value).startswith("unknown area 'Wiral' (did you mean Wirral (E08000015)?); choose from: "
                                     "Liverpool (E08000012), Wirral (E08000015) ([register] areas / --area, checked "
                                     "against the staged postcode directory")
    assert str(err.value).endswith("which has 2 local authorities)")


def test_resolve_areas_refuses_an_empty_list(tmp_path):
    cfg = _staged(tmp_path, [])
    with pytest.raises(PipelineError, match=r"no area to build: set \[register\] areas .* or pass --area"):
        resolve_areas(cfg)


def test_plain_reads_accented_letters_without_their_accents():
    assert lookups.plain("Café") == "cafe"
    assert lookups.plain("Côte-d’Ivoire Community Association") == "cote divoire community association"
    assert lookups.plain("Zoë's NAÏVE Art & Crafts") == "zoes naive art and crafts"
    assert lookups.key("Saint-Étienne") == lookups.key("saint etienne")
