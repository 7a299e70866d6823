"""Exact nearest-customer search over an in-memory matrix of templates."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

_INITIAL_CAPACITY = 1024
_Scalar = TypeVar("_Scalar", bound=np.generic)


@dataclass(frozen=True)
class CustomerHit:
    """A customer and the distance from the query to that customer's closest template."""

    customer_id: int
    distance: float


class ExactIndex:
    """All templates of one recogniser model, searched exhaustively.

    Rows live in a preallocated matrix that grows by doubling, so an enrolment is an
    append and a deletion moves the last row into the hole: neither rebuilds the index.
    Squared norms are kept beside the rows so a search is one matrix-vector product.
    """

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._lock = threading.RLock()
        self._vectors = np.empty((_INITIAL_CAPACITY, dimension), dtype=np.float32)
        self._norms = np.empty(_INITIAL_CAPACITY, dtype=np.float32)
        self._template_ids = np.empty(_INITIAL_CAPACITY, dtype=np.int64)
        self._customer_ids = np.empty(_INITIAL_CAPACITY, dtype=np.int64)
        self._row_of_template: dict[int, int] = {}
        self._templates_per_customer: Counter[int] = Counter()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, template_id: int) -> bool:
        return template_id in self._row_of_template

    def customers(self) -> set[int]:
        """The ids of every customer with at least one template here."""
        with self._lock:
            return set(self._templates_per_customer)

    def add(
        self,
        template_ids: Sequence[int],
        customer_ids: Sequence[int],
        vectors: NDArray[np.float32],
    ) -> None:
        """Add templates; a template id already present is replaced."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        if not len(template_ids) == len(customer_ids) == len(matrix):
            raise ValueError("template ids, customer ids and vectors differ in length")
        with self._lock:
            self.remove([t for t in template_ids if t in self._row_of_template])
            self._reserve(self._size + len(matrix))
            rows = slice(self._size, self._size + len(matrix))
            self._vectors[rows] = matrix
            self._norms[rows] = np.einsum("ij,ij->i", matrix, matrix)
            self._template_ids[rows] = template_ids
            self._customer_ids[rows] = customer_ids
            for offset, template_id in enumerate(template_ids):
                self._row_of_template[int(template_id)] = self._size + offset
            self._templates_per_customer.update(int(c) for c in customer_ids)
            self._size += len(matrix)

    def remove(self, template_ids: Sequence[int]) -> int:
        """Remove templates by id; unknown ids are ignored. Returns how many were removed."""
        removed = 0
        with self._lock:
            for template_id in template_ids:
                row = self._row_of_template.pop(int(template_id), None)
                if row is None:
                    continue
                customer = int(self._customer_ids[row])
                self._templates_per_customer[customer] -= 1
                if not self._templates_per_customer[customer]:
                    del self._templates_per_customer[customer]
                last = self._size - 1
                if row != last:
                    self._vectors[row] = self._vectors[last]
                    self._norms[row] = self._norms[last]
                    self._template_ids[row] = self._template_ids[last]
                    self._customer_ids[row] = self._customer_ids[last]
                    self._row_of_template[int(self._template_ids[row])] = row
                self._size -= 1
                removed += 1
        return removed

    def remove_customer(self, customer_id: int) -> int:
        with self._lock:
            rows = np.flatnonzero(self._customer_ids[: self._size] == customer_id)
            return self.remove([int(t) for t in self._template_ids[rows]])

    def nearest_customers(self, query: NDArray[np.float32], k: int = 2) -> list[CustomerHit]:
        """The k closest distinct customers, closest first, by Euclidean distance."""
        query = np.asarray(query, dtype=np.float32).reshape(self.dimension)
        with self._lock:
            if self._size == 0:
                return []
            vectors = self._vectors[: self._size]
            squared = self._norms[: self._size] - 2.0 * (vectors @ query) + float(query @ query)
            customers = self._customer_ids[: self._size]
            return _closest_distinct(squared, customers, k)

    def _reserve(self, needed: int) -> None:
        capacity = len(self._vectors)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        self._vectors = _grown(self._vectors, capacity)
        self._norms = _grown(self._norms, capacity)
        self._template_ids = _grown(self._template_ids, capacity)
        self._customer_ids = _grown(self._customer_ids, capacity)


def _grown(array: NDArray[_Scalar], capacity: int) -> NDArray[_Scalar]:
    grown = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def _closest_distinct(
    squared: NDArray[np.float32], customers: NDArray[np.int64], k: int
) -> list[CustomerHit]:
    """Rank customers by their closest template, widening the candidate pool until k are found.

    A customer with many templates can fill the nearest rows alone, so the pool starts at a
    few rows and doubles rather than assuming the k nearest rows belong to k customers.
    """
    pool = min(len(squared), max(8, 4 * k))
    while True:
        if pool < len(squared):
            candidates = np.argpartition(squared, pool - 1)[:pool]
        else:
            candidates = np.arange(len(squared))
        candidates = candidates[np.argsort(squared[candidates], kind="stable")]
        hits: list[CustomerHit] = []
        seen: set[int] = set()
        for row in candidates:
            customer = int(customers[row])
            if customer in seen:
                continue
            seen.add(customer)
            hits.append(CustomerHit(customer, float(np.sqrt(max(float(squared[row]), 0.0)))))
            if len(hits) == k:
                return hits
        if pool >= len(squared):
            return hits
        pool = min(len(squared), pool * 4)
