"""One 4-bit code per customer: the scan behind the fast-scan index.

Each coded customer has the centroid of its templates (their mean), a 32-byte
product-quantisation code of that centroid (``faiss.IndexPQFastScan``: 64 sub-vectors of
2 dimensions, 16 centroids each, compared 32 codes at once from in-register lookup
tables) and the table rows of its templates. A search scans every code for the closest
centroids, measures those centroids exactly, then measures every template of the closest
customers exactly and ranks them by their closest template.

Why customers and not templates: a scan costs about a nanosecond a code here, bound by
its arithmetic rather than by memory (1.05 ns a code with 100,000-333,000 codes, 1.25
with 32,000 that fit in the core's own cache), and there are about a third as many
customers as templates. The centroid of a customer's photos ranks customers almost as
well as the closest photo does: on 6,000 queries over a million SFace-shaped templates,
512 centroids proposed by 32-byte codes and the 256 closest measured exactly found the
same nearest customer as exact search as often (99.8 % of enrolled people's photos, 95 %
of strangers') as 1,024 templates proposed by 16-byte template codes did, reading 10.7
MB a query instead of 16.

The codes are split in ``SHARDS`` parts that are searched side by side. A customer whose
templates change gets a new code (appended to the smaller shard) and its old one is
marked dead; the owner rebuilds when dead codes pile up (:attr:`CustomerCodes.dead`).
Rows are table row numbers, valid until the table is compacted, which only a rebuild does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.kernels import one_omp_thread
from salesmigo.gallery.rerank import NO_CUSTOMER, Closest, CodedCustomers, compile_now
from salesmigo.gallery.table import resized

SUB_VECTORS = 64
CODE_BITS = 4
SHARDS = 2
# Codes laid out in blocks of this many for the scan (faiss's default is 32). With faiss
# choosing its kernel, one query over 167,000 codes took 0.224 ms at the median against
# 0.299 with blocks of 32 and the kernel (13) chosen before, the same codes found; 50,000
# codes 0.094 against 0.107; batches no slower.
BLOCK = 128
_ENCODE_CHUNK = 65_536
_SEED = 1234
_Scalar = TypeVar("_Scalar", bound=np.generic)


@dataclass(frozen=True)
class CustomerGroups:
    """Customers (sorted, distinct), the rows of each (``rows[starts[i]:starts[i + 1]]``,
    never empty) and the mean of each one's templates."""

    customers: NDArray[np.int64]
    starts: NDArray[np.int64]
    rows: NDArray[np.int64]
    centroids: NDArray[np.float32]


@dataclass
class _Shard:
    """One part of the codes. Per code: its customer (-1 once dead), the centroid and
    where the customer's rows start in ``rows`` and how many there are."""

    codes: faiss.Index
    customer: NDArray[np.int64]
    centroids: NDArray[np.float32]
    first_row: NDArray[np.int64]
    row_count: NDArray[np.int64]
    rows: NDArray[np.int64]
    rows_used: int = 0
    # Codes held, as ``codes.ntotal``, which a search reads without a call into faiss:
    # each such call lets go of the GIL, and the other shard's thread may hold it by then.
    size: int = 0
    # Where faiss's C++ index behind ``codes`` lives (gallery.shard_kernel).
    address: int = 0


