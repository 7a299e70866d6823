"""Both index kinds, held to the same answers: brute force, and a rebuild after changes."""

from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest

from salesmigo.gallery.exact import ExactIndex
from salesmigo.gallery.fastscan import FastScanIndex
from salesmigo.gallery.synthetic import FaceSpace, SyntheticGallery
from tests.unit.gallery.conftest import (
    IndexFactory,
    assert_same_hits,
    brute_force,
    wide_fastscan_index,
)


def test_nearest_customers_equal_brute_force_with_many_templates_per_customer(
    index_factory: IndexFactory, faces: SyntheticGallery
) -> None:
    rng = np.random.default_rng(3)
    # Some customers get 20 extra photos, so one customer can fill the nearest rows alone.
    space = FaceSpace(seed=6)
    heavy = rng.choice(np.unique(faces.customer_ids), size=30, replace=False)
    extra = space.photos(np.repeat(faces.centres[heavy - 1], 20, axis=0))
    customer_ids = np.concatenate([faces.customer_ids, np.repeat(heavy, 20)])
    vectors = np.concatenate([faces.vectors, extra])
    template_ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    index = index_factory(vectors.shape[1])
    index.add(template_ids, customer_ids, vectors)

    queries = space.photos(faces.centres[heavy[:10] - 1])  # people with 21+ templates
    queries = np.concatenate([queries, space.queries(faces, 30).vectors])
    for query in queries:
        assert_same_hits(
            index.nearest_customers(query, k=3), brute_force(customer_ids, vectors, query, 3)
        )


def test_incremental_changes_equal_a_rebuild(
    index_factory: IndexFactory, faces: SyntheticGallery
) -> None:
    rng = np.random.default_rng(11)
    ids, customers, vectors = faces.template_ids, faces.customer_ids, faces.vectors.copy()
    incremental = index_factory(vectors.shape[1])
    order = rng.permutation(len(ids))  # out of id order: exercises the unsorted lookup
    for start in range(0, len(ids), 97):
        chunk = order[start : start + 97]
        incremental.add(ids[chunk], customers[chunk], vectors[chunk])
    removed = ids[::3]
    assert incremental.remove(removed) == len(removed)
    assert incremental.remove(removed) == 0  # already gone
    erased = int(customers[1])
    incremental.remove_customer(erased)
    # Re-enrol some removed ids with new photos, and replace some live templates.
    revived = removed[:50]
    replaced = ids[1::3][:50]
    new_vectors = FaceSpace(seed=8).photos(faces.centres[customers[revived - 1] - 1])
    incremental.add(revived, customers[revived - 1], new_vectors)
    replacement = FaceSpace(seed=9).photos(faces.centres[customers[replaced - 1] - 1])
    incremental.add(replaced, customers[replaced - 1], replacement)

    final = {int(t): (int(c), v) for t, c, v in zip(ids, customers, vectors, strict=True)}
    for t in removed.tolist():
        final.pop(t)
    final = {t: cv for t, cv in final.items() if cv[0] != erased}
    for t, v in zip(revived.tolist(), new_vectors, strict=True):
        final[t] = (int(customers[t - 1]), v)
    for t, v in zip(replaced.tolist(), replacement, strict=True):
        final[t] = (int(customers[t - 1]), v)  # an add always adds, erased or not
    final_ids = np.array(sorted(final), dtype=np.int64)
    final_customers = np.array([final[t][0] for t in final_ids.tolist()], dtype=np.int64)
    final_vectors = np.stack([final[t][1] for t in final_ids.tolist()])
    rebuilt = index_factory(vectors.shape[1])
    rebuilt.add(final_ids, final_customers, final_vectors)

    assert len(incremental) == len(rebuilt) == len(final)
    assert incremental.customers() == rebuilt.customers() == set(final_customers.tolist())
    exported = incremental.export()
    order = np.argsort(exported.template_ids)
    np.testing.assert_array_equal(exported.template_ids[order], final_ids)
    np.testing.assert_array_equal(exported.customer_ids[order], final_customers)
    np.testing.assert_array_equal(exported.vectors[order], final_vectors)
    queries = FaceSpace(seed=10).queries(faces, 40).vectors
    for query in queries:
        got, expected = incremental.nearest_customers(query), rebuilt.nearest_customers(query)
        assert [h.customer_id for h in got] == [h.customer_id for h in expected]
        assert [h.distance for h in got] == pytest.approx([h.distance for h in expected], abs=1e-5)
        assert_same_hits(got, brute_force(final_customers, final_vectors, query, 2))


