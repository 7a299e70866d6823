from __future__ import annotations

import numpy as np
import pytest

from salesmigo.cameras.tracker import (
    Tracker,
    TrackerSettings,
    cosine_distance,
    greedy_match,
    iou,
)
from salesmigo.vision.types import Box, DetectedFace, Vector


def face(x: int, y: int, size: int = 60) -> DetectedFace:
    return DetectedFace(Box(x, y, size, size), 0.9, np.zeros((5, 2), dtype=np.float32))


def unit(*values: float) -> Vector:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Box(0, 0, 10, 10), Box(0, 0, 10, 10), 1.0),
        (Box(0, 0, 10, 10), Box(5, 0, 10, 10), 50 / 150),
        (Box(0, 0, 10, 10), Box(10, 0, 10, 10), 0.0),
        (Box(0, 0, 10, 10), Box(50, 50, 10, 10), 0.0),
    ],
)
def test_iou(a: Box, b: Box, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)


def test_greedy_match_takes_the_cheapest_pairs_first() -> None:
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    assert sorted(greedy_match(cost, 0.5)) == [(0, 0)]
    assert sorted(greedy_match(cost, 1.0)) == [(0, 0), (1, 1)]
    assert greedy_match(np.zeros((0, 3)), 1.0) == []


def test_cosine_distance() -> None:
    assert cosine_distance(unit(1, 0), unit(1, 0)) == pytest.approx(0.0)
    assert cosine_distance(unit(1, 0), unit(0, 1)) == pytest.approx(1.0)
    assert cosine_distance(np.zeros(2, np.float32), unit(1, 0)) == 1.0


def test_a_moving_face_keeps_its_track() -> None:
    tracker = Tracker()
    first = tracker.update([face(100, 100)], 0, 0.0)
    assert len(first.new) == 1
    track = first.assigned[0]
    for step in range(1, 10):
        update = tracker.update([face(100 + 5 * step, 100)], step, step / 30)
        assert update.assigned == [track]
        assert not update.new
    assert track.hits == 10
    assert track.age == 10
    assert track.last_seen == pytest.approx(9 / 30)


def test_two_people_get_two_tracks_that_do_not_swap() -> None:
    tracker = Tracker()
    left, right = tracker.update([face(0, 0), face(300, 0)], 0, 0.0).assigned
    assert left.id != right.id
    update = tracker.update([face(305, 0), face(5, 0)], 1, 0.1)  # order changed
    assert update.assigned == [right, left]


def test_a_track_ends_after_max_misses() -> None:
    tracker = Tracker(TrackerSettings(max_misses=2))
    track = tracker.update([face(0, 0)], 0, 0.0).assigned[0]
    assert tracker.update([], 1, 0.1).ended == []
    assert tracker.update([], 2, 0.2).ended == []
    assert tracker.update([], 3, 0.3).ended == [track]
    assert tracker.tracks == []


def test_a_face_that_jumped_is_reattached_by_descriptor() -> None:
    tracker = Tracker()
    track = tracker.update([face(0, 0)], 0, 0.0).assigned[0]
    track.add_face(unit(1, 0, 0), 0.9, 0, keep=3)
    asked: list[int] = []

    def describe(i: int) -> Vector | None:
        asked.append(i)
        return [unit(0, 1, 0), unit(1, 0.1, 0)][i]

    update = tracker.update([face(400, 0), face(200, 200)], 1, 0.1, describe)
    assert update.assigned[1] is track
    assert update.assigned[0] is not track
    assert len(update.new) == 1
    assert sorted(asked) == [0, 1]


def test_descriptors_are_not_computed_when_boxes_explain_everything() -> None:
    tracker = Tracker()
    track = tracker.update([face(0, 0)], 0, 0.0).assigned[0]
    track.add_face(unit(1, 0), 0.9, 0, keep=3)

    def describe(i: int) -> Vector | None:
        raise AssertionError("no descriptor should be needed")

    tracker.update([face(2, 2)], 1, 0.1, describe)


def test_a_track_keeps_only_its_best_faces() -> None:
    tracker = Tracker()
    track = tracker.update([face(0, 0)], 0, 0.0).assigned[0]
    for frame, quality in enumerate([0.2, 0.5, 0.1, 0.9, 0.3]):
        track.add_face(unit(1, frame + 1), quality, frame, keep=3)
    assert sorted(f.quality for f in track.best_faces) == [0.3, 0.5, 0.9]
    assert track.worst_kept_quality(3) == pytest.approx(0.3)
    assert track.worst_kept_quality(4) == 0.0
    assert not track.add_face(unit(1, 0), 0.25, 9, keep=3)
    assert track.descriptor is not None
    assert float(np.linalg.norm(track.descriptor)) == pytest.approx(1.0)
    assert len(track.best_vectors()) == 3


def test_end_all_returns_every_track() -> None:
    tracker = Tracker(prefix="cam-")
    update = tracker.update([face(0, 0), face(300, 0)], 0, 0.0)
    assert [t.id for t in update.new] == ["cam-1", "cam-2"]
    assert len(tracker.end_all()) == 2
    assert tracker.tracks == []
