"""The exact re-ranking behind the fast-scan index, compiled: one call per query and shard.

After a shard's codes have proposed customers (gallery.customer_codes), each proposal is
measured by its centroid, the ``shortlist`` closest are measured over all their
templates, and the ``k`` closest customers by their closest template come back. Written
with numpy calls, that was some fifty calls a query and shard, each holding the GIL: on
two cores the two shards' threads queued for it, and at 1M templates the re-ranking took
0.38 ms of a 1.0 ms query. Compiled by numba with the GIL released, the same work is one
call, and the two shards' threads run it side by side (same answers; at 1M, interleaved,
0.85-0.90 ms a query against 1.01-1.03 ms).

Distances are float32 sums of squared differences, as faiss computes them, in an order
the compiler may vectorise: they agree with faiss's to float32 rounding.

This module holds what callers need without importing numba (the arrays a call takes,
and :func:`compile_now`); the compiled loops are in ``gallery.rerank_kernel``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

# The closest customers of one query and their squared distances, closest first.
Closest = tuple[NDArray[np.float32], NDArray[np.int64]]
# The customer of a dead code.
NO_CUSTOMER = -1


class CodedCustomers(NamedTuple):
    """Per code: its customer (``NO_CUSTOMER`` once dead), the centroid of the customer's
    templates, and where their rows start in ``rows`` and how many there are."""

    customer: NDArray[np.int64]
    centroids: NDArray[np.float32]
    first_row: NDArray[np.int64]
    row_count: NDArray[np.int64]
    rows: NDArray[np.int64]


def compile_now() -> None:
    """Import numba and compile the kernels (or load them from numba's cache) before the
    first query needs them: seconds the first time, paid where codes are built or loaded."""
    from salesmigo.gallery.rerank_kernel import closest  # imports numba: see that module
    from salesmigo.gallery.shard_kernel import check_direct_scan

    none = np.full(1, NO_CUSTOMER, dtype=np.int64)
    nothing = np.zeros((1, 1), dtype=np.float32)
    coded = CodedCustomers(none, nothing, none, none, none)
    closest(np.zeros(1, dtype=np.float32), none, coded, nothing, 1, 1)
    check_direct_scan()


__all__ = ["NO_CUSTOMER", "Closest", "CodedCustomers", "compile_now"]
