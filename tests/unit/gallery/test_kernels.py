"""The scan kernel gives the same answer however it splits the work."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np
import pytest

from salesmigo.gallery import halves, kernels


@pytest.fixture
def two_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(kernels, "SPLIT_MIN_ROWS", 100)
    monkeypatch.setattr(kernels, "SPLIT_MIN_QUERIES", 8)
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    yield
    faiss.omp_set_num_threads(previous)


@pytest.mark.usefixtures("two_threads")
def test_split_scans_equal_one_scan() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1001, 16)).astype(np.float32)
    queries = rng.normal(size=(40, 16)).astype(np.float32)
    expected_distances, expected_rows = kernels._one_thread(queries, base, 5)
    for query, distances, rows in zip(queries, expected_distances, expected_rows, strict=True):
        got_distances, got_rows = kernels.knn(query[None], base, 5)  # split over the rows
        np.testing.assert_array_equal(got_rows[0], rows)
        np.testing.assert_allclose(got_distances[0], distances, rtol=1e-5)
    got_distances, got_rows = kernels.knn(queries, base, 5)  # split over the queries
    np.testing.assert_array_equal(got_rows, expected_rows)
    np.testing.assert_allclose(got_distances, expected_distances, rtol=1e-5)


@pytest.mark.usefixtures("two_threads")
def test_more_neighbours_than_rows_come_back_as_minus_one() -> None:
    base = np.eye(4, 8, dtype=np.float32)
    _, rows = kernels._split_base(np.zeros((1, 8), dtype=np.float32), base, 6, parts=2)
    assert sorted(rows[0].tolist()) == [-1, -1, 0, 1, 2, 3]


@pytest.mark.usefixtures("two_threads")
def test_the_plane_kernels_equal_a_scan_of_what_the_planes_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1001, 16)).astype(np.float32)
    queries = rng.normal(size=(40, 16)).astype(np.float32)
    high, low = halves.split(base)

    # The high plane alone: the truncated rows, scanned in two parts.
    expected_distances, expected_rows = kernels._one_thread(queries, halves.truncated(high), 5)
    got_distances, got_rows = kernels.high_plane_knn(queries[:1], high, 5)
    np.testing.assert_array_equal(got_rows[0], expected_rows[0])
    np.testing.assert_allclose(got_distances[0], expected_distances[0], rtol=1e-5)

    # Both planes joined a block at a time: the float32 rows themselves.
    expected_distances, expected_rows = kernels._one_thread(queries, base, 5)
    for block in (1001, 100):
        monkeypatch.setattr(kernels, "JOIN_BLOCK_ROWS", block)
        got_distances, got_rows = kernels.joined_knn(queries, high, low, 5)
        np.testing.assert_array_equal(got_rows, expected_rows)
        np.testing.assert_allclose(got_distances, expected_distances, rtol=1e-5)
