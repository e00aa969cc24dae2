"""MatchIndex blocking and name scoring for many names at once: the same pairs and numbers, set-wise.

`matching` scores one query at a time in Python (`MatchIndex.block`, `score_forms`: about 100 us a pair), which
is right for `vcse match` but too slow for `register.fuzzy_links`, which compares every record of an area with
every record its names block with. Here:

- `block_pairs` finds every (name, indexed entry) pair `MatchIndex.block` would, as one join of the names'
  blocking keys (`MatchIndex.block_keys`) with the index's postings, in numpy;
- `score_pairs` gives `score_forms(left, right, index.weight)` (without containment, as the cross-register linker
  scores) for arrays of pairs: the character ratios from rapidfuzz's `process.cpdist` on all cores, the
  IDF-weighted word overlap from numpy over every pair of words of every pair of names, each distinct pair of
  words compared once.

The numbers equal score_forms' except in the order floating-point sums add a name's words, which score_forms
takes from a Python set (an order that changes from process to process): at most the last bit differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from .matching import SHIRE_CREDIT, SLIP_CREDIT, TOKEN_FUZZY_RATIO, MatchIndex, NameForm, join_compounds

# How one word credits another, in the order matching._token_credit tries them (the same word, a slip, a shire
# form, else the spelling ratio 0-100): ranks above any ratio, so the best rank over the other name's words
# picks the credit _token_credit gives.
SAME_RANK, SLIP_RANK, SHIRE_RANK = 3000.0, 2000.0, 1000.0
# rapidfuzz's cpdist uses every core from this many pairs; below, starting its threads costs more than they save.
PARALLEL_FROM = 20_000


def _cpdist(lefts, rights, scorer, **kwargs) -> np.ndarray:
    workers = -1 if len(lefts) >= PARALLEL_FROM else 1
    return process.cpdist(lefts, rights, scorer=scorer, workers=workers, **kwargs)


def group_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of counts[g] rows laid end to end: each row's group and its position within the group."""
    counts = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    return group, np.arange(len(group)) - (np.cumsum(counts) - counts)[group]


