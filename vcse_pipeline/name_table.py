"""The names a MatchIndex holds between queries, as arrays.

`MatchIndex.add` collects each organisation's names and their normalised forms, and `finish` hands them here once.
Held as Python objects (an Entry and a NameForm for each name, postings in dicts of lists, compound keys as strings)
the index of a register of every English area (604,373 organisations, 619,164 names) kept the process 894 MB bigger;
held here, 651 MB, most of it the organisations' own strings and dicts: a name costs a few numbers and a pointer to
strings the index has anyway. Queries read:

- entries: each distinct normalised form of an organisation's names, from the first name that has it, numbered in
  the order add() met them (`entry_org` into `org_ids`; `entry_name`, the name as written; `entry_form` into
  `forms`; `entry_other`, whether it is an other name);
- words: every word of the forms, sorted (`text`, numbered by `number`), with how many organisations have it
  (`df`) and its IDF weight (`idf`); each entry's distinct words (`starts`, `lengths`, `flat`: entry e's are
  flat[starts[e]:starts[e] + lengths[e]]) and each word's entries (`word_entries`);
- compound keys (matching.compound_keys, each time an entry has it): each key's entries (`key_entries`), found by
  a 64-bit hash of the key (pandas' hash_array, the same in every process). Two keys of the same hash would share
  their entries, which blocking would then compare and score in full: about one chance in 10^7 for a national
  register's 1.3 million keys, and never a wrong score;
- each organisation's entries (`org_entries`) and each postcode sector's organisations (`sector_orgs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from . import ragged
from .postcode import sector_of


def key_hashes(keys: Sequence[str]) -> np.ndarray:
    """The hash each of `keys` is found by."""
    return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=False)


class NameTable:
    """See the module docstring. Built from add()'s names in the order it met them: for each, its organisation
    (one of `org_ids`, whose normalised postcodes, postcode.normalise_postcode's, are `postcodes`), the name as
    written, its normalised form and whether it is an other name; `keys_of(form)` gives a form's compound keys."""

    def __init__(self, org_ids: Sequence[str], postcodes: Sequence[str | None], name_orgs: Sequence[str],
                 names: Sequence[str], name_forms: Sequence[str], name_other: np.ndarray,
                 keys_of: Callable[[str], list[str]]) -> None:
        self.org_ids = list(org_ids)
        self.org_number = dict(zip(self.org_ids, range(len(self.org_ids)), strict=True))
        n_orgs = len(self.org_ids)
        name_org = np.fromiter(map(self.org_number.__getitem__, name_orgs), dtype=np.int64, count=len(name_orgs))
        form_of_name, forms = ragged.numbered(name_forms)
        self.forms = forms.to_numpy(dtype=object)
        # each organisation's form once, from the first name that has it (MatchIndex.add's entries)
        first = ragged.first_rows(name_org * max(len(forms), 1) + form_of_name)
        self.entry_org = name_org[first].astype(np.int32)
        self.entry_form = form_of_name[first].astype(np.int32)
        self.entry_name = np.asarray(names, dtype=object)[first]
        self.entry_other = np.asarray(name_other, dtype=bool)[first]
        self.org_entries = ragged.by_group(self.entry_org, n_orgs)
        self._index_words(n_orgs)
        self._index_keys(keys_of)
        self._index_sectors(postcodes)

    def _index_words(self, n_orgs: int) -> None:
        # every form's words laid end to end, numbered in sorted order, then each form's distinct words (by number,
        # which is by the word) as a table of lists: set-wise, not form by form
        forms = self.forms.tolist()
        words = " ".join(forms).split()
        word_form = np.repeat(np.arange(len(forms)), np.fromiter((len(text.split()) for text in forms),
                                                                  dtype=np.int64, count=len(forms)))
        codes, distinct_words = pd.factorize(np.asarray(words, dtype=object))
        text = distinct_words.tolist()
        order = sorted(range(len(text)), key=text.__getitem__)
        self.text = np.asarray([text[k] for k in order], dtype=object)
        self.number = dict(zip(self.text.tolist(), range(len(self.text)), strict=True))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        n_words = len(order)
        size = max(n_words, 1)   # pairs of numbers encoded as one: a * size + b
        pairs = ragged.distinct(word_form * size + rank[codes])
        counts = np.bincount(pairs // size, minlength=len(forms)).astype(np.int64)
        form_flat = (pairs % size).astype(np.int32)
        entry, word = ragged.expand(np.cumsum(counts) - counts, counts, form_flat, self.entry_form)
        self.lengths = counts[self.entry_form]
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.flat = word.astype(np.int32)
        org_word = ragged.distinct(self.entry_org[entry].astype(np.int64) * size + word)
        self.df = np.bincount(org_word % size, minlength=n_words)
        total = max(n_orgs, 1)
        # math.log word by word, as the cross-register linker weighs: numpy's log may differ in the last bit
        self.idf_list = [math.log((total + 1) / (df + 0.5)) for df in self.df.tolist()]
        self.idf = np.asarray(self.idf_list, dtype=np.float64)
        self.unseen_idf = math.log((total + 1) / 0.5)
        starts, lengths, order = ragged.by_group(word, n_words)
        self._word_postings = (starts, lengths, entry[order].astype(np.int32))

    def _index_keys(self, keys_of: Callable[[str], list[str]]) -> None:
        form_keys = [keys_of(text) for text in self.forms.tolist()]
        counts = ragged.lengths(form_keys)
        hashes = key_hashes([key for keys in form_keys for key in keys])
        entry, key = ragged.expand(np.cumsum(counts) - counts, counts, np.arange(len(hashes)), self.entry_form)
        codes, self.key_hash = pd.factorize(hashes[key], sort=True)
        starts, lengths, order = ragged.by_group(codes, len(self.key_hash))
        self._key_postings = (starts, lengths, entry[order].astype(np.int32))

    def _index_sectors(self, postcodes: Sequence[str | None]) -> None:
        sectors = [sector_of(pc) for pc in postcodes]
        codes, names = pd.factorize(np.asarray(sectors, dtype=object))   # None: -1
        self.sector_number = dict(zip(names.tolist(), range(len(names)), strict=True))
        known = np.flatnonzero(codes >= 0)
        starts, lengths, order = ragged.by_group(codes[known], len(names))
        self._sector_orgs = (starts, lengths, known[order].astype(np.int32))

    # -- reading --------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entry_org)

    def df_of(self, word: str) -> int:
        number = self.number.get(word)
        return 0 if number is None else int(self.df[number])

    def weight(self, word: str) -> float:
        number = self.number.get(word)
        return self.unseen_idf if number is None else self.idf_list[number]

    def word_entries(self, word: str) -> np.ndarray:
        """The entries that have `word`, ascending (none when no entry has it)."""
        number = self.number.get(word)
        return _row(self._word_postings, number)

    def key_entries(self, key: str) -> np.ndarray:
        """The entries that have compound key `key`, once for each time an entry has it, ascending."""
        wanted = key_hashes([key])[0]
        at = int(np.searchsorted(self.key_hash, wanted))
        found = at < len(self.key_hash) and self.key_hash[at] == wanted
        return _row(self._key_postings, at if found else None)

    def entries_of(self, orgs: Iterable[int]) -> np.ndarray:
        """The entries of organisations `orgs` (numbers), organisation by organisation, each one's ascending."""
        orgs = np.fromiter(orgs, dtype=np.int64)
        return ragged.expand(*self.org_entries, orgs)[1]

    def sector_orgs(self, sector: str) -> np.ndarray:
        """The organisations whose postcode is in `sector`, in the order add() met them."""
        return _row(self._sector_orgs, self.sector_number.get(sector))


def _row(table: tuple[np.ndarray, np.ndarray, np.ndarray], number: int | None) -> np.ndarray:
    starts, lengths, flat = table
    if number is None:
        return flat[:0]
    return flat[starts[number]:starts[number] + lengths[number]]
