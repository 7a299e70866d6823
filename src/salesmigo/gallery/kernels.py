"""The k-nearest-row kernels every index uses: faiss's brute-force L2 search on numpy arrays.

Three scans: :func:`knn` over float32 rows; :func:`high_plane_knn` over the high 16 bits
of each float32 (gallery.halves), faiss's bfloat16 scalar quantiser reading the numpy
plane in place, for single queries: half the bytes, so ~1.6x faster at 1M where memory
bandwidth is the limit; and :func:`joined_knn`, which joins the two planes into float32 a
block at a time for the BLAS path of batches.

``faiss.knn`` scans a float32 matrix it does not own (no copy), with AVX2/AVX-512 code
for a single query and blocked BLAS plus heap selection for a batch. Measured on the
project's 2-core machine at 1M x 128 it scans in ~17-20 ms where numpy's matrix-vector
product alone takes ~28 ms and ``np.argpartition`` another ~13 ms.

Threads. faiss parallelises with OpenMP, whose threads spin at barriers; on a shared
2-core machine where another process holds a core, a single query on two OpenMP threads
was 6x *slower* than on one, and batches 1.5-8x slower. So faiss always runs on one
OpenMP thread here, and the parallelism is ours: a large scan is cut into as many parts
as the caller's OpenMP thread count allows (``faiss.omp_get_max_threads()``: 2 on this
machine, 1 under ``threadpoolctl`` limits), the parts searched side by side by the
calling thread and helper threads (``gallery.parallel``; faiss releases the GIL), and
the parts' top-k merged. When a core is busy this costs nothing; when both are free it
nearly halves the time.

faiss only switches to its BLAS path from 128,000 queries in this version. Lowered to 20
(faiss's historical default), batches of a few hundred queries are 4-5x faster, but in
faiss 1.15.1 a *single* query then takes a path 7x slower (129 ms instead of 18 at 1M).
The threshold is a process-wide faiss setting, so it is lowered only while a batch of at
least 20 queries runs, and restored when none does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import TypeVar

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.halves import Plane, join
from salesmigo.gallery.parallel import in_parallel
from salesmigo.gallery.simd_level import keep_bfloat16_exact

BLAS_THRESHOLD = 20
_DEFAULT_BLAS_THRESHOLD: int = faiss.cvar.distance_compute_blas_threshold
_blas_lock = threading.Lock()
_blas_batches = 0
# Below this many rows a single query is not worth splitting (thread hand-off ~50 us).
SPLIT_MIN_ROWS = 200_000
# Rows joined from the two planes at a time for a batch (16 MB of float32 at 128-D).
JOIN_BLOCK_ROWS = 32_768
# Below this many queries a batch is not worth splitting.
SPLIT_MIN_QUERIES = 64
# Nor is a batch over fewer rows than this: at 10,000 rows, 256 queries ran at 22,600 q/s
# on one thread and 7,900 q/s split over two (the hand-off and BLAS threads cost more).
SPLIT_BATCH_MIN_ROWS = 50_000

_Result = TypeVar("_Result")
# Squared distances and row numbers of the nearest rows, one line per query.
Found = tuple[NDArray[np.float32], NDArray[np.int64]]
keep_bfloat16_exact()  # high_plane_knn relies on it (see gallery.simd_level)


def knn(queries: NDArray[np.float32], base: NDArray[np.float32], k: int) -> Found:
    """Squared L2 distances and row numbers of the ``k`` nearest rows of ``base``, per query.

    Rows missing (``k`` > rows) come back as -1.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    base = np.ascontiguousarray(base, dtype=np.float32)
    parts = max(1, faiss.omp_get_max_threads())
    if parts > 1 and len(queries) == 1 and len(base) >= SPLIT_MIN_ROWS:
        return _split_base(queries, base, k, parts)
    if parts > 1 and len(queries) >= SPLIT_MIN_QUERIES and len(base) >= SPLIT_BATCH_MIN_ROWS:
        return _split_queries(queries, base, k, parts)
    return _one_thread(queries, base, k)


@contextmanager
def _blas_for_batches(queries: int) -> Iterator[None]:
    """faiss's BLAS path while a batch of ``queries`` (>= BLAS_THRESHOLD) runs."""
    global _blas_batches
    if queries < BLAS_THRESHOLD:
        yield
        return
    with _blas_lock:
        _blas_batches += 1
        faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
    try:
        yield
    finally:
        with _blas_lock:
            _blas_batches -= 1
            if not _blas_batches:
                faiss.cvar.distance_compute_blas_threshold = _DEFAULT_BLAS_THRESHOLD


def _faiss_knn(queries: NDArray[np.float32], base: NDArray[np.float32], k: int) -> Found:
    with _blas_for_batches(len(queries)):
        distances, rows = faiss.knn(queries, base, k)
    return distances, rows.astype(np.int64, copy=False)


@contextmanager
def one_omp_thread() -> Iterator[None]:
    """faiss on one OpenMP thread in the calling thread while the block runs."""
    previous = faiss.omp_get_max_threads()  # per calling thread in libgomp
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _one_thread(queries: NDArray[np.float32], base: NDArray[np.float32], k: int) -> Found:
    with one_omp_thread():
        return _faiss_knn(queries, base, k)


def _split_base(
    queries: NDArray[np.float32], base: NDArray[np.float32], k: int, parts: int
) -> Found:
    return _over_parts(len(base), parts, k, lambda a, b: _one_thread(queries, base[a:b], k))