def test_batch_search_equals_single_searches(
    index_factory: IndexFactory, faces: SyntheticGallery
) -> None:
    index = index_factory(faces.vectors.shape[1])
    index.add(faces.template_ids, faces.customer_ids, faces.vectors)
    queries = FaceSpace(seed=12).queries(faces, 60).vectors
    batch = index.nearest_customers_batch(queries)
    assert len(batch) == len(queries)
    for hits, query in zip(batch, queries, strict=True):
        single = index.nearest_customers(query)
        assert [h.customer_id for h in hits] == [h.customer_id for h in single]
        assert [h.distance for h in hits] == pytest.approx([h.distance for h in single], abs=1e-4)


def test_fastscan_recall_on_realistic_descriptors() -> None:
    """Default search settings, 20,000 templates: the top customer agrees with exact."""
    space = FaceSpace(seed=21)
    faces = space.gallery(20_000)
    queries = space.queries(faces, 300).vectors
    exact, approximate = ExactIndex(faces.vectors.shape[1]), FastScanIndex(faces.vectors.shape[1])
    for index in (exact, approximate):
        index.add(faces.template_ids, faces.customer_ids, faces.vectors)
    assert approximate.coded == len(approximate.customers())  # codes, not the exact fallback
    truth = exact.nearest_customers_batch(queries)
    found = approximate.nearest_customers_batch(queries)
    agree = [f[0].customer_id == t[0].customer_id for f, t in zip(found, truth, strict=True)]
    assert np.mean(agree) >= 0.98
    for f, query in zip(found, queries, strict=True):  # distances are exact, whatever was found
        for hit in f:
            rows = faces.customer_ids == hit.customer_id
            nearest = np.linalg.norm(faces.vectors[rows] - query, axis=1).min()
            assert hit.distance == pytest.approx(nearest, abs=1e-4)


