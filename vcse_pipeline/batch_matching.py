"""MatchIndex indexing, blocking and name scoring for many names at once: the same entries, pairs and numbers,
set-wise.

`matching` indexes one organisation and scores one query at a time in Python (`MatchIndex.add`, `block`,
`score_forms`: about 100 us a pair), which is right for `vcse match` but too slow for `register.fuzzy_links`,
which indexes every record of an area and compares it with every record its names block with. Here:

- `NameIndex` indexes every name of many organisations as `MatchIndex.add` would (its entries, word frequencies and
  IDF weights), as arrays: each distinct name normalised once and each distinct form split once (both cached per
  process, so an organisation in several areas costs once per build);
- `NameIndex.block` finds every (form, entry) pair `MatchIndex.block` would, as one join of every form's blocking
  keys (`MatchIndex.block_keys`' rules) with the index's postings, in numpy;
- `score_pairs` gives `score_forms(left, right, index.weight)` (without containment, as the cross-register linker
  scores) for arrays of pairs: the character ratios from rapidfuzz's `process.cpdist` on all cores, the
  IDF-weighted word overlap from numpy over every pair of words of every pair of names (rapidfuzz only for pairs
  of words whose lengths and letters allow a slip or a close spelling). `NameIndex.score_pairs` does the same
  from the index's own words and, given the linker's floor, skips the ratios of pairs that cannot reach it.

The numbers equal score_forms' except in the order floating-point sums add a name's words, which score_forms
takes from a Python set (an order that changes from process to process): at most the last bit differs.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from . import ragged
from .matching import (
    MAX_BLOCK_SHARE,
    MAX_BLOCK_TOKENS,
    MIN_BLOCK_DF,
    SHIRE_CREDIT,
    SLIP_CREDIT,
    TOKEN_FUZZY_RATIO,
    MatchIndex,
    NameForm,
    compound_keys,
    join_compounds,
)
from .names import name_variants

# How one word credits another, in the order matching._token_credit tries them (the same word, a slip, a shire
# form, else the spelling ratio 0-100): ranks above any ratio, so the best rank over the other name's words
# picks the credit _token_credit gives.
SAME_RANK, SLIP_RANK, SHIRE_RANK = 3000.0, 2000.0, 1000.0
# rapidfuzz's cpdist uses every core from this many pairs; below, starting its threads costs more than they save.
PARALLEL_FROM = 20_000


def _cpdist(lefts, rights, scorer, **kwargs) -> np.ndarray:
    workers = -1 if len(lefts) >= PARALLEL_FROM else 1
    return process.cpdist(lefts, rights, scorer=scorer, workers=workers, **kwargs)


class FormParts(NamedTuple):
    """What indexing, blocking and scoring read of one normalised name."""

    form: NameForm
    words: tuple[str, ...]     # its distinct words, in order
    joined: tuple[str, ...]    # each two adjacent words written as one ("safe lives" -> "safelives")
    keys: tuple[str, ...]      # its compound keys (matching.compound_keys)
    lookups: tuple[str, ...]   # the other keys a query looks up: each word as '+word' (a pair indexed as one word)


@lru_cache(maxsize=200_000)
def form_parts(text: str) -> FormParts:
    """The FormParts of a normalised name: the same in every area, so made once per process."""
    form = NameForm.of(text)
    tokens = form.tokens
    return FormParts(form, tuple(dict.fromkeys(tokens)), tuple(map(operator.add, tokens, tokens[1:])),
                     tuple(compound_keys(form)), tuple(map("+".__add__, tokens)))


class NameIndex:
    """The names of many organisations indexed as MatchIndex indexes them (without its reconcile rules), built
    set-wise: the cross-register linker's index (register.fuzzy_links), which queries with the very names it
    indexes. Organisations are numbered 0..n-1; `names[o]` is organisation o's names, its name first.

    - entries (`entry_org`, `entry_name`: the position of the name in names[o], `entry_form`): MatchIndex.add's
      entries in its order, each distinct normalised form (names.name_variants) of an organisation's names once;
    - queries (`query_org`, `query_name`, `query_variant`, `query_form`): every variant of every name of every
      organisation, in the order a loop over organisations, names and variants (MatchIndex.variants) meets them;
    - `forms` (distinct, numbered as entry_form and query_form), `token_df`, `weight`, `block()` and
      `score_pairs()`: MatchIndex's word document frequencies, IDF weights, blocking and scoring, as arrays over
      this index's words (`words`).

    Each distinct name is normalised once (names.name_variants, cached per process: the same organisation appears
    in several areas) and each distinct form split once (`form_parts`, cached too); the rest is array work."""

    def __init__(self, names: Sequence[Sequence[str]]) -> None:
        texts = list(chain.from_iterable(names))
        name_org, name_position = ragged.group_rows(ragged.lengths(names))
        variants = {text: name_variants(text) for text in dict.fromkeys(texts)}
        forms_of = [variants[text] for text in texts]
        query_row, self.query_variant = ragged.group_rows(ragged.lengths(forms_of))
        self.query_org, self.query_name = name_org[query_row], name_position[query_row]
        self.query_form, form_texts = ragged.numbered(list(chain.from_iterable(forms_of)))
        # MatchIndex.add: each form of an organisation is one entry, from the first name that has it
        first = ragged.first_rows(self.query_org * max(len(form_texts), 1) + self.query_form)
        self.entry_org, self.entry_name, self.entry_form = (
            self.query_org[first], self.query_name[first], self.query_form[first])
        self.n_orgs, self.n_entries = len(names), len(first)
        self._index_forms(form_texts.tolist())
        self._count_words()

    def _index_forms(self, texts: list[str]) -> None:
        """The forms, their words (`words`, a _Words) and compound keys: each form's keys as an entry
        (`form_keys`, with repeats: MatchIndex counts a key once for each time an entry has it) and as a query
        (`lookup_rows`: its compound keys and each word as '+word', those some entry has)."""
        parts = [form_parts(text) for text in texts]
        self.forms = [part.form for part in parts]
        self.words = _Words(self.forms, parts)
        n_forms = len(parts)
        key_counts = ragged.lengths([part.keys for part in parts])
        key_codes, keys = ragged.numbered(list(chain.from_iterable(part.keys for part in parts)))
        self.form_keys = (np.cumsum(key_counts) - key_counts, key_counts, key_codes)
        lookup_form = np.repeat(np.arange(n_forms), ragged.lengths([part.lookups for part in parts]))
        lookup = keys.get_indexer(np.asarray(list(chain.from_iterable(part.lookups for part in parts)), dtype=object))
        self.lookup_rows = (np.concatenate([np.repeat(np.arange(n_forms), key_counts), lookup_form[lookup >= 0]]),
                            np.concatenate([key_codes, lookup[lookup >= 0]]))
        self.n_keys = len(keys)

    def _count_words(self) -> None:
        """Document frequencies (organisations per word), IDF weights and every key's postings (entries)."""
        n_words = len(self.words.ids)
        entry_of_word, word = ragged.expand(*self.words.sets, self.entry_form)
        org_word = ragged.distinct(self.entry_org[entry_of_word] * n_words + word)
        self.token_df = np.bincount(org_word % n_words, minlength=n_words)
        n_orgs = max(self.n_orgs, 1)
        # math.log, as MatchIndex: numpy's vectorised log may differ in the last bit
        self.idf = np.fromiter((math.log((n_orgs + 1) / (df + 0.5)) for df in self.token_df.tolist()),
                               dtype=np.float64, count=n_words)
        self.unseen_idf = math.log((n_orgs + 1) / 0.5)
        self.max_block_df = max(MIN_BLOCK_DF, int(MAX_BLOCK_SHARE * n_orgs))
        entry_of_key, key = ragged.expand(*self.form_keys, self.entry_form)
        self.key_count = np.bincount(key, minlength=self.n_keys)
        # postings of words (numbered 0..n_words-1) and keys (n_words + key number), entries ascending in each
        posting = np.concatenate([word, n_words + key])
        holder = np.concatenate([entry_of_word, entry_of_key]).astype(np.int64)
        order = np.lexsort((holder, posting))
        lengths = np.bincount(posting, minlength=n_words + self.n_keys)
        self.postings = (np.cumsum(lengths) - lengths, lengths, holder[order])

    def weight(self, token: str) -> float:
        number = self.words.ids.get(token)
        return self.unseen_idf if number is None else float(self.idf[number])

    def block(self) -> tuple[np.ndarray, np.ndarray]:
        """(form, entry) for every entry MatchIndex.block(form) finds (without a postcode) for each form, ordered by
        form and entry: each form's blocking keys (MatchIndex.block_keys: its rarest usable words, its usable
        compound keys, its adjacent pairs indexed as one word) joined with their postings, as array arithmetic
        (a join in DuckDB costs more to set up than a small area's whole join)."""
        n_forms, n_words = len(self.forms), len(self.words.ids)
        usable = (self.token_df > 0) & (self.token_df <= self.max_block_df)
        # the MAX_BLOCK_TOKENS rarest usable words of each form, ties by the word (as block_keys sorts them)
        form, word = ragged.expand(*self.words.sets, np.arange(n_forms))
        form, word = form[usable[word]], word[usable[word]]
        alphabetical = np.empty(n_words, dtype=np.int64)
        alphabetical[np.argsort(self.words.text, kind="stable")] = np.arange(n_words)
        order = np.lexsort((alphabetical[word], self.token_df[word], form))
        form, word = form[order], word[order]
        rare = ragged.group_rows(np.bincount(form, minlength=n_forms))[1] < MAX_BLOCK_TOKENS
        joined_form, joined = self.words.joined
        key_form, key = self.lookup_rows
        keep_key = (self.key_count[key] > 0) & (self.key_count[key] <= self.max_block_df)
        lookup_form = np.concatenate([form[rare], joined_form[usable[joined]], key_form[keep_key]])
        lookup = np.concatenate([word[rare], joined[usable[joined]], n_words + key[keep_key]])
        row, entry = ragged.expand(*self.postings, lookup)
        size = max(self.n_entries, 1)
        pairs = ragged.distinct(lookup_form[row] * size + entry)   # a pair several keys find, once
        return pairs // size, pairs % size

    def query_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(query, entry) for every query and every entry its form blocks with (block()), by query then entry."""
        form, entry = self.block()
        lengths = np.bincount(form, minlength=len(self.forms))
        return ragged.expand(np.cumsum(lengths) - lengths, lengths, entry, self.query_form)

    def score_pairs(self, left: np.ndarray, right: np.ndarray, floor: float | None = None
                    ) -> dict[str, np.ndarray]:
        """score_pairs(self, self.forms, left, right) from this index's words and weights. With `floor`, only pairs
        whose name score reaches it are scored in full: the word overlap comes first, and a pair whose overlap keeps
        it below the floor even with a character part of 100 (different letters) gets no ratios (NaN), nor does one
        below the floor get a token_set_ratio (evidence only)."""
        return _score(self.forms, self.words.copy(), self.idf, left, right, floor)


class _Words:
    """The words of a set of names as integer ids, each name's distinct words as a slice of one array (`sets`),
    to which scoring adds the word sets join_compounds makes (`add_set`)."""

    def __init__(self, forms: Sequence[NameForm], parts: Sequence[FormParts] | None = None) -> None:
        parts = [form_parts(form.text) for form in forms] if parts is None else parts
        lengths = ragged.lengths([part.words for part in parts])
        codes, words = ragged.numbered(list(chain.from_iterable(part.words for part in parts)))
        self.ids: dict[str, int] = dict(zip(words, range(len(words)), strict=True))
        self.sets = (np.cumsum(lengths) - lengths, lengths, codes)
        self.added: list[list[int]] = []
        self.text = np.asarray(words, dtype=object)
        self.length = ragged.lengths(words)
        self.plural = words.get_indexer(self.text + "s")
        self.shire = np.where(self.length >= 4, words.get_indexer(self.text + "shire"), -1)
        # how many times each word has each character (rank's bound on a common subsequence)
        characters, alphabet = pd.factorize(np.asarray(list("".join(words)), dtype=object))
        self.letters = np.bincount(np.repeat(np.arange(len(words)), self.length) * len(alphabet) + characters,
                                   minlength=len(words) * len(alphabet)).reshape(len(words), len(alphabet))
        self.letters = self.letters.astype(np.uint8 if self.length.max(initial=0) < 256 else np.int64)
        # (form, word) for each two adjacent words of a form written as one that are a word of some form ...
        joined_form = np.repeat(np.arange(len(parts)), ragged.lengths([part.joined for part in parts]))
        joined = words.get_indexer(np.asarray(list(chain.from_iterable(part.joined for part in parts)),
                                              dtype=object))
        self.joined = joined_form[joined >= 0], joined[joined >= 0]
        # ... which join_compounds may join when the form lacks that word itself
        own = np.isin(self.joined[0] * max(len(words), 1) + self.joined[1],
                      np.repeat(np.arange(len(parts)), lengths) * max(len(words), 1) + codes)
        self.joinable = np.bincount(self.joined[0][~own], minlength=len(parts)) > 0

    def copy(self) -> _Words:
        """A copy to which add_set may add sets without changing this one."""
        twin = copy.copy(self)
        twin.added = list(self.added)
        return twin

    def add_set(self, tokens: Sequence[str]) -> int:
        """The id of a new word set holding `tokens`' distinct words (every word already has an id)."""
        self.added.append([self.ids[t] for t in dict.fromkeys(tokens)])
        return len(self.sets[0]) + len(self.added) - 1

    def all_sets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, lengths, flat) of the forms' word sets followed by the added ones."""
        if not self.added:
            return self.sets
        lengths = np.concatenate([self.sets[1], ragged.lengths(self.added)])
        flat = np.concatenate([self.sets[2], np.fromiter(chain.from_iterable(self.added), dtype=np.int64)])
        return np.cumsum(lengths) - lengths, lengths, flat

    def rank(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """How word a credits word b, for arrays of word ids (symmetric): SAME/SLIP/SHIRE_RANK, else the spelling
        ratio when both have 4+ letters and it reaches TOKEN_FUZZY_RATIO, else 0 (matching._token_credit's rules,
        names.same_word's slips). Only the distinct pairs whose lengths and letters allow one edit or that ratio go
        to rapidfuzz."""
        rank = np.zeros(len(a), dtype=np.float64)
        same = a == b
        la, lb = self.length[a], self.length[b]
        shortest = np.minimum(la, lb)
        # fuzz.ratio is 200 * (longest common subsequence) / (la + lb), so the cutoff needs the lengths close (one
        # edit apart, lengths within one, always are) and as many letters in common (a bound on that subsequence)
        close = np.flatnonzero(~same & (shortest >= 4) & (200 * shortest >= TOKEN_FUZZY_RATIO * (la + lb)))
        size = len(self.ids)
        codes, distinct = pd.factorize(np.minimum(a[close], b[close]) * size + np.maximum(a[close], b[close]))
        da, db = distinct // size, distinct % size
        ta, tb = self.length[da], self.length[db]
        common = np.minimum(self.letters[da], self.letters[db]).sum(axis=1, dtype=np.int64)
        near = np.flatnonzero((np.abs(ta - tb) <= 1) & (common >= np.maximum(ta, tb) - 1))
        spelling = 200 * common >= TOKEN_FUZZY_RATIO * (ta + tb)
        distinct_rank = np.zeros(len(distinct), dtype=np.float64)
        if len(near):
            distance = _cpdist(self.text[da[near]], self.text[db[near]], DamerauLevenshtein.distance, score_cutoff=1,
                               dtype=np.int64)
            distinct_rank[near[distance <= 1]] = SLIP_RANK
            spelling[near[distance <= 1]] = False
        spelling = np.flatnonzero(spelling)
        if len(spelling):
            # below the cutoff a ratio earns nothing, so rapidfuzz may skip it (0): the ranks that count are exact
            distinct_rank[spelling] = _cpdist(self.text[da[spelling]], self.text[db[spelling]], fuzz.ratio,
                                              score_cutoff=TOKEN_FUZZY_RATIO, dtype=np.float64)
        rank[close] = distinct_rank[codes]
        # a plural is a slip at any length, and a slip outranks a shire form, which outranks a spelling ratio
        rank[~same & ((self.shire[a] == b) | (self.shire[b] == a)) & (rank != SLIP_RANK)] = SHIRE_RANK
        rank[~same & ((self.plural[a] == b) | (self.plural[b] == a))] = SLIP_RANK
        rank[same] = SAME_RANK
        return rank


def _credit(rank: np.ndarray) -> np.ndarray:
    """A word's credit from its best rank against the other name's words (matching._token_credit)."""
    return np.select([rank == SAME_RANK, rank == SLIP_RANK, rank == SHIRE_RANK, rank >= TOKEN_FUZZY_RATIO],
                     [1.0, SLIP_CREDIT, SHIRE_CREDIT, rank / 100.0], 0.0)


def _overlap(words: _Words, left_set: np.ndarray, right_set: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """matching.weighted_overlap for each pair of word sets: every word of one against every word of the other."""
    n = len(left_set)
    starts, lengths, flat = words.all_sets()
    n_left, n_right = lengths[left_set], lengths[right_set]
    cells = n_left * n_right
    first = np.cumsum(cells) - cells
    pair, k = ragged.group_rows(cells)
    # cell k of a pair is (left word k // n_right, right word k % n_right): left words' cells are contiguous
    li, ri = k // n_right[pair], k % n_right[pair]
    a = flat[starts[left_set][pair] + li]
    b = flat[starts[right_set][pair] + ri]
    rank = words.rank(a, b)
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
    words = _Words(forms)
    weight = np.fromiter((index.weight(w) for w in words.ids), dtype=np.float64, count=len(words.ids))
    return _score(forms, words, weight, left, right)


def _score(forms: Sequence[NameForm], words: _Words, weight: np.ndarray, left: np.ndarray, right: np.ndarray,
           floor: float | None = None) -> dict[str, np.ndarray]:
    """score_pairs with the forms' words and their weights given (`words` gains the sets join_compounds makes).
    With `floor`, see NameIndex.score_pairs."""
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    n = len(left)
    if n == 0:
        return {k: np.zeros(0) for k in ("name_score", "token_sort_ratio", "squashed_ratio", "token_set_ratio",
                                          "idf_overlap")}
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
    left_text, right_text = np.asarray(left_text, dtype=object), np.asarray(right_text, dtype=object)
    squashed = np.asarray([form.squashed for form in forms], dtype=object)
    overlap = _overlap(words, left_set, right_set, weight)
    same_letters = squashed[left] == squashed[right]
    # 0.5 * a character part of at most 100 + the overlap's half: a bound on the score (below, the same sum)
    scored = np.arange(n) if floor is None else np.flatnonzero((0.5 * 100.0 + 0.5 * 100 * overlap >= floor)
                                                                | same_letters)
    sort_ratio, squashed_ratio, set_ratio = (np.full(n, np.nan) for _ in range(3))

    def ratios(scorer, lefts, rights) -> np.ndarray:
        return _cpdist(lefts, rights, scorer, dtype=np.float64)

    sort_ratio[scored] = ratios(fuzz.token_sort_ratio, left_text[scored], right_text[scored])
    squashed_ratio[scored] = ratios(fuzz.ratio, squashed[left[scored]], squashed[right[scored]])
    score = 0.5 * np.maximum(sort_ratio, squashed_ratio) + 0.5 * 100 * overlap
    score = np.where(squashed_ratio == 100, np.maximum(score, 99.0), score)  # the same letters, spaced differently
    same = left == right
    for values, identical in ((score, 100.0), (sort_ratio, 100.0), (squashed_ratio, 100.0), (overlap, 1.0)):
        values[same] = identical
    evidence = np.arange(n) if floor is None else np.flatnonzero(score >= floor)
    set_ratio[evidence] = ratios(fuzz.token_set_ratio, left_text[evidence], right_text[evidence])
    set_ratio[same] = 100.0
    return {"name_score": score, "token_sort_ratio": sort_ratio, "squashed_ratio": squashed_ratio,
            "token_set_ratio": set_ratio, "idf_overlap": overlap}
