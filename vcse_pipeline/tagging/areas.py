"""Service areas from evidence, with a strength: which service areas an organisation provides, and why.

Evidence is the tags an organisation has (UKCAT codes from its text, the classifications registers state)
and, when the model ran on its text, the model's own score for each area. Not all evidence is equal:

- **Generic** evidence never makes a provider of a specific service on its own: a level-1 UKCAT code
  ("SW" social welfare says nothing about food), and the SIC codes and Charity Commission classifications
  the taxonomy lists under `[generic_evidence]` (SIC 88100 is "social work without accommodation for the
  elderly and disabled": every day centre, deaf society and carers' group files it). It is kept as
  supporting evidence beside stronger evidence.
- An organisation's **own name** saying what it does (the taxonomy's `names` words: "Carers Centre", "Women's
  Refuge", "Foodbank") places it whatever else is known: it is what the organisation calls itself.
- An organisation with **activities or objects text** is placed by the model trained on hand-labelled
  charities (`TrainedTagger.area_scores`: the area's text score weighed with its UKCAT codes' scores and
  expression hits by the second stage, `area_stack`, as a probability): an area whose probability reaches the
  threshold chosen in training.
  What the registers state (classification, SIC) is listed as support but does not overrule the text:
  charities tick many classification boxes, and the held-out measure (docs/tagging.md) shows the text decides
  better.
- An organisation **without text** (most companies) is placed by specific evidence: UKCAT codes its name
  gives, specific SIC codes and FCA classifications, and the Charity Commission classification of a charity
  in the same organisation (a company linked to a charity shares its record cluster).
- Without a model (rules only), specific evidence of any kind places an organisation.

Strength (0-1) is how sure the placement is: the model's area score for text, else the strongest specific
evidence's weight (`EVIDENCE_WEIGHTS`). Shortlists rank by it (docs/procurement.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .tagger import Tag, TextRecord, UkcatTagger
from .taxonomy import GenericEvidence, ServiceArea, area_index, name_words

# How much one specific piece of evidence says on its own, by where it came from.
EVIDENCE_WEIGHTS = {
    "register": 0.8,        # a classification or SIC code the organisation stated
    "regex": 0.7,           # a UKCAT expression fired on its name or activities
    "regex:objects": 0.5,   # ... only on its objects (boilerplate-heavy)
    "model": 0.6,           # a UKCAT code the model gave
    "name": 0.8,            # its own name says it ("Carers Centre")
}


@dataclass(frozen=True)
class Evidence:
    """One tag an organisation has: scheme ('ukcat', 'sic', ...), code, the field it came from, and method."""

    scheme: str
    code: str
    source_field: str = ""
    method: str = "register"
    implied_by: str = ""     # a UKCAT parent code's child ("AR" implied by AR307 is as specific as AR307)


@dataclass(frozen=True)
class AreaPlacement:
    service_area: str
    strength: float
    evidence: str      # "model 0.71; ukcat:SW301 (name); sic:88100 (generic)"


def is_generic(item: Evidence, generic: GenericEvidence) -> bool:
    """Whether this evidence is too generic to place an organisation in a specific service area alone."""
    if item.scheme == "ukcat":   # a level-1 code ("SW", "HE": two letters) given alone, not implied by a child
        return len(item.code) == 2 and not item.implied_by
    if item.scheme == "sic":
        return item.code in generic.sic
    if item.scheme == "ccew_classification":
        return str(item.code) in generic.ccew
    return False


def _weight(item: Evidence) -> float:
    if item.scheme == "name":
        return EVIDENCE_WEIGHTS["name"]
    if item.method == "regex" and item.source_field == "objects":
        return EVIDENCE_WEIGHTS["regex:objects"]
    return EVIDENCE_WEIGHTS.get(item.method, EVIDENCE_WEIGHTS["register"])


def place(evidence: Iterable[Evidence], areas: Sequence[ServiceArea], generic: GenericEvidence,
          area_scores: dict[str, float | Sequence[float]] | None = None, area_threshold: float = 0.0
          ) -> list[AreaPlacement]:
    """The service areas this evidence places an organisation in, each with its strength and evidence.

    `area_scores` are the model's scores for an organisation with text (None when it has none, or no model ran):
    per area [decision, strength] (`TrainedTagger.area_scores`), or one number serving as both.

    Only the areas some evidence matches or whose decision reaches the threshold can place: the others are never
    looked at (area by area, every tag of every organisation was tested against every area).
    """
    index = area_index(areas)
    # area position -> its evidence in evidence order, each with whether it is generic and how the evidence string
    # shows it (worked out once per item, not once per area it matches)
    items_by_area: dict[int, list[tuple[Evidence, bool, str]]] = {}
    for item in evidence:
        matching = index.matching(item.scheme, item.code)
        if matching:
            generic_item = is_generic(item, generic)
            shown = (f"{item.scheme}:{item.code}" + (" (generic)" if generic_item else
                                                      f" ({item.source_field})" if item.source_field else ""))
            for i in matching:
                items_by_area.setdefault(i, []).append((item, generic_item, shown))
    candidates = set(items_by_area)
    if area_scores:
        # ... and the areas whose decision reaches the threshold (_decision_and_strength's decision, inline: it is
        # asked of every area the model scored)
        positions = index.positions
        candidates.update(i for code, value in area_scores.items()
                          if code in positions and value is not None
                          and (float(value[0]) if type(value) is list else
                               value if isinstance(value, (int, float)) else float(value[0])) >= area_threshold
                          for i in positions[code])
    placements = []
    for i in sorted(candidates):
        area, items = index.areas[i], items_by_area.get(i, [])
        score, text_strength = _decision_and_strength(area_scores.get(area.code) if area_scores else None)
        named = [e for e, _, _ in items if e.scheme == "name"]
        if score is not None and (score >= area_threshold or named):
            strength = max([text_strength] + [_weight(e) for e in named])
        elif score is not None:
            continue
        elif specific := [e for e, generic_item, _ in items if not generic_item]:
            strength = max(_weight(e) for e in specific)
        else:
            continue
        parts = [f"model {score:.2f}"] if score is not None else []
        parts += [shown for _, _, shown in items]
        placements.append(AreaPlacement(area.code, round(min(1.0, max(0.0, strength)), 3), "; ".join(parts)))
    return placements


def _decision_and_strength(value: float | Sequence[float] | None) -> tuple[float | None, float | None]:
    if value is None or isinstance(value, (int, float)):
        return value, value
    return float(value[0]), float(value[1])


IMPLIED = "implied by "


def ukcat_evidence(tags: Iterable[Tag]) -> list[Evidence]:
    return [Evidence("ukcat", t.code, t.source_field, t.method, implied_by(t.evidence)) for t in tags]


def implied_by(evidence: str | None) -> str:
    """The child code a parent tag's evidence names ("implied by AR307" -> "AR307"), else ""."""
    return evidence[len(IMPLIED):] if evidence and evidence.startswith(IMPLIED) else ""


def name_evidence(record: TextRecord, areas: Sequence[ServiceArea]) -> list[Evidence]:
    """The taxonomy's name words in a record's name and other names."""
    names = " ; ".join(n for n in (record.name, record.other_names) if n)
    return [Evidence("name", word, "name") for word in name_words(names, areas)]


def place_records(tagger: UkcatTagger, records: Sequence[TextRecord], areas: Sequence[ServiceArea],
                  generic: GenericEvidence) -> tuple[list[list[Tag]], list[list[AreaPlacement]]]:
    """UKCAT tags and service-area placements of records that have only text (no register classification)."""
    tags, scores = tagger.tag_with_area_scores(records) if records else ([], [])
    threshold = tagger.model.area_threshold if tagger.model is not None else 0.0
    return tags, [place(ukcat_evidence(t) + name_evidence(r, areas), areas, generic, s, threshold)
                  for r, t, s in zip(records, tags, scores, strict=True)]
