"""Service areas: the editable taxonomy (service_areas.toml), tags -> areas, and CPV codes -> areas."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import PipelineError

PACKAGED_SERVICE_AREAS = Path(__file__).resolve().parent.parent / "reference" / "service_areas.toml"
TAG_SCHEMES = ("ukcat", "ccew_classification", "sic", "fca", "name")


@dataclass(frozen=True)
class ServiceArea:
    code: str
    label: str
    description: str
    ukcat: frozenset[str] = frozenset()
    ccew: frozenset[str] = frozenset()
    sic: tuple[str, ...] = ()        # codes or prefixes
    fca: tuple[str, ...] = ()        # lower-case words
    names: tuple[str, ...] = ()      # lower-case words that, in an organisation's own name, say it provides this
    cpv: tuple[tuple[str, str], ...] = field(default=())  # (code, label)


@dataclass(frozen=True)
class GenericEvidence:
    """Register codes too generic to make an organisation a provider of a specific service on their own
    (`[generic_evidence]` in the taxonomy file); level-1 UKCAT codes are always generic."""

    sic: frozenset[str] = frozenset()
    ccew: frozenset[str] = frozenset()


def _strings(value, area: str, key: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PipelineError(f"{path}: service area {area!r}: {key} must be a list of strings")
    return value


def _read(path: str | Path | None) -> tuple[Path, dict]:
    path = Path(path) if path else PACKAGED_SERVICE_AREAS
    try:
        with path.open("rb") as fh:
            return path, tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PipelineError(f"cannot read service areas file {path}: {exc}") from exc


def load_generic_evidence(path: str | Path | None = None) -> GenericEvidence:
    """The taxonomy file's `[generic_evidence]` (SIC and Charity Commission codes that are weak alone)."""
    path, tree = _read(path)
    raw = tree.get("generic_evidence", {})
    return GenericEvidence(sic=frozenset(_strings(raw.get("sic", []), "generic_evidence", "sic", path)),
                           ccew=frozenset(_strings(raw.get("ccew", []), "generic_evidence", "ccew", path)))


def load_service_areas(path: str | Path | None = None) -> list[ServiceArea]:
    """Read and check the taxonomy file; PipelineError naming the area and key when it is malformed."""
    path, tree = _read(path)
    areas, seen = [], set()
    for i, raw in enumerate(tree.get("service_area", []), start=1):
        code = raw.get("code")
        if not code or not raw.get("label"):
            raise PipelineError(f"{path}: service area number {i} needs a code and a label")
        if code in seen:
            raise PipelineError(f"{path}: service area {code!r} is defined twice")
        seen.add(code)
        cpv = []
        for entry in raw.get("cpv", []):
            if (not isinstance(entry, list) or len(entry) != 2
                    or not re.fullmatch(r"\d{8}", normalise_cpv(str(entry[0])))):
                raise PipelineError(f"{path}: service area {code!r}: cpv entries are [\"8-digit code\", \"label\"], "
                                    f"got {entry!r}")
            cpv.append((normalise_cpv(entry[0]), str(entry[1])))
        areas.append(ServiceArea(
            code=code, label=raw["label"], description=raw.get("description", ""),
            ukcat=frozenset(_strings(raw.get("ukcat", []), code, "ukcat", path)),
            ccew=frozenset(_strings(raw.get("ccew", []), code, "ccew", path)),
            sic=tuple(_strings(raw.get("sic", []), code, "sic", path)),
            fca=tuple(w.lower() for w in _strings(raw.get("fca", []), code, "fca", path)),
            names=tuple(w.lower() for w in _strings(raw.get("names", []), code, "names", path)),
            cpv=tuple(cpv),
        ))
    if not areas:
        raise PipelineError(f"{path}: no [[service_area]] entries")
    return areas


@lru_cache(maxsize=4)
def default_service_areas() -> tuple[ServiceArea, ...]:
    return tuple(load_service_areas())


def area_matches(area: ServiceArea, scheme: str, code: str) -> bool:
    """Whether one tag (scheme, code) puts an organisation in the area."""
    if scheme == "ukcat":
        return code in area.ukcat
    if scheme == "ccew_classification":
        return str(code) in area.ccew
    if scheme == "sic":
        return any(str(code).startswith(prefix) for prefix in area.sic)
    if scheme == "fca":
        text = str(code).lower()
        return any(word in text for word in area.fca)
    if scheme == "name":
        return str(code).lower() in area.names
    raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(TAG_SCHEMES)}")


def areas_for_tags(tags: Iterable[tuple[str, str]], areas: Iterable[ServiceArea] | None = None) -> dict[str, list[str]]:
    """{service area code: ["scheme:code", ...]} for the tags (scheme, code) an organisation has.

    UKCAT codes should already be closed under the hierarchy so a level-1 code in the taxonomy matches.
    """
    areas = list(areas if areas is not None else default_service_areas())
    found: dict[str, list[str]] = {}
    for scheme, code in tags:
        for area in areas:
            if area_matches(area, scheme, code):
                found.setdefault(area.code, [])
                label = f"{scheme}:{code}"
                if label not in found[area.code]:
                    found[area.code].append(label)
    return found