class CustomerCodes:
    """Codes of customers' centroids in ``SHARDS`` parts; see the module docstring."""

    def __init__(self, shards: Sequence[_Shard]) -> None:
        compile_now()
        self._shards = list(shards)
        self._code_of: dict[int, int] = {}
        self.dead = 0
        for number, shard in enumerate(self._shards):
            live = np.flatnonzero(shard.customer[: shard.size] != NO_CUSTOMER)
            self._code_of.update(
                zip(shard.customer[live].tolist(), ((number << 40) + live).tolist(), strict=True)
            )
            self.dead += shard.size - len(live)

    @classmethod
    def trained(cls, dimension: int, sample: NDArray[np.float32]) -> CustomerCodes:
        """Empty codes whose codebooks are trained on these centroids."""
        codes = new_code_index(dimension)
        codes.pq.cp.seed = _SEED
        with one_omp_thread():  # deterministic and polite on a shared machine
            codes.train(np.ascontiguousarray(sample, dtype=np.float32))
        return cls([_empty_shard(faiss.clone_index(codes)) for _ in range(SHARDS)])

    @classmethod
    def restored(
        cls, parts: Sequence[tuple[faiss.Index, NDArray[np.int64]]], groups: CustomerGroups
    ) -> CustomerCodes:
        """Codes from a snapshot, each part with its codes' customers (-1 for dead ones);
        ``groups`` are the live customers' rows and centroids, measured from the table."""
        if not parts:
            raise ValueError("no code shards")
        shards = []
        for codes, customers in parts:
            customers = np.ascontiguousarray(customers, dtype=np.int64)
            if len(customers) != codes.ntotal or codes.d != groups.centroids.shape[1]:
                raise ValueError("codes do not match their customers")
            live = np.flatnonzero(customers != NO_CUSTOMER)
            at = np.searchsorted(groups.customers, customers[live])
            at = np.minimum(at, max(0, len(groups.customers) - 1))
            if len(live) and not np.array_equal(groups.customers[at], customers[live]):
                raise ValueError("codes name customers without templates")
            shard = _empty_shard(codes)
            shard.customer = customers
            shard.centroids = np.zeros((len(customers), codes.d), dtype=np.float32)
            shard.centroids[live] = groups.centroids[at]
            shard.first_row = np.zeros(len(customers), dtype=np.int64)
            shard.row_count = np.zeros(len(customers), dtype=np.int64)
            shard.first_row[live] = groups.starts[at]
            shard.row_count[live] = groups.starts[at + 1] - groups.starts[at]
            shard.rows, shard.rows_used = groups.rows, len(groups.rows)  # shared, read-only
            shards.append(shard)
        return cls(shards)

    @property
    def shards(self) -> int:
        return len(self._shards)

    @property
    def coded(self) -> int:
        """Codes held, live or dead."""
        return sum(shard.size for shard in self._shards)

    @property
    def nbytes(self) -> int:
        code_bytes = int(self._shards[0].codes.sa_code_size())
        held = 0
        rows_arrays: dict[int, int] = {}
        for shard in self._shards:
            held += shard.size * code_bytes + shard.customer.nbytes + shard.centroids.nbytes
            held += shard.first_row.nbytes + shard.row_count.nbytes
            rows_arrays[id(shard.rows)] = shard.rows.nbytes  # restored shards share one
        # A dict entry: its slot, and an int object for key and value.
        return held + sum(rows_arrays.values()) + len(self._code_of) * (8 * 3 + 2 * 32)

    def state(self) -> dict[str, NDArray[np.generic]]:
        state: dict[str, NDArray[np.generic]] = {}
        for number, shard in enumerate(self._shards):
            state[f"codes_{number}"] = faiss.serialize_index(shard.codes)
            state[f"code_customer_{number}"] = shard.customer[: shard.size]
        return state

    # -- changes -----------------------------------------------------------------------

    def drop(self, customers: NDArray[np.int64]) -> None:
        """Mark the codes of these customers dead (customers without one are ignored)."""
        for customer in customers.tolist():
            code = self._code_of.pop(customer, None)
            if code is not None:
                self._shards[code >> 40].customer[code & ((1 << 40) - 1)] = NO_CUSTOMER
                self.dead += 1

    def add(self, groups: CustomerGroups) -> None:
        """Codes for customers that have none (drop theirs first), split over the shards."""
        if not len(groups.customers):
            return
        halves = np.array_split(np.arange(len(groups.customers)), len(self._shards))
        by_size = sorted(range(len(self._shards)), key=lambda n: self._shards[n].size)
        for number, part in zip(by_size, sorted(halves, key=len, reverse=True), strict=True):
            if len(part):
                self._append(number, groups, int(part[0]), int(part[-1]) + 1)

    def _append(self, number: int, groups: CustomerGroups, start: int, stop: int) -> None:
        shard = self._shards[number]
        centroids = groups.centroids[start:stop]
        with one_omp_thread():
            for at in range(0, len(centroids), _ENCODE_CHUNK):  # bounded temporaries
                shard.codes.add(np.ascontiguousarray(centroids[at : at + _ENCODE_CHUNK]))
        shard.size = int(shard.codes.ntotal)
        first, size = shard.size - len(centroids), shard.size
        rows = groups.rows[groups.starts[start] : groups.starts[stop]]
        shard.rows = _grown(shard.rows, shard.rows_used + len(rows))
        shard.rows[shard.rows_used : shard.rows_used + len(rows)] = rows
        for name, values in (
            ("customer", groups.customers[start:stop]),
            ("centroids", centroids),
            ("first_row", groups.starts[start:stop] - groups.starts[start] + shard.rows_used),
            ("row_count", np.diff(groups.starts[start : stop + 1])),
        ):
            grown = _grown(getattr(shard, name), size)
            grown[first:size] = values
            setattr(shard, name, grown)
        shard.rows_used += len(rows)
        numbers = range((number << 40) + first, (number << 40) + size)
        self._code_of.update(zip(groups.customers[start:stop].tolist(), numbers, strict=True))

    # -- search ------------------------------------------------------------------------

    def closest_to_one(
        self,
        shard: int,
        vectors: NDArray[np.float32],
        query: NDArray[np.float32],
        candidates: int,
        shortlist: int,
        k: int,
        announce: NDArray[np.int64],
    ) -> Closest:
        """What :meth:`closest` finds for one query, in one compiled call with the GIL
        released (gallery.shard_kernel), which first raises each ``announce`` counter by
        one (gallery.parallel.beside_a_helper)."""
        from salesmigo.gallery.shard_kernel import FAST_SCAN_SEARCH, search_shard  # numba

        part = self._shards[shard]
        dimension = part.centroids.shape[1]  # codes.d, without a call into faiss
        if query.shape != (dimension,) or query.dtype != np.float32:
            raise ValueError(f"a query is {dimension} float32 values")
        query = np.ascontiguousarray(query)  # read by faiss's C++ as it lies in memory
        if not part.size:
            announce += 1
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        proposals = min(candidates, part.size)
        return search_shard(
            FAST_SCAN_SEARCH,
            announce,
            part.address,
            query,
            np.empty(proposals, dtype=np.int64),
            np.empty(proposals, dtype=np.float32),
            self._coded(part),
            vectors,
            shortlist,
            k,
        )

    def closest(
        self,
        shard: int,
        vectors: NDArray[np.float32],
        queries: NDArray[np.float32],
        candidates: int,
        shortlist: int,
        k: int,
    ) -> list[Closest]:
        """Per query of a batch (one query: :meth:`closest_to_one`), the ``k`` closest
        customers of one shard by their closest template (row of ``vectors``, the
        table's): the ``candidates`` best codes are proposed, the ``shortlist`` closest
        of their centroids kept, and every template of those measured, exactly."""
        from salesmigo.gallery.rerank_kernel import closest  # numba, loaded by compile_now

        part = self._shards[shard]
        if not part.size:
            return [(np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)) for _ in queries]
        with one_omp_thread():
            _, found = part.codes.search(queries, min(candidates, part.size))
        coded = self._coded(part)
        return [
            closest(query, proposed, coded, vectors, shortlist, k)
            for query, proposed in zip(queries, found, strict=True)
        ]

    @staticmethod
    def _coded(part: _Shard) -> CodedCustomers:
        return CodedCustomers(
            part.customer, part.centroids, part.first_row, part.row_count, part.rows
        )


def new_code_index(dimension: int) -> faiss.IndexPQFastScan:
    """An empty, untrained faiss index of the codes this module keeps."""
    return faiss.IndexPQFastScan(
        dimension, math.gcd(dimension, SUB_VECTORS), CODE_BITS, faiss.METRIC_L2, BLOCK
    )


def _empty_shard(codes: faiss.Index) -> _Shard:
    empty = np.empty(0, dtype=np.int64)
    return _Shard(
        codes,
        empty,
        np.empty((0, codes.d), dtype=np.float32),
        empty,
        empty,
        empty.copy(),
        size=int(codes.ntotal),
        address=int(codes.this),  # type: ignore[attr-defined]  # SWIG's, not in faiss's stubs
    )


def _grown(array: NDArray[_Scalar], size: int) -> NDArray[_Scalar]:
    """``array``, or a copy with room for ``size`` rows and a quarter more."""
    if len(array) >= size:
        return array
    return resized(array, max(size, len(array) + len(array) // 4), len(array))


__all__ = ["CustomerCodes", "CustomerGroups", "new_code_index"]
