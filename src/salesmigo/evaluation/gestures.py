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

from salesmigo.evaluation.classification import (
    ClassificationReport,
    LabelledRow,
    Sample,
    labelled_rows,
    mean_ms,
    rounded,
    score_classification,
)
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.vision.gesture_labels import Gesture
from salesmigo.vision.gestures import Classification, classify
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


GestureRow = LabelledRow[Gesture]
GestureSample = Sample[Gesture]


def gesture_rows(rows: Iterable[ManifestRow]) -> tuple[list[GestureRow], int]:
    """Rows of kind ``gesture`` whose label maps to one of the seven, and how many did not."""
    return labelled_rows(rows, GESTURE_KIND, gesture_for_label)


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
class GestureReport(ClassificationReport[Gesture]):
    """Per-class scores (rows: the classes present, in Gesture order; confusion columns:
    all seven) and what only gestures have."""

    ignored: int  # gesture rows whose label is none of the seven
    ms_per_image: float

    @property
    def no_hand(self) -> int:
        return self.no_detection

    @property
    def goal_accuracy(self) -> float | None:
        """Correct share of the images with a hand, over the five GOAL_GESTURES."""
        return self.accuracy_over(GOAL_GESTURES)

    @property
    def hand_found_rate(self) -> float | None:
        """Share of the images where at least one hand was found."""
        return self.detected_rate

    def as_dict(self, no_key: str = "no_hand") -> dict[str, object]:
        """The JSON the ``eval gestures --json`` command prints."""
        return {
            **super().as_dict(no_key),
            "goal_accuracy": rounded(self.goal_accuracy),
            "goal_classes": [gesture.value for gesture in GOAL_GESTURES],
            "hand_found_rate": rounded(self.hand_found_rate),
            "ignored": self.ignored,
            "ms_per_image": round(self.ms_per_image, 2),
        }


def score_gestures(
    samples: Sequence[GestureSample], milliseconds: Sequence[float], *, ignored: int = 0
) -> GestureReport:
    """Per-class accuracy and the confusion matrix (rows: the classes present, all seven
    columns) from one sample per image; ``milliseconds`` are the detect+classify times."""
    scores = score_classification(samples, list(Gesture), what="gesture")
    return GestureReport(scores.per_class, scores.confusion, ignored, mean_ms(milliseconds))
