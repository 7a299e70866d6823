"""One query's search of one shard of customer codes in a single compiled call.

The scan is faiss's own (``IndexFastScan::search``), called from compiled code through
ctypes instead of through faiss's Python wrapper, and the exact re-ranking
(gallery.rerank_kernel) follows in the same call. So a shard lets go of the GIL once,
not twice with Python in between: when a query's two shards run side by side
(gallery.parallel), the two threads no longer queue for the GIL between scan and
re-ranking, and the call raises the helper's task count itself once the GIL is free, so
the helper takes its shard up without waiting for the GIL first. At 1M templates, in
interleaved blocks of 200 queries over two rounds, a query took 0.616 and 0.643 ms at
the median against 0.683 and 0.699 through faiss's wrapper (p99 1.59 and 1.95 against
1.72 and 2.32, on a host slower than usual), with the same answers.

faiss exports its C++ methods from ``libfaiss.so``; this one is found by its mangled
name (the Itanium C++ ABI, as g++ and clang write it) and called with the index as its
first argument. Every argument is passed as a 64-bit integer, as pointers are on the
64-bit ABIs faiss's wheels are built for. :func:`check_direct_scan` compares it with
faiss's Python search on a probe index when the kernel is compiled: a faiss without the
symbol, or one that answers differently, fails there with a sentence rather than
answering wrongly later. A call must never throw a C++ exception, which ctypes could not
catch: its checks (a positive ``k``, no search parameters, a trained index) hold for every
call made here (``CustomerCodes.closest_to_one`` asks for at most the codes held, at
least one).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache
from pathlib import Path

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.rerank import Closest, CodedCustomers
from salesmigo.gallery.rerank_kernel import closest, compiled

_SEARCH_SYMBOL = "_ZNK5faiss13IndexFastScan6searchElPKflPfPlPKNS_16SearchParametersE"
_PROBE_DIMENSION = 16
_PROBE_CODES = 640  # faiss warns below 39 points a centroid (16 centroids)
_PROBE_K = 20


class DirectScanUnavailable(RuntimeError):
    """The installed faiss has no fast-scan search this module can call directly."""


def _fast_scan_search() -> ctypes._NamedFuncPointer:
    library_path = Path(faiss.__file__).parent / "libfaiss.so"
    try:
        search: ctypes._NamedFuncPointer = getattr(ctypes.CDLL(str(library_path)), _SEARCH_SYMBOL)
    except (OSError, AttributeError) as error:
        raise DirectScanUnavailable(
            f"faiss's fast-scan search ({_SEARCH_SYMBOL}) is not exported by "
            f"{library_path}; install the faiss-cpu version pinned in uv.lock"
        ) from error
    # this, n, x, k, distances, labels, params: pointers and counts alike, 64 bits each.
    search.argtypes = [ctypes.c_int64] * 7
    search.restype = None
    return search


# Passed to search_shard rather than read as a global, so that numba can cache the kernel
# (a global ctypes function would be compiled in as this process's address).
FAST_SCAN_SEARCH = _fast_scan_search()


@compiled
def search_shard(
    scan: Callable[..., None],
    announce: NDArray[np.int64],
    codes_address: int,
    query: NDArray[np.float32],
    proposed: NDArray[np.int64],
    scanned: NDArray[np.float32],
    coded: CodedCustomers,
    vectors: NDArray[np.float32],
    shortlist: int,
    k: int,
) -> Closest:
    """Raise each of the ``announce`` counters by one, scan the shard's codes (the faiss
    index at ``codes_address``, with ``scan``: :data:`FAST_SCAN_SEARCH`) for the
    ``len(proposed)`` best, and re-rank them (``rerank_kernel.closest``). ``proposed``
    and ``scanned`` are the scan's output buffers; ``query`` is contiguous, of the codes'
    dimension; ``len(proposed)`` is at least 1 and at most the codes held."""
    for at in range(len(announce)):
        announce[at] += 1
    scan(
        codes_address,
        1,
        query.ctypes.data,
        len(proposed),
        scanned.ctypes.data,
        proposed.ctypes.data,
        0,
    )
    return closest(query, proposed, coded, vectors, shortlist, k)


@cache  # once a process: codes are built (and rebuilt) many times, the faiss the same
def check_direct_scan() -> None:
    """Compile :func:`search_shard` and check that its scan proposes what faiss's Python
    search does on a probe index (raises :class:`DirectScanUnavailable` if not)."""
    rng = np.random.default_rng(0)
    points = rng.standard_normal((_PROBE_CODES, _PROBE_DIMENSION)).astype(np.float32)
    probe = faiss.IndexPQFastScan(_PROBE_DIMENSION, 8, 4, faiss.METRIC_L2, 32)
    probe.train(points)
    probe.add(points)
    query = points[7] + np.float32(0.01)
    _, expected = probe.search(query[None], _PROBE_K)
    none = np.zeros(0, dtype=np.int64)
    customers = np.arange(_PROBE_CODES, dtype=np.int64)
    coded = CodedCustomers(customers, points, customers, np.ones_like(customers), customers)
    proposed = np.empty(_PROBE_K, dtype=np.int64)
    scanned = np.empty(_PROBE_K, dtype=np.float32)
    address = int(probe.this)  # type: ignore[attr-defined]  # SWIG's, not in faiss's stubs
    search_shard(FAST_SCAN_SEARCH, none, address, query, proposed, scanned, coded, points, 1, 1)
    if not np.array_equal(proposed, expected[0]):
        raise DirectScanUnavailable(
            "faiss's fast-scan search, called directly, proposed other codes than its "
            "Python search on a probe index; install the faiss-cpu version pinned in uv.lock"
        )


__all__ = ["FAST_SCAN_SEARCH", "DirectScanUnavailable", "check_direct_scan", "search_shard"]
