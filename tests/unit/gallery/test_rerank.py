"""The compiled re-ranking equals the same steps done by hand in numpy."""

from __future__ import annotations

import numpy as np
import pytest
from numba.core import caching

from salesmigo.gallery.rerank import CodedCustomers
from salesmigo.gallery.rerank_kernel import closest as closest_customers
from salesmigo.gallery.rerank_kernel import compiled


def test_closest_customers_ranks_the_shortlist_by_each_customers_closest_template() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    # Eight codes: customer 10 + code, rows[3 * code:] (code % 3 + 1 of them each).
    row_count = np.array([c % 3 + 1 for c in range(8)], dtype=np.int64)
    first_row = np.arange(8, dtype=np.int64) * 3
    rows = rng.permutation(60)[:24].astype(np.int64)
    customer = np.arange(10, 18, dtype=np.int64)
    customer[5] = -1  # a dead code
    centroids = np.stack(
        [vectors[rows[f : f + n]].mean(axis=0) for f, n in zip(first_row, row_count, strict=True)]
    )
    query = rng.normal(size=8).astype(np.float32)
    proposed = np.array([0, 1, 2, 3, 4, 5, 6, 7, -1, -1], dtype=np.int64)

    coded = CodedCustomers(customer, centroids, first_row, row_count, rows)
    squared, customers = closest_customers(query, proposed, coded, vectors, 4, 3)

    live = [c for c in range(8) if customer[c] >= 0]
    by_centroid = sorted(live, key=lambda c: float(((centroids[c] - query) ** 2).sum()))[:4]
    closest = {
        int(customer[c]): float(
            ((vectors[rows[first_row[c] :][: row_count[c]]] - query) ** 2).sum(axis=1).min()
        )
        for c in by_centroid
    }
    expected = sorted(closest, key=closest.__getitem__)[:3]
    assert customers.tolist() == expected
    assert squared.tolist() == pytest.approx([closest[c] for c in expected], rel=1e-5)


def test_no_live_proposals_give_no_customers() -> None:
    vectors = np.zeros((2, 4), dtype=np.float32)
    one = np.zeros(1, dtype=np.int64)
    coded = CodedCustomers(
        np.array([-1], dtype=np.int64), np.zeros((1, 4), dtype=np.float32), one, one + 1, one
    )
    squared, customers = closest_customers(
        np.zeros(4, dtype=np.float32), np.array([-1, 0], dtype=np.int64), coded, vectors, 2, 1
    )
    assert len(squared) == len(customers) == 0


def test_a_read_only_install_compiles_without_a_disk_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No writable place for numba's cache: beside the module nor in the user's folders.
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def twice(value: int) -> int:
        return value * 2

    assert compiled(twice)(21) == 42