_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _spaced_words(lowered: str) -> str:
    """' carers centre ': apostrophes dropped, any other non-alphanumeric run a space, a space each end."""
    return f" {_NOT_WORD.sub(' ', lowered.replace(chr(39), ''))} "


class AreaIndex:
    """One taxonomy's areas looked up by tag rather than tag by area: which areas each distinct (scheme, code)
    matches (`area_matches`, worked out on first sight and remembered: an organisation's evidence is a few codes
    out of a few hundred a register uses, while a build places hundreds of thousands of organisations), the
    positions of each area code, and the `names` words with their spaced forms."""

    MAX_TAGS = 100_000   # distinct tags remembered: far above a national build's, a bound if codes are free text

    def __init__(self, areas: Sequence[ServiceArea]):
        self.areas = tuple(areas)
        self.positions: dict[str, tuple[int, ...]] = {}
        for i, area in enumerate(self.areas):
            self.positions[area.code] = self.positions.get(area.code, ()) + (i,)
        # (word, its spaced form) in word order
        self.word_forms = tuple((w, _spaced_words(w)) for w in sorted({w for a in self.areas for w in a.names}))
        self._matching: dict[tuple[str, str], tuple[int, ...]] = {}

    def matching(self, scheme: str, code: str) -> tuple[int, ...]:
        """Positions of the areas the tag (scheme, code) puts an organisation in, in taxonomy order."""
        found = self._matching.get((scheme, code))
        if found is None:
            found = tuple(i for i, area in enumerate(self.areas) if area_matches(area, scheme, code))
            # Only string codes are remembered: 1, 1.0 and True are one dict key but not one str().
            if type(code) is str and len(self._matching) < self.MAX_TAGS:
                self._matching[(scheme, code)] = found
        return found


_INDEXES: dict[tuple[int, ...], AreaIndex] = {}


def area_index(areas: Iterable[ServiceArea]) -> AreaIndex:
    """The index of these areas, made once per taxonomy. Kept by the areas' identities (a ServiceArea is frozen,
    and the index holds the areas so their ids stay theirs): hashing thirty areas by value on every call would
    cost more than the lookups it serves."""
    areas = areas if isinstance(areas, (list, tuple)) else tuple(areas)
    key = tuple(map(id, areas))
    index = _INDEXES.get(key)
    if index is None:
        if len(_INDEXES) >= 16:   # a process loads one or two taxonomies; tests load many
            _INDEXES.pop(next(iter(_INDEXES), None), None)
        index = _INDEXES[key] = AreaIndex(areas)
    return index


def name_words(name: str | None, areas: Iterable[ServiceArea]) -> list[str]:
    """The taxonomy's `names` words an organisation's name holds (whole words, any case)."""
    text = _spaced_words(str(name or "").lower())
    return [w for w, form in area_index(areas).word_forms if form in text]


def normalise_cpv(code: str) -> str:
    """'85312000-5' -> '85312000' (the check digit after the dash is dropped)."""
    return str(code).strip().split("-")[0]


def cpv_stem(code: str) -> str:
    """The significant part of a CPV code: trailing zeros dropped, but never shorter than the division."""
    code = normalise_cpv(code)
    stem = code.rstrip("0")
    return stem if len(stem) >= 2 else code[:2]


def service_areas_for_cpv(cpv_codes: Iterable[str], areas: Iterable[ServiceArea] | None = None
                          ) -> list[tuple[str, str, str]]:
    """Service areas relevant to a notice's CPV codes: [(service_area, matched area CPV, how)].

    `how` is 'exact' (same code), 'area code covers notice' (the notice's code is below the area's code,
    e.g. notice 85312000 under area 85300000) or 'notice code covers area' (a broad notice code such as
    85000000 above an area's 85312000). The CPV hierarchy is positional: division (2 digits), group (3),
    class (4), category (5+), so a code's significant digits are its prefix.
    """
    areas = list(areas if areas is not None else default_service_areas())
    rank = {"exact": 0, "area code covers notice": 1, "notice code covers area": 2}
    best: dict[str, tuple[str, str, str]] = {}
    for raw in cpv_codes:
        notice = normalise_cpv(raw)
        if not re.fullmatch(r"\d{8}", notice):
            raise PipelineError(f"not a CPV code: {raw!r} (expected 8 digits, optionally with '-check digit')")
        for area in areas:
            for area_cpv, _label in area.cpv:
                if area_cpv == notice:
                    how = "exact"
                elif notice.startswith(cpv_stem(area_cpv)):
                    how = "area code covers notice"
                elif area_cpv.startswith(cpv_stem(notice)):
                    how = "notice code covers area"
                else:
                    continue
                current = best.get(area.code)
                # Keep the closest match per area: exact, then the most specific covering code.
                key = (rank[how], -len(cpv_stem(area_cpv)) if how != "notice code covers area" else 0)
                if current is None or key < (rank[current[2]], -len(cpv_stem(current[1]))
                                             if current[2] != "notice code covers area" else 0):
                    best[area.code] = (area.code, area_cpv, how)
    order = {a.code: i for i, a in enumerate(areas)}
    return sorted(best.values(), key=lambda m: (rank[m[2]], order[m[0]]))
