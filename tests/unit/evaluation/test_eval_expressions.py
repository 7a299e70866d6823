"""Expression scoring and label mapping, with a fake detector and a fake expression reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from salesmigo.evaluation.classification import LabelledRow
from salesmigo.evaluation.expressions import (
    ExpressionSample,
    expression_for_label,
    expression_rows,
    predict_expression,
    score_expressions,
)
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.vision.expression_labels import EXPRESSION_LABELS
from salesmigo.vision.types import Box, DetectedFace, Frame

FRAME = np.zeros((120, 160, 3), np.uint8)


def _face(size: int) -> DetectedFace:
    return DetectedFace(Box(0, 0, size, size), 0.9, np.zeros((5, 2), np.float32))


class FakeDetector:
    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces

    def detect(self, frame: Frame) -> list[DetectedFace]:
        return self.faces


class FakeReader:
    """Says "happy" for faces wider than 50 px, "sad" otherwise; remembers what it read."""

    def __init__(self) -> None:
        self.read_faces: list[DetectedFace] = []

    def read(self, frame: Frame, face: DetectedFace) -> dict[str, float]:
        self.read_faces.append(face)
        top = "happy" if face.box.width > 50 else "sad"
        return {label: (0.7 if label == top else 0.05) for label in EXPRESSION_LABELS}


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("happy", "happy"),
        ("Surprised", "surprised"),
        ("normal", "neutral"),
        (" surprise ", "surprised"),
        ("fear", "fearful"),
        ("disgust", "disgusted"),
        ("contempt", None),
        ("", None),
    ],
)
def test_labels_and_synonyms_map_to_the_seven(label: str, expected: str | None) -> None:
    assert expression_for_label(label) == expected


def test_only_expression_rows_with_known_labels_are_kept() -> None:
    rows = [
        ManifestRow("a.jpg", "expression", "happy"),
        ManifestRow("b.jpg", "expression", "contempt"),
        ManifestRow("c.jpg", "identity", "happy"),
        ManifestRow("d.png", "expression", "normal"),
    ]

    kept, ignored = expression_rows(rows)

    assert [(row.path, row.truth) for row in kept] == [("a.jpg", "happy"), ("d.png", "neutral")]
    assert ignored == 1


def test_the_largest_face_is_read() -> None:
    reader = FakeReader()
    small, large = _face(30), _face(90)

    probabilities, milliseconds = predict_expression(FakeDetector([small, large]), reader, FRAME)

    assert probabilities is not None
    assert probabilities["happy"] == 0.7
    assert reader.read_faces == [large]
    assert milliseconds >= 0.0


def test_no_face_gives_no_prediction() -> None:
    reader = FakeReader()

    assert predict_expression(FakeDetector([]), reader, FRAME) == (None, 0.0)
    assert reader.read_faces == []


def _probabilities(**chosen: float) -> dict[str, float]:
    rest = (1.0 - sum(chosen.values())) / (len(EXPRESSION_LABELS) - len(chosen))
    return {label: chosen.get(label, rest) for label in EXPRESSION_LABELS}


def _sample(path: str, truth: str, **chosen: float) -> ExpressionSample:
    probabilities = _probabilities(**chosen) if chosen else None
    return ExpressionSample.read(LabelledRow(path, truth), probabilities)


def test_a_sample_records_the_most_likely_expression_and_the_happy_decision() -> None:
    clearly = _sample("a", "happy", happy=0.9)
    barely = _sample("b", "sad", happy=0.41, sad=0.3)
    missed = _sample("c", "sad")

    assert (clearly.predicted, clearly.looks_happy) == ("happy", True)
    # Happy is the most likely of the seven, but less likely than not.
    assert (barely.predicted, barely.looks_happy) == ("happy", False)
    assert (missed.predicted, missed.looks_happy) == (None, None)


def test_scores_accuracy_per_class_confusion_and_happy_vs_not() -> None:
    samples = [
        _sample("1", "happy", happy=0.9),
        _sample("2", "happy", happy=0.6),
        _sample("3", "happy"),
        _sample("4", "sad", happy=0.8),
        _sample("5", "sad", neutral=0.5),
        _sample("6", "neutral", neutral=0.9),
        _sample("7", "surprised", fearful=0.6),
        _sample("8", "sad", happy=0.41, sad=0.3),
    ]

    report = score_expressions(samples, [2.0, 4.0], ignored=3)
    result = report.as_dict()

    assert result["accuracy"] == round(3 / 7, 4)
    assert result["images"] == 8
    assert result["no_face"] == 1
    assert result["correct"] == 3
    # happy vs not: 1, 2 right (happy); 4 wrong (sad read as happy); 5, 6, 7 right; 8 right
    # (happy is its most likely expression, but at 0.41 it does not look happy).
    assert result["happy_vs_not_accuracy"] == round(6 / 7, 4)
    assert result["ignored"] == 3
    assert result["ms_per_face"] == 3.0
    # Rows in label order for the classes present; every row has all seven columns.
    assert list(report.per_class) == ["neutral", "happy", "sad", "surprised"]
    per_class = json.loads(json.dumps(result["per_class"]))
    assert per_class["happy"] == {"accuracy": 1.0, "images": 3, "no_face": 1, "correct": 2}
    assert per_class["sad"]["accuracy"] == 0.0
    confusion = report.confusion
    assert all(list(row) == list(EXPRESSION_LABELS) for row in confusion.values())
    assert confusion["sad"]["happy"] == 2
    assert confusion["sad"]["neutral"] == 1
    assert confusion["surprised"]["fearful"] == 1
    assert sum(sum(row.values()) for row in confusion.values()) == 7
    assert set(result) >= {"accuracy", "per_class", "confusion", "images", "no_face"}


def test_a_class_with_only_missed_faces_has_no_accuracy() -> None:
    report = score_expressions([ExpressionSample("1", "angry", None)], [])

    assert report.accuracy is None
    assert report.per_class["angry"].accuracy is None
    assert report.ms_per_face == 0.0


def test_labels_outside_the_seven_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="contempt"):
        score_expressions([ExpressionSample("1", "contempt", "happy")], [])
