"""The embedding lane: faces embedded off the frame loop's thread, collected in order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from salesmigo.cameras.embed_lane import EmbeddingLane
from salesmigo.cameras.tracker import Track
from salesmigo.vision.types import Box, DetectedFace, Frame, Vector

IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)
BOX = Box(0, 0, 4, 4)


def _face(score: float) -> DetectedFace:
    return DetectedFace(BOX, score, np.zeros((5, 2), dtype=np.float32))


def _track(name: str) -> Track:
    return Track(name, BOX, 0.0, 0.0, 0, 0)


def test_faces_are_embedded_on_another_thread_and_collected_in_order() -> None:
    threads: list[int] = []

    def embed(image: Frame, face: DetectedFace) -> Vector:
        threads.append(threading.get_ident())
        return np.array([face.score, 0.0], dtype=np.float32)

    lane = EmbeddingLane(embed)
    first, second = _track("a"), _track("b")
    lane.submit(IMAGE, _face(0.25), first, 0.5, 7)
    lane.submit(IMAGE, _face(0.75), second, 0.9, 7)
    assert lane.pending == 2

    collected = lane.collect()

    assert [(c.track.id, c.quality, c.frame_index) for c in collected] == [
        ("a", 0.5, 7),
        ("b", 0.9, 7),
    ]
    assert [float(c.vector[0]) for c in collected] == [0.25, 0.75]
    assert all(c.seconds >= 0 for c in collected)
    assert threading.get_ident() not in threads
    assert lane.pending == 0
    assert lane.collect() == []


def test_submitting_does_not_wait_for_the_embedding_and_collecting_does() -> None:
    release = threading.Event()
    finished = threading.Event()

    def embed(image: Frame, face: DetectedFace) -> Vector:
        release.wait(timeout=10)
        finished.set()
        return np.ones(2, dtype=np.float32)

    lane = EmbeddingLane(embed)
    lane.submit(IMAGE, _face(0.5), _track("a"), 0.5, 1)
    assert not finished.is_set()  # submit came back while the embedding was still blocked

    release.set()
    (collected,) = lane.collect()
    assert finished.is_set()
    assert collected.vector.tolist() == [1.0, 1.0]


def test_an_embedding_that_fails_raises_when_collected() -> None:
    def embed(image: Frame, face: DetectedFace) -> Vector:
        raise ValueError("SFace returned a zero descriptor")

    lane = EmbeddingLane(embed)
    lane.submit(IMAGE, _face(0.5), _track("a"), 0.5, 1)

    with pytest.raises(ValueError, match="zero descriptor"):
        lane.collect()
    assert lane.pending == 0  # the failed face is not collected twice
