"""One exact index per recogniser model, kept in step with the database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from salesmigo.config import ModelMatching
from salesmigo.gallery.decision import Identification, decide
from salesmigo.gallery.exact import ExactIndex


@dataclass(frozen=True)
class Template:
    """A face template as the gallery needs it."""

    template_id: int
    customer_id: int
    model: str
    vector: NDArray[np.float32]


class Gallery:
    """The in-memory search side of the face templates; the database stays the truth.

    It is filled from the database at start and then told of every enrolment and deletion,
    so no change rebuilds an index.
    """

    def __init__(self, matching_for: Callable[[str], ModelMatching]) -> None:
        self._matching_for = matching_for
        self._indexes: dict[str, ExactIndex] = {}
        self._lock = threading.Lock()

    def _index(self, model: str, dimension: int) -> ExactIndex:
        with self._lock:
            index = self._indexes.get(model)
            if index is None:
                index = self._indexes[model] = ExactIndex(dimension)
            elif index.dimension != dimension:
                raise ValueError(
                    f"{model} templates are {index.dimension}-D; got a {dimension}-D vector"
                )
            return index

    def add(self, templates: Iterable[Template]) -> None:
        by_model: dict[str, list[Template]] = {}
        for template in templates:
            by_model.setdefault(template.model, []).append(template)
        for model, group in by_model.items():
            vectors = np.stack([t.vector for t in group]).astype(np.float32)
            self._index(model, vectors.shape[1]).add(
                [t.template_id for t in group], [t.customer_id for t in group], vectors
            )

    def remove_templates(self, template_ids: Iterable[int]) -> None:
        ids = list(template_ids)
        for index in list(self._indexes.values()):
            index.remove(ids)

    def remove_customer(self, customer_id: int) -> None:
        for index in list(self._indexes.values()):
            index.remove_customer(customer_id)

    def size(self, model: str) -> int:
        index = self._indexes.get(model)
        return 0 if index is None else len(index)

    def customers(self, model: str) -> set[int]:
        index = self._indexes.get(model)
        return set() if index is None else index.customers()

    def identify(self, model: str, vector: NDArray[np.float32]) -> Identification:
        index = self._indexes.get(model)
        hits = [] if index is None else index.nearest_customers(vector, k=2)
        return decide(hits, self._matching_for(model), model)
