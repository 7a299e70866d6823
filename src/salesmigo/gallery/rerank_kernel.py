"""The compiled loops of gallery.rerank (numba, GIL released), in a module of their own:
importing numba takes a second or two, paid only by a process that searches codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.rerank import NO_CUSTOMER, Closest, CodedCustomers

_Function = TypeVar("_Function", bound=Callable[..., object])


def compiled(function: _Function) -> _Function:
    """``function`` compiled by numba with the GIL released, cached on disk where numba
    finds a writable place (beside this file, or the user's cache folder); in a read-only
    install with no such place, compiled anew in each process instead of failing."""
    try:
        dispatcher = numba.njit(cache=True, nogil=True, fastmath=True)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        dispatcher = numba.njit(nogil=True, fastmath=True)(function)
    return cast(_Function, dispatcher)


@compiled
def _squared(vectors: NDArray[np.float32], row: int, query: NDArray[np.float32]) -> np.float32:
    total = np.float32(0.0)
    for j in range(query.shape[0]):
        gap = vectors[row, j] - query[j]
        total += gap * gap
    return total


@compiled
def closest(
    query: NDArray[np.float32],
    proposed: NDArray[np.int64],
    coded: CodedCustomers,
    vectors: NDArray[np.float32],
    shortlist: int,
    k: int,
) -> Closest:
    """The ``k`` closest customers of one query among the ``proposed`` codes (-1 for
    none): the ``shortlist`` closest centroids kept, those customers measured by their
    closest template (rows of ``vectors``). Squared distances, closest first."""
    customer, centroids, first_row, row_count, rows = coded
    codes = np.empty(len(proposed), dtype=np.int64)
    by_centroid = np.empty(len(proposed), dtype=np.float32)
    live = 0
    for code in proposed:
        if code >= 0 and customer[code] != NO_CUSTOMER:
            codes[live] = code
            by_centroid[live] = _squared(centroids, code, query)
            live += 1
    kept = codes[:live]
    if live > shortlist:  # numba's argsort took 16 us for 256 values, argpartition 4
        kept = kept[np.argpartition(by_centroid[:live], shortlist - 1)[:shortlist]]
    closest = np.empty(len(kept), dtype=np.float32)
    for at, code in enumerate(kept):
        best = np.float32(np.inf)
        for position in range(first_row[code], first_row[code] + row_count[code]):
            best = min(best, _squared(vectors, rows[position], query))
        closest[at] = best
    top = np.argpartition(closest, k - 1)[:k] if len(closest) > k else np.arange(len(closest))
    order = top[np.argsort(closest[top])]
    return closest[order], customer[kept[order]]


__all__ = ["closest", "compiled"]
