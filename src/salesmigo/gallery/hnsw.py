"""Approximate nearest-customer search: a faiss HNSW graph over 8-bit codes, re-ranked exactly.

The graph (``faiss.IndexHNSWSQ``, M=32) stores each template as 128 one-byte codes, which
makes walking it about 20 % faster than over float32 for the same recall; it only
*proposes* candidates. Every proposed customer is then ranked by the exact distance from
the query to *all* of that customer's templates, read from the float32 rows of the
:class:`TemplateTable` (found through :class:`CustomerRows`). So a distance this index
returns is always the exact distance to that customer's closest template; what the graph
can do wrong is miss a customer altogether (see ``benchmarks/README.md`` for how often).

Changes are incremental. An added template is inserted into the graph; a removed one
only loses its node (the node stays in the graph, ignored, as a waypoint); an overwritten
one gets a new node. When dead nodes pass a fifth of the graph, the graph is rebuilt from
the live rows. Graph nodes map to table rows through ``node_row``; table rows to their
current node through ``row_node``.

The codes use a fixed range [-1, 1] per component (no training, deterministic): right for
L2-normalised descriptors (SFace), and dlib's unnormalised descriptors (components within
about ±0.4) still get ~100 levels. Values outside are clipped in the codes only; the exact
re-ranking reads the original floats.

Parameters (measured in ``benchmarks/README.md``, on descriptors calibrated to SFace's):
M=32 and efConstruction=64 keep a 1M-template build to a few minutes on 2 cores (M=48 or
efConstruction=100 bought ~1-2 points of recall at 300k for 1.8-2.9x the build time).
efSearch=512 favours recall over latency: a missed customer is an enrolled person
treated as a stranger. Set ``ef_search`` on the index to trade one for the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.exact import TableBackedIndex, checked, exact_search
from salesmigo.gallery.index import CustomerHit, IndexKind
from salesmigo.gallery.kernels import split_queries
from salesmigo.gallery.table import DEAD, CustomerRows, TemplateTable

M = 32
EF_CONSTRUCTION = 64
EF_SEARCH = 512
# Graph candidates fetched per query; their customers are then re-ranked exactly.
CANDIDATES = 32
REBUILD_FRACTION = 0.2
# Below this many live templates a graph is not worth walking: search exactly.
EXACT_BELOW = 4 * CANDIDATES
_CODE_RANGE = 1.0
_INSERT_CHUNK = 65_536


class HnswIndex(TableBackedIndex):
    """Templates of one model behind an HNSW graph; see the module docstring."""

    kind: IndexKind = "hnsw"

    def __init__(
        self,
        dimension: int,
        table: TemplateTable | None = None,
        *,
        ef_search: int = EF_SEARCH,
        graph: faiss.Index | None = None,
        node_row: NDArray[np.int64] | None = None,
    ) -> None:
        super().__init__(dimension, table)
        self.ef_search = ef_search
        self._search_parameters: tuple[int, faiss.SearchParameters] | None = None
        self._customer_rows = CustomerRows(self._table)
        self._graph: faiss.Index
        self._node_row = np.empty(0, dtype=np.int64)
        self._row_node = np.empty(0, dtype=np.int64)
        self._dead_nodes = 0
        if graph is not None and node_row is not None:
            self._adopt(graph, node_row)
        else:
            self._build()

    @property
    def nbytes(self) -> int:
        graph = self._graph.ntotal * (self._dimension + 2 * M * 4 + 16)  # codes, level-0 links
        return (
            self._table.nbytes
            + self._customer_rows.nbytes
            + graph
            + self._node_row.nbytes
            + self._row_node.nbytes
        )

    @property
    def graph_nodes(self) -> int:
        return int(self._graph.ntotal)

    def _state(self) -> dict[str, NDArray[np.generic]]:
        state = super()._state()
        state["graph"] = faiss.serialize_index(self._graph)
        state["node_row"] = self._node_row[: self._graph.ntotal]
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
            self._drop_nodes(overwritten)
            rows = np.concatenate([overwritten, appended])
            self._customer_rows.touch(rows)
            self._insert(rows)
            self._customers = None
            self._maybe_rebuild()

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
            self._drop_nodes(killed)
            self._customer_rows.touch(killed)
            self._customers = None
            self._maybe_rebuild()
        return len(killed)

    # -- search ------------------------------------------------------------------------

    def _search(self, queries: NDArray[np.float32], k: int) -> list[list[CustomerHit]]:
        table = self._table
        if table.live < EXACT_BELOW or k < 1 or not len(queries):
            return exact_search(table, queries, k)
        return split_queries(lambda part: self._search_graph(part, k), queries)

    def _search_graph(self, queries: NDArray[np.float32], k: int) -> list[list[CustomerHit]]:
        table = self._table
        params = self._parameters()
        previous = faiss.omp_get_max_threads()  # one OpenMP thread: see kernels
        faiss.omp_set_num_threads(1)
        try:
            _, nodes = self._graph.search(queries, CANDIDATES, params=params)
        finally:
            faiss.omp_set_num_threads(previous)
        results: list[list[CustomerHit]] = []
        for query, found in zip(queries, nodes, strict=True):
            found = found[found >= 0]
            rows = self._node_row[found]
            candidates = table.customer_ids[rows[rows >= 0]]
            hits = self._rank(query, candidates, k)
            if len(hits) < k:  # the graph proposed too few customers: rare, answer exactly
                hits = exact_search(table, query[None], k)[0]
            results.append(hits)
        return results

    def _parameters(self) -> faiss.SearchParameters:
        """Search parameters for the current ``ef_search`` (made once, read-only after)."""
        ef = max(self.ef_search, CANDIDATES)
        cached = self._search_parameters
        if cached is None or cached[0] != ef:
            made = faiss.SearchParametersHNSW(efSearch=ef)  # type: ignore[attr-defined]
            cached = self._search_parameters = (ef, made)
        return cached[1]

    def _rank(
        self, query: NDArray[np.float32], candidates: NDArray[np.int64], k: int
    ) -> list[CustomerHit]:
        """Rank the proposed customers by their closest template, computed exactly."""
        rows = self._customer_rows.rows_of(candidates)
        if not len(rows):
            return []
        difference = self._table.vectors[rows] - query
        squared = np.einsum("ij,ij->i", difference, difference)
        customers = self._table.customer_ids[rows]
        order = np.lexsort((squared, customers))  # by customer, closest template first
        first = np.ones(len(order), dtype=bool)
        first[1:] = customers[order][1:] != customers[order][:-1]
        best_rows = order[first]
        ranked = best_rows[np.argsort(squared[best_rows], kind="stable")][:k]
        return [
            CustomerHit(int(customers[i]), float(np.sqrt(max(float(squared[i]), 0.0))))
            for i in ranked
        ]

    # -- graph upkeep ------------------------------------------------------------------

    def _new_graph(self) -> faiss.Index:
        graph = faiss.IndexHNSWSQ(
            self._dimension,
            faiss.ScalarQuantizer.QT_8bit_uniform,  # type: ignore[arg-type]
            M,
        )
        bounds = np.array(
            [[-_CODE_RANGE] * self._dimension, [_CODE_RANGE] * self._dimension], dtype=np.float32
        )
        graph.train(bounds)
        graph.hnsw.efConstruction = EF_CONSTRUCTION
        return graph

    def _build(self) -> None:
        """A fresh graph over the live rows (compacting the table first)."""
        self._table.compact()
        self._customer_rows.rebuild()
        self._graph = self._new_graph()
        self._node_row = np.empty(0, dtype=np.int64)
        self._row_node = np.full(self._table.rows, -1, dtype=np.int64)
        self._dead_nodes = 0
        self._insert(self._table.live_rows())

    def _adopt(self, graph: faiss.Index, node_row: NDArray[np.int64]) -> None:
        if graph.d != self._dimension or len(node_row) != graph.ntotal:
            raise ValueError("graph does not match the table")
        self._graph = graph
        self._node_row = np.ascontiguousarray(node_row, dtype=np.int64)
        self._row_node = np.full(self._table.rows, -1, dtype=np.int64)
        live = self._node_row >= 0
        self._row_node[self._node_row[live]] = np.flatnonzero(live)
        self._dead_nodes = int(np.count_nonzero(~live))

    def _insert(self, rows: NDArray[np.int64]) -> None:
        if not len(rows):
            return
        first = int(self._graph.ntotal)
        for start in range(0, len(rows), _INSERT_CHUNK):  # bounded temporary copies
            self._graph.add(self._table.vectors[rows[start : start + _INSERT_CHUNK]])
        nodes = np.arange(first, first + len(rows), dtype=np.int64)
        self._node_row = _grown(self._node_row, first + len(rows), fill=-1)
        self._node_row[nodes] = rows
        self._row_node = _grown(self._row_node, self._table.rows, fill=-1)
        self._row_node[rows] = nodes

    def _drop_nodes(self, rows: NDArray[np.int64]) -> None:
        if not len(rows):
            return
        nodes = self._row_node[rows]
        nodes = nodes[nodes >= 0]
        self._node_row[nodes] = -1
        self._row_node[rows] = -1
        self._dead_nodes += len(nodes)

    def _maybe_rebuild(self) -> None:
        if self._dead_nodes > REBUILD_FRACTION * max(1, self._graph.ntotal):
            self._build()


def _grown(array: NDArray[np.int64], size: int, fill: int) -> NDArray[np.int64]:
    if len(array) >= size:
        return array
    grown = np.full(max(size, len(array) + len(array) // 4), fill, dtype=np.int64)
    grown[: len(array)] = array
    return grown


__all__ = ["DEAD", "HnswIndex"]
