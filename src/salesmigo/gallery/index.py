"""What every 1:N search index of the gallery offers, and the customer ranking they share."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.table import DEAD

IndexKind = Literal["exact", "fastscan"]


@dataclass(frozen=True)
class CustomerHit:
    """A customer and the distance from the query to that customer's closest template."""

    customer_id: int
    distance: float


@dataclass(frozen=True)
class IndexArrays:
    """The live templates of an index as three aligned arrays (what a snapshot stores)."""

    template_ids: NDArray[np.int64]
    customer_ids: NDArray[np.int64]
    vectors: NDArray[np.float32]


class SearchIndex(Protocol):
    """All templates of one recogniser model, searched by customer.

    Every index ranks *customers* by the Euclidean distance to their closest template and
    returns distances computed exactly from the stored vectors; an approximate index may
    only miss a customer, never misstate a distance. Adding a template id that is already
    present replaces it; removing an unknown id is a no-op. Implementations are safe to
    search from many threads while one thread changes them.
    """

    @property
    def kind(self) -> IndexKind: ...

    @property
    def dimension(self) -> int: ...

    @property
    def nbytes(self) -> int:
        """Memory held by the index's own arrays and structures."""
        ...

    def __len__(self) -> int: ...

    @property
    def splits_searches(self) -> bool:
        """Whether one query is searched by several threads (gallery.parallel), whose
        helpers a server then starts beforehand."""
        ...

    def __contains__(self, template_id: int) -> bool: ...

    def customers(self) -> set[int]: ...

    def customer_set(self) -> frozenset[int]: ...

    def add(
        self,
        template_ids: Sequence[int] | NDArray[np.int64],
        customer_ids: Sequence[int] | NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None: ...

    def remove(self, template_ids: Sequence[int] | NDArray[np.int64]) -> int: ...

    def remove_customer(self, customer_id: int) -> int: ...

    def nearest_customers(self, query: NDArray[np.float32], k: int = 2) -> list[CustomerHit]: ...

    def nearest_customers_batch(
        self, queries: NDArray[np.float32], k: int = 2
    ) -> list[list[CustomerHit]]: ...

    def export(self) -> IndexArrays:
        """Copies of the live templates, in row order."""
        ...

    def frozen(self) -> AbstractContextManager[dict[str, NDArray[np.generic]]]:
        """The index's own arrays, unchanged while the block runs (for snapshots)."""
        ...


def distinct_customers(
    squared: NDArray[np.float32],
    rows: NDArray[np.int64],
    customer_of_row: NDArray[np.int64],
    k: int,
) -> list[CustomerHit]:
    """The first ``k`` distinct live customers of candidates sorted by squared distance.

    ``rows`` may hold -1 (no candidate) and tombstones; both are skipped.
    """
    hits: list[CustomerHit] = []
    seen: set[int] = set()
    valid = rows >= 0
    customers = np.full(len(rows), DEAD, dtype=np.int64)
    customers[valid] = customer_of_row[rows[valid]]
    for customer, distance in zip(customers.tolist(), squared.tolist(), strict=True):
        if customer == DEAD or customer in seen:
            continue
        seen.add(customer)
        hits.append(CustomerHit(customer, float(np.sqrt(max(distance, 0.0)))))
        if len(hits) == k:
            break
    return hits
