"""Scoring the facial-expression classifier on labelled images (``salesmigo eval expressions``).

Manifest rows of kind ``expression`` carry one of the seven labels of face-api.js (neutral,
happy, sad, angry, fearful, disgusted, surprised) or a common synonym (normal, happiness,
surprise, fear, disgust, anger, sadness); a row with any other label is ignored and counted
in ``ignored``. The largest face of each image is classified, whatever its size or
detection score (this measures the expression model, not the live quality gate). An image
where no face is found has no prediction: it counts in ``no_face``, not in the accuracies,
which are over the images with a face.

The seven-class label is the most likely expression; "happy vs not happy" is the yes/no
decision of vision.expression_labels.looks_happy (happy more likely than the six others
together). The two differ only on faces whose most likely expression is happy at one half
or less.
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
    ratio,
    rounded,
    score_classification,
)
from salesmigo.evaluation.embed import ExpressionReader
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.vision.expression_labels import (
    EXPRESSION_LABELS,
    HAPPY,
    looks_happy,
    most_likely_expression,
)
from salesmigo.vision.types import DetectedFace, Frame

EXPRESSION_KIND = "expression"

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


ExpressionRow = LabelledRow[str]


@dataclass(frozen=True)
class ExpressionSample(Sample[str]):
    """One scored image: the most likely expression and whether the face looks happy."""

    looks_happy: bool | None = None

    @classmethod
    def read(
        cls, row: ExpressionRow, probabilities: Mapping[str, float] | None
    ) -> ExpressionSample:
        """The sample of one image from its largest face's probabilities (None: no face)."""
        if probabilities is None:
            return cls(row.path, row.truth, None)
        return cls(
            row.path,
            row.truth,
            most_likely_expression(probabilities),
            looks_happy(probabilities),
        )


def expression_rows(rows: Iterable[ManifestRow]) -> tuple[list[ExpressionRow], int]:
    """Rows of kind ``expression`` with one of the seven labels, and how many had another."""
    return labelled_rows(rows, EXPRESSION_KIND, expression_for_label)


class FaceFinder(Protocol):
    """What scoring needs of a face detector: faces largest first (a fake in unit tests)."""

    def detect(self, frame: Frame) -> list[DetectedFace]: ...


def predict_expression(
    detector: FaceFinder, reader: ExpressionReader, frame: Frame
) -> tuple[dict[str, float] | None, float]:
    """The largest face's seven probabilities (None: no face) and the ms the expression
    model took on it (detection is not timed: it is the same for every face model)."""
    faces = detector.detect(frame)
    if not faces:
        return None, 0.0
    largest = max(faces, key=lambda face: face.box.area)
    started = time.perf_counter()
    probabilities = reader.read(frame, largest)
    return probabilities, (time.perf_counter() - started) * 1000.0


@dataclass(frozen=True)
class ExpressionReport(ClassificationReport[str]):
    """Per-class scores (rows: the classes present, in EXPRESSION_LABELS order; confusion
    columns: all seven) and what only expressions have."""

    happy_correct: int  # images with a face where looks_happy was right
    ignored: int  # expression rows whose label is none of the seven
    ms_per_face: float

    @property
    def no_face(self) -> int:
        return self.no_detection

    @property
    def happy_accuracy(self) -> float | None:
        """Share of the images with a face where happy vs not happy was right."""
        return ratio(self.happy_correct, self.detected)

    def as_dict(self, no_key: str = "no_face") -> dict[str, object]:
        """The JSON the ``eval expressions --json`` command prints."""
        return {
            **super().as_dict(no_key),
            "correct": self.correct,
            "happy_vs_not_accuracy": rounded(self.happy_accuracy),
            "ignored": self.ignored,
            "ms_per_face": round(self.ms_per_face, 2),
            "labels": list(EXPRESSION_LABELS),
        }


def score_expressions(
    samples: Sequence[ExpressionSample], milliseconds: Sequence[float], *, ignored: int = 0
) -> ExpressionReport:
    """Per-class accuracy and the confusion matrix (rows: the classes present; columns: all
    seven) from one sample per image; ``milliseconds`` are the expression model's times."""
    scores = score_classification(samples, EXPRESSION_LABELS, what="expression")
    happy_correct = sum(
        sample.looks_happy == (sample.truth == HAPPY)
        for sample in samples
        if sample.predicted is not None
    )
    return ExpressionReport(
        scores.per_class, scores.confusion, happy_correct, ignored, mean_ms(milliseconds)
    )
