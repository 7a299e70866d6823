"""The exact index's template table: float32 rows held as two 16-bit planes.

See gallery.halves for why, and gallery.exact for the search that scans the high plane
and proves its answer exact. Everything but the vector storage is TemplateTable's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery import halves
from salesmigo.gallery.kernels import squared_distances
from salesmigo.gallery.table import DEAD, TemplateTable, resized


class SplitTemplateTable(TemplateTable):
    """A table whose float32 vectors are held as two 16-bit planes (gallery.halves): the
    exact index's, so that a search scans the high plane alone first. Same memory."""

    def _init_vectors(self) -> None:
        self._high = np.empty((0, self.dimension), dtype=np.uint16)
        self._low = np.empty((0, self.dimension), dtype=np.uint16)
        self._truncation_error = 0.0

    @property
    def vectors(self) -> NDArray[np.float32]:
        """Every row as float32: a new array (for snapshots and exports, not searches)."""
        return halves.join(self.high, self.low)

    @property
    def high(self) -> halves.Plane:
        """The high 16 bits of every float32 (a view; see gallery.halves)."""
        return self._high[: self._rows]

    @property
    def low(self) -> halves.Plane:
        return self._low[: self._rows]

    @property
    def truncation_error(self) -> float:
        """An upper bound on the distance from any live row to its high-plane truncation."""
        return self._truncation_error

    def vectors_of(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        return halves.join(np.take(self._high, rows, axis=0), np.take(self._low, rows, axis=0))

    def distances(self, query: NDArray[np.float32], rows: NDArray[np.int64]) -> NDArray[np.float32]:
        return squared_distances(self.vectors_of(rows), query, np.arange(len(rows), dtype=np.int64))

    def _vector_arrays(self) -> dict[str, NDArray[np.generic]]:
        return {"vectors_high": self.high, "vectors_low": self.low}

    def _adopt(self, vectors: NDArray[np.float32]) -> None:
        self._adopt_planes(*halves.split(vectors))

    def _adopt_planes(self, high: halves.Plane, low: halves.Plane) -> None:
        self._high, self._low = high, low
        self._truncation_error = halves.truncation_error(high, low, keep=self._customer_ids != DEAD)

    def _write(
        self, rows: NDArray[np.int64], matrix: NDArray[np.float32], *, bound: bool = True
    ) -> None:
        high, low = halves.split(matrix)
        self._high[rows], self._low[rows] = high, low
        if bound:
            self._truncation_error = max(self._truncation_error, halves.truncation_error(high, low))

    def _move(self, keep: NDArray[np.int64]) -> None:
        self._high[: len(keep)] = self._high[keep]
        self._low[: len(keep)] = self._low[keep]

    def _resize_vectors(self, capacity: int) -> None:
        self._high = resized(self._high, capacity, self._rows)
        self._low = resized(self._low, capacity, self._rows)

    def _vector_nbytes(self) -> int:
        return self._high.nbytes + self._low.nbytes
