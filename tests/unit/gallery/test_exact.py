import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.gallery.exact import ExactIndex


def _random_gallery(
    rng: np.random.Generator, templates: int, customers: int
) -> tuple[list[int], list[int], NDArray[np.float32]]:
    vectors = rng.normal(size=(templates, 16)).astype(np.float32)
    template_ids = list(range(100, 100 + templates))
    customer_ids = [int(c) for c in rng.integers(1, customers + 1, size=templates)]
    return template_ids, customer_ids, vectors


def _brute_force(
    customer_ids: list[int], vectors: NDArray[np.float32], query: NDArray[np.float32], k: int
) -> list[tuple[int, float]]:
    best: dict[int, float] = {}
    for customer, vector in zip(customer_ids, vectors, strict=True):
        distance = float(np.linalg.norm(vector - query))
        best[customer] = min(distance, best.get(customer, np.inf))
    return sorted(best.items(), key=lambda item: item[1])[:k]


def test_nearest_customers_equals_brute_force() -> None:
    rng = np.random.default_rng(7)
    template_ids, customer_ids, vectors = _random_gallery(rng, templates=3000, customers=200)
    index = ExactIndex(16)
    index.add(template_ids, customer_ids, vectors)
    for query in rng.normal(size=(25, 16)).astype(np.float32):
        hits = index.nearest_customers(query, k=3)
        expected = _brute_force(customer_ids, vectors, query, k=3)
        assert [h.customer_id for h in hits] == [c for c, _ in expected]
        assert [h.distance for h in hits] == pytest.approx([d for _, d in expected], abs=1e-4)


def test_one_customer_with_many_templates_does_not_hide_the_runner_up() -> None:
    index = ExactIndex(2)
    many = np.array([[0.0, 0.01 * i] for i in range(50)], dtype=np.float32)
    index.add(list(range(50)), [1] * 50, many)
    index.add([99], [2], np.array([[3.0, 0.0]], dtype=np.float32))
    hits = index.nearest_customers(np.zeros(2, dtype=np.float32), k=2)
    assert [h.customer_id for h in hits] == [1, 2]
    assert hits[1].distance == pytest.approx(3.0)


def test_incremental_add_and_remove_equals_a_rebuild() -> None:
    rng = np.random.default_rng(11)
    template_ids, customer_ids, vectors = _random_gallery(rng, templates=2500, customers=300)
    incremental = ExactIndex(16)
    for start in range(0, 2500, 97):  # uneven batches force several capacity doublings
        stop = start + 97
        incremental.add(template_ids[start:stop], customer_ids[start:stop], vectors[start:stop])
    removed = set(template_ids[::3])
    assert incremental.remove(sorted(removed)) == len(removed)
    incremental.remove_customer(customer_ids[1])

    keep = [
        i
        for i, t in enumerate(template_ids)
        if t not in removed and customer_ids[i] != customer_ids[1]
    ]
    rebuilt = ExactIndex(16)
    rebuilt.add([template_ids[i] for i in keep], [customer_ids[i] for i in keep], vectors[keep])

    assert len(incremental) == len(rebuilt) == len(keep)
    assert incremental.customers() == rebuilt.customers()
    assert customer_ids[1] not in incremental.customers()
    for query in rng.normal(size=(20, 16)).astype(np.float32):
        got, expected = incremental.nearest_customers(query, 2), rebuilt.nearest_customers(query, 2)
        assert [h.customer_id for h in got] == [h.customer_id for h in expected]
        assert [h.distance for h in got] == pytest.approx([h.distance for h in expected], abs=1e-5)


def test_adding_an_existing_template_id_replaces_it() -> None:
    index = ExactIndex(2)
    index.add([1], [10], np.array([[0.0, 0.0]], dtype=np.float32))
    index.add([1], [10], np.array([[5.0, 0.0]], dtype=np.float32))
    assert len(index) == 1
    (hit,) = index.nearest_customers(np.zeros(2, dtype=np.float32), k=2)
    assert hit.distance == pytest.approx(5.0)


def test_empty_index_finds_nobody_and_bad_input_is_refused() -> None:
    index = ExactIndex(4)
    assert index.nearest_customers(np.zeros(4, dtype=np.float32)) == []
    with pytest.raises(ValueError, match="differ in length"):
        index.add([1, 2], [1], np.zeros((2, 4), dtype=np.float32))


def test_near_ties_the_high_plane_cannot_tell_apart_are_ranked_exactly() -> None:
    # 400 customers on a sphere of radius 1 around the query, their radii apart by ~1e-5:
    # far below the high plane's resolution (~0.004 here), so the scan's order among them
    # is noise, and only widening the pool until it provably holds the answer finds it.
    rng = np.random.default_rng(11)
    directions = rng.normal(size=(400, 64))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = 1.0 + rng.permutation(400) * 1e-5
    query = rng.normal(size=64).astype(np.float32)
    vectors = (query + directions * radii[:, None]).astype(np.float32)
    customer_ids = list(range(1, 401))
    index = ExactIndex(64)
    index.add(list(range(400)), customer_ids, vectors)

    hits = index.nearest_customers(query, k=3)

    expected = _brute_force(customer_ids, vectors, query, k=3)
    assert [h.customer_id for h in hits] == [c for c, _ in expected]
    exact = np.linalg.norm(vectors - query, axis=1)
    assert [h.distance for h in hits] == pytest.approx(np.sort(exact)[:3], abs=1e-6)
