"""faiss's fast-scan search called directly, with the re-ranking, in one compiled call."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.gallery import shard_kernel
from salesmigo.gallery.customer_codes import CustomerCodes, CustomerGroups
from salesmigo.gallery.parallel import NO_ANNOUNCEMENT
from salesmigo.gallery.shard_kernel import DirectScanUnavailable, check_direct_scan
from salesmigo.gallery.synthetic import FaceSpace


def test_the_direct_scan_proposes_what_faiss_does() -> None:
    check_direct_scan()  # raises if not


def test_a_faiss_without_the_symbol_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shard_kernel, "_SEARCH_SYMBOL", "no_such_symbol")

    with pytest.raises(DirectScanUnavailable, match="no_such_symbol"):
        shard_kernel._fast_scan_search()


def _codes_of(people: int) -> tuple[CustomerCodes, NDArray[np.float32], FaceSpace]:
    space = FaceSpace(seed=5)
    faces = space.gallery(people * 3)
    order = np.argsort(faces.customer_ids, kind="stable")
    customers, starts = np.unique(faces.customer_ids[order], return_index=True)
    bounds = np.append(starts, len(order)).astype(np.int64)
    centroids = np.stack(
        [faces.vectors[order[a:b]].mean(axis=0) for a, b in pairwise(bounds)]
    ).astype(np.float32)
    codes = CustomerCodes.trained(faces.vectors.shape[1], centroids)
    codes.add(CustomerGroups(customers, bounds, order.astype(np.int64), centroids))
    return codes, faces.vectors, space


def test_one_query_finds_what_a_batch_of_one_does_and_announces_first() -> None:
    codes, vectors, space = _codes_of(600)
    counter = np.zeros(1, dtype=np.int64)
    for query in space.photos(vectors[:10]):
        for shard in range(codes.shards):
            one = codes.closest_to_one(shard, vectors, query, 64, 16, 3, counter)
            (batch,) = codes.closest(shard, vectors, query[None], 64, 16, 3)
            np.testing.assert_array_equal(one[1], batch[1])
            np.testing.assert_allclose(one[0], batch[0], rtol=1e-6)
    assert counter[0] == 10 * codes.shards


def test_a_query_of_the_wrong_shape_is_refused_before_faiss_reads_it() -> None:
    codes, vectors, _ = _codes_of(300)

    with pytest.raises(ValueError, match="128 float32 values"):
        codes.closest_to_one(0, vectors, np.zeros(64, np.float32), 64, 16, 1, NO_ANNOUNCEMENT)
    wide = np.zeros(128, dtype=np.float64)
    with pytest.raises(ValueError, match="128 float32 values"):
        codes.closest_to_one(0, vectors, wide, 64, 16, 1, NO_ANNOUNCEMENT)  # type: ignore[arg-type]
