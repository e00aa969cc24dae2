"""The name caches (name_caches.py) are emptied between the areas a process builds, so a process building many
areas does not grow with them."""

from __future__ import annotations

from vcse_pipeline import matching, names, pipeline
from vcse_pipeline.batch_matching import form_parts
from vcse_pipeline.name_caches import clear_name_caches, name_caches
from vcse_pipeline.register import build as register_build
from vcse_pipeline.register.fuzzy_links import _town_form


def held() -> int:
    return sum(cached.cache_info().currsize for cached in name_caches())


def test_every_name_cache_is_found_once():
    found = name_caches()
    assert len(found) == len({id(c) for c in found})
    for cached in (names.normalise_name, matching.normalise_name, form_parts, _town_form):
        assert any(c is cached for c in found)
    names.normalise_name("The Upton Community Hub Ltd")
    _town_form("Birkenhead")
    assert held() >= 2
    clear_name_caches()
    assert held() == 0


def test_a_build_empties_them_after_each_area(demo_register, tmp_path, monkeypatch):
    areas = ["E08000015", "E08000012"]
    at_start, after = [], []
    original = register_build.link_area  # linking an area is what fills them

    def link_area(*args, **kwargs):
        at_start.append(held())
        linked = original(*args, **kwargs)
        after.append(held())
        return linked

    monkeypatch.setattr(register_build, "link_area", link_area)
    names.normalise_name("A name cached before the build")
    pipeline.build_register(demo_register.cfg, tmp_path / "register.duckdb", areas)
    assert all(n > 0 for n in after)  # an area's build fills them (its steps share the forms) ...
    assert at_start[1:] == [0] * (len(areas) - 1)  # ... and the next area starts with them empty
    assert held() == 0  # and so does whatever runs after the build
