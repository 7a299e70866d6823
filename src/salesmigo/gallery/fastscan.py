"""Approximate nearest-customer search: a scan over 4-bit codes, re-ranked exactly.

Every template is also kept as a 16-byte product-quantisation code (32 sub-vectors of 4
dimensions, 16 centroids each: ``faiss.IndexPQFastScan``, whose kernel compares a query
with 32 codes at once from in-register lookup tables). A search scans all codes, which
costs about a nanosecond a template, to *propose* the ``candidates`` closest templates.
Those are then measured exactly against the float32 rows of the :class:`TemplateTable`,
and the few best customers are ranked by their closest template over *all* of their
templates (found through :class:`CustomerRows`). So a distance this index returns is
always exact; what it can do wrong is miss a customer whose codes ranked too far down.

Why a compressed scan and not a graph: on descriptors spread like face embeddings (see
``gallery/synthetic.py``), HNSW graphs have little gradient to follow and reached only
0.95 recall@1 at 1M in 2.5 ms, after minutes of building; the scan reaches 0.99 in about
a millisecond and builds in seconds (``benchmarks/README.md`` has both measurements).

The codes are split in ``SHARDS`` parts that the gallery's thread pool scans side by
side, so a single query uses both cores. Codebooks are trained on a sample of the live
templates when the codes are (re)built: first at ``TRAIN_MIN`` templates (below that the
index searches exactly), again whenever the gallery has grown fourfold since, so they
follow the real distribution of the model's descriptors. Changes are incremental: an
added template is encoded and appended to the smaller shard; a removed one leaves a dead
code that is skipped; the codes are rebuilt when dead codes pass a fifth of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.exact import TableBackedIndex, checked, exact_search
from salesmigo.gallery.index import CustomerHit, IndexKind, distinct_customers
from salesmigo.gallery.kernels import (
    SPLIT_MIN_QUERIES,
    in_parallel,
    one_omp_thread,
    split_queries,
)
from salesmigo.gallery.table import CustomerRows, TemplateTable

SUB_VECTORS = 32
CODE_BITS = 4
SHARDS = 2
# Templates proposed by the codes (over all shards), then measured exactly.
CANDIDATES = 1024
# Customers (by their best proposed template) re-ranked over all of their templates.
SHORTLIST = 8
SEARCH_KERNEL = 13
TRAIN_MIN = 4096
TRAIN_SAMPLE = 65_536
RETRAIN_GROWTH = 4
REBUILD_FRACTION = 0.2
_ENCODE_CHUNK = 65_536
_SEED = 1234


@dataclass
class _Shard:
    """One part of the codes and the table row of each code (-1 once removed)."""

    codes: faiss.Index
    code_row: NDArray[np.int64]

    @property
    def size(self) -> int:
        return int(self.codes.ntotal)


class FastScanIndex(TableBackedIndex):
    """Templates of one model behind a scan of 4-bit codes; see the module docstring."""

    kind: IndexKind = "fastscan"

    def __init__(
        self,
        dimension: int,
        table: TemplateTable | None = None,
        *,
        candidates: int = CANDIDATES,
        train_min: int = TRAIN_MIN,
        shards: Sequence[tuple[faiss.Index, NDArray[np.int64]]] | None = None,
        trained_on: int = 0,
    ) -> None:
        super().__init__(dimension, table)
        # 32 sub-vectors at 128-D; fewer when the dimension is not a multiple of 32.
        self._sub_vectors = math.gcd(dimension, SUB_VECTORS)
        self.candidates = candidates
        self._train_min = max(train_min, 2**CODE_BITS)  # k-means needs a few points a centroid
        self._customer_rows = CustomerRows(self._table)
        self._shards: list[_Shard] = []
        # Per table row: shard * 2**40 + code number, or -1 without a code.
        self._row_code = np.empty(0, dtype=np.int64)
        self._dead_codes = 0
        self._trained_on = 0
        if shards is not None:
            self._adopt(shards, trained_on)
        else:
            self._build()

    @property
    def nbytes(self) -> int:
        code_bytes = self._sub_vectors * CODE_BITS // 8
        codes = sum(s.size * code_bytes + s.code_row.nbytes for s in self._shards)
        return self._table.nbytes + self._customer_rows.nbytes + codes + self._row_code.nbytes

    @property
    def coded(self) -> int:
        """Templates with a code (live or dead); 0 while the index searches exactly."""
        return sum(s.size for s in self._shards)

    def _state(self) -> dict[str, NDArray[np.generic]]:
        state = super()._state()
        state["trained_on"] = np.array([self._trained_on], dtype=np.int64)
        for number, shard in enumerate(self._shards):
            state[f"codes_{number}"] = faiss.serialize_index(shard.codes)
            state[f"code_row_{number}"] = shard.code_row[: shard.size]
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
            overwritten, appended = self._table.put(ids, customers, matrix)
            self._drop_codes(overwritten)
            rows = np.concatenate([overwritten, appended])
            self._customer_rows.touch(rows)
            self._customers = None
            if not self._maybe_rebuild():
                self._encode(rows)

    def remove(self, template_ids: Sequence[int] | NDArray[np.int64]) -> int:
        ids = np.asarray(template_ids, dtype=np.int64).reshape(-1)
        with self._lock.write():
            return self._kill(self._table.find(ids))

    def remove_customer(self, customer_id: int) -> int:
        with self._lock.write():
            rows = self._customer_rows.rows_of(np.array([customer_id], dtype=np.int64))
            return self._kill(rows)

    def _kill(self, rows: NDArray[np.int64]) -> int:
        killed = self._table.kill(rows)
        if len(killed):
            self._drop_codes(killed)
            self._customer_rows.touch(killed)
            self._customers = None
            self._maybe_rebuild()
        return len(killed)

    # -- search ------------------------------------------------------------------------

    def _search(self, queries: NDArray[np.float32], k: int) -> list[list[CustomerHit]]:
        if not self._shards or self._table.live < self._train_min or k < 1 or not len(queries):
            return exact_search(self._table, queries, k)
        if len(queries) >= SPLIT_MIN_QUERIES:  # the batch is split over the pool instead
            return split_queries(lambda part: self._search_codes(part, k, False), queries)
        return self._search_codes(queries, k, True)

    def _search_codes(
        self, queries: NDArray[np.float32], k: int, shards_in_parallel: bool
    ) -> list[list[CustomerHit]]:
        def propose(shard: _Shard) -> NDArray[np.int64]:
            return _propose(shard, queries, max(1, self.candidates // len(self._shards)))

        if shards_in_parallel:
            proposals = in_parallel(propose, self._shards)
        else:
            proposals = [propose(shard) for shard in self._shards]
        rows = np.concatenate(proposals, axis=1)
        results: list[list[CustomerHit]] = []
        for query, proposed in zip(queries, rows, strict=True):
            hits = self._rank(query, proposed[proposed >= 0], k)
            if len(hits) < k:  # the codes proposed too few customers: rare, answer exactly
                hits = exact_search(self._table, query[None], k)[0]
            results.append(hits)
        return results

    def _rank(
        self, query: NDArray[np.float32], proposed: NDArray[np.int64], k: int
    ) -> list[CustomerHit]:
        """Measure the proposed rows exactly, then rank the best few customers by their
        closest template over all of their rows."""
        table = self._table
        if not len(proposed):
            return []
        wanted = max(k, SHORTLIST)
        squared = table.distances(query, proposed)
        few = min(len(squared), 4 * wanted)
        nearest = np.argpartition(squared, few - 1)[:few]
        nearest = nearest[np.argsort(squared[nearest], kind="stable")]
        head = distinct_customers(squared[nearest], proposed[nearest], table.customer_ids, wanted)
        if len(head) < wanted:  # one customer's many templates filled the head
            nearest = np.argsort(squared, kind="stable")
            head = distinct_customers(
                squared[nearest], proposed[nearest], table.customer_ids, wanted
            )
        rows = self._customer_rows.rows_of(np.array([h.customer_id for h in head], dtype=np.int64))
        squared = table.distances(query, rows)
        order = np.argsort(squared, kind="stable")  # a customer's first row is its closest
        return distinct_customers(squared[order], rows[order], table.customer_ids, k)

    # -- code upkeep -------------------------------------------------------------------

    def _build(self) -> None:
        """Fresh codes over the live rows (compacting the table first), or none when the
        index is too small to be worth coding."""
        self._table.compact()
        self._customer_rows.rebuild()
        self._row_code = np.full(self._table.rows, -1, dtype=np.int64)
        self._dead_codes = 0
        live = self._table.live_rows()
        if len(live) < self._train_min:
            self._shards, self._trained_on = [], 0
            return
        trained = self._trained_codes(live)
        self._shards = [
            _Shard(_with_search_kernel(faiss.clone_index(trained)), np.empty(0, dtype=np.int64))
            for _ in range(SHARDS)
        ]
        self._trained_on = len(live)
        self._encode(live)

    def _trained_codes(self, live: NDArray[np.int64]) -> faiss.Index:
        rng = np.random.default_rng(_SEED)
        sample = (
            live if len(live) <= TRAIN_SAMPLE else rng.choice(live, TRAIN_SAMPLE, replace=False)
        )
        codes = faiss.IndexPQFastScan(self._dimension, self._sub_vectors, CODE_BITS)
        codes.pq.cp.seed = _SEED
        with one_omp_thread():  # deterministic and polite on a shared machine
            codes.train(np.ascontiguousarray(self._table.vectors_of(np.sort(sample))))
        return codes

    def _adopt(
        self, shards: Sequence[tuple[faiss.Index, NDArray[np.int64]]], trained_on: int
    ) -> None:
        self._row_code = np.full(self._table.rows, -1, dtype=np.int64)
        self._shards = []
        self._dead_codes = 0
        for number, (codes, code_row) in enumerate(shards):
            code_row = np.ascontiguousarray(code_row, dtype=np.int64)
            if codes.d != self._dimension or len(code_row) != codes.ntotal:
                raise ValueError("codes do not match the table")
            if np.any(code_row >= self._table.rows):
                raise ValueError("codes point past the table")
            live = code_row >= 0
            self._row_code[code_row[live]] = (number << 40) + np.flatnonzero(live)
            self._dead_codes += int(np.count_nonzero(~live))
            self._shards.append(_Shard(_with_search_kernel(codes), code_row))
        self._trained_on = trained_on

    def _encode(self, rows: NDArray[np.int64]) -> None:
        if not len(rows) or not self._shards:
            return
        self._row_code = _grown(self._row_code, self._table.rows, fill=-1)
        halves = np.array_split(rows, len(self._shards))
        by_size = sorted(range(len(self._shards)), key=lambda n: self._shards[n].size)
        for number, part in zip(by_size, sorted(halves, key=len, reverse=True), strict=True):
            shard = self._shards[number]
            first = shard.size
            with one_omp_thread():
                for start in range(0, len(part), _ENCODE_CHUNK):  # bounded temporaries
                    shard.codes.add(
                        np.ascontiguousarray(
                            self._table.vectors_of(part[start : start + _ENCODE_CHUNK])
                        )
                    )
            shard.code_row = _grown(shard.code_row, first + len(part), fill=-1)
            shard.code_row[first : first + len(part)] = part
            self._row_code[part] = (number << 40) + np.arange(first, first + len(part))

    def _drop_codes(self, rows: NDArray[np.int64]) -> None:
        if not len(rows) or not self._shards:
            return
        codes = self._row_code[rows]
        codes = codes[codes >= 0]
        for code in codes.tolist():
            self._shards[code >> 40].code_row[code & ((1 << 40) - 1)] = -1
        self._row_code[rows] = -1
        self._dead_codes += len(codes)

    def _maybe_rebuild(self) -> bool:
        """Rebuild (and retrain) when it is due; whether it happened."""
        live = self._table.live
        due = (
            (not self._shards and live >= self._train_min)
            or (self._shards and self._dead_codes > REBUILD_FRACTION * max(1, self.coded))
            or (self._shards and live > RETRAIN_GROWTH * self._trained_on)
        )
        if due:
            self._build()
        return bool(due)


def _with_search_kernel(codes: faiss.Index) -> faiss.Index:
    """faiss's fast-scan kernel number 13 (one query at a time, per block of 32 codes): ~30 %
    faster than its automatic choice for single queries here (0.65 against 0.91 ms for
    500,000 codes and 512 results, one core), ~20 % slower per query in batches of 128.
    Single queries are what a camera asks, so they win."""
    codes.implem = SEARCH_KERNEL  # type: ignore[attr-defined]
    return codes


def _propose(shard: _Shard, queries: NDArray[np.float32], candidates: int) -> NDArray[np.int64]:
    """Table rows of the ``candidates`` best codes of a shard per query (-1 pads)."""
    if not shard.size:
        return np.full((len(queries), 0), -1, dtype=np.int64)
    with one_omp_thread():
        _, found = shard.codes.search(queries, min(candidates, shard.size))
    rows = np.where(found >= 0, shard.code_row[np.maximum(found, 0)], -1)
    return rows.astype(np.int64, copy=False)


def _grown(array: NDArray[np.int64], size: int, fill: int) -> NDArray[np.int64]:
    if len(array) >= size:
        return array
    grown = np.full(max(size, len(array) + len(array) // 4), fill, dtype=np.int64)
    grown[: len(array)] = array
    return grown


__all__ = ["FastScanIndex"]
