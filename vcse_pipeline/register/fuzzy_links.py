"""Fuzzy name links between records of different registers, with the matcher's blocking and scoring done set-wise
(batch_matching: the same pairs and scores as MatchIndex.candidates, without scoring pair by pair in Python).

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

import numpy as np
import pandas as pd

from ..batch_matching import NameIndex
from ..matching import POSTCODE_ADJUSTMENT, SAME_WORDS, Candidate, postcode_agreement, split_other_names
from ..names import normalise_name, own_words
from ..postcode import district_of, normalise_postcode, sector_of

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
    info, index = index_records(records)
    # no location evidence lifts a name score this far below the review threshold (0.1: the score is rounded)
    floor = review_threshold - max(*POSTCODE_ADJUSTMENT.values(), *TOWN_ADJUSTMENT.values()) - 0.1
    found = scored_candidates(info, index, already_linked, floor, review_threshold=review_threshold)
    return decide_links(info, found, link_threshold=link_threshold, review_threshold=review_threshold,
                        already_linked=already_linked)


@lru_cache(maxsize=200_000)
def _postcode(value) -> str | None:
    return normalise_postcode(_text(value))


def record_info(records: pd.DataFrame) -> dict[str, dict]:
    """record_id -> source, name, other names, normalised postcode, town (None when missing)."""
    ids = [str(record_id) for record_id in records["record_id"]]
    if len(set(ids)) < len(ids):
        repeated = sorted(pd.Series(ids)[pd.Series(ids).duplicated()].unique())
        raise ValueError(f"fuzzy_links: record_id(s) {', '.join(repeated[:5])} appear more than once")

    def column(name: str) -> list:
        return records[name].tolist() if name in records.columns else [None] * len(records)

    return {record_id: {"source": source, "name": str(name), "others": split_other_names(others),
                        "postcode": _postcode(postcode), "town": _text(town)}
            for record_id, source, name, others, postcode, town in zip(
                ids, column("source"), column("name"), column("other_names"), column("postcode"), column("town"),
                strict=True)}


def index_records(records: pd.DataFrame) -> tuple[dict[str, dict], NameIndex]:
    """(record_info(records), a NameIndex of every record's names, its organisations numbered in that order)."""
    info = record_info(records)
    return info, NameIndex([[me["name"], *me["others"]] for me in info.values()])


def location_adjustments(info: dict[str, dict], record: np.ndarray, other: np.ndarray) -> np.ndarray:
    """location_evidence's score adjustment for each pair (record[i], other[i]) of records numbered in info's
    order, as arrays: postcode agreement when both have one, else town agreement."""
    postcodes = [me["postcode"] for me in info.values()]

    def codes(values: list) -> np.ndarray:   # a number per distinct value, -1 for unknown (None)
        return pd.factorize(pd.Series(values, dtype=object))[0]

    postcode, sector, district = (codes(values) for values in (
        postcodes, [sector_of(pc) for pc in postcodes], [district_of(pc) for pc in postcodes]))
    town = codes([_town_form(me["town"]) or None for me in info.values()])
    known = (postcode[record] >= 0) & (postcode[other] >= 0)
    by_postcode = np.select(
        [postcode[record] == postcode[other], sector[record] == sector[other], district[record] == district[other]],
        [POSTCODE_ADJUSTMENT[agreement] for agreement in ("same postcode", "same sector", "same district")],
        POSTCODE_ADJUSTMENT["different district"])
    by_town = np.where((town[record] >= 0) & (town[other] >= 0),
                       np.where(town[record] == town[other], TOWN_ADJUSTMENT["same town"],
                                TOWN_ADJUSTMENT["different town"]), TOWN_ADJUSTMENT["unknown"])
    return np.where(known, by_postcode, by_town)


def scored_candidates(info: dict[str, dict], index: NameIndex, already_linked: set[frozenset[str]],
                      floor: float, *, review_threshold: float | None = None) -> list[tuple[str, str, Candidate]]:
    """(record_id, name, candidate) for each name of each record and each record of another register with a
    greater id that the name finds (MatchIndex.candidates(name, limit=None) with that filter, each pair of records
    scored from its smaller id), keeping candidates whose name score reaches `floor` and pairs not already linked;
    in the order a loop over records, their names and each name's candidates (best first) would give. With
    `review_threshold`, candidates whose location evidence (location_adjustments) keeps them below it are left out
    too (decide_links would pass over them: 0.1 to spare for its rounding of the name score).

    Set-wise: every form is blocked once (NameIndex.block), each query takes its form's entries, and every distinct
    pair of forms is scored once (batch_matching.score_pairs), where MatchIndex.candidates would block and score
    pair by pair in Python."""
    ids = list(info)
    order = np.empty(len(ids), dtype=np.int64)  # accept only greater record ids: compare ranks in id order
    order[np.argsort(np.asarray(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    source = pd.factorize(pd.Series([me["source"] for me in info.values()], dtype=object))[0]
    number = {record_id: i for i, record_id in enumerate(ids)}
    linked = [min(number[a], number[b]) * len(ids) + max(number[a], number[b])
              for a, b in map(tuple, (p for p in already_linked if len(p) == 2)) if a in number and b in number]
    n_forms = len(index.forms)

    # each query with every entry its form blocks with, of another register, scored from the smaller id
    row, entry = index.query_entries()
    record, other = index.query_org[row], index.entry_org[entry]
    keep = (order[other] > order[record]) & (source[other] != source[record])
    if linked:
        keep &= ~np.isin(np.minimum(record, other) * len(ids) + np.maximum(record, other), linked)
    row, entry, record, other = row[keep], entry[keep], record[keep], other[keep]

    pair_codes, pairs = pd.factorize(index.query_form[row] * n_forms + index.entry_form[entry])
    scores = index.score_pairs(pairs // n_forms, pairs % n_forms, floor)
    name_score = scores["name_score"][pair_codes]
    high = name_score >= floor
    row, entry, record, other, pair_codes, name_score = (
        x[high] for x in (row, entry, record, other, pair_codes, name_score))
    name_number, variant = index.query_name[row], index.query_variant[row]
    # One candidate per (record, name, other record): its best-scoring entry, the first variant and entry on a tie
    # (MatchIndex.candidates keeps the first of equal scores in the order it meets them).
    by_group = np.lexsort((entry, variant, -name_score, other, name_number, record))
    starts = np.ones(len(by_group), dtype=bool)
    starts[1:] = np.diff(np.stack([record[by_group], name_number[by_group], other[by_group]]), axis=1).any(axis=0)
    best = by_group[starts]
    # candidates by record, name, best first, then other record id (order[] ranks ids as strings sort)
    best = best[np.lexsort((order[other[best]], -name_score[best], name_number[best], record[best]))]
    if review_threshold is not None:
        located = np.maximum(0.0, name_score[best] + location_adjustments(info, record[best], other[best]))
        best = best[located >= review_threshold - 0.1]
    found = []
    for r, n, entry_number, pair, score in zip(*(x[best].tolist() for x in (
            record, name_number, entry, pair_codes, name_score)), strict=True):
        me, matched = info[ids[r]], ids[index.entry_org[entry_number]]
        name = me["name"] if n == 0 else me["others"][n - 1]
        them = info[matched]
        matched_position = index.entry_name[entry_number]
        matched_name = them["name"] if matched_position == 0 else them["others"][matched_position - 1]
        query_form, matched_form = index.forms[pairs[pair] // n_forms].text, index.forms[pairs[pair] % n_forms].text
        evidence = {"query_name": name, "query_form": query_form, "matched_name": matched_name,
                    "matched_form": matched_form, "name_variant": "name" if matched_position == 0 else "other name",
                    "postcode_agreement": "unknown", "name_score": round(score, 1),
                    **{k: round(float(scores[k][pair]), 1)
                       for k in ("token_sort_ratio", "squashed_ratio", "token_set_ratio")},
                    "idf_overlap": round(float(scores["idf_overlap"][pair]), 3),
                    "contained": SAME_WORDS if query_form == matched_form else None}
        found.append((ids[r], name, Candidate(matched, matched_name, round(max(0.0, min(100.0, score)), 1),
                                              evidence, score)))
    return found


def decide_links(info: dict[str, dict], found, *, link_threshold: float, review_threshold: float,
                 already_linked: set[frozenset[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links, review) from (record_id, name, candidate) triples in record, name, best-first order: location
    evidence, the decision table above, and each pair's best score over the names."""
    best: dict[frozenset[str], tuple[float, str, str, dict]] = {}
    for record_id, name, cand in found:
        me = info[record_id]
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
