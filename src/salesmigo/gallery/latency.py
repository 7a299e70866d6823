"""Timing searches for the gallery benchmark: one query at a time, two searches taking
turns, batches, and work limited to one thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from salesmigo.gallery.index import CustomerHit, SearchIndex
from salesmigo.gallery.kernels import one_omp_thread

_T = TypeVar("_T")
Search = Callable[[NDArray[np.float32]], object]
# Queries a search answers before the other takes its turn, and untimed ones it answers
# first to take the caches back (see paired).
PAIRED_BLOCK = 50
PAIRED_WARMUP = 3


@dataclass
class Latency:
    """Median and 99th percentile of one search's times, in milliseconds."""

    p50_ms: float
    p99_ms: float


def paired(
    first: Search,
    second: Search,
    queries: NDArray[np.float32],
    block: int = PAIRED_BLOCK,
    warmup: int = PAIRED_WARMUP,
) -> tuple[Latency, Latency]:
    """Latencies of two searches taking turns a ``block`` of queries at a time (which one
    goes first alternating), so that both see the same load on a shared machine.

    Each search evicts the other's data from the caches, which a server answering from
    one index does not suffer: turns of one query each were slow throughout, and in
    blocks the first queries of a block were. At 1M templates beside faiss's bare scan,
    the fast-scan index's first query of a block of 50 took 1.03 ms at the median, the
    second 0.80, the third 0.71 and the rest 0.65 (it scans 10.7 MB of codes, and so does
    the bare scan), and two blocks in a hundred starting cold made its p99 2.37 ms. So a
    block begins with ``warmup`` untimed queries (the first few, which warm every search
    beforehand as well): with two, the first timed query took 0.62 ms and p99 was 0.95."""
    warm = queries[:warmup]
    for query in warm:
        first(query)
        second(query)
    times = np.empty((2, len(queries)))
    for turn, start in enumerate(range(0, len(queries), block)):
        for which in (0, 1) if turn % 2 == 0 else (1, 0):
            search = first if which == 0 else second
            for query in warm:
                search(query)
            for i in range(start, min(start + block, len(queries))):
                began = time.perf_counter()
                search(queries[i])
                times[which, i] = time.perf_counter() - began
    return summary(times[0]), summary(times[1])


def latencies(search: Search, queries: NDArray[np.float32]) -> Latency:
    """Latency of one search over these queries, one at a time (the first three also
    run untimed first)."""
    for query in queries[:3]:  # warm caches and lazily built structures
        search(query)
    times = np.empty(len(queries))
    for i, query in enumerate(queries):
        began = time.perf_counter()
        search(query)
        times[i] = time.perf_counter() - began
    return summary(times)


def summary(seconds: NDArray[np.float64]) -> Latency:
    """Median and 99th percentile of these times (seconds), in milliseconds."""
    return Latency(float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3))


def batched(
    index: SearchIndex, queries: NDArray[np.float32], batch_size: int
) -> tuple[list[list[CustomerHit]], float]:
    """Every query's hits, searched in batches of ``batch_size``, and queries per second."""
    results: list[list[CustomerHit]] = []
    began = time.perf_counter()
    for start in range(0, len(queries), batch_size):
        results.extend(index.nearest_customers_batch(queries[start : start + batch_size]))
    return results, len(queries) / (time.perf_counter() - began)


@contextmanager
def single_thread() -> Iterator[None]:
    """BLAS and OpenMP (faiss's included) limited to one thread in this block."""
    with threadpool_limits(limits=1), one_omp_thread():
        yield


def in_single_thread(work: Callable[[], _T]) -> _T:
    with single_thread():
        return work()


__all__ = [
    "Latency",
    "Search",
    "batched",
    "in_single_thread",
    "latencies",
    "paired",
    "single_thread",
    "summary",
]