def block_pairs(index: MatchIndex, forms: Sequence[NameForm],
                accept: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
    """(form, entry) for every entry `index.block(forms[form])` finds (without a postcode), ordered by form and entry:
    each form's blocking keys joined with the postings of those keys, as array arithmetic (a join in DuckDB costs
    more to set up than a small area's whole join). `accept(forms, entries)`, a mask, may rule pairs out first."""
    key_number: dict[str, int] = {}
    postings: list[list[int]] = []
    form_of, key_of = [], []
    for number, form in enumerate(forms):
        tokens, keys = index.block_keys(form)
        # words and compound keys cannot clash: compound keys start with '=' or '+', words are letters and digits
        for key, postings_of in [(t, index.token_postings) for t in tokens] + [(k, index.key_postings) for k in keys]:
            if key not in key_number:
                key_number[key] = len(postings)
                postings.append(postings_of[key])
            form_of.append(number)
            key_of.append(key_number[key])
    lengths = np.fromiter(map(len, postings), dtype=np.int64, count=len(postings))
    flat = np.fromiter(chain.from_iterable(postings), dtype=np.int64, count=int(lengths.sum()))
    first = np.cumsum(lengths) - lengths
    key_of_row = np.asarray(key_of, dtype=np.int64)
    row, within = group_rows(lengths[key_of_row])
    entry = flat[first[key_of_row][row] + within]
    form = np.asarray(form_of, dtype=np.int64)[row]
    if accept is not None:
        kept = accept(form, entry)
        form, entry = form[kept], entry[kept]
    size = max(len(index.entries), 1)
    pairs = np.unique(form * size + entry)  # a pair several keys find, once
    return pd.DataFrame({"form": pairs // size, "entry": pairs % size})


class _Words:
    """The words of a set of names as integer ids, each name's distinct words as a slice of one array."""

    def __init__(self, forms: Sequence[NameForm]) -> None:
        self.ids: dict[str, int] = {}
        for form in forms:
            for token in form.tokens:
                self.ids.setdefault(token, len(self.ids))
        self.starts: list[int] = []
        self.lengths: list[int] = []
        self.flat: list[int] = []
        for form in forms:
            self.add_set(form.tokens)
        words = list(self.ids)
        self.text = np.asarray(words, dtype=object)
        self.length = np.fromiter(map(len, words), dtype=np.int64, count=len(words))

        def id_of(word: str) -> int:
            return self.ids.get(word, -1)

        self.plural = np.fromiter((id_of(w + "s") for w in words), dtype=np.int64, count=len(words))
        self.shire = np.fromiter((id_of(w + "shire") if len(w) >= 4 else -1 for w in words), dtype=np.int64,
                                 count=len(words))
        # a name two of whose adjacent words, written as one, are a word of some name: join_compounds may join them
        self.joinable = np.fromiter(
            (any(a + b in self.ids and a + b not in form.tokens for a, b in zip(form.tokens, form.tokens[1:],
                                                                                strict=False))
             for form in forms), dtype=bool, count=len(forms))

    def add_set(self, tokens: Sequence[str]) -> int:
        """The id of a new word set holding `tokens`' distinct words (every word already has an id)."""
        distinct = [self.ids[t] for t in dict.fromkeys(tokens)]
        self.starts.append(len(self.flat))
        self.lengths.append(len(distinct))
        self.flat.extend(distinct)
        return len(self.starts) - 1

    def rank(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """How word a credits word b, for arrays of word ids (symmetric): SAME/SLIP/SHIRE_RANK, else the spelling
        ratio when both have 4+ letters, else 0 (matching._token_credit's rules, names.same_word's slips)."""
        rank = np.zeros(len(a), dtype=np.float64)
        same = a == b
        slip = ~same & ((self.plural[a] == b) | (self.plural[b] == a))
        la, lb = self.length[a], self.length[b]
        long = ~same & (np.minimum(la, lb) >= 4)
        near = np.flatnonzero(long & ~slip & (np.abs(la - lb) <= 1))  # one edit apart needs lengths within one
        if len(near):
            distance = _cpdist(self.text[a[near]], self.text[b[near]], DamerauLevenshtein.distance, score_cutoff=1,
                               dtype=np.int64)
            slip[near[distance <= 1]] = True
        shire = ~same & ~slip & ((self.shire[a] == b) | (self.shire[b] == a))
        spelling = np.flatnonzero(long & ~slip & ~shire)
        if len(spelling):
            # below the cutoff a ratio earns nothing, so rapidfuzz may skip it (0): the ranks that count are exact
            rank[spelling] = _cpdist(self.text[a[spelling]], self.text[b[spelling]], fuzz.ratio,
                                     score_cutoff=TOKEN_FUZZY_RATIO, dtype=np.float64)
        rank[shire] = SHIRE_RANK
        rank[slip] = SLIP_RANK
        rank[same] = SAME_RANK
        return rank


def _credit(rank: np.ndarray) -> np.ndarray:
    """A word's credit from its best rank against the other name's words (matching._token_credit)."""
    return np.select([rank == SAME_RANK, rank == SLIP_RANK, rank == SHIRE_RANK, rank >= TOKEN_FUZZY_RATIO],
                     [1.0, SLIP_CREDIT, SHIRE_CREDIT, rank / 100.0], 0.0)


def _overlap(words: _Words, left_set: np.ndarray, right_set: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """matching.weighted_overlap for each pair of word sets: every word of one against every word of the other."""
    n = len(left_set)
    starts, lengths, flat = (np.asarray(x, dtype=np.int64) for x in (words.starts, words.lengths, words.flat))
    n_left, n_right = lengths[left_set], lengths[right_set]
    cells = n_left * n_right
    first = np.cumsum(cells) - cells
    pair, k = group_rows(cells)
    # cell k of a pair is (left word k // n_right, right word k % n_right): left words' cells are contiguous
    li, ri = k // n_right[pair], k % n_right[pair]
    a = flat[starts[left_set][pair] + li]
    b = flat[starts[right_set][pair] + ri]
    size = len(words.ids)
    codes, distinct = pd.factorize(np.minimum(a, b) * size + np.maximum(a, b))
    rank = words.rank(distinct // size, distinct % size)[codes]
    # the same cells right word by right word
    li2, ri2 = k % n_left[pair], k // n_left[pair]
    by_right = first[pair] + li2 * n_right[pair] + ri2

    def side(order: np.ndarray, group_start: np.ndarray, word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.flatnonzero(group_start)
        credit = _credit(np.maximum.reduceat(rank[order], at))
        w = weight[word[order][at]]
        owner = pair[at]
        return np.bincount(owner, weights=w * credit, minlength=n), np.bincount(owner, weights=w, minlength=n)

    shared_left, total_left = side(np.arange(len(k)), ri == 0, a)
    shared_right, total_right = side(by_right, li2 == 0, b)
    shared, total = shared_left + shared_right, total_left + total_right
    return np.divide(shared, total, out=np.zeros(n), where=total != 0)


def score_pairs(index: MatchIndex, forms: Sequence[NameForm], left: np.ndarray, right: np.ndarray
                ) -> dict[str, np.ndarray]:
    """score_forms(forms[l], forms[r], index.weight) for each pair (l, r) of `left` and `right` (no containment):
    name_score, token_sort_ratio, squashed_ratio, token_set_ratio and idf_overlap, unrounded. `forms` must have
    distinct texts (a pair of one form is a pair of identical names)."""
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    n = len(left)
    if n == 0:
        return {k: np.zeros(0) for k in ("name_score", "token_sort_ratio", "squashed_ratio", "token_set_ratio",
                                          "idf_overlap")}
    words = _Words(forms)
    texts = [" ".join(form.tokens) for form in forms]
    left_text, right_text = [texts[i] for i in left], [texts[i] for i in right]
    left_set, right_set = left.copy(), right.copy()
    # Two words one name writes apart and the other as one count as one word: only pairs where a name has such a
    # pair can change, so only those go through join_compounds.
    for k in np.flatnonzero(words.joinable[left] | words.joinable[right]):
        ours, theirs = forms[left[k]].tokens, forms[right[k]].tokens
        joined_ours, joined_theirs = join_compounds(ours, theirs)
        if joined_ours != ours:
            left_set[k], left_text[k] = words.add_set(joined_ours), " ".join(joined_ours)
        if joined_theirs != theirs:
            right_set[k], right_text[k] = words.add_set(joined_theirs), " ".join(joined_theirs)
    squashed = [form.squashed for form in forms]

    def ratios(scorer, lefts, rights) -> np.ndarray:
        return _cpdist(lefts, rights, scorer, dtype=np.float64)

    sort_ratio = ratios(fuzz.token_sort_ratio, left_text, right_text)
    set_ratio = ratios(fuzz.token_set_ratio, left_text, right_text)
    squashed_ratio = ratios(fuzz.ratio, [squashed[i] for i in left], [squashed[i] for i in right])
    weight = np.fromiter((index.weight(w) for w in words.ids), dtype=np.float64, count=len(words.ids))
    overlap = _overlap(words, left_set, right_set, weight)
    score = 0.5 * np.maximum(sort_ratio, squashed_ratio) + 0.5 * 100 * overlap
    score = np.where(squashed_ratio == 100, np.maximum(score, 99.0), score)  # the same letters, spaced differently
    same = left == right
    for values, identical in ((score, 100.0), (sort_ratio, 100.0), (squashed_ratio, 100.0), (set_ratio, 100.0),
                              (overlap, 1.0)):
        values[same] = identical
    return {"name_score": score, "token_sort_ratio": sort_ratio, "squashed_ratio": squashed_ratio,
            "token_set_ratio": set_ratio, "idf_overlap": overlap}
