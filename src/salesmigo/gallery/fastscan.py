"""Approximate nearest-customer search: a scan over customers' codes, re-ranked exactly.

Every customer with templates is also kept as one 32-byte code of the centroid of its
templates, with the table rows of those templates (:class:`CustomerCodes`). A search
scans all codes to *propose* the ``candidates`` customers whose centroids score best,
measures those centroids exactly, and measures every template of the ``shortlist``
closest of them against the float32 rows of the :class:`TemplateTable`; customers are
ranked by their closest template. So a distance this index returns is always exact; what
it can do wrong is miss a customer whose centroid ranked too far down, which happens
mostly for strangers, whose nearest customer is not near at all.

Why a compressed scan and not a graph: on descriptors spread like face embeddings (see
``gallery/synthetic.py``) one photo of a person can be as far from another as 0.9, so
graphs and inverted lists have little to follow: HNSW reached 0.93 recall@1 at 1M in
6 ms after minutes of building, and inverted lists (1,024 of them, an eighth probed)
found 0.94 (``benchmarks/README.md``). A scan of every customer finds enrolled
people almost always and strangers' nearest customer most of the time, and builds in
seconds.

Codebooks are trained on the centroids when the codes are (re)built: first at
``TRAIN_MIN`` templates (below that the index searches exactly), again whenever the
gallery has grown fourfold since. Changes are incremental: a customer whose templates
change is coded again, its old code left dead; codes are rebuilt when dead ones pass a
fifth of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.customer_codes import CustomerCodes, CustomerGroups
from salesmigo.gallery.exact import TableBackedIndex, checked, exact_search
from salesmigo.gallery.index import CustomerHit, IndexKind
from salesmigo.gallery.kernels import SPLIT_MIN_QUERIES, split_queries
from salesmigo.gallery.parallel import NO_ANNOUNCEMENT, beside_a_helper, in_parallel
from salesmigo.gallery.rerank import Closest
from salesmigo.gallery.table import DEAD, CustomerRows, TemplateTable

# Customers proposed by the codes (over all shards), then measured by centroid exactly.
CANDIDATES = 512
# Customers (closest centroids first) measured over all of their templates.
SHORTLIST = 256
# Codes are made from this many live templates (below, the index searches exactly) and
# customers (k-means needs points for its 16 centroids a sub-vector).
TRAIN_MIN = 4096
TRAIN_MIN_CUSTOMERS = 256
TRAIN_SAMPLE = 65_536
RETRAIN_GROWTH = 4
REBUILD_FRACTION = 0.2
# A single query's shards are searched side by side from this many codes, one after the
# other below. The hand-off costs more on some hosts than others. One query, side by side
# against one after the other: on an AMD EPYC VM 0.35 against 0.24 ms at 3,400 codes
# (10k templates), even at 10,000 and 33,000, 0.40 against 0.46 at 100,000 and 0.68
# against 0.82 at 333,000; on an Intel Xeon VM 0.35 against 0.40 ms at 3,400 codes,
# 0.53 against 0.68 at 33,000.
PARALLEL_MIN_CODES = 10_000
# Customers whose centroids are computed at a time (bounded temporaries).
_CENTROID_CHUNK = 65_536
_SEED = 1234


class FastScanIndex(TableBackedIndex):
    """Templates of one model behind a scan of customers' codes; see the module docstring."""

    kind: IndexKind = "fastscan"

    def __init__(
        self,
        dimension: int,
        table: TemplateTable | None = None,
        *,
        candidates: int = CANDIDATES,
        shortlist: int = SHORTLIST,
        train_min: int = TRAIN_MIN,
        parallel_min_codes: int = PARALLEL_MIN_CODES,
        shards: Sequence[tuple[faiss.Index, NDArray[np.int64]]] | None = None,
        trained_on: int = 0,
    ) -> None:
        super().__init__(dimension, table)
        self.candidates = candidates
        self.shortlist = shortlist
        self._train_min = train_min
        self._parallel_min_codes = parallel_min_codes
        self._customer_rows = CustomerRows(self._table)
        self._codes: CustomerCodes | None = None
        self._trained_on = 0
        if shards is not None:  # as saved: no codes yet, or these
            self._codes = self._restored(shards) if shards else None
            self._trained_on = trained_on
        else:
            self._build()

    @property
    def nbytes(self) -> int:
        codes = self._codes.nbytes if self._codes is not None else 0
        return self._table.nbytes + self._customer_rows.nbytes + codes

    @property
    def splits_searches(self) -> bool:
        if self._codes is None:  # searched exactly
            return super().splits_searches
        return self.coded >= self._parallel_min_codes

    @property
    def coded(self) -> int:
        """Customer codes held (live or dead); 0 while the index searches exactly."""
        return self._codes.coded if self._codes is not None else 0

    def _state(self) -> dict[str, NDArray[np.generic]]:
        state = super()._state()
        state["trained_on"] = np.array([self._trained_on], dtype=np.int64)
        if self._codes is not None:
            state.update(self._codes.state())
        return state

    # -- changes -----------------------------------------------------------------------

    def add(
        self,
        template_ids: Sequence[int] | NDArray[np.int64],
        customer_ids: Sequence[int] | NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        ids, customers, matrix = checked(self._dimension, template_ids, customer_ids, vectors)
        with self._lock.write():
            before = self._table.find(ids)
            previous = self._table.customer_ids[before[before >= 0]]
            overwritten, appended = self._table.put(ids, customers, matrix)
            self._customer_rows.touch(np.concatenate([overwritten, appended]))
            self._customers = None
            self._recode(np.concatenate([previous, customers]))

    def remove(self, template_ids: Sequence[int] | NDArray[np.int64]) -> int:
        ids = np.asarray(template_ids, dtype=np.int64).reshape(-1)
        with self._lock.write():
            return self._kill(self._table.find(ids))

    def remove_customer(self, customer_id: int) -> int:
        with self._lock.write():
            rows = self._customer_rows.rows_of(np.array([customer_id], dtype=np.int64))
            return self._kill(rows)

    def _kill(self, rows: NDArray[np.int64]) -> int:
        customers = self._table.customer_ids[rows[rows >= 0]]
        killed = self._table.kill(rows)
        if len(killed):
            self._customer_rows.touch(killed)
            self._customers = None
            self._recode(customers)
        return len(killed)

    def _recode(self, customers: NDArray[np.int64]) -> None:
        """New codes for these customers' current templates (none for those left without),
        or a rebuild of all codes when one is due."""
        if self._rebuild_due():
            self._build()
            return
        if self._codes is None:
            return
        changed = np.unique(customers[customers != DEAD])
        self._codes.drop(changed)
        self._codes.add(self._groups(changed))
        if self._rebuild_due():
            self._build()

    # -- search ------------------------------------------------------------------------

    def _search(self, queries: NDArray[np.float32], k: int) -> list[list[CustomerHit]]:
        if self._codes is None or self._table.live < self._train_min or k < 1 or not len(queries):
            return exact_search(self._table, queries, k)
        if len(queries) >= SPLIT_MIN_QUERIES:  # the batch is split over the threads instead
            return split_queries(lambda part: self._search_codes(part, k, False), queries)
        return self._search_codes(queries, k, self.coded >= self._parallel_min_codes)

    def _search_codes(
        self, queries: NDArray[np.float32], k: int, shards_in_parallel: bool
    ) -> list[list[CustomerHit]]:
        codes = self._codes
        assert codes is not None
        candidates = max(1, self.candidates // codes.shards)
        shortlist = max(k, self.shortlist // codes.shards)
        vectors = self._table.vectors  # a view: the fast-scan table keeps float32 rows

        def closest(shard: int) -> list[Closest]:
            return codes.closest(shard, vectors, queries, candidates, shortlist, k)

        def closest_to_one(
            shard: int, announce: NDArray[np.int64] = NO_ANNOUNCEMENT
        ) -> list[Closest]:
            query = queries[0]
            return [codes.closest_to_one(shard, vectors, query, candidates, shortlist, k, announce)]

        shards = range(codes.shards)
        if len(queries) == 1 and shards_in_parallel:
            # The first shard here, the others on a helper, which this thread's compiled
            # call announces (gallery.parallel.beside_a_helper).
            first, others = beside_a_helper(
                lambda announce: closest_to_one(shards[0], announce),
                lambda: [closest_to_one(shard) for shard in shards[1:]],
            )
            found = [first, *others]
        elif len(queries) == 1:
            found = list(map(closest_to_one, shards))
        elif shards_in_parallel:
            found = in_parallel(closest, shards)
        else:
            found = list(map(closest, shards))
        results: list[list[CustomerHit]] = []
        # A customer has one live code, so the shards' customers are distinct. A handful
        # of hits: sorted as Python pairs, in half the time numpy's calls take.
        for query, parts in zip(queries, zip(*found, strict=True), strict=True):
            ranked = sorted(
                (distance, customer)
                for squared, customers in parts
                for distance, customer in zip(squared.tolist(), customers.tolist(), strict=True)
            )[:k]
            hits = [CustomerHit(customer, math.sqrt(max(d, 0.0))) for d, customer in ranked]
            if len(hits) < k:  # the codes proposed too few customers: rare, answer exactly
                hits = exact_search(self._table, query[None], k)[0]
            results.append(hits)
        return results

    # -- code upkeep -------------------------------------------------------------------

    def _groups(self, customers: NDArray[np.int64]) -> CustomerGroups:
        """The customers among these that have live templates, their rows and the mean
        of each one's templates."""
        found, bounds, rows = self._customer_rows.groups_of(customers)
        centroids = np.empty((len(found), self._dimension), dtype=np.float32)
        for first in range(0, len(found), _CENTROID_CHUNK):  # bounded temporaries
            last = min(len(found), first + _CENTROID_CHUNK)
            centroids[first:last] = self._means(rows, bounds[first : last + 1])
        return CustomerGroups(found, bounds, rows, centroids)

    def _means(self, rows: NDArray[np.int64], bounds: NDArray[np.int64]) -> NDArray[np.float32]:
        """The mean vector of each group of rows, ``rows[bounds[i]:bounds[i + 1]]``.

        Summed by position in the group (every group's first row, then every second row
        of the groups that have one, ...): as many whole-array steps as the largest group
        has rows, where ``np.add.reduceat`` over rows took seven times longer."""
        counts = np.diff(bounds)
        by_size = np.argsort(-counts, kind="stable")
        descending = -counts[by_size]  # ascending, for searchsorted
        sums = np.zeros((len(counts), self._dimension), dtype=np.float32)
        for position in range(int(counts.max()) if len(counts) else 0):
            having = by_size[: np.searchsorted(descending, -position, side="left")]
            sums[having] += self._table.vectors_of(rows[bounds[having] + position])
        means: NDArray[np.float32] = sums / counts[:, None].astype(np.float32)
        return means

    def _live_customers(self) -> NDArray[np.int64]:
        customers = np.unique(self._table.customer_ids)
        found: NDArray[np.int64] = customers[customers != DEAD]
        return found

    def _build(self) -> None:
        """Fresh codes for every customer (compacting the table first), or none when the
        index is too small to be worth coding."""
        self._table.compact()
        self._customer_rows.rebuild()
        live = self._table.live
        self._codes, self._trained_on = None, live
        customers = self._live_customers()
        if live < self._train_min or len(customers) < TRAIN_MIN_CUSTOMERS:
            return
        rng = np.random.default_rng(_SEED)
        sample = np.sort(rng.choice(customers, min(len(customers), TRAIN_SAMPLE), replace=False))
        codes = CustomerCodes.trained(self._dimension, self._groups(sample).centroids)
        codes.add(self._groups(customers))
        self._codes = codes

    def _restored(self, shards: Sequence[tuple[faiss.Index, NDArray[np.int64]]]) -> CustomerCodes:
        groups = self._groups(self._live_customers())
        codes = CustomerCodes.restored(shards, groups)
        if codes.coded - codes.dead != len(groups.customers):
            raise ValueError("codes are missing for some customers")
        return codes

    def _rebuild_due(self) -> bool:
        """Codes are first made at ``train_min`` templates (or, when too few customers
        stopped that, once the gallery has grown fourfold), retrained at each fourfold
        growth, and rebuilt when a fifth of them are dead."""
        live = self._table.live
        if self._codes is None and self._trained_on < self._train_min:
            return live >= self._train_min
        grown = live > RETRAIN_GROWTH * self._trained_on
        return grown or (
            self._codes is not None
            and self._codes.dead > REBUILD_FRACTION * max(1, self._codes.coded)
        )


__all__ = ["FastScanIndex"]
