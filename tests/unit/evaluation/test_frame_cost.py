"""The per-frame cost measurement, with fake stages (what is timed and how it is summed)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.evaluation.frame_cost import BUDGET_MS, Spread, StageTimes, measure_frame_cost
from salesmigo.vision.hands import Hand
from salesmigo.vision.types import Box, DetectedFace, Frame

FRAME = np.zeros((120, 160, 3), dtype=np.uint8)


def _face(size: int) -> DetectedFace:
    return DetectedFace(Box(0, 0, size, size), 0.9, np.zeros((5, 2), dtype=np.float32))


class _Faces:
    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces
        self.calls = 0

    def detect(self, frame: Frame) -> list[DetectedFace]:
        self.calls += 1
        return list(self.faces)


class _Expressions:
    def __init__(self) -> None:
        self.read_faces: list[DetectedFace] = []

    def probabilities(self, frame: Frame, face: DetectedFace) -> NDArray[np.float32]:
        self.read_faces.append(face)
        return np.ones(1, np.float32)


class _Hands:
    def __init__(self, hands: int) -> None:
        self.hands = hands
        self.calls = 0

    def detect(self, frame: Frame) -> list[Hand]:
        self.calls += 1
        return [object()] * self.hands  # type: ignore[list-item]  # only counted and passed on


def test_each_pass_reads_the_largest_face_and_classifies_every_hand() -> None:
    large, small = _face(80), _face(40)
    faces, expressions, hands = _Faces([large, small]), _Expressions(), _Hands(2)
    classified: list[Hand] = []

    cost = measure_frame_cost(
        FRAME, faces, expressions, hands, classified.append, passes=5, warm_up=2
    )

    assert (cost.passes, cost.faces, cost.hands) == (5, 2, 2)
    assert expressions.read_faces == [large] * 7  # warm-up passes run too, untimed
    assert len(classified) == 2 * 7
    assert faces.calls == 1 + 7  # one look first, then each pass
    assert hands.calls == 1 + 7


def test_the_times_are_non_negative_and_add_up_pass_by_pass() -> None:
    cost = measure_frame_cost(FRAME, _Faces([_face(50)]), _Expressions(), _Hands(1), id, passes=3)

    for times in (cost.wall, cost.cpu):
        assert times.detection.median_ms >= 0.0
        assert times.added.p95_ms >= times.added.median_ms
        assert times.added.median_ms <= times.expression.p95_ms + times.gestures.p95_ms


def test_a_frame_without_a_face_is_refused() -> None:
    with pytest.raises(ValueError, match="no face"):
        measure_frame_cost(FRAME, _Faces([]), _Expressions(), _Hands(1), id)


def test_at_least_one_pass_is_needed() -> None:
    with pytest.raises(ValueError, match="passes"):
        measure_frame_cost(FRAME, _Faces([_face(50)]), _Expressions(), _Hands(1), id, passes=0)


def test_spread_is_the_median_and_the_95th_percentile() -> None:
    spread = Spread.of([float(value) for value in range(1, 101)])

    assert spread.median_ms == pytest.approx(50.5)
    assert spread.p95_ms == pytest.approx(95.05)
    with pytest.raises(ValueError, match="no times"):
        Spread.of([])


def test_the_report_gives_the_ratio_to_detection_and_the_budget() -> None:
    times = StageTimes(
        detection=Spread(10.0, 12.0),
        expression=Spread(8.0, 9.0),
        gestures=Spread(12.0, 14.0),
        added=Spread(20.0, 23.0),
    )

    report = times.as_dict()

    assert times.ratio == pytest.approx(3.0)
    assert report["expression_plus_gestures_median_ms"] == 20.0
    assert report["expression_plus_gestures_p95_ms"] == 23.0
    assert report["ratio_to_detection"] == 3.0
    assert BUDGET_MS == 30.0
