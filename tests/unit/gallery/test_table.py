"""The numpy table under both indexes: lookups without a dict, tombstones, memory."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.gallery import halves
from salesmigo.gallery.exact import ExactIndex
from salesmigo.gallery.split_table import SplitTemplateTable
from salesmigo.gallery.table import DEAD, CustomerRows, TemplateTable, spans

# Float32 rows (the fast-scan index's) and two 16-bit planes (the exact index's).
TABLE_TYPES = pytest.mark.parametrize("table_type", [TemplateTable, SplitTemplateTable])


def _vectors(count: int, seed: int = 0) -> NDArray[np.float32]:
    return np.random.default_rng(seed).normal(size=(count, 8)).astype(np.float32)


@TABLE_TYPES
def test_find_in_sorted_unsorted_and_tail_rows(table_type: type[TemplateTable]) -> None:
    table = table_type(8)
    table.put(np.arange(10, 20), np.ones(10, dtype=np.int64), _vectors(10))  # sorted
    shuffled = np.random.default_rng(1).permutation(np.arange(100, 6000))
    table.put(shuffled[:5000], np.full(5000, 2), _vectors(5000))  # reindexed (> tail limit)
    table.put(shuffled[5000:], np.full(len(shuffled) - 5000, 3), _vectors(len(shuffled) - 5000))
    wanted = np.array([10, 19, 5, 100, 5999, shuffled[-1], 6000])
    rows = table.find(wanted)
    assert rows[2] == -1
    assert rows[-1] == -1
    found = rows[rows >= 0]
    np.testing.assert_array_equal(table.template_ids[found], wanted[rows >= 0])


@TABLE_TYPES
def test_put_overwrites_and_revives_in_place_and_compact_drops_tombstones(
    table_type: type[TemplateTable],
) -> None:
    table = table_type(8)
    table.put(np.array([1, 2, 3]), np.array([10, 20, 30]), _vectors(3))
    assert len(table.kill(table.find(np.array([2, 2, 99])))) == 1
    assert (table.live, table.dead) == (2, 1)
    overwritten, appended = table.put(np.array([2, 4]), np.array([21, 40]), _vectors(2, 5))
    assert overwritten.tolist() == [1]
    assert appended.tolist() == [3]
    assert table.customer_ids.tolist() == [10, 21, 30, 40]
    assert table.dead == 0
    table.kill(table.find(np.array([1, 3])))
    old_rows = table.compact()
    assert old_rows.tolist() == [1, 3]
    assert table.template_ids.tolist() == [2, 4]
    assert DEAD not in table.customer_ids
    assert table.find(np.array([4, 1])).tolist() == [1, -1]


@TABLE_TYPES
def test_repeated_ids_in_one_put_keep_the_last(table_type: type[TemplateTable]) -> None:
    table = table_type(8)
    vectors = _vectors(3)
    table.put(np.array([5, 6, 5]), np.array([1, 2, 3]), vectors)
    assert table.live == 2
    row = table.find(np.array([5]))[0]
    assert table.customer_ids[row] == 3
    np.testing.assert_array_equal(table.vectors[row], vectors[2])


@TABLE_TYPES
def test_customer_rows_follow_changes(table_type: type[TemplateTable]) -> None:
    table = table_type(8)
    table.put(np.arange(1, 7), np.array([1, 1, 2, 2, 3, 3]), _vectors(6))
    lookup = CustomerRows(table)
    assert lookup.rows_of(np.array([2, 3])).tolist() == [2, 3, 4, 5]
    killed = table.kill(np.array([2]))
    lookup.touch(killed)
    overwritten, appended = table.put(np.array([1, 7]), np.array([3, 2]), _vectors(2))
    lookup.touch(np.concatenate([overwritten, appended]))
    assert lookup.rows_of(np.array([2])).tolist() == [3, 6]
    assert lookup.rows_of(np.array([3])).tolist() == [0, 4, 5]
    customers, bounds, rows = lookup.groups_of(np.array([3, 9, 2]))  # 9 has no rows
    assert customers.tolist() == [2, 3]
    assert [rows[a:b].tolist() for a, b in pairwise(bounds)] == [
        [3, 6],
        [0, 4, 5],
    ]


def test_spans_gather_runs_of_positions() -> None:
    assert spans(np.array([5, 0, 9]), np.array([2, 3, 1])).tolist() == [5, 6, 0, 1, 2, 9]
    assert spans(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)).tolist() == []


def test_memory_per_template_stays_under_600_bytes_when_loaded_in_batches() -> None:
    index = ExactIndex(128)
    rng = np.random.default_rng(2)
    for start in range(0, 200_000, 50_000):
        ids = np.arange(start, start + 50_000)
        index.add(ids, ids // 3, rng.random((50_000, 128), dtype=np.float32))
    assert index.nbytes / len(index) <= 600


def test_a_split_table_keeps_every_float32_bit_and_bounds_its_truncation() -> None:
    table = SplitTemplateTable(8)
    vectors = _vectors(50)
    table.put(np.arange(50), np.arange(50) + 1, vectors)
    table.kill(table.find(np.array([3])))  # a far-away tombstone: outside the bound
    table.put(np.array([7]), np.array([99]), vectors[:1] * 2)  # an overwrite: inside it

    expected = vectors.copy()
    expected[7] = vectors[0] * 2
    live = table.live_rows()
    np.testing.assert_array_equal(
        table.vectors_of(live).view(np.uint32), expected[live].view(np.uint32)
    )
    gaps = np.linalg.norm(
        expected[live].astype(np.float64) - halves.truncated(table.high[live]), axis=1
    )
    assert gaps.max() <= table.truncation_error < 1.0
    rebuilt = SplitTemplateTable.from_arrays(table.template_ids, table.customer_ids, table.vectors)
    assert rebuilt.truncation_error == pytest.approx(gaps.max(), rel=1e-3)
    query = vectors[10]
    np.testing.assert_allclose(
        table.distances(query, live), ((expected[live] - query) ** 2).sum(axis=1), rtol=1e-5
    )
