"""The rows of one model's templates: vectors, template ids and customer ids, in numpy.

Memory is the point of this module. A million 128-D templates are 512 MB of float32 and
must not cost much more: a Python dict from template id to row alone would add over 100
bytes per template. So the table keeps contiguous arrays (528 bytes a row) and finds rows
by binary search:

* The vectors are float32. SplitTemplateTable (gallery.split_table), the exact index's, holds
  each as its high and low 16 bits in two planes (gallery.halves): the high plane alone
  is what an exact search scans first, at half the bytes, and ``truncation_error``
  bounds how far any live row is from it. The fast-scan index keeps plain float32 rows:
  it measures a thousand scattered rows a query, which planes make 3x dearer.

* Rows are append-only. A removed template becomes a *tombstone*: its customer id is set
  to ``DEAD`` and its vector to a far-away point, so no search ranks it and its row number
  never changes until :meth:`compact` drops the tombstones, once they are a noticeable
  share, renumbering the rows.
* A template id appears in at most one row. Adding an id that is already there (alive or a
  tombstone) overwrites that row in place.
* Lookup: database ids arrive in increasing order almost always, and then
  ``template_ids`` itself is sorted and ``np.searchsorted`` needs nothing more. Otherwise a
  sorted copy of the ids and the row order (12 bytes a row) are kept for the rows up to
  ``_indexed``; the few rows appended after it are searched on their own and merged into
  the sorted part once there are more than ``_TAIL_LIMIT`` of them.
* Capacity grows by an eighth, not by doubling, so spare rows cost at most ~12 %.

Not thread-safe: the index that owns a table serialises changes and searches around it.
"""

from __future__ import annotations

from typing import Self, TypeVar

import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery import halves
from salesmigo.gallery.kernels import squared_distances

DEAD = -1
# The squared distance from any unit-scale query to this point is ~1e36: last in any
# ranking, yet finite, so BLAS-based distance kernels produce no NaN or inf.
_FAR = np.float32(1e18)
_TAIL_LIMIT = 4096
_MIN_CAPACITY = 1024
_Scalar = TypeVar("_Scalar", bound=np.generic)


