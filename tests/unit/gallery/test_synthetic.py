"""The synthetic descriptors look like SFace's where the benchmark relies on it."""

from __future__ import annotations

import numpy as np

from salesmigo.gallery.synthetic import FaceSpace


def test_distances_resemble_sface_and_queries_are_labelled() -> None:
    space = FaceSpace(seed=1)
    faces = space.gallery(4000)
    assert len(faces) == 4000
    np.testing.assert_allclose(np.linalg.norm(faces.vectors, axis=1), 1.0, atol=1e-5)
    counts = np.bincount(faces.customer_ids)[1:]
    assert counts[:-1].min() >= 1
    assert counts.max() <= 5
    assert 2.5 < counts.mean() < 3.5

    sample = faces.vectors[:2000].astype(np.float64)
    customers = faces.customer_ids[:2000]
    distances = np.sqrt(np.maximum(2 - 2 * sample @ sample.T, 0))
    same = customers[:, None] == customers[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    genuine, impostor = distances[same & upper], distances[~same & upper]
    assert 0.6 < np.median(genuine) < 0.85
    assert np.percentile(genuine, 95) < 1.0
    assert 1.25 < np.median(impostor) < 1.45
    assert np.percentile(impostor, 1) > 1.0

    queries = space.queries(faces, 500, stranger_fraction=0.2)
    strangers = queries.true_customer_ids == 0
    assert 0.1 < strangers.mean() < 0.3
    assert set(queries.true_customer_ids[~strangers].tolist()) <= set(faces.customer_ids.tolist())


def test_same_seed_same_descriptors() -> None:
    first, second = FaceSpace(seed=4).gallery(100), FaceSpace(seed=4).gallery(100)
    np.testing.assert_array_equal(first.vectors, second.vectors)
    prefix = first.prefix(50)
    assert len(prefix) == 50
    assert len(prefix.centres) == prefix.customer_ids[-1]
