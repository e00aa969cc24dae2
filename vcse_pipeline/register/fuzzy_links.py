"""Fuzzy name links between records of different registers, with the matcher's blocking and scoring.

A pair's score is the matcher's name score plus location evidence (postcode, else town). What the score may
lead to depends on how the names differ and where the records are (`decide`):

| names (normalised) | locations | at most |
| --- | --- | --- |
| identical | agree or unknown | link |
| identical | disagree (different district and town) | review |
| the same words but for slips (a plural, a swapped or dropped letter) | same postcode | link |
| the same words but for slips | anywhere else | review |
| one name adds words to the other | same postcode | link |
| one name adds words to the other | same sector, district or town, or unknown | review |
| each has a word the other lacks (a substitution) | same postcode or sector | review |
| added or substituted words | disagree; or a substitution without sector agreement | nothing |

So name similarity alone never links different names; a typo or an added word links only at the same postcode
(a sector is too wide to link 'Lower Bebington Church Hall Trust' with 'Bebington Church Hall Trust'); and
near-identical names in different towns ('Hoylake Community Centre' CH47 / 'Hoyland Community Centre' S74) or
with a substituted word ('Hoylake Tenants Association' / 'Meols Tenants Association') are not even reviewed.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pandas as pd

from ..matching import POSTCODE_ADJUSTMENT, MatchIndex, postcode_agreement, split_other_names
from ..names import normalise_name, own_words
from ..postcode import normalise_postcode

METHOD = "fuzzy name"
LINK_COLUMNS = ["left_record", "right_record", "method", "score", "evidence"]
REVIEW_COLUMNS = ["left_record", "right_record", "left_name", "right_name", "score", "evidence"]
# Same town counts as weak location agreement when a postcode is missing; different towns as disagreement.
TOWN_ADJUSTMENT = {"same town": 3.0, "different town": -4.0, "unknown": 0.0}
REQUIRED = ("record_id", "source", "name")


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


@lru_cache(maxsize=100_000)
def _town_form(town: str | None) -> str:
    return normalise_name(town)


def town_agreement(left: str | None, right: str | None) -> str:
    a, b = _town_form(left), _town_form(right)
    if not a or not b:
        return "unknown"
    return "same town" if a == b else "different town"


def location_evidence(left_pc, right_pc, left_town, right_town) -> tuple[float, str, str, bool, bool]:
    """(score adjustment, postcode agreement, town agreement, locations agree, locations disagree)."""
    pc = postcode_agreement(left_pc, right_pc)
    town = town_agreement(left_town, right_town)
    if pc != "unknown":
        adjustment = POSTCODE_ADJUSTMENT[pc]
    else:
        adjustment = TOWN_ADJUSTMENT[town]
    agree = pc in ("same postcode", "same sector", "same district") or town == "same town"
    disagree = not agree and (pc == "different district" or town == "different town")
    return adjustment, pc, town, agree, disagree


# What location evidence allows (see the table above).
CLOSE = ("same postcode", "same sector")
LINK, REVIEW, NOTHING = "link", "review", "nothing"


def decide(left_form: str, right_form: str, postcode: str, disagree: bool) -> tuple[str, str]:
    """(the most a pair may become: link / review / nothing, how the names differ)."""
    if left_form == right_form:
        return (REVIEW if disagree else LINK), "identical"
    left_only, right_only = own_words(left_form, right_form)
    if not left_only and not right_only:
        return (LINK if postcode == "same postcode" else REVIEW), "slips"
    if left_only and right_only:
        return (REVIEW if postcode in CLOSE and not disagree else NOTHING), "substituted word"
    if disagree:
        return NOTHING, "added word"
    return (LINK if postcode == "same postcode" else REVIEW), "added word"


def fuzzy_links(records: pd.DataFrame, *, link_threshold: float, review_threshold: float,
                already_linked: set[frozenset[str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score name pairs between records of different sources; return (links, review).

    records: record_id, source, name, other_names (list, may be empty), postcode, town (may be None).
    links: left_record, right_record, method, score, evidence (JSON). review: left_record, right_record,
    left_name, right_name, score, evidence. Pairs in `already_linked` (e.g. linked by company number)
    are skipped."""
    missing = [c for c in REQUIRED if c not in records.columns]
    if missing:
        raise ValueError(f"fuzzy_links: records lack column(s) {', '.join(missing)}")
    already_linked = already_linked or set()
    rows = records.to_dict("records")
    info = {}
    index = MatchIndex()
    for row in rows:
        record_id = str(row["record_id"])
        others = split_other_names(row.get("other_names"))
        info[record_id] = {"source": row["source"], "name": str(row["name"]), "others": others,
                           "postcode": normalise_postcode(_text(row.get("postcode"))),
                           "town": _text(row.get("town"))}
        index.add(record_id, str(row["name"]), info[record_id]["postcode"], others)
    index.finish()

    best: dict[frozenset[str], tuple[float, str, str, dict]] = {}
    for record_id, me in info.items():
        def other_source(org_id: str, me=me, record_id=record_id) -> bool:
            # Each unordered pair is scored from its smaller id only, and only across registers.
            return org_id > record_id and info[org_id]["source"] != me["source"]

        for name in [me["name"], *me["others"]]:
            for cand in index.candidates(name, None, limit=None, accept=other_source):
                pair = frozenset((record_id, cand.org_id))
                if pair in already_linked:
                    continue
                them = info[cand.org_id]
                adjustment, pc, town, _, disagree = location_evidence(
                    me["postcode"], them["postcode"], me["town"], them["town"])
                name_score = cand.evidence["name_score"]
                score = min(100.0, max(0.0, name_score + adjustment))
                if score < review_threshold:
                    continue
                ceiling, differ = decide(cand.evidence["query_form"], cand.evidence["matched_form"], pc, disagree)
                if ceiling == NOTHING:
                    continue
                held = ceiling == REVIEW and score >= link_threshold
                if ceiling == REVIEW:
                    score = min(score, link_threshold - 0.1)
                evidence = {
                    "left_name": name, "right_name": cand.matched_name,
                    "left_form": cand.evidence["query_form"], "right_form": cand.evidence["matched_form"],
                    "left_variant": "name" if name == me["name"] else "other name",
                    "right_variant": cand.evidence["name_variant"],
                    "postcode_agreement": pc, "town_agreement": town,
                    "held_below_link": held, "name_score": name_score, "names_differ": differ,
                    **{k: cand.evidence[k] for k in ("token_sort_ratio", "squashed_ratio", "token_set_ratio",
                                                     "idf_overlap")},
                }
                current = best.get(pair)
                if current is None or score > current[0]:
                    best[pair] = (round(score, 1), record_id, cand.org_id, evidence)

    links, review = [], []
    for score, left, right, evidence in sorted(best.values(), key=lambda b: (b[1], b[2])):
        if score >= link_threshold:
            links.append({"left_record": left, "right_record": right, "method": METHOD, "score": score,
                          "evidence": json.dumps(evidence, sort_keys=True)})
        else:
            review.append({"left_record": left, "right_record": right, "left_name": info[left]["name"],
                           "right_name": info[right]["name"], "score": score,
                           "evidence": json.dumps(evidence, sort_keys=True)})
    return pd.DataFrame(links, columns=LINK_COLUMNS), pd.DataFrame(review, columns=REVIEW_COLUMNS)
