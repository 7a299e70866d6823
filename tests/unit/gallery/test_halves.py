"""Float32 rows as two 16-bit planes: lossless, and the high plane within its bound."""

from __future__ import annotations

import numpy as np

from salesmigo.gallery import halves


def test_the_planes_join_to_the_same_float32_bits() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(scale=0.1, size=(20_000, 128)).astype(np.float32)  # > one block
    vectors[0, :5] = [0.0, -0.0, 1e-40, -3.4e38, 1e18]  # zero, subnormal, extremes

    high, low = halves.split(vectors)

    assert high.dtype == low.dtype == np.uint16
    np.testing.assert_array_equal(halves.join(high, low).view(np.uint32), vectors.view(np.uint32))


def test_the_high_plane_is_the_value_truncated_to_bfloat16() -> None:
    vectors = np.array([[1.0, 1.0 + 2**-7, 1.0 + 2**-8, -(1.0 + 2**-8)]], dtype=np.float32)

    high, _ = halves.split(vectors)

    # Seven mantissa bits survive; the eighth is cut toward zero, whatever the sign.
    np.testing.assert_array_equal(halves.truncated(high), [[1.0, 1.0 + 2**-7, 1.0, -1.0]])


def test_the_truncation_error_bounds_every_row_and_is_tight() -> None:
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(2000, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    high, low = halves.split(vectors)

    error = halves.truncation_error(high, low)
    gaps = np.linalg.norm(vectors.astype(np.float64) - halves.truncated(high), axis=1)

    assert gaps.max() <= error <= gaps.max() * 1.001  # a bound, and a tight one
    assert error < 2**-7  # a unit vector moves by less than its relative precision
    assert halves.truncation_error(high[:0], low[:0]) == 0.0
    keep = np.zeros(len(vectors), dtype=bool)
    keep[:10] = True
    assert gaps[:10].max() <= halves.truncation_error(high, low, keep) <= gaps[:10].max() * 1.001
