"""What a contract notice is about, read from its own words rather than its (often broad) CPV codes.

A notice's title, description, items and lots are read with three signals, each kept as evidence:
- the UKCAT rules (vcse_pipeline.tagging.rules) mapped to service areas by the register's service_area_rule
  (the same mapping tagging used for providers). A hit maps through its own code or its level-2 parent, never
  through an implied level-1 parent: "domestic abuse" is SW202, not every social-welfare area;
- the service areas' own labels, split into phrases ("Domestic abuse and sexual violence" ->
  "domestic abuse", "sexual violence");
- commissioning words UKCAT does not cover (notice_keywords.csv: "day opportunities", "IDVA", "respite").

notice_keywords.csv also lists words that never name an area (`means` = no): a hit found inside them is dropped.
So is a hit inside another area's longer hit: "Health" in "Mental Health" is mental health, not health and wellbeing.
"Residents aged 18 and over" is about adults, though UKCAT's young-people rule reads "18 and over" as youth;
"Hywel Dda University Health Board" is an NHS body, not education. The names of the notice's buyer and other
parties are removed before reading: who buys says nothing about what is bought.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb

from ..db import table_exists
from ..tagging.rules import load_rules_from_db, parent_codes, rule_matcher
from ..tagging.taxonomy import default_service_areas
from .choices import known_service_areas

NOTICE_KEYWORDS = Path(__file__).with_name("notice_keywords.csv")
# Service areas that say WHO is served rather than WHAT the service is: a notice naming them ("... for Older
# People") is weaker evidence about the service than one naming the service itself ("Day Opportunities").
CLIENT_GROUPS = frozenset({"children_young_people", "older_people", "disability", "carers", "refugees_migrants",
                           "armed_forces"})
# Label words too general to say anything on their own.
GENERIC_WORDS = frozenset({"development", "services", "service", "support", "community", "aid", "care"})
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)


@dataclass
class TextFit:
    service_area: str
    in_title: bool
    phrases: list[str] = field(default_factory=list)   # the notice's own words, as found
    title_phrases: list[str] = field(default_factory=list)  # those of them found in the title

    @property
    def client_group(self) -> bool:
        return self.service_area in CLIENT_GROUPS


def party_names(release: dict) -> list[str]:
    """The names of the buyer and the other parties (suppliers, review bodies), longest first."""
    parties = [release.get("buyer"), *(release.get("parties") or [])]
    names = {str(p["name"]).strip() for p in parties if isinstance(p, dict) and p.get("name")}
    return sorted((n for n in names if n), key=len, reverse=True)


def _without_names(text: str, names: list[str]) -> str:
    """The text with the parties' names blanked out: "Velindre University NHS Trust" is who buys, not what."""
    for name in names:
        text = re.sub(re.escape(name).replace(r"\ ", r"\s+"), " ", text, flags=re.IGNORECASE)
    return text


def notice_texts(release: dict) -> tuple[str, str]:
    """(title, the rest: description, items' and lots' descriptions), web addresses and the parties' names removed."""
    tender = release.get("tender") if isinstance(release.get("tender"), dict) else {}
    rest = [tender.get("description")]
    for item in tender.get("items") or []:
        if isinstance(item, dict):
            rest.append(item.get("description"))
    for lot in tender.get("lots") or []:
        if isinstance(lot, dict):
            rest += [lot.get("title"), lot.get("description")]
    names = party_names(release)
    clean = [_without_names(_URL.sub(" ", str(t)), names) for t in rest if t]
    return _without_names(_URL.sub(" ", str(tender.get("title") or "")), names), "\n".join(clean)


def _plural(phrase: str) -> str:
    """A word-bounded pattern for a phrase and its plural ("disability" -> disabilit(y|ies))."""
    escaped = re.escape(phrase).replace(r"\ ", r"\s+")
    if phrase.endswith("y"):
        return rf"\b{escaped[:-1]}(?:y|ies)\b"
    return rf"\b{escaped}(?:s|es)?\b"


def label_phrases(label: str) -> list[str]:
    parts = re.split(r",|\band\b|\(|\)|&|/", label.lower())
    return [p.strip() for p in parts if p.strip() and p.strip() not in GENERIC_WORDS]


@lru_cache(maxsize=1)
def _keyword_rows() -> tuple[tuple[str, str, bool], ...]:
    with NOTICE_KEYWORDS.open(encoding="utf-8") as fh:
        rows = []
        for n, row in enumerate(csv.DictReader(fh), start=2):
            means = (row.get("means") or "").strip().lower()
            if means not in ("yes", "no"):
                raise ValueError(f"{NOTICE_KEYWORDS.name} row {n}: column means must be yes or no, not {means!r}")
            rows.append((row["service_area"], row["phrase"].strip().lower(), means == "yes"))
        return tuple(rows)


def _packaged_keywords() -> tuple[tuple[str, str], ...]:
    """(service area, phrase) pairs whose words name the area."""
    return tuple((area, phrase) for area, phrase, means in _keyword_rows() if means)


