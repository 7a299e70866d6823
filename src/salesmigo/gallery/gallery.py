"""One search index per recogniser model, kept in step with the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from salesmigo.config import GallerySettings, ModelMatching
from salesmigo.gallery.decision import Identification, decide
from salesmigo.gallery.exact import ExactIndex
from salesmigo.gallery.fastscan import FastScanIndex
from salesmigo.gallery.index import IndexKind, SearchIndex
from salesmigo.gallery.parallel import helpers
from salesmigo.gallery.table import DEAD

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    """A face template as the gallery needs it."""

    template_id: int
    customer_id: int
    model: str
    vector: NDArray[np.float32]


@dataclass
class _Conversion:
    """An exact index being rebuilt as fast-scan codes in the background, and the changes
    since."""

    thread: threading.Thread | None = None
    touched: set[int] = field(default_factory=set)
    removed_customers: list[int] = field(default_factory=list)


class Gallery:
    """The in-memory search side of the face templates; the database stays the truth.

    It is filled from the database (or a snapshot, see ``persist``) at start and then told
    of every enrolment and deletion, so no change rebuilds an index.

    The index of each model follows ``settings.index``: ``exact`` always searches
    exhaustively; ``fastscan`` always uses the approximate index (a 4-bit code of each
    customer scanned, the best measured exactly); ``auto`` is exact until a model has more
    than ``ann_min_size`` templates, then builds the codes *in the background* (the exact
    index keeps answering, and changes made meanwhile are replayed onto the new index
    before it takes over). It goes back to exact when the model falls under half of
    ``ann_min_size`` (the hysteresis keeps it from flapping at the boundary). With
    ``background_builds=False`` the switch happens inside the call that crosses the size.

    Searches never wait for each other; changes are serialised by one lock.
    """

    def __init__(
        self,
        matching_for: Callable[[str], ModelMatching],
        settings: GallerySettings | None = None,
        *,
        background_builds: bool = True,
    ) -> None:
        self._matching_for = matching_for
        self.settings = settings if settings is not None else GallerySettings()
        self._background_builds = background_builds
        self._indexes: dict[str, SearchIndex] = {}
        self._conversions: dict[str, _Conversion] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_indexes(
        cls,
        matching_for: Callable[[str], ModelMatching],
        settings: GallerySettings | None,
        indexes: Mapping[str, SearchIndex],
        *,
        background_builds: bool = True,
    ) -> Gallery:
        """A gallery over ready indexes (a loaded snapshot); ``auto`` rules apply from here."""
        gallery = cls(matching_for, settings, background_builds=background_builds)
        gallery._indexes.update(indexes)
        for model in indexes:
            gallery._follow_size_rule(model)
        return gallery

    # -- what is here ------------------------------------------------------------------

    def models(self) -> list[str]:
        return sorted(self._indexes)

    def index(self, model: str) -> SearchIndex | None:
        """The index of a model as it is now (it may be replaced by a switch later)."""
        return self._indexes.get(model)

    def index_kind(self, model: str) -> IndexKind | None:
        index = self._indexes.get(model)
        return None if index is None else index.kind

    def size(self, model: str) -> int:
        index = self._indexes.get(model)
        return 0 if index is None else len(index)

    def customers(self, model: str) -> set[int]:
        index = self._indexes.get(model)
        return set() if index is None else index.customers()

    def customer_set(self, model: str) -> frozenset[int]:
        """``customers`` without copying: cheap to call per face at millions of customers."""
        index = self._indexes.get(model)
        return frozenset() if index is None else index.customer_set()

    def start_search_helpers(self) -> None:
        """Start the threads that split a search (gallery.parallel) now, if an index
        splits its searches: starting them imports numba, a second or two that the first
        such search would otherwise wait."""
        if any(index.splits_searches for index in list(self._indexes.values())):
            helpers()

    # -- changes -----------------------------------------------------------------------

    def add(self, templates: Iterable[Template]) -> None:
        by_model: dict[str, list[Template]] = {}
        for template in templates:
            by_model.setdefault(template.model, []).append(template)
        for model, group in by_model.items():
            vectors = np.stack([np.asarray(t.vector, dtype=np.float32) for t in group])
            ids = np.array([t.template_id for t in group], dtype=np.int64)
            customers = np.array([t.customer_id for t in group], dtype=np.int64)
            self.add_arrays(model, ids, customers, vectors)

    def add_arrays(
        self,
        model: str,
        template_ids: NDArray[np.int64],
        customer_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        """``add`` for many templates of one model, without a Template object each."""
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError("vectors must be a matrix with one template per row")
        if np.any(np.asarray(customer_ids) == DEAD):
            raise ValueError(f"customer id {DEAD} is reserved")
        with self._lock:
            index = self._index(model, matrix.shape[1])
            index.add(template_ids, customer_ids, matrix)
            conversion = self._conversions.get(model)
            if conversion is not None:
                conversion.touched.update(np.asarray(template_ids).tolist())
            self._follow_size_rule(model)

    def remove_templates(self, template_ids: Iterable[int]) -> None:
        ids = np.fromiter((int(t) for t in template_ids), dtype=np.int64)
        with self._lock:
            for model, index in list(self._indexes.items()):
                if index.remove(ids):
                    conversion = self._conversions.get(model)
                    if conversion is not None:
                        conversion.touched.update(ids.tolist())
                    self._follow_size_rule(model)

    def remove_customer(self, customer_id: int) -> None:
        with self._lock:
            for model, index in list(self._indexes.items()):
                if index.remove_customer(customer_id):
                    conversion = self._conversions.get(model)
                    if conversion is not None:
                        conversion.removed_customers.append(customer_id)
                    self._follow_size_rule(model)

    # -- search ------------------------------------------------------------------------

    def identify(self, model: str, vector: NDArray[np.float32]) -> Identification:
        index = self._indexes.get(model)
        hits = [] if index is None else index.nearest_customers(vector, k=2)
        return decide(hits, self._matching_for(model), model)

    def identify_batch(self, model: str, vectors: NDArray[np.float32]) -> list[Identification]:
        """``identify`` for each row of an (n, d) matrix, in one pass over the index."""
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError("vectors must be an (n, d) matrix")
        matching = self._matching_for(model)
        index = self._indexes.get(model)
        if index is None:
            return [decide([], matching, model) for _ in range(len(matrix))]
        return [decide(hits, matching, model) for hits in index.nearest_customers_batch(matrix)]

    def wait_for_builds(self, timeout: float | None = None) -> bool:
        """Wait for background index builds; True when none is running any more."""
        with self._lock:
            threads = [c.thread for c in self._conversions.values() if c.thread is not None]
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            return not self._conversions

    # -- index choice ------------------------------------------------------------------

    def _index(self, model: str, dimension: int) -> SearchIndex:
        index = self._indexes.get(model)
        if index is None:
            index = self._new_index(dimension)
            self._indexes[model] = index
        elif index.dimension != dimension:
            raise ValueError(
                f"{model} templates are {index.dimension}-D; got a {dimension}-D vector"
            )
        return index

    def _new_index(self, dimension: int) -> SearchIndex:
        if self.settings.index == "fastscan":
            return FastScanIndex(dimension)
        return ExactIndex(dimension)

    def _follow_size_rule(self, model: str) -> None:
        """Switch a model's index kind when ``auto`` says so (called under the lock)."""
        if self.settings.index != "auto" or model in self._conversions:
            return
        index = self._indexes[model]
        threshold = self.settings.ann_min_size
        if index.kind == "exact" and len(index) > threshold:
            self._start_conversion(model, index)
        elif index.kind == "fastscan" and len(index) < threshold // 2:
            arrays = index.export()
            table = ExactIndex.table_type.from_arrays(
                arrays.template_ids, arrays.customer_ids, arrays.vectors
            )
            self._indexes[model] = ExactIndex(index.dimension, table)
            logger.info("%s: %s templates, back to the exact index", model, len(index))

    def _start_conversion(self, model: str, index: SearchIndex) -> None:
        conversion = _Conversion()
        self._conversions[model] = conversion  # from here on, changes are logged
        arrays = index.export()
        logger.info(
            "%s: %s templates, building the fast-scan index", model, len(arrays.template_ids)
        )

        def build() -> None:
            try:
                table = FastScanIndex.table_type.from_arrays(
                    arrays.template_ids, arrays.customer_ids, arrays.vectors
                )
                approximate = FastScanIndex(index.dimension, table)
                with self._lock:
                    _replay(conversion, source=self._indexes[model], target=approximate)
                    self._indexes[model] = approximate
                    del self._conversions[model]
                    logger.info("%s: the fast-scan index took over", model)
                    self._follow_size_rule(model)
            except Exception:
                logger.exception("%s: building the fast-scan index failed; staying exact", model)
                with self._lock:
                    self._conversions.pop(model, None)

        if self._background_builds:
            conversion.thread = threading.Thread(
                target=build, name=f"gallery-fastscan-{model}", daemon=True
            )
            conversion.thread.start()
        else:
            build()


def _replay(conversion: _Conversion, source: SearchIndex, target: SearchIndex) -> None:
    """Bring ``target`` (built from an older copy of ``source``) up to ``source``'s state."""
    for customer_id in conversion.removed_customers:
        target.remove_customer(customer_id)
    if not conversion.touched:
        return
    touched = np.array(sorted(conversion.touched), dtype=np.int64)
    current = source.export()
    present = np.isin(current.template_ids, touched)
    target.remove(touched[~np.isin(touched, current.template_ids)])
    target.add(
        current.template_ids[present], current.customer_ids[present], current.vectors[present]
    )
