"""Float32 templates kept as two 16-bit planes, so that an exact scan reads half the bytes.

One query against a million 128-D float32 templates reads 512 MB, and on the project's
2-core Xeon memory delivers that in no less than ~25 ms however the distances are
computed. So the template table keeps each float32 as its two halves, in two arrays:

* the **high plane**: the top 16 bits of each float32, which *are* a bfloat16 (sign,
  the full 8-bit exponent, 7 bits of mantissa): the value truncated toward zero, within
  2^-7 of it relatively;
* the **low plane**: the other 16 bits.

Together they are the float32 bit for bit (:func:`join`), so nothing is lost and the table
costs what float32 rows cost. A search scans the high plane only (faiss's bfloat16
scalar-quantiser kernel, over the numpy array in place: 256 MB at 1M), then measures the
closest candidates exactly on the joined rows. Truncation moves a template by at most
``error`` (the largest ||x - high(x)|| over the table's rows, kept by the table), so by
the triangle inequality the true distance of any row lies within ``error`` of its
high-plane distance: a candidate pool whose farthest high-plane distance exceeds the k-th
exact distance by more than ``error`` provably holds the exact answer, and the search
widens the pool until it does (gallery.exact).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Plane = NDArray[np.uint16]
_HALF_BITS = 16
_LOW_MASK = np.uint32(0xFFFF)
_BLOCK_ROWS = 16_384
# Relative margin for float32 rounding in a sum of squared gaps (truncation_error).
_SUM_SLACK = 1.0 + 1e-4


def split(vectors: NDArray[np.float32]) -> tuple[Plane, Plane]:
    """The high and low 16-bit planes of float32 rows (a block of rows at a time, so the
    temporaries stay small however many rows there are)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    high = np.empty(matrix.shape, dtype=np.uint16)
    low = np.empty(matrix.shape, dtype=np.uint16)
    for start in range(0, len(matrix), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        bits = np.ascontiguousarray(matrix[block]).view(np.uint32)
        np.right_shift(bits, _HALF_BITS, out=high[block], casting="unsafe")
        np.bitwise_and(bits, _LOW_MASK, out=low[block], casting="unsafe")
    return high, low


def join(high: Plane, low: Plane) -> NDArray[np.float32]:
    """The float32 rows the two planes hold, bit for bit (a new array)."""
    bits = np.left_shift(high, _HALF_BITS, dtype=np.uint32)
    bits |= low
    joined: NDArray[np.float32] = bits.view(np.float32)
    return joined


def truncated(high: Plane) -> NDArray[np.float32]:
    """The rows as the high plane alone holds them (what the scan measures)."""
    values: NDArray[np.float32] = np.left_shift(high, _HALF_BITS, dtype=np.uint32).view(np.float32)
    return values


def truncation_error(high: Plane, low: Plane, keep: NDArray[np.bool_] | None = None) -> float:
    """An upper bound on the distance between a row (of those ``keep`` selects: all by
    default) and its high-plane truncation; 0 for no rows.

    Computed a block at a time in float32, so that a million rows need a few MB of
    temporaries. Each gap component is exact (a float32 minus its own truncation); the sum
    of 128-odd squares is off by at most ~1e-5 relatively, which ``_SUM_SLACK`` covers.
    """
    largest = 0.0
    for start in range(0, len(high), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        gap = join(high[block], low[block])
        gap -= truncated(high[block])
        squared = np.einsum("ij,ij->i", gap, gap)
        if keep is not None:
            squared = squared[keep[block]]
        if len(squared):
            largest = max(largest, float(squared.max()))
    return float(np.sqrt(largest)) * _SUM_SLACK