def _over_parts(rows: int, parts: int, k: int, search: Callable[[int, int], Found]) -> Found:
    """``search(start, stop)`` over ``parts`` slices of the rows side by side (in_parallel),
    and the ``k`` best of their results, numbered over all the rows."""
    bounds = [int(bound) for bound in np.linspace(0, rows, parts + 1)]
    found = in_parallel(lambda ab: search(*ab), list(pairwise(bounds)))
    return _merged(bounds[:-1], found, k)


def _merged(
    starts: Sequence[int],
    found: Sequence[Found],
    k: int,
) -> Found:
    """The ``k`` best of the parts' results; part ``i``'s rows are numbered from
    ``starts[i]``."""
    distances = np.concatenate([d for d, _ in found], axis=1)
    rows = np.concatenate(
        [np.where(i >= 0, i + start, -1) for start, (_, i) in zip(starts, found, strict=True)],
        axis=1,
    )
    distances = np.where(rows >= 0, distances, np.inf).astype(np.float32)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(distances, order, axis=1)
    return best, np.take_along_axis(rows, order, axis=1).astype(np.int64)


def high_plane_knn(queries: NDArray[np.float32], high: Plane, k: int) -> Found:
    """Like :func:`knn`, over the rows as the high plane holds them (gallery.halves).

    faiss's bfloat16 scalar quantiser reads the plane in place (a view, not a copy): half
    the bytes of float32 rows. It scans query by query, with no BLAS, so it suits single
    queries and small batches; :func:`joined_knn` suits large ones.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    parts = max(1, faiss.omp_get_max_threads())
    if parts == 1 or len(high) < SPLIT_MIN_ROWS:
        return _high_plane_part(queries, high, k)
    return _over_parts(len(high), parts, k, lambda a, b: _high_plane_part(queries, high[a:b], k))


def _high_plane_part(queries: NDArray[np.float32], high: Plane, k: int) -> Found:
    high = np.ascontiguousarray(high, dtype=np.uint16)
    codes = high.reshape(-1).view(np.uint8)
    index = faiss.IndexScalarQuantizer(
        high.shape[1], faiss.ScalarQuantizer.QT_bf16, faiss.METRIC_L2
    )
    # A view of the numpy plane: faiss neither copies nor frees it (``codes`` outlives the
    # search, being a local of this frame).
    index.codes = faiss.MaybeOwnedVectorUInt8.create_view(  # type: ignore[attr-defined]
        faiss.swig_ptr(codes),
        codes.size,
        index.codes.owner,  # type: ignore[attr-defined]
    )
    index.ntotal = len(high)
    with one_omp_thread():  # also in the calling thread, which in_parallel puts to work
        distances, rows = index.search(queries, k)
    return distances, rows.astype(np.int64, copy=False)


def joined_knn(queries: NDArray[np.float32], high: Plane, low: Plane, k: int) -> Found:
    """Like :func:`knn` over the float32 rows the two planes hold, joined a block at a
    time (a few MB) for faiss's BLAS path: for batches of queries."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    parts = max(1, faiss.omp_get_max_threads())
    if parts == 1 or len(high) < SPLIT_BATCH_MIN_ROWS:
        return _joined_part(queries, high, low, k)
    return _over_parts(
        len(high), parts, k, lambda a, b: _joined_part(queries, high[a:b], low[a:b], k)
    )


def _joined_part(queries: NDArray[np.float32], high: Plane, low: Plane, k: int) -> Found:
    starts = list(range(0, len(high), JOIN_BLOCK_ROWS)) or [0]
    with one_omp_thread():  # also in the calling thread, which in_parallel puts to work
        found = [
            _faiss_knn(
                queries, join(high[a : a + JOIN_BLOCK_ROWS], low[a : a + JOIN_BLOCK_ROWS]), k
            )
            for a in starts
        ]
    return found[0] if len(found) == 1 else _merged(starts, found, k)


def split_queries(
    search: Callable[[NDArray[np.float32]], list[_Result]], queries: NDArray[np.float32]
) -> list[_Result]:
    """``search`` over parts of a large batch in parallel (see the module docstring)."""
    parts = max(1, faiss.omp_get_max_threads())
    if parts == 1 or len(queries) < SPLIT_MIN_QUERIES:
        return search(queries)
    chunks = np.array_split(queries, min(parts, len(queries) // (SPLIT_MIN_QUERIES // 2)))
    results: list[_Result] = []
    for part in in_parallel(search, chunks):
        results.extend(part)
    return results


def _split_queries(
    queries: NDArray[np.float32], base: NDArray[np.float32], k: int, parts: int
) -> Found:
    chunks = np.array_split(queries, min(parts, len(queries) // (SPLIT_MIN_QUERIES // 2)))
    found = in_parallel(lambda chunk: _faiss_knn(chunk, base, k), chunks)
    distances = np.concatenate([d for d, _ in found])
    rows = np.concatenate([i for _, i in found]).astype(np.int64)
    return distances, rows


def squared_distances(
    base: NDArray[np.float32], query: NDArray[np.float32], rows: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Squared L2 distances from one query to the given rows of ``base``, read in place
    (faiss's SIMD kernel; gathering the rows with numpy first costs 10x more)."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if len(query) != base.shape[1]:
        raise ValueError(f"a {len(query)}-D query for {base.shape[1]}-D rows")
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(base)):
        raise IndexError("row numbers out of range")
    out = np.empty(len(rows), dtype=np.float32)
    with one_omp_thread():  # it is an OpenMP loop over queries: one query, one thread
        faiss.fvec_L2sqr_by_idx(  # type: ignore[attr-defined]
            faiss.swig_ptr(out),
            faiss.swig_ptr(query),
            faiss.swig_ptr(base),
            faiss.swig_ptr(rows),
            base.shape[1],
            1,
            len(rows),
        )
    return out
