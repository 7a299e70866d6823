"""Scoring the hand-gesture classifier on labelled images (``salesmigo eval gestures``).

Manifest rows of kind ``gesture`` carry either one of the seven labels or a dataset's own
class name. LABEL_MAP turns the latter into the seven; a row whose label maps to none of
them (HaGRID's "call", "ok", "rock", "four", ...) is ignored and counted in ``ignored``.

    gesture      dataset labels
    -----------  ----------------------------------------------------------------------
    thumbs_up    thumbs_up, thumb_up, like (HaGRID)
    thumbs_down  thumbs_down, thumb_down, dislike (HaGRID)
    victory      victory, peace, peace_inverted, two_up, two_up_inverted (HaGRID),
                 digit2 (Sign Language Digits), 2-hand (HandsDataset)
    open_palm    open_palm, palm, stop, stop_inverted (HaGRID), five, digit5, 5-hand
    fist         fist, 0-hand
    pointing_up  pointing_up, one (HaGRID), digit1, 1-hand
    none         none, no_gesture (HaGRID)

HaGRID's "_inverted" classes show the back of the hand to the camera, still upright: the
same sign to a shop assistant, and the classifier deliberately ignores which side of the
hand faces the camera. "two_up" (index and middle raised together) is a V without the
spread; the classifier does not require a spread. Not mapped, so ignored: "four" (thumb
folded: not quite an open palm), "three"/"three2" (three fingers), "point" (pointing at the
camera, not up), "mute" (a finger on the lips), and every other HaGRID class.

Labels are compared in lower case with "-" and spaces read as "_" ("0-hand" is "0_hand").

An image's prediction comes from every hand found in it: the most confident hand that shows
a gesture, or ``none`` if every hand shows none (an image labelled with a gesture shows it
with at least one hand; the other may hang relaxed). An image where no hand is found has no
prediction: it counts in ``no_hand``, not in the accuracies, which are over the images where
a hand was found.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.vision.gestures import Classification, Gesture, classify
from salesmigo.vision.hands import Hand
from salesmigo.vision.types import Frame

GESTURE_KIND = "gesture"

# The gestures the goal is stated for (accuracy >= 90% on images with a hand).
GOAL_GESTURES: tuple[Gesture, ...] = (
    Gesture.THUMBS_UP,
    Gesture.THUMBS_DOWN,
    Gesture.VICTORY,
    Gesture.OPEN_PALM,
    Gesture.FIST,
)

LABEL_MAP: Mapping[str, Gesture] = {
    # thumbs up / down
    "thumbs_up": Gesture.THUMBS_UP,
    "thumb_up": Gesture.THUMBS_UP,
    "like": Gesture.THUMBS_UP,
    "thumbs_down": Gesture.THUMBS_DOWN,
    "thumb_down": Gesture.THUMBS_DOWN,
    "dislike": Gesture.THUMBS_DOWN,
    # victory
    "victory": Gesture.VICTORY,
    "peace": Gesture.VICTORY,
    "peace_inverted": Gesture.VICTORY,
    "two_up": Gesture.VICTORY,
    "two_up_inverted": Gesture.VICTORY,
    "digit2": Gesture.VICTORY,
    "digit_2": Gesture.VICTORY,
    "2_hand": Gesture.VICTORY,
    # open palm
    "open_palm": Gesture.OPEN_PALM,
    "palm": Gesture.OPEN_PALM,
    "five": Gesture.OPEN_PALM,
    "stop": Gesture.OPEN_PALM,
    "stop_inverted": Gesture.OPEN_PALM,
    "digit5": Gesture.OPEN_PALM,
    "digit_5": Gesture.OPEN_PALM,
    "5_hand": Gesture.OPEN_PALM,
    # fist
    "fist": Gesture.FIST,
    "0_hand": Gesture.FIST,
    # pointing up
    "pointing_up": Gesture.POINTING_UP,
    "one": Gesture.POINTING_UP,
    "digit1": Gesture.POINTING_UP,
    "digit_1": Gesture.POINTING_UP,
    "1_hand": Gesture.POINTING_UP,
    # none
    "none": Gesture.NONE,
    "no_gesture": Gesture.NONE,
}


def gesture_for_label(label: str) -> Gesture | None:
    """The gesture a manifest label stands for, or None if it is none of the seven."""
    key = label.strip().lower().replace("-", "_").replace(" ", "_")
    return LABEL_MAP.get(key)


@dataclass(frozen=True)
class GestureRow:
    """A manifest image and the gesture it shows."""

    path: str
    truth: Gesture


def gesture_rows(rows: Iterable[ManifestRow]) -> tuple[list[GestureRow], int]:
    """Rows of kind ``gesture`` whose label maps to one of the seven, and how many did not."""
    kept: list[GestureRow] = []
    ignored = 0
    for row in rows:
        if row.kind != GESTURE_KIND:
            continue
        gesture = gesture_for_label(row.label)
        if gesture is None:
            ignored += 1
        else:
            kept.append(GestureRow(row.path, gesture))
    return kept, ignored


class HandFinder(Protocol):
    """What scoring needs of a HandDetector (a fake one in unit tests)."""

    def detect(self, frame: Frame) -> list[Hand]: ...


def image_gesture(classifications: Sequence[Classification]) -> Gesture | None:
    """An image's gesture from its hands' (see the module docstring); None if no hand."""
    if not classifications:
        return None
    shown = [found for found in classifications if found.gesture is not Gesture.NONE]
    if not shown:
        return Gesture.NONE
    return max(shown, key=lambda found: found.confidence).gesture


def predict_gesture(detector: HandFinder, frame: Frame) -> tuple[Gesture | None, float]:
    """Detect and classify the hands of one frame: its gesture (None: no hand) and the ms."""
    started = time.perf_counter()
    gesture = image_gesture([classify(hand) for hand in detector.detect(frame)])
    return gesture, (time.perf_counter() - started) * 1000.0


@dataclass(frozen=True)
class GestureSample:
    """One scored image: the true gesture and the predicted one (None: no hand found)."""

    path: str
    truth: Gesture
    predicted: Gesture | None


@dataclass(frozen=True)
class ClassScore:
    images: int
    no_hand: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """Correct share of this class's images with a hand (None if there are none)."""
        with_hand = self.images - self.no_hand
        return self.correct / with_hand if with_hand else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class GestureReport:
    per_class: dict[Gesture, ClassScore]  # the classes present, in Gesture order
    confusion: dict[Gesture, dict[Gesture, int]]  # true -> predicted -> images with a hand
    ignored: int  # gesture rows whose label is none of the seven
    ms_per_image: float

    @property
    def images(self) -> int:
        return sum(score.images for score in self.per_class.values())

    @property
    def no_hand(self) -> int:
        return sum(score.no_hand for score in self.per_class.values())

    def _accuracy(self, classes: Iterable[Gesture]) -> float | None:
        scores = [self.per_class[gesture] for gesture in classes if gesture in self.per_class]
        return _ratio(
            sum(score.correct for score in scores),
            sum(score.images - score.no_hand for score in scores),
        )

    @property
    def accuracy(self) -> float | None:
        """Correct share of the images with a hand, over all seven classes."""
        return self._accuracy(Gesture)

    @property
    def goal_accuracy(self) -> float | None:
        """Correct share of the images with a hand, over the five GOAL_GESTURES."""
        return self._accuracy(GOAL_GESTURES)

    @property
    def hand_found_rate(self) -> float | None:
        """Share of the images where at least one hand was found."""
        return _ratio(self.images - self.no_hand, self.images)

    def as_dict(self) -> dict[str, object]:
        """The JSON the ``eval gestures --json`` command prints."""
        return {
            "accuracy": _rounded(self.accuracy),
            "per_class": {
                gesture.value: {
                    "accuracy": _rounded(score.accuracy),
                    "images": score.images,
                    "no_hand": score.no_hand,
                    "correct": score.correct,
                }
                for gesture, score in self.per_class.items()
            },
            "confusion": {
                truth.value: {predicted.value: count for predicted, count in row.items()}
                for truth, row in self.confusion.items()
            },
            "images": self.images,
            "no_hand": self.no_hand,
            "goal_accuracy": _rounded(self.goal_accuracy),
            "goal_classes": [gesture.value for gesture in GOAL_GESTURES],
            "hand_found_rate": _rounded(self.hand_found_rate),
            "ignored": self.ignored,
            "ms_per_image": round(self.ms_per_image, 2),
        }


def score_gestures(
    samples: Sequence[GestureSample], milliseconds: Sequence[float], *, ignored: int = 0
) -> GestureReport:
    """Per-class accuracy and the confusion matrix (rows: the classes present, all seven
    columns) from one sample per image; ``milliseconds`` are the detect+classify times."""
    present = [gesture for gesture in Gesture if any(s.truth is gesture for s in samples)]
    confusion = {truth: dict.fromkeys(Gesture, 0) for truth in present}
    counts = {truth: [0, 0, 0] for truth in present}  # images, no hand, correct
    for sample in samples:
        tally = counts[sample.truth]
        tally[0] += 1
        if sample.predicted is None:
            tally[1] += 1
            continue
        confusion[sample.truth][sample.predicted] += 1
        tally[2] += sample.predicted is sample.truth
    per_class = {truth: ClassScore(*tally) for truth, tally in counts.items()}
    mean_ms = sum(milliseconds) / len(milliseconds) if milliseconds else 0.0
    return GestureReport(per_class, confusion, ignored, mean_ms)
