"""Scoring an image classifier on labelled images: what ``eval expressions`` and ``eval
gestures`` share.

Manifest rows of one kind whose label stands for one of the classes are kept (others are
counted as ignored). Each image gives one sample: its true class and the predicted one, or
no prediction when nothing was detected in it (no face, no hand). Images with no detection
count in ``no_detection``, not in the accuracies, which are over the images with a detection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from salesmigo.evaluation.manifest import ManifestRow

# A class label: a plain string or a StrEnum member (str() of either is its JSON name).
L = TypeVar("L", bound=str)


@dataclass(frozen=True)
class LabelledRow(Generic[L]):
    """A manifest image and the class it shows."""

    path: str
    truth: L


def labelled_rows(
    rows: Iterable[ManifestRow], kind: str, class_for: Callable[[str], L | None]
) -> tuple[list[LabelledRow[L]], int]:
    """Rows of ``kind`` whose label ``class_for`` maps to a class, and how many it did not."""
    kept: list[LabelledRow[L]] = []
    ignored = 0
    for row in rows:
        if row.kind != kind:
            continue
        truth = class_for(row.label)
        if truth is None:
            ignored += 1
        else:
            kept.append(LabelledRow(row.path, truth))
    return kept, ignored


@dataclass(frozen=True)
class Sample(Generic[L]):
    """One scored image: the true class and the predicted one (None: nothing detected)."""

    path: str
    truth: L
    predicted: L | None

    @classmethod
    def of(cls, row: LabelledRow[L], predicted: L | None) -> Sample[L]:
        return cls(row.path, row.truth, predicted)


@dataclass(frozen=True)
class ClassScore:
    images: int
    no_detection: int  # images of this class where nothing was detected
    correct: int

    @property
    def accuracy(self) -> float | None:
        """Correct share of this class's images with a detection (None if there are none)."""
        return ratio(self.correct, self.images - self.no_detection)


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def mean_ms(milliseconds: Sequence[float]) -> float:
    return sum(milliseconds) / len(milliseconds) if milliseconds else 0.0


@dataclass(frozen=True)
class ClassificationReport(Generic[L]):
    per_class: dict[L, ClassScore]  # the classes present, in the order of the labels
    confusion: dict[L, dict[L, int]]  # true -> predicted (every label) -> images detected

    @property
    def images(self) -> int:
        return sum(score.images for score in self.per_class.values())

    @property
    def no_detection(self) -> int:
        return sum(score.no_detection for score in self.per_class.values())

    @property
    def correct(self) -> int:
        return sum(score.correct for score in self.per_class.values())

    @property
    def detected(self) -> int:
        """Images where something was detected (the ones the accuracies are over)."""
        return self.images - self.no_detection

    def accuracy_over(self, classes: Iterable[L]) -> float | None:
        """Correct share of the images with a detection whose true class is in ``classes``."""
        scores = [self.per_class[label] for label in classes if label in self.per_class]
        return ratio(
            sum(score.correct for score in scores),
            sum(score.images - score.no_detection for score in scores),
        )

    @property
    def accuracy(self) -> float | None:
        """Correct share of the images with a detection, over every class."""
        return self.accuracy_over(self.per_class)

    @property
    def detected_rate(self) -> float | None:
        """Share of the images where something was detected."""
        return ratio(self.detected, self.images)

    def as_dict(self, no_key: str) -> dict[str, object]:
        """The JSON keys both commands print, with ``no_key`` naming the no-detection counts
        (``no_face``, ``no_hand``); class labels are written as ``str(label)``."""
        return {
            "accuracy": rounded(self.accuracy),
            "per_class": {
                str(label): {
                    "accuracy": rounded(score.accuracy),
                    "images": score.images,
                    no_key: score.no_detection,
                    "correct": score.correct,
                }
                for label, score in self.per_class.items()
            },
            "confusion": {
                str(truth): {str(predicted): count for predicted, count in row.items()}
                for truth, row in self.confusion.items()
            },
            "images": self.images,
            no_key: self.no_detection,
        }


def score_classification(
    samples: Sequence[Sample[L]], labels: Sequence[L], *, what: str
) -> ClassificationReport[L]:
    """Per-class counts and the confusion matrix (rows: the classes present, in ``labels``
    order; columns: every label) from one sample per image. A sample whose true or
    predicted class is not in ``labels`` is a programming error (``what`` names the labels
    in its message)."""
    known = set(labels)
    unknown = {s.truth for s in samples} | {s.predicted for s in samples if s.predicted is not None}
    unknown -= known
    if unknown:
        raise ValueError(f"not {what} labels: {', '.join(sorted(map(str, unknown)))}")
    present = [label for label in labels if any(s.truth == label for s in samples)]
    confusion = {truth: dict.fromkeys(labels, 0) for truth in present}
    counts = {truth: [0, 0, 0] for truth in present}  # images, no detection, correct
    for sample in samples:
        tally = counts[sample.truth]
        tally[0] += 1
        if sample.predicted is None:
            tally[1] += 1
            continue
        confusion[sample.truth][sample.predicted] += 1
        tally[2] += sample.predicted == sample.truth
    per_class = {truth: ClassScore(*tally) for truth, tally in counts.items()}
    return ClassificationReport(per_class, confusion)
