import numpy as np

from vcse_pipeline.ragged import by_group, distinct, expand, first_rows, group_rows, lengths, numbered


def test_group_rows_numbers_each_row_within_its_group():
    group, position = group_rows(np.array([2, 0, 3]))
    assert group.tolist() == [0, 0, 2, 2, 2]
    assert position.tolist() == [0, 1, 0, 1, 2]


def test_expand_lists_the_items_of_the_rows_asked_for_in_that_order():
    lists = [[7, 8], [], [9], [4, 5, 6]]
    counts = lengths(lists)
    flat = np.array([item for items in lists for item in items])
    row, item = expand(np.cumsum(counts) - counts, counts, flat, np.array([3, 1, 0, 3]))
    assert row.tolist() == [0, 0, 0, 2, 2, 3, 3, 3]
    assert item.tolist() == [4, 5, 6, 7, 8, 4, 5, 6]


def test_numbered_distinct_and_first_rows():
    codes, values = numbered(["b", "a", "b", "c"])
    assert codes.tolist() == [0, 1, 0, 2] and values.tolist() == ["b", "a", "c"]
    assert distinct(np.array([3, 1, 3, 2, 1])).tolist() == [1, 2, 3]
    assert distinct(np.array([], dtype=np.int64)).tolist() == []
    assert first_rows(np.array([5, 2, 5, 2, 9])).tolist() == [0, 1, 4]


def test_by_group_lists_each_groups_rows_ascending():
    starts, counts, rows = by_group(np.array([2, 0, 2, 2, 0]), 4)
    assert counts.tolist() == [2, 0, 3, 0]
    assert [rows[s:s + c].tolist() for s, c in zip(starts, counts, strict=True)] == [[1, 4], [], [0, 2, 3], []]