def test_fastscan_codes_are_rebuilt_after_many_removals(faces: SyntheticGallery) -> None:
    index = FastScanIndex(faces.vectors.shape[1], candidates=4096, shortlist=4096, train_min=256)
    index.add(faces.template_ids, faces.customer_ids, faces.vectors)
    assert index.coded == len(index.customers())
    index.remove(faces.template_ids[: len(faces) // 2])
    assert index.coded == len(index.customers())  # rebuilt without the dead codes
    assert len(index) == len(faces) - len(faces) // 2
    query = faces.vectors[-1]
    keep = slice(len(faces) // 2, None)
    assert_same_hits(
        index.nearest_customers(query),
        brute_force(faces.customer_ids[keep], faces.vectors[keep], query, 2),
    )


def test_fastscan_searches_exactly_until_it_has_enough_templates_to_train(
    faces: SyntheticGallery,
) -> None:
    index = FastScanIndex(faces.vectors.shape[1], train_min=1000)
    index.add(faces.template_ids[:999], faces.customer_ids[:999], faces.vectors[:999])
    assert index.coded == 0
    index.add(faces.template_ids[999:1000], faces.customer_ids[999:1000], faces.vectors[999:1000])
    assert index.coded == len(index.customers())
    index.add(faces.template_ids[1000:], faces.customer_ids[1000:], faces.vectors[1000:])
    # Customers already coded were coded again (their old codes dead), the rest appended;
    # no retraining, since 3,000 < 4 x 1,000.
    with index.frozen() as state:
        assert state["trained_on"].tolist() == [1000]
    assert index.coded > len(index.customers())


def test_fastscan_retrains_when_the_gallery_has_grown_fourfold(faces: SyntheticGallery) -> None:
    index = FastScanIndex(faces.vectors.shape[1], train_min=500)
    index.add(faces.template_ids[:500], faces.customer_ids[:500], faces.vectors[:500])
    first = index.frozen().__enter__()["trained_on"].tolist()
    index.add(faces.template_ids[500:], faces.customer_ids[500:], faces.vectors[500:])
    with index.frozen() as state:
        assert first == [500]
        assert state["trained_on"].tolist() == [len(faces)]


def test_searches_run_while_templates_change(
    index_factory: IndexFactory, faces: SyntheticGallery
) -> None:
    index = index_factory(faces.vectors.shape[1])
    index.add(faces.template_ids[:1000], faces.customer_ids[:1000], faces.vectors[:1000])
    failures: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        try:
            while not stop.is_set():
                hits = index.nearest_customers(faces.vectors[5])
                assert hits
                assert hits[0].distance >= 0
        except BaseException as error:  # surfaced below
            failures.append(error)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for thread in threads:
        thread.start()
    for start in range(1000, 3000, 100):
        index.add(
            faces.template_ids[start : start + 100],
            faces.customer_ids[start : start + 100],
            faces.vectors[start : start + 100],
        )
        index.remove(faces.template_ids[start : start + 20])
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(index) == 3000 - 20 * 20


def test_empty_and_tiny_indexes(index_factory: IndexFactory) -> None:
    index = index_factory(4)
    query = np.zeros(4, dtype=np.float32)
    assert index.nearest_customers(query) == []
    assert index.nearest_customers_batch(np.zeros((3, 4), dtype=np.float32)) == [[], [], []]
    index.add([1], [7], np.ones((1, 4), dtype=np.float32))
    (hit,) = index.nearest_customers(query)
    assert hit.customer_id == 7
    assert hit.distance == pytest.approx(2.0)
    assert 1 in index
    assert 2 not in index
    with pytest.raises(ValueError, match="differ in length"):
        index.add([1, 2], [1], np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        index.add([3], [1], np.full((1, 4), np.nan, dtype=np.float32))


def test_fastscan_codes_from_a_snapshot_must_cover_every_customer(faces: SyntheticGallery) -> None:
    index = FastScanIndex(faces.vectors.shape[1], train_min=256)
    index.add(faces.template_ids, faces.customer_ids, faces.vectors)
    with index.frozen() as state:
        shards = [
            (
                faiss.deserialize_index(np.asarray(state[f"codes_{n}"], dtype=np.uint8)),
                np.array(state[f"code_customer_{n}"], dtype=np.int64),
            )
            for n in range(2)
        ]
        trained_on = int(state["trained_on"][0])
    table = index.table
    restored = FastScanIndex(table.dimension, table, shards=shards, trained_on=trained_on)
    query = faces.vectors[7]
    assert_same_hits(
        restored.nearest_customers(query), brute_force(faces.customer_ids, faces.vectors, query, 2)
    )
    live = np.flatnonzero(shards[0][1] >= 0)
    shards[0][1][live[0]] = -1  # one customer's code lost: that customer could not be found
    with pytest.raises(ValueError, match="codes are missing"):
        FastScanIndex(table.dimension, table, shards=shards, trained_on=trained_on)


def test_fastscan_shards_searched_side_by_side_give_the_same_answers(
    faces: SyntheticGallery,
) -> None:
    index = wide_fastscan_index(faces.vectors.shape[1])
    index.add(faces.template_ids, faces.customer_ids, faces.vectors)
    queries = FaceSpace(seed=13).queries(faces, 20).vectors
    previous = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)  # one thread allowed: shards one after the other
        one_by_one = [index.nearest_customers(query) for query in queries]
        faiss.omp_set_num_threads(2)  # two, as on the 2-core machines
        for query, expected in zip(queries, one_by_one, strict=True):
            side_by_side = index.nearest_customers(query)
            assert side_by_side == expected
            assert_same_hits(side_by_side, brute_force(faces.customer_ids, faces.vectors, query, 2))
    finally:
        faiss.omp_set_num_threads(previous)


def test_an_index_says_whether_one_query_is_split_over_threads(faces: SyntheticGallery) -> None:
    dimension = faces.vectors.shape[1]
    coded_from_codes = FastScanIndex(dimension, train_min=256, parallel_min_codes=500)
    coded_one_by_one = FastScanIndex(dimension, train_min=256, parallel_min_codes=10**6)
    not_yet_coded = FastScanIndex(dimension)  # 3,000 templates: below its training size
    exact = ExactIndex(dimension)  # split from 50,000 templates
    for index in (coded_from_codes, coded_one_by_one, not_yet_coded, exact):
        index.add(faces.template_ids, faces.customer_ids, faces.vectors)

    assert coded_from_codes.coded >= 500
    assert coded_from_codes.splits_searches
    assert not coded_one_by_one.splits_searches
    assert not not_yet_coded.splits_searches
    assert not exact.splits_searches
