"""Exact nearest-customer search: every template is compared with the query."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.index import CustomerHit, IndexArrays, IndexKind, distinct_customers
from salesmigo.gallery.kernels import (
    BLAS_THRESHOLD,
    SPLIT_BATCH_MIN_ROWS,
    high_plane_knn,
    joined_knn,
    knn,
)
from salesmigo.gallery.rwlock import ReadWriteLock
from salesmigo.gallery.split_table import SplitTemplateTable
from salesmigo.gallery.table import DEAD, TemplateTable

__all__ = ["CustomerHit", "ExactIndex", "TableBackedIndex"]

# Tombstones cost a row of memory and a row of scanning each; compact past this share.
COMPACT_FRACTION = 0.1
_MIN_POOL = 16
# Relative error allowed for faiss's float32 arithmetic in a high-plane distance.
_ROUNDING_SLACK = 1e-5


class TableBackedIndex:
    """What the exact and fast-scan indexes share: a :class:`TemplateTable` behind a
    readers-writer lock, the customer set, exports. Subclasses add the search."""

    kind: IndexKind
    # The kind of table the index keeps its rows in (build one with ``from_arrays``).
    table_type: ClassVar[type[TemplateTable]] = TemplateTable

    def __init__(self, dimension: int, table: TemplateTable | None = None) -> None:
        if table is not None and table.dimension != dimension:
            raise ValueError(f"a {table.dimension}-D table for a {dimension}-D index")
        self._dimension = dimension
        self._table = table if table is not None else self.table_type(dimension)
        self._lock = ReadWriteLock()
        self._customers: frozenset[int] | None = None

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def table(self) -> TemplateTable:
        """The rows themselves; only for building another index over them, under no lock."""
        return self._table

    @property
    def nbytes(self) -> int:
        return self._table.nbytes

    def __len__(self) -> int:
        return self._table.live

    @property
    def splits_searches(self) -> bool:
        return len(self) >= SPLIT_BATCH_MIN_ROWS  # where exact searches split (kernels)

    def __contains__(self, template_id: int) -> bool:
        with self._lock.read():
            row = int(self._table.find(np.array([template_id], dtype=np.int64))[0])
            return row >= 0 and int(self._table.customer_ids[row]) != DEAD

    def customers(self) -> set[int]:
        """The ids of every customer with at least one template here (a new set)."""
        return set(self.customer_set())

    def customer_set(self) -> frozenset[int]:
        """The same, without a copy: computed once per change, then shared."""
        with self._lock.read():
            cached = self._customers
            if cached is None:
                ids = np.unique(self._table.customer_ids)
                cached = frozenset(ids[ids != DEAD].tolist())
                self._customers = cached  # a benign race: every reader computes the same
            return cached

    def nearest_customers(self, query: NDArray[np.float32], k: int = 2) -> list[CustomerHit]:
        """The k closest distinct customers, closest first, by Euclidean distance."""
        matrix = np.asarray(query, dtype=np.float32).reshape(1, self._dimension)
        return self.nearest_customers_batch(matrix, k)[0]

    def nearest_customers_batch(
        self, queries: NDArray[np.float32], k: int = 2
    ) -> list[list[CustomerHit]]:
        """``nearest_customers`` for each row of ``queries``."""
        matrix = np.asarray(queries, dtype=np.float32).reshape(-1, self._dimension)
        if not np.all(np.isfinite(matrix)):
            raise ValueError("query vectors must be finite")
        with self._lock.read():
            return self._search(matrix, k)

    def _search(self, queries: NDArray[np.float32], k: int) -> list[list[CustomerHit]]:
        raise NotImplementedError

    @contextmanager
    def frozen(self) -> Iterator[dict[str, NDArray[np.generic]]]:
        """The index's own arrays, unchanged while the block runs (searches go on).

        For snapshots: the table's rows verbatim (tombstones included; ``TemplateTable.arrays``),
        plus whatever a subclass adds.
        """
        with self._lock.read():
            yield self._state()

    def _state(self) -> dict[str, NDArray[np.generic]]:
        return self._table.arrays()

    def export(self) -> IndexArrays:
        with self._lock.read():
            rows = self._table.live_rows()
            return IndexArrays(
                self._table.template_ids[rows],
                self._table.customer_ids[rows],
                self._table.vectors_of(rows),
            )


class ExactIndex(TableBackedIndex):
    """All templates of one recogniser model, searched exhaustively.

    The templates live in a :class:`SplitTemplateTable` (528 bytes a template at 128-D,
    each float32 as two 16-bit planes); a search is one pass over the high plane (half
    the bytes; gallery.halves) and an exact measure of the candidates it proposes, proven
    to hold the answer (see :func:`exact_search`), or, for a batch, one pass of faiss's
    brute-force kernel over the joined float32 rows. An enrolment appends rows, a
    deletion tombstones them, and tombstones are compacted away in one pass once they
    exceed a tenth of the rows: no change rebuilds anything per template.
    """

    kind: IndexKind = "exact"
    table_type: ClassVar[type[TemplateTable]] = SplitTemplateTable

    def add(
        self,
        template_ids: Sequence[int] | NDArray[np.int64],
        customer_ids: Sequence[int] | NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        """Add templates; a template id already present is replaced."""
        ids, customers, matrix = checked(self._dimension, template_ids, customer_ids, vectors)
        with self._lock.write():
            self._table.put(ids, customers, matrix)
            self._customers = None

    def remove(self, template_ids: Sequence[int] | NDArray[np.int64]) -> int:
        """Remove templates by id; unknown ids are ignored. Returns how many were removed."""
        ids = np.asarray(template_ids, dtype=np.int64).reshape(-1)
        with self._lock.write():
            removed = len(self._table.kill(self._table.find(ids)))
            self._after_removal(removed)
        return removed

    def remove_customer(self, customer_id: int) -> int:
        with self._lock.write():
            removed = len(self._table.kill(self._table.rows_of_customer(customer_id)))
            self._after_removal(removed)
        return removed

    def compact(self) -> None:
        with self._lock.write():
            self._table.compact()

    def _search(self, queries: NDArray[np.float32], k: int) -> list[list[CustomerHit]]:
        return exact_search(self._table, queries, k)

    def _after_removal(self, removed: int) -> None:
        if not removed:
            return
        self._customers = None
        table = self._table
        if table.dead > COMPACT_FRACTION * table.rows:
            table.compact()


def checked(
    dimension: int,
    template_ids: Sequence[int] | NDArray[np.int64],
    customer_ids: Sequence[int] | NDArray[np.int64],
    vectors: NDArray[np.float32],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    ids = np.asarray(template_ids, dtype=np.int64).reshape(-1)
    customers = np.asarray(customer_ids, dtype=np.int64).reshape(-1)
    matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, dimension)
    if not len(ids) == len(customers) == len(matrix):
        raise ValueError("template ids, customer ids and vectors differ in length")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("template vectors must be finite")
    return ids, customers, matrix


def exact_search(
    table: TemplateTable, queries: NDArray[np.float32], k: int
) -> list[list[CustomerHit]]:
    """Rank customers for each query, widening the candidate pool until the answer is exact.

    A customer with many templates can fill the nearest rows alone, so the pool starts at
    a few rows and grows fourfold for the queries that still lack k distinct customers,
    up to every row: the answer is exact whatever the templates per customer.

    On a :class:`SplitTemplateTable`, fewer than BLAS_THRESHOLD queries scan the high
    plane (gallery.halves: half the bytes) and measure their pool exactly; such a query
    is also widened until its pool is *proven* to hold the answer: every row outside the
    pool has a high-plane distance of at least the pool's farthest, so a true distance of
    at least that minus ``table.truncation_error``, and that must exceed the k-th
    customer's exact distance. Larger batches, and float32 tables, scan exact distances.
    """
    results: list[list[CustomerHit]] = [[] for _ in range(len(queries))]
    rows = table.rows
    if not table.live or not len(queries) or k < 1:
        return results
    pending = np.arange(len(queries))
    pool = min(rows, max(_MIN_POOL, 4 * k))
    while len(pending):
        unfinished = []
        for query, hits, proven in _pool_search(table, queries, pending, pool, k):
            results[query] = hits
            if not proven and pool < rows:
                unfinished.append(query)
        pending = np.array(unfinished, dtype=np.int64)
        pool = min(rows, pool * 4)
    return results


def _pool_search(
    table: TemplateTable,
    queries: NDArray[np.float32],
    pending: NDArray[np.int64],
    pool: int,
    k: int,
) -> Iterator[tuple[int, list[CustomerHit], bool]]:
    """For each pending query: its k best customers among its ``pool`` nearest rows, and
    whether they are proven to be the k best of the whole table."""
    chosen = queries[pending]
    if isinstance(table, SplitTemplateTable) and len(chosen) < BLAS_THRESHOLD:
        scanned, found = high_plane_knn(chosen, table.high, pool)
        for position, query in enumerate(pending.tolist()):
            candidates = found[position]
            candidates = candidates[candidates >= 0]
            exact = table.distances(queries[query], candidates)
            order = np.argsort(exact, kind="stable")
            hits = distinct_customers(exact[order], candidates[order], table.customer_ids, k)
            yield query, hits, _outside_is_farther(scanned[position], hits, k, table)
        return
    if isinstance(table, SplitTemplateTable):
        squared, found = joined_knn(chosen, table.high, table.low, pool)
    else:
        squared, found = knn(chosen, table.vectors, pool)
    for position, query in enumerate(pending.tolist()):
        hits = distinct_customers(squared[position], found[position], table.customer_ids, k)
        yield query, hits, len(hits) == k


def _outside_is_farther(
    scanned: NDArray[np.float32], hits: list[CustomerHit], k: int, table: SplitTemplateTable
) -> bool:
    """Whether no row outside a pool (high-plane squared distances ``scanned``, ascending)
    can be nearer than the k-th customer found in it (exact_search)."""
    if len(hits) < k:
        return False
    # The scan's float32 rounding is far below this slack.
    nearest_outside = float(np.sqrt(max(float(scanned[-1]), 0.0))) * (1.0 - _ROUNDING_SLACK)
    return nearest_outside - table.truncation_error > hits[-1].distance
