"""Upper bounds on the scores MatchIndex gives the organisations a query blocks with, for all of them at once.

`MatchIndex.leading` scores organisations in full (`MatchIndex._score`: score_forms with its evidence, then the
federation and branch rules) highest bound first, and stops once no bound left could change what the query is
answered with. The bound of a (query form, entry) pair is score_forms' own name score, worked out as arrays
(matching's rules, as batch_matching works them out for the cross-register linker):

- the IDF-weighted word overlap from how each query word credits each word of the candidates' names
  (`word_ranks`, once per query: rapidfuzz finds the pairs spelt close enough, matching's rules rank them);
- the character part from rapidfuzz's ratios of all the entries at once, or 100 where containment could make it
  so (every word of the entry's name credited by the query's, in reconcile mode);
- for a pair join_compounds changes (two words one name writes as one of the other's: "food bank" / "foodbank"),
  the same from the words as it joins them;

plus the organisation's postcode points, less the points a member of another branch of the query's federation
loses. The branch rule (dropped_parts_differ) only takes points away, and is left out, so no organisation scores
above its bound; sums add in another order than score_forms' (a last bit apart), so every bound has BOUND_SLACK
added. A change to score_forms or _token_credit must be made here too: tests/test_match_bounds.py compares them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from .batch_matching import SAME_RANK, SHIRE_RANK, SLIP_RANK, _credit
from .matching import (
    FEDERATION_PENALTY,
    POSTCODE_ADJUSTMENT,
    TOKEN_FUZZY_RATIO,
    NameForm,
    _agreement,
    _close_spelling,
    _shire,
    _slip,
    federation_disagreement,
    federation_words,
    join_compounds,
    whole_name,
)
from .names import squash
from .ragged import expand, group_rows

if TYPE_CHECKING:
    from .matching import MatchIndex

# A word credits another (matching._token_credit) only when it is the same, a plural, a shire form, one letter
# apart in words of 4+ letters (a fuzz.ratio of 75 or more) or spelt closely (TOKEN_FUZZY_RATIO or more): the
# pairs rapidfuzz finds below this are not looked at.
CLOSE_ENOUGH_TO_CREDIT = 74.0
# Added to every bound, for sums that add in another order than score_forms' (on a 0-100 score).
BOUND_SLACK = 1e-6


class Bounds(NamedTuple):
    """What score_bounds knows of each organisation a query blocks with, before scoring it in full."""

    orgs: np.ndarray            # organisation numbers (into NameTable.org_ids)
    bounds: np.ndarray          # no less than the rank score MatchIndex._score gives it
    name_in_query: np.ndarray   # whether a name of it may be contained in the query (matching.NAME_IN_QUERY)
    query_in_name: np.ndarray   # whether a name of it may contain the query (matching.QUERY_IN_NAME)


def score_bounds(index: MatchIndex, name: str, blocks: list[tuple[str, NameForm, np.ndarray]], pc: str | None,
                 accept: Callable[[str], bool] | None) -> Bounds:
    """The Bounds of each organisation `accept` takes among the entries each variant of the query `name` blocks with
    (`blocks`, MatchIndex._blocks); the postcode `pc` normalised."""
    table = index.table
    orgs, bounds, name_in, query_in = [], [], [], []
    taken: dict[int, bool] = {}
    query = whole_name(name)
    federation = index.reconcile and federation_words(query.tokens) is not None
    for _, form, rows in blocks:
        if accept is not None and len(rows):
            for org in set(table.entry_org[rows].tolist()) - taken.keys():
                taken[org] = bool(accept(table.org_ids[org]))
            rows = rows[[taken[org] for org in table.entry_org[rows].tolist()]]
        if len(rows):
            score, name_in_query, query_in_name = _name_bounds(index, form, rows)
            if federation:   # another member of the query's federation loses points whichever name matched
                score = score - FEDERATION_PENALTY * np.fromiter(
                    (federation_disagreement(query, whole_name(text)) is not None
                     for text in table.entry_name[rows].tolist()), dtype=bool, count=len(rows))
            orgs.append(table.entry_org[rows])
            bounds.append(score)
            name_in.append(name_in_query)
            query_in.append(query_in_name)
    if not orgs:
        return Bounds(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
    org, bound = np.concatenate(orgs), np.concatenate(bounds) + BOUND_SLACK
    if pc:
        distinct = np.unique(org)
        points = np.fromiter((POSTCODE_ADJUSTMENT[_agreement(pc, index.org_postcode.get(table.org_ids[o]))]
                              for o in distinct.tolist()), dtype=np.float64, count=len(distinct))
        bound = bound + points[np.searchsorted(distinct, org)]
    # each organisation's best entry, and whether any of its entries may contain the query or be contained in it
    order = np.lexsort((-bound, org))
    first = np.flatnonzero(np.r_[True, org[order][1:] != org[order][:-1]])
    return Bounds(org[order][first], bound[order][first], np.logical_or.reduceat(np.concatenate(name_in)[order], first),
                  np.logical_or.reduceat(np.concatenate(query_in)[order], first))


def _name_bounds(index: MatchIndex, form: NameForm, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, name_in_query, query_in_name) for each entry of `rows`: score_forms(form, entry.form, index.weight,
    containment=index.reconcile)'s score, or 100 where containment could make it more than the arithmetic here
    says; whether the entry's words are all credited by the query's, and the other way round."""
    table = index.table
    texts = table.forms[table.entry_form[rows]].tolist()
    n = len(rows)
    pair, word = expand(table.starts, table.lengths, table.flat, rows)
    word = word.astype(np.int64)
    squashed = process.cdist([form.squashed], [squash(text) for text in texts], scorer=fuzz.ratio,
                             dtype=np.float64, workers=1)[0]
    words = _QueryWords(index)
    score, name_in_query, query_in_name = np.empty(n), np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    joinable = _joinable(index, form, rows, pair, word)
    plain = np.flatnonzero(~joinable)
    kept = ~joinable[pair]
    score[plain], name_in_query[plain], query_in_name[plain] = _pair_scores(
        index, words, form.tokens, np.searchsorted(plain, pair[kept]), word[kept],
        [texts[k] for k in plain.tolist()], squashed[plain])
    # the pairs join_compounds changes ("food bank" / "foodbank"), grouped by the query's words as it joins them
    groups: dict[tuple[str, ...], list[tuple[int, tuple[str, ...]]]] = defaultdict(list)
    for k in np.flatnonzero(joinable).tolist():
        left, right = join_compounds(form.tokens, tuple(texts[k].split()))
        groups[left].append((k, right))
    for left, members in groups.items():
        at = np.fromiter((k for k, _ in members), dtype=np.int64, count=len(members))
        right_words = [sorted({words.number(t) for t in right}) for _, right in members]
        counts = np.fromiter(map(len, right_words), dtype=np.int64, count=len(members))
        score[at], name_in_query[at], query_in_name[at] = _pair_scores(
            index, words, left, group_rows(counts)[0],
            np.fromiter(chain.from_iterable(right_words), dtype=np.int64, count=int(counts.sum())),
            [" ".join(right) for _, right in members], squashed[at])
    score = np.where(squashed == 100, np.maximum(score, 99.0), score)   # the same letters, spaced differently
    same = np.fromiter((text == form.text for text in texts), dtype=bool, count=n)
    return np.where(same, 100.0, score), name_in_query | same, query_in_name | same


