"""The per-process caches of name forms, emptied between areas.

Normalising, splitting and indexing a name is cached (`functools.lru_cache`, up to 200,000 entries each) in
names.py, matching.py, batch_matching.py and register/fuzzy_links.py, because one area's build normalises the same
names in several steps (fuzzy and successor links, organisation names). Across areas the hits are few, but a
process building many areas kept every cache full and its memory fragmented around the entries: building 40 areas at
national size grew by about 8 MB an area (478 -> 790 MB) and peaked at 1,073 MB; emptying the caches after each area
kept it to 430 -> 557 MB and a peak of 800 MB, for the same CPU (112.5 s against 114.3).
"""

from __future__ import annotations

from types import ModuleType


def _modules() -> tuple[ModuleType, ...]:
    from . import batch_matching, matching, names
    from .register import fuzzy_links

    return batch_matching, matching, names, fuzzy_links


def name_caches() -> list:
    """Every lru_cache-wrapped function of the name modules, once each (some are imported into several)."""
    found: dict[int, object] = {}
    for module in _modules():
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and callable(getattr(value, "cache_info", None)):
                found.setdefault(id(value), value)
    return list(found.values())


def clear_name_caches() -> None:
    for cached in name_caches():
        cached.cache_clear()
