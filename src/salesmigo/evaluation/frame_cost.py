"""What expressions and gestures add to a camera frame (``benchmarks/frame_cost.py``).

Issue 4's goal: expression + gestures add at most 30 ms per frame with one face and one hand
on one core. One frame is processed again and again; each pass times, in order, the face
detection every camera role runs anyway (the baseline), the expression of the largest face
(FaceMesh, crop, network) and the gestures (mediapipe Hands on the frame, then the rules on
every hand). The stages of one pass run back to back, so a burst of load from other
processes lands on the baseline and the additions alike and the ratio stays meaningful.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.hands import Hand
from salesmigo.vision.types import DetectedFace, Frame

# The budget for expression + gestures, per frame with one face and one hand.
BUDGET_MS = 30.0


class FaceFinder(Protocol):
    def detect(self, frame: Frame) -> list[DetectedFace]: ...


class ExpressionReader(Protocol):
    def probabilities(self, frame: Frame, face: DetectedFace) -> NDArray[np.float32]: ...


class HandFinder(Protocol):
    def detect(self, frame: Frame) -> list[Hand]: ...


@dataclass(frozen=True)
class Spread:
    """Median and 95th percentile of a series of times, in milliseconds."""

    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, milliseconds: Sequence[float]) -> Spread:
        if not milliseconds:
            raise ValueError("no times to summarise")
        values = np.asarray(milliseconds, dtype=np.float64)
        return cls(float(np.median(values)), float(np.percentile(values, 95)))


@dataclass(frozen=True)
class StageTimes:
    """Per-frame times of each stage, and of expression + gestures summed pass by pass."""

    detection: Spread
    expression: Spread
    gestures: Spread
    added: Spread

    @property
    def ratio(self) -> float:
        """(detection + expression + gestures) / detection, by medians."""
        return (self.detection.median_ms + self.added.median_ms) / self.detection.median_ms

    def as_dict(self) -> dict[str, float]:
        stages = {
            "detection": self.detection,
            "expression": self.expression,
            "gestures": self.gestures,
            "expression_plus_gestures": self.added,
        }
        result: dict[str, float] = {}
        for name, spread in stages.items():
            result[f"{name}_median_ms"] = round(spread.median_ms, 2)
            result[f"{name}_p95_ms"] = round(spread.p95_ms, 2)
        result["ratio_to_detection"] = round(self.ratio, 2)
        return result


@dataclass(frozen=True)
class FrameCost:
    """Wall-clock and CPU times per frame. On a shared machine the wall clock includes
    waiting for the core; CPU time is the work itself, what an idle core would take."""

    passes: int
    faces: int  # found in the frame (the largest one's expression is read)
    hands: int
    wall: StageTimes
    cpu: StageTimes

    @property
    def within_budget(self) -> bool:
        """Expression + gestures within BUDGET_MS (median wall clock)."""
        return self.wall.added.median_ms <= BUDGET_MS

    def as_dict(self) -> dict[str, object]:
        return {
            "passes": self.passes,
            "faces": self.faces,
            "hands": self.hands,
            "wall": self.wall.as_dict(),
            "cpu": self.cpu.as_dict(),
            "budget_ms": BUDGET_MS,
            "within_budget": self.within_budget,
        }


def _clocks() -> tuple[float, float]:
    """Wall and CPU time (all of this process's threads, mediapipe's included), in ms."""
    return time.perf_counter() * 1000.0, time.process_time() * 1000.0


def measure_frame_cost(
    frame: Frame,
    detector: FaceFinder,
    expressions: ExpressionReader,
    hands: HandFinder,
    classify: Callable[[Hand], object],
    *,
    passes: int = 200,
    warm_up: int = 10,
) -> FrameCost:
    """Time ``passes`` passes over ``frame`` after ``warm_up`` untimed ones.

    ValueError if the frame shows no face: there would be no expression to time.
    """
    if passes < 1:
        raise ValueError("passes must be at least 1")
    faces = detector.detect(frame)
    if not faces:
        raise ValueError("the frame shows no face: nothing to read an expression from")
    found_hands = len(hands.detect(frame))
    stages = ("detection", "expression", "gestures")
    wall: dict[str, list[float]] = {stage: [] for stage in stages}
    cpu: dict[str, list[float]] = {stage: [] for stage in stages}
    for index in range(warm_up + passes):
        marks = [_clocks()]
        largest = detector.detect(frame)[:1]  # detectors return faces largest first
        marks.append(_clocks())
        for face in largest:
            expressions.probabilities(frame, face)
        marks.append(_clocks())
        for hand in hands.detect(frame):
            classify(hand)
        marks.append(_clocks())
        if index < warm_up:
            continue
        for stage, before, after in zip(stages, marks, marks[1:], strict=False):
            wall[stage].append(after[0] - before[0])
            cpu[stage].append(after[1] - before[1])
    return FrameCost(
        passes=passes,
        faces=len(faces),
        hands=found_hands,
        wall=_spreads(wall),
        cpu=_spreads(cpu),
    )


def _spreads(times: dict[str, list[float]]) -> StageTimes:
    added = [a + b for a, b in zip(times["expression"], times["gestures"], strict=True)]
    return StageTimes(
        detection=Spread.of(times["detection"]),
        expression=Spread.of(times["expression"]),
        gestures=Spread.of(times["gestures"]),
        added=Spread.of(added),
    )