def _pair_scores(index: MatchIndex, words: _QueryWords, left_tokens: tuple[str, ...], pair: np.ndarray,
                 word: np.ndarray, right_texts: list[str], squashed: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, name_in_query, query_in_name): score_forms' score before its same-letters rule, for the query's words
    (`left_tokens`) against each name of `right_texts` (its words joined by spaces), whose distinct words are numbered
    `word` (name `pair`), as join_compounds leaves them, with 100 for the character part where containment could make
    it so; whether all the name's words are credited by the query's, and the other way round."""
    n = len(right_texts)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    left = sorted(set(left_tokens))
    distinct, inverse = np.unique(word, return_inverse=True)
    rank = word_ranks(left, words.text(distinct))   # the query's words x the names' words
    # each name word's best rank against the query's words, and each query word's against the name's words
    right_rank = rank.max(axis=0, initial=0.0)[inverse]
    left_rank = np.zeros((len(left), n))
    for q in range(len(left)):
        np.maximum.at(left_rank[q], pair, rank[q, inverse])
    left_weight = np.fromiter((index.weight(q) for q in left), dtype=np.float64, count=len(left))
    right_weight = words.weight(distinct)[inverse]
    shared = (left_weight[:, None] * _credit(left_rank)).sum(axis=0) + \
        np.bincount(pair, weights=right_weight * _credit(right_rank), minlength=n)
    total = left_weight.sum() + np.bincount(pair, weights=right_weight, minlength=n)
    has_words = np.bincount(pair, minlength=n) > 0
    overlap = np.divide(shared, total, out=np.zeros(n), where=(total != 0) & has_words & bool(left))
    sort_ratio = process.cdist([" ".join(left_tokens)], right_texts,
                               scorer=fuzz.token_sort_ratio, dtype=np.float64, workers=1)[0]
    char = np.maximum(sort_ratio, squashed)
    uncredited = np.bincount(pair, weights=(right_rank == 0).astype(np.float64), minlength=n)
    name_in_query = has_words & (uncredited == 0)
    if index.reconcile:   # every word of the name credited: the name may be contained in the query
        char = np.where(name_in_query, 100.0, char)
    query_in_name = (left_rank > 0).all(axis=0) & bool(left)
    return 0.5 * char + 0.5 * 100 * overlap, name_in_query, query_in_name


class _QueryWords:
    """The index's words (NameTable's numbers) and, numbered after them, words of one query's joined names that the
    index does not have."""

    def __init__(self, index: MatchIndex) -> None:
        self.index, self.table = index, index.table
        self.extra: dict[str, int] = {}

    def number(self, word: str) -> int:
        known = self.table.number.get(word)
        if known is not None:
            return known
        return self.extra.setdefault(word, len(self.table.text) + len(self.extra))

    def text(self, numbers: np.ndarray) -> list[str]:
        extra = list(self.extra)
        size = len(self.table.text)
        return [self.table.text[k] if k < size else extra[k - size] for k in numbers.tolist()]

    def weight(self, numbers: np.ndarray) -> np.ndarray:
        size = len(self.table.text)
        known = numbers < size
        out = np.full(len(numbers), self.index.unseen_idf)
        out[known] = self.table.idf[numbers[known]]
        return out


def _joinable(index: MatchIndex, form: NameForm, rows: np.ndarray, pair: np.ndarray, word: np.ndarray
              ) -> np.ndarray:
    """Whether join_compounds could join two adjacent words of the query (a word of the entry) or of the entry (a
    word of the query: the index's '+' keys hold the entries with each such pair)."""
    numbers = [table_number for a, b in zip(form.tokens, form.tokens[1:], strict=False)
               if (table_number := index.table.number.get(a + b)) is not None]
    joined = np.zeros(len(rows), dtype=bool)
    if numbers:
        joined[np.unique(pair[np.isin(word, numbers)])] = True
    splits = [index.table.key_entries("+" + t) for t in set(form.tokens)]
    if splits:
        joined |= np.isin(rows, np.concatenate(splits))
    return joined


def word_ranks(words: list[str], vocabulary: list[str]) -> np.ndarray:
    """The rank of how each of `words` and each of `vocabulary` credit each other (matching._token_credit's order:
    SAME_RANK, SLIP_RANK, SHIRE_RANK, else a spelling ratio that earns credit, else 0), as a matrix. Only the pairs
    rapidfuzz finds close in one pass, and plurals and shire forms, are looked at one by one."""
    rank = np.zeros((len(words), len(vocabulary)))
    if not words or not vocabulary:
        return rank
    close = process.cdist(words, vocabulary, scorer=fuzz.ratio, score_cutoff=CLOSE_ENOUGH_TO_CREDIT,
                          dtype=np.float64, workers=1)
    look = set(zip(*(axis.tolist() for axis in np.nonzero(close)), strict=True))
    position = {word: k for k, word in enumerate(vocabulary)}
    for r, word in enumerate(words):
        for other in (word + "s", word[:-1] if word.endswith("s") else None, word + "shire",
                      word[:-5] if word.endswith("shire") else None):
            if other in position:
                look.add((r, position[other]))
    for r, c in look:
        rank[r, c] = _pair_rank(words[r], vocabulary[c])
    return rank


def _pair_rank(token: str, other: str) -> float:
    """How `other` credits `token` as _token_credit(token, (other,)) decides it, as a rank (symmetric; the ranks
    batch_matching's _Words.rank gives pairs of words numbered in a set of names)."""
    if token == other:
        return SAME_RANK
    if _slip(token, other):
        return SLIP_RANK
    if _shire(token, other):
        return SHIRE_RANK
    if len(token) < 4:
        return 0.0
    ratio = _close_spelling(token, other)
    return ratio if ratio >= TOKEN_FUZZY_RATIO else 0.0
