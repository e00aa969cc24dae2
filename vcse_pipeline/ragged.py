"""Lists of lists held as numpy arrays, for the name matchers' indexes (batch_matching, name_table).

A table of lists is held as one array of every item laid end to end (`flat`) with each list's start and length
(compressed sparse rows): a few bytes an item, where a Python list of lists costs about 40 bytes an item and a
list object each, and whole tables are joined, counted and transposed with numpy rather than item by item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def group_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of counts[g] rows laid end to end: each row's group and its position within the group."""
    counts = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    return group, np.arange(len(group)) - (np.cumsum(counts) - counts)[group]


def expand(starts: np.ndarray, lengths: np.ndarray, flat: np.ndarray, of: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """For each i of `of` (indexes into a table of lists), every item of its list: (row of `of`, item)."""
    row, within = group_rows(lengths[of])
    return row, flat[starts[of][row] + within]


def numbered(values: Sequence[str]) -> tuple[np.ndarray, pd.Index]:
    """(each value's number, the distinct values) numbering values in order of first appearance."""
    codes, distinct_values = pd.factorize(np.asarray(values, dtype=object))
    return codes.astype(np.int64), pd.Index(distinct_values, dtype=object)


def lengths(items: Sequence[Sequence]) -> np.ndarray:
    """The length of each of `items`, as an array."""
    return np.fromiter(map(len, items), dtype=np.int64, count=len(items))


def distinct(values: np.ndarray) -> np.ndarray:
    """np.unique(values) by sorting (numpy's hash-based unique is several times slower on these sizes)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def first_rows(keys: np.ndarray) -> np.ndarray:
    """The positions of the first row with each key, ascending."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return np.sort(order[np.r_[True, ordered[1:] != ordered[:-1]]]) if len(keys) else order


def by_group(group: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table of lists of row numbers of each group 0..size-1 (`group[row]`), rows ascending in each list:
    (starts, lengths, flat), for expand()."""
    counts = np.bincount(group, minlength=size).astype(np.int64)
    return np.cumsum(counts) - counts, counts, np.argsort(group, kind="stable")
