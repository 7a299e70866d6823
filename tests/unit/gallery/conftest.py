from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.config import GallerySettings, ModelMatching, SFaceMatching
from salesmigo.gallery.exact import ExactIndex
from salesmigo.gallery.fastscan import FastScanIndex
from salesmigo.gallery.index import CustomerHit, SearchIndex
from salesmigo.gallery.synthetic import FaceSpace, SyntheticGallery

IndexFactory = Callable[[int], SearchIndex]


def matching_for(model: str) -> ModelMatching:
    return SFaceMatching()


def exact_index(dimension: int) -> SearchIndex:
    return ExactIndex(dimension)


def wide_fastscan_index(dimension: int) -> SearchIndex:
    """Fast-scan codes from 256 templates on, proposing every customer of the small test
    galleries as a candidate: exact in practice, with every code path exercised (a single
    query's shards side by side too)."""
    return FastScanIndex(
        dimension, candidates=4096, shortlist=4096, train_min=256, parallel_min_codes=0
    )


@pytest.fixture(params=[exact_index, wide_fastscan_index], ids=["exact", "fastscan"])
def index_factory(request: pytest.FixtureRequest) -> IndexFactory:
    factory: IndexFactory = request.param
    return factory


@pytest.fixture(params=["exact", "fastscan"])
def settings(request: pytest.FixtureRequest) -> GallerySettings:
    return GallerySettings(index=request.param)


@pytest.fixture(scope="session")
def faces() -> SyntheticGallery:
    """3,000 realistic templates (about 1,000 people, 1-5 photos each)."""
    return FaceSpace(seed=5).gallery(3000)


def brute_force(
    customer_ids: NDArray[np.int64],
    vectors: NDArray[np.float32],
    query: NDArray[np.float32],
    k: int,
) -> list[tuple[int, float]]:
    """Closest template per customer by a plain loop in float64: the reference."""
    distances = np.linalg.norm(vectors.astype(np.float64) - query.astype(np.float64), axis=1)
    best: dict[int, float] = {}
    for customer, distance in zip(customer_ids.tolist(), distances.tolist(), strict=True):
        best[customer] = min(distance, best.get(customer, np.inf))
    return sorted(best.items(), key=lambda item: item[1])[:k]


def assert_same_hits(got: list[CustomerHit], expected: list[tuple[int, float]]) -> None:
    assert [h.customer_id for h in got] == [c for c, _ in expected]
    assert [h.distance for h in got] == pytest.approx([d for _, d in expected], abs=1e-4)