class TemplateTable:
    """Append-only rows with tombstones; see the module docstring."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._init_vectors()
        self._template_ids = np.empty(0, dtype=np.int64)
        self._customer_ids = np.empty(0, dtype=np.int64)
        self._rows = 0
        self._dead = 0
        # Rows [0, _indexed) are found through _sorted_ids/_order, or directly when
        # _order is None (template_ids[:_indexed] is then strictly increasing).
        self._indexed = 0
        self._order: NDArray[np.int64] | NDArray[np.int32] | None = None
        self._sorted_ids: NDArray[np.int64] | None = None

    @classmethod
    def from_arrays(
        cls,
        template_ids: NDArray[np.int64],
        customer_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> Self:
        """A table owning exactly these arrays (no spare capacity, no copy if possible).

        The template ids must be unique; the caller has checked it (snapshots do).
        """
        table = cls._with_ids(vectors.shape[1], template_ids, customer_ids)
        table._adopt(vectors)
        table._reindex()
        return table

    @classmethod
    def from_planes(
        cls,
        template_ids: NDArray[np.int64],
        customer_ids: NDArray[np.int64],
        high: halves.Plane,
        low: halves.Plane,
    ) -> Self:
        """A table of the float32 rows two 16-bit planes hold (gallery.halves)."""
        table = cls._with_ids(high.shape[1], template_ids, customer_ids)
        table._adopt_planes(np.ascontiguousarray(high), np.ascontiguousarray(low))
        table._reindex()
        return table

    @classmethod
    def _with_ids(
        cls, dimension: int, template_ids: NDArray[np.int64], customer_ids: NDArray[np.int64]
    ) -> Self:
        table = cls(dimension)
        table._template_ids = np.ascontiguousarray(template_ids, dtype=np.int64)
        table._customer_ids = np.ascontiguousarray(customer_ids, dtype=np.int64)
        table._rows = len(table._template_ids)
        table._dead = int(np.count_nonzero(table._customer_ids == DEAD))
        return table

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        """The rows verbatim, tombstones included, by snapshot array name (gallery.persist):
        no copy."""
        return {
            "template_ids": self.template_ids,
            "customer_ids": self.customer_ids,
            **self._vector_arrays(),
        }

    # -- sizes and views ---------------------------------------------------------------

    @property
    def rows(self) -> int:
        """Rows in use, tombstones included: the valid prefix of the arrays."""
        return self._rows

    @property
    def live(self) -> int:
        return self._rows - self._dead

    @property
    def dead(self) -> int:
        return self._dead

    @property
    def vectors(self) -> NDArray[np.float32]:
        """Every row as float32 (a view here; a new array for a split table)."""
        return self._vectors[: self._rows]

    def vectors_of(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """These rows as float32 (a new array)."""
        return self._vectors[rows]

    def distances(self, query: NDArray[np.float32], rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Squared L2 distances from one query to these rows, exactly."""
        return squared_distances(self.vectors, query, rows)

    @property
    def template_ids(self) -> NDArray[np.int64]:
        return self._template_ids[: self._rows]

    @property
    def customer_ids(self) -> NDArray[np.int64]:
        return self._customer_ids[: self._rows]

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays, spare capacity included."""
        total = self._vector_nbytes() + self._template_ids.nbytes + self._customer_ids.nbytes
        if self._order is not None and self._sorted_ids is not None:
            total += self._order.nbytes + self._sorted_ids.nbytes
        return total

    def live_rows(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.customer_ids != DEAD)

    # -- lookup ------------------------------------------------------------------------

    def find(self, template_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """The row of each id (tombstones included), or -1 where the id has no row."""
        ids = np.asarray(template_ids, dtype=np.int64).reshape(-1)
        rows = np.full(len(ids), -1, dtype=np.int64)
        if not len(ids) or not self._rows:
            return rows
        indexed = self._indexed
        if indexed:
            keys = self._template_ids[:indexed] if self._order is None else self._sorted_ids
            assert keys is not None
            position = np.minimum(np.searchsorted(keys, ids), indexed - 1)
            hit = keys[position] == ids
            found = position[hit]
            rows[hit] = found if self._order is None else self._order[found]
        if self._rows > indexed:
            tail = self._template_ids[indexed : self._rows]
            order = np.argsort(tail, kind="stable")
            keys = tail[order]
            position = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
            hit = (keys[position] == ids) & (rows < 0)
            rows[hit] = indexed + order[position[hit]]
        return rows

    def rows_of_customer(self, customer_id: int) -> NDArray[np.int64]:
        return np.flatnonzero(self.customer_ids == customer_id)

    # -- changes -----------------------------------------------------------------------

    def put(
        self,
        template_ids: NDArray[np.int64],
        customer_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Write templates: known ids overwrite their row, new ids are appended.

        Returns ``(overwritten rows, appended rows)``. The last of repeated ids wins.
        """
        ids = np.asarray(template_ids, dtype=np.int64).reshape(-1)
        customers = np.asarray(customer_ids, dtype=np.int64).reshape(-1)
        matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        if not len(ids) == len(customers) == len(matrix):
            raise ValueError("template ids, customer ids and vectors differ in length")
        if np.any(customers == DEAD):
            raise ValueError(f"customer id {DEAD} is reserved")
        if len(ids) and len(np.unique(ids)) != len(ids):
            # Keep the last occurrence of each id, in the original order.
            _, last_from_end = np.unique(ids[::-1], return_index=True)
            keep = np.sort(len(ids) - 1 - last_from_end)
            ids, customers, matrix = ids[keep], customers[keep], matrix[keep]
        rows = self.find(ids)
        known = rows >= 0
        overwritten = rows[known]
        if len(overwritten):
            self._dead -= int(np.count_nonzero(self._customer_ids[overwritten] == DEAD))
            self._write(overwritten, matrix[known])
            self._customer_ids[overwritten] = customers[known]
        appended = self._append(ids[~known], customers[~known], matrix[~known])
        return overwritten, appended

    def kill(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Tombstone these rows; returns the rows that were alive until now."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = np.unique(rows[rows >= 0])
        alive: NDArray[np.int64] = rows[self._customer_ids[rows] != DEAD]
        self._customer_ids[alive] = DEAD
        far = np.zeros((1, self.dimension), dtype=np.float32)
        far[0, 0] = _FAR
        self._write(alive, far, bound=False)
        self._dead += len(alive)
        return alive

    def compact(self) -> NDArray[np.int64]:
        """Drop the tombstones; returns each surviving row's old row number, in order."""
        keep = self.live_rows()
        if len(keep) == self._rows:
            return keep
        # The gathered copies are temporary; the arrays themselves are reused.
        self._move(keep)
        self._template_ids[: len(keep)] = self._template_ids[keep]
        self._customer_ids[: len(keep)] = self._customer_ids[keep]
        self._rows = len(keep)
        self._dead = 0
        self._shrink_to(max(self._rows + self._rows // 8, _MIN_CAPACITY))
        self._reindex()
        return keep

    def trim(self) -> None:
        """Give back spare capacity (after a bulk load, before a long quiet spell)."""
        self._shrink_to(self._rows)

    # -- internals ---------------------------------------------------------------------

    def _append(
        self, ids: NDArray[np.int64], customers: NDArray[np.int64], matrix: NDArray[np.float32]
    ) -> NDArray[np.int64]:
        count = len(ids)
        start = self._rows
        if not count:
            return np.empty(0, dtype=np.int64)
        self._reserve(start + count)
        self._write(np.arange(start, start + count, dtype=np.int64), matrix)
        self._template_ids[start : start + count] = ids
        self._customer_ids[start : start + count] = customers
        self._rows += count
        increasing = count == 1 or bool(np.all(ids[1:] > ids[:-1]))
        if (
            self._indexed == start
            and self._order is None
            and increasing
            and (start == 0 or ids[0] > self._template_ids[start - 1])
        ):
            self._indexed = self._rows  # still sorted: nothing to index
        elif self._rows - self._indexed > _TAIL_LIMIT:
            self._reindex()
        return np.arange(start, start + count, dtype=np.int64)

    # -- vector storage: float32 rows here, two planes in SplitTemplateTable -------------

    def _init_vectors(self) -> None:
        self._vectors = np.empty((0, self.dimension), dtype=np.float32)

    def _adopt(self, vectors: NDArray[np.float32]) -> None:
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def _adopt_planes(self, high: halves.Plane, low: halves.Plane) -> None:
        self._adopt(halves.join(high, low))

    def _write(
        self, rows: NDArray[np.int64], matrix: NDArray[np.float32], *, bound: bool = True
    ) -> None:
        """Store these rows' vectors (``bound``: False for tombstones, which no search
        returns and no error bound needs to cover)."""
        self._vectors[rows] = matrix

    def _move(self, keep: NDArray[np.int64]) -> None:
        self._vectors[: len(keep)] = self._vectors[keep]

    def _resize_vectors(self, capacity: int) -> None:
        self._vectors = resized(self._vectors, capacity, self._rows)

    def _vector_nbytes(self) -> int:
        return self._vectors.nbytes

    def _vector_arrays(self) -> dict[str, NDArray[np.generic]]:
        return {"vectors": self.vectors}

    def _reindex(self) -> None:
        ids = self._template_ids[: self._rows]
        if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
            self._order, self._sorted_ids = None, None
        else:
            order = np.argsort(ids, kind="stable")
            self._order = order.astype(np.int32) if len(ids) < 2**31 else order
            self._sorted_ids = ids[order]
        self._indexed = self._rows

    def _reserve(self, needed: int) -> None:
        capacity = len(self._template_ids)
        if needed <= capacity:
            return
        self._resize(max(needed, capacity + capacity // 8, _MIN_CAPACITY))

    def _shrink_to(self, capacity: int) -> None:
        if capacity < len(self._template_ids):
            self._resize(capacity)

    def _resize(self, capacity: int) -> None:
        self._resize_vectors(capacity)
        self._template_ids = resized(self._template_ids, capacity, self._rows)
        self._customer_ids = resized(self._customer_ids, capacity, self._rows)


def resized(array: NDArray[_Scalar], capacity: int, used: int) -> NDArray[_Scalar]:
    resized = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    resized[:used] = array[:used]
    return resized


def spans(first: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """``first[i], first[i] + 1, ..., first[i] + counts[i] - 1`` for each ``i``, concatenated:
    the positions of several runs of a CSR array, gathered without a Python loop."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    positions: NDArray[np.int64] = np.repeat(first - ends + counts, counts) + np.arange(total)
    return positions


def run_starts(ordered: NDArray[np.int64]) -> NDArray[np.int64]:
    """Where each run of equal values starts in a sorted array."""
    if not len(ordered):
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])


class CustomerRows:
    """Finds all rows of given customers without a Python dict: the rows ordered by
    customer (4 bytes a row), each distinct customer and where its rows start (16 bytes a
    customer), plus the rows changed since that was built.

    Stale entries (a row since tombstoned or given to another customer) are filtered on
    lookup against the table's current customer ids, so changes only need :meth:`touch`.
    """

    def __init__(self, table: TemplateTable) -> None:
        self._table = table
        self._order: NDArray[np.int64] | NDArray[np.int32] = np.empty(0, dtype=np.int64)
        self._customers = np.empty(0, dtype=np.int64)
        self._starts = np.zeros(1, dtype=np.int64)
        self._touched: list[NDArray[np.int64]] = []
        self._touched_count = 0
        self.rebuild()

    @property
    def nbytes(self) -> int:
        return self._order.nbytes + self._customers.nbytes + self._starts.nbytes

    def rebuild(self) -> None:
        customers = self._table.customer_ids
        order = np.argsort(customers, kind="stable")
        self._order = order.astype(np.int32) if len(order) < 2**31 else order
        ordered = customers[order]
        starts = run_starts(ordered)
        self._customers = ordered[starts]
        self._starts = np.r_[starts, len(order)].astype(np.int64)
        self._touched, self._touched_count = [], 0

    def touch(self, rows: NDArray[np.int64]) -> None:
        """Rows whose customer changed (appended, overwritten or tombstoned)."""
        if not len(rows):
            return
        self._touched.append(np.asarray(rows, dtype=np.int64))
        self._touched_count += len(rows)
        if self._touched_count > max(_TAIL_LIMIT, len(self._order) // 64):
            self.rebuild()

    def rows_of(self, customers: NDArray[np.int64]) -> NDArray[np.int64]:
        """Every live row of these customers, in no particular order."""
        wanted = np.unique(np.asarray(customers, dtype=np.int64))
        wanted = wanted[wanted != DEAD]
        if not len(wanted) or not len(self._customers):
            rows = np.empty(0, dtype=np.int64)
        else:
            at = np.minimum(np.searchsorted(self._customers, wanted), len(self._customers) - 1)
            known = self._customers[at] == wanted
            at = at[known]
            first = self._starts[at]
            lengths = self._starts[at + 1] - first
            rows = self._order[spans(first, lengths)].astype(np.int64)
            expected = np.repeat(wanted[known], lengths)
            inside = rows < self._table.rows
            rows, expected = rows[inside], expected[inside]
            rows = rows[self._table.customer_ids[rows] == expected]
        if self._touched and len(wanted):
            changed = np.concatenate(self._touched)
            changed = changed[changed < self._table.rows]
            changed = changed[np.isin(self._table.customer_ids[changed], wanted)]
            rows = np.unique(np.concatenate([rows, changed]))
        return rows

    def groups_of(
        self, customers: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """The customers among these that have live rows (sorted), where each one's rows
        start and end (``bounds[i]:bounds[i + 1]``), and the rows, grouped by customer."""
        rows = self.rows_of(customers)
        owners = self._table.customer_ids[rows]
        order = np.argsort(owners, kind="stable")
        rows, owners = rows[order], owners[order]
        starts = run_starts(owners)
        return owners[starts], np.r_[starts, len(rows)].astype(np.int64), rows