def _not_meaning() -> dict[str, list[re.Pattern]]:
    """{service area: patterns of words that never name it} (notice_keywords.csv rows with means = no)."""
    patterns: dict[str, list[re.Pattern]] = {}
    for area, phrase, means in _keyword_rows():
        if not means:  # bounded by non-word characters either side, so "18+" works as well as "over 18"
            body = re.escape(phrase).replace(r"\ ", r"\s+")
            patterns.setdefault(area, []).append(re.compile(rf"(?<!\w){body}s?(?!\w)", re.IGNORECASE))
    return patterns


def _inside_not_meaning(area: str, text: str, start: int, end: int, patterns: dict[str, list[re.Pattern]]) -> bool:
    """Whether the words text[start:end] lie inside words that never name this area ("aged 18 and over")."""
    return any(m.start() <= start and end <= m.end() for pattern in patterns.get(area, [])
               for m in pattern.finditer(text))


def _inside_longer(area: str, start: int, end: int, spans: list[tuple[str, int, int]]) -> bool:
    """Whether the words text[start:end] lie inside another area's longer hit: "Health" in "Mental Health" names
    mental health, not health and wellbeing as well."""
    return any(other != area and s <= start and end <= e and e - s > end - start for other, s, e in spans)


def _rules(con: duckdb.DuckDBPyConnection):
    """The UKCAT rules the register was tagged with (its ukcat_tag table), else the packaged copy."""
    return load_rules_from_db(con, "ukcat_tag")


def _ukcat_areas(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """UKCAT code -> service areas, from the register's service_area_rule (else the packaged taxonomy)."""
    mapping: dict[str, set[str]] = {}
    if table_exists(con, "service_area_rule"):
        rows = con.execute("SELECT code, service_area FROM service_area_rule WHERE tag_scheme = 'ukcat'").fetchall()
    else:
        rows = [(code, a.code) for a in default_service_areas() for code in a.ukcat]
    for code, area in rows:
        mapping.setdefault(code, set()).add(area)
    return mapping


def _areas_for_code(code: str, mapping: dict[str, set[str]], known_codes: frozenset[str]) -> set[str]:
    """A hit's own areas, and for a level-3 code those of its nearest parent (AR102 -> AR, SW202 -> SW200); a
    level-2 hit never takes its level-1 parent's areas (SW200 "abuse" is not all of SW "social welfare")."""
    areas = set(mapping.get(code, set()))
    if len(code) > 2 and not code.endswith("00"):
        parents = parent_codes(code, known_codes)
        if parents:
            areas |= mapping.get(parents[0], set())
    return areas


def text_service_areas(con: duckdb.DuckDBPyConnection, release: dict) -> dict[str, TextFit]:
    """{service_area: TextFit} for the service areas the notice's text is about, with the words found."""
    title, rest = notice_texts(release)
    known = known_service_areas(con)
    rules = _rules(con)
    matcher = rule_matcher(rules)
    known_codes = frozenset(r.code for r in rules)
    mapping = _ukcat_areas(con)
    phrases = [(area, phrase) for area, label in known.items() for phrase in label_phrases(label)]
    phrases += [(area, phrase) for area, phrase in _packaged_keywords() if area in known]
    fits: dict[str, TextFit] = {}
    not_meaning = _not_meaning()

    def found(area: str, words: str, in_title: bool) -> None:
        fit = fits.setdefault(area, TextFit(area, False))
        fit.in_title = fit.in_title or in_title
        words = " ".join(words.split())
        if words.lower() not in (p.lower() for p in fit.phrases):
            fit.phrases.append(words)
        if in_title and words.lower() not in (p.lower() for p in fit.title_phrases):
            fit.title_phrases.append(words)

    for text, in_title in ((title, True), (rest, False)):
        if not text:
            continue
        rule_hits = [(area, start, end) for code, (start, end) in matcher.spans(text).items()
                     for area in _areas_for_code(code, mapping, known_codes) & known.keys()
                     if not _inside_not_meaning(area, text, start, end, not_meaning)]
        phrase_hits = [(area, [m for m in re.finditer(_plural(phrase), text, re.IGNORECASE)
                               if not _inside_not_meaning(area, text, m.start(), m.end(), not_meaning)])
                       for area, phrase in phrases]
        spans = rule_hits + [(area, m.start(), m.end()) for area, found_here in phrase_hits for m in found_here]
        for area, start, end in rule_hits:
            if not _inside_longer(area, start, end, spans):
                found(area, text[start:end], in_title)
        for area, found_here in phrase_hits:
            m = next((m for m in found_here if not _inside_longer(area, m.start(), m.end(), spans)), None)
            if m:
                found(area, m.group(0), in_title)
    for fit in fits.values():  # "Abuse" says nothing "Domestic Abuse" does not
        fit.phrases = [p for p in fit.phrases
                       if not any(p.lower() != q.lower() and p.lower() in q.lower() for q in fit.phrases)]
        fit.title_phrases = [p for p in fit.title_phrases if p.lower() in (q.lower() for q in fit.phrases)]
    return fits
