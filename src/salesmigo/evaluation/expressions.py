"""Scoring the facial-expression classifier on labelled images (``salesmigo eval expressions``).

Manifest rows of kind ``expression`` carry one of the seven labels of face-api.js (neutral,
happy, sad, angry, fearful, disgusted, surprised) or a common synonym (normal, happiness,
surprise, fear, disgust, anger, sadness); a row with any other label is ignored and counted
in ``ignored``. The largest face of each image is classified, whatever its size or
detection score (this measures the expression model, not the live quality gate). An image
where no face is found has no prediction: it counts in ``no_face``, not in the accuracies,
which are over the images with a face.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from salesmigo.evaluation.embed import ExpressionReader
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.vision.expression import EXPRESSION_LABELS
from salesmigo.vision.types import DetectedFace, Frame

EXPRESSION_KIND = "expression"
HAPPY = "happy"

SYNONYMS: Mapping[str, str] = {
    "normal": "neutral",
    "happiness": "happy",
    "smile": "happy",
    "sadness": "sad",
    "anger": "angry",
    "fear": "fearful",
    "disgust": "disgusted",
    "surprise": "surprised",
}


def expression_for_label(label: str) -> str | None:
    """The expression a manifest label stands for, or None if it is none of the seven."""
    key = label.strip().lower()
    key = SYNONYMS.get(key, key)
    return key if key in EXPRESSION_LABELS else None


@dataclass(frozen=True)
class ExpressionRow:
    """A manifest image and the expression it shows."""

    path: str
    truth: str


def expression_rows(rows: Iterable[ManifestRow]) -> tuple[list[ExpressionRow], int]:
    """Rows of kind ``expression`` with one of the seven labels, and how many had another."""
    kept: list[ExpressionRow] = []
    ignored = 0
    for row in rows:
        if row.kind != EXPRESSION_KIND:
            continue
        truth = expression_for_label(row.label)
        if truth is None:
            ignored += 1
        else:
            kept.append(ExpressionRow(row.path, truth))
    return kept, ignored


class FaceFinder(Protocol):
    """What scoring needs of a face detector: faces largest first (a fake in unit tests)."""

    def detect(self, frame: Frame) -> list[DetectedFace]: ...


def predict_expression(
    detector: FaceFinder, reader: ExpressionReader, frame: Frame
) -> tuple[str | None, float]:
    """The largest face's most likely expression (None: no face) and the ms the expression
    model took on it (detection is not timed: it is the same for every face model)."""
    faces = detector.detect(frame)
    if not faces:
        return None, 0.0
    largest = max(faces, key=lambda face: face.box.area)
    started = time.perf_counter()
    probabilities = reader.read(frame, largest)
    elapsed = (time.perf_counter() - started) * 1000.0
    return max(probabilities, key=probabilities.__getitem__), elapsed


@dataclass(frozen=True)
class ExpressionSample:
    """One scored image: the true expression and the predicted one (None: no face found)."""

    path: str
    truth: str
    predicted: str | None


@dataclass(frozen=True)
class ClassScore:
    images: int
    no_face: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """Correct share of this class's images with a face (None if there are none)."""
        with_face = self.images - self.no_face
        return self.correct / with_face if with_face else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class ExpressionReport:
    per_class: dict[str, ClassScore]  # the classes present, in EXPRESSION_LABELS order
    confusion: dict[str, dict[str, int]]  # true -> predicted (all seven) -> images with a face
    happy_correct: int  # images with a face where "happy or not" was right
    ignored: int  # expression rows whose label is none of the seven
    ms_per_face: float

    @property
    def images(self) -> int:
        return sum(score.images for score in self.per_class.values())

    @property
    def no_face(self) -> int:
        return sum(score.no_face for score in self.per_class.values())

    @property
    def correct(self) -> int:
        return sum(score.correct for score in self.per_class.values())

    @property
    def accuracy(self) -> float | None:
        """Correct share of the images with a face."""
        return _ratio(self.correct, self.images - self.no_face)

    @property
    def happy_accuracy(self) -> float | None:
        """Share of the images with a face where happy vs not happy was right."""
        return _ratio(self.happy_correct, self.images - self.no_face)

    def as_dict(self) -> dict[str, object]:
        """The JSON the ``eval expressions --json`` command prints."""
        return {
            "accuracy": _rounded(self.accuracy),
            "per_class": {
                label: {
                    "accuracy": _rounded(score.accuracy),
                    "images": score.images,
                    "no_face": score.no_face,
                    "correct": score.correct,
                }
                for label, score in self.per_class.items()
            },
            "confusion": self.confusion,
            "images": self.images,
            "no_face": self.no_face,
            "correct": self.correct,
            "happy_vs_not_accuracy": _rounded(self.happy_accuracy),
            "ignored": self.ignored,
            "ms_per_face": round(self.ms_per_face, 2),
            "labels": list(EXPRESSION_LABELS),
        }


def score_expressions(
    samples: Sequence[ExpressionSample], milliseconds: Sequence[float], *, ignored: int = 0
) -> ExpressionReport:
    """Per-class accuracy and the confusion matrix (rows: the classes present; columns: all
    seven) from one sample per image; ``milliseconds`` are the expression model's times."""
    unknown = {s.truth for s in samples} | {s.predicted for s in samples if s.predicted}
    unknown -= set(EXPRESSION_LABELS)
    if unknown:
        raise ValueError(f"not expression labels: {', '.join(sorted(unknown))}")
    present = [label for label in EXPRESSION_LABELS if any(s.truth == label for s in samples)]
    confusion = {truth: dict.fromkeys(EXPRESSION_LABELS, 0) for truth in present}
    counts = {truth: [0, 0, 0] for truth in present}  # images, no face, correct
    happy_correct = 0
    for sample in samples:
        tally = counts[sample.truth]
        tally[0] += 1
        if sample.predicted is None:
            tally[1] += 1
            continue
        confusion[sample.truth][sample.predicted] += 1
        tally[2] += sample.predicted == sample.truth
        happy_correct += (sample.predicted == HAPPY) == (sample.truth == HAPPY)
    per_class = {truth: ClassScore(*tally) for truth, tally in counts.items()}
    mean_ms = sum(milliseconds) / len(milliseconds) if milliseconds else 0.0
    return ExpressionReport(per_class, confusion, happy_correct, ignored, mean_ms)
