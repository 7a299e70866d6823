"""The scoring both `eval expressions` and `eval gestures` use, on plain string labels."""

from __future__ import annotations

import json
from enum import StrEnum

import pytest

from salesmigo.evaluation.classification import (
    ClassScore,
    Sample,
    labelled_rows,
    mean_ms,
    score_classification,
)
from salesmigo.evaluation.manifest import ManifestRow

LABELS = ("cat", "dog", "owl")


def _class_for(label: str) -> str | None:
    key = label.strip().lower()
    return {"kitten": "cat"}.get(key, key) if key in {*LABELS, "kitten"} else None


def test_labelled_rows_keep_the_kind_and_count_the_other_labels() -> None:
    rows = [
        ManifestRow("a.jpg", "animal", "Cat"),
        ManifestRow("b.jpg", "animal", "horse"),
        ManifestRow("c.jpg", "plant", "cat"),
        ManifestRow("d.jpg", "animal", "kitten"),
        ManifestRow("e.jpg", "animal", ""),
    ]

    kept, ignored = labelled_rows(rows, "animal", _class_for)

    assert [(row.path, row.truth) for row in kept] == [("a.jpg", "cat"), ("d.jpg", "cat")]
    assert ignored == 2


def test_no_rows_of_the_kind() -> None:
    assert labelled_rows([ManifestRow("a.jpg", "plant", "cat")], "animal", _class_for) == ([], 0)


def test_scores_per_class_confusion_and_counts() -> None:
    samples = [
        Sample("1", "dog", "dog"),
        Sample("2", "dog", "cat"),
        Sample("3", "dog", None),
        Sample("4", "cat", "cat"),
        Sample("5", "owl", None),
    ]

    report = score_classification(samples, LABELS, what="animal")

    # Rows: the classes present, in label order; columns: every label.
    assert list(report.per_class) == ["cat", "dog", "owl"]
    assert all(list(row) == list(LABELS) for row in report.confusion.values())
    assert report.per_class["dog"] == ClassScore(images=3, no_detection=1, correct=1)
    assert report.per_class["dog"].accuracy == pytest.approx(0.5)
    assert report.per_class["owl"].accuracy is None  # its only image had no detection
    assert report.confusion["dog"] == {"cat": 1, "dog": 1, "owl": 0}
    assert sum(sum(row.values()) for row in report.confusion.values()) == 3
    assert (report.images, report.no_detection, report.correct, report.detected) == (5, 2, 2, 3)
    assert report.accuracy == pytest.approx(2 / 3)
    assert report.accuracy_over(["dog", "owl"]) == pytest.approx(1 / 2)
    assert report.accuracy_over(["owl"]) is None
    assert report.detected_rate == pytest.approx(3 / 5)


def test_a_class_absent_from_the_samples_has_no_row() -> None:
    report = score_classification([Sample("1", "owl", "cat")], LABELS, what="animal")

    assert list(report.per_class) == ["owl"]
    assert list(report.confusion) == ["owl"]
    assert report.accuracy_over(["cat", "dog"]) is None


def test_as_dict_names_the_no_detection_count() -> None:
    samples = [Sample("1", "cat", "cat"), Sample("2", "cat", None), Sample("3", "dog", "cat")]
    report = score_classification(samples, LABELS, what="animal")

    data = report.as_dict("no_paw")

    assert list(data) == ["accuracy", "per_class", "confusion", "images", "no_paw"]
    assert data["accuracy"] == 0.5
    assert data["images"] == 3
    assert data["no_paw"] == 1
    assert data["per_class"] == {
        "cat": {"accuracy": 1.0, "images": 2, "no_paw": 1, "correct": 1},
        "dog": {"accuracy": 0.0, "images": 1, "no_paw": 0, "correct": 0},
    }
    assert json.loads(json.dumps(data))["confusion"]["dog"] == {"cat": 1, "dog": 0, "owl": 0}


def test_as_dict_rounds_to_four_places() -> None:
    samples = [Sample(str(i), "cat", "cat" if i else "dog") for i in range(3)]

    data = score_classification(samples, LABELS, what="animal").as_dict("no_paw")

    assert data["accuracy"] == 0.6667


class Animal(StrEnum):
    CAT = "cat"
    DOG = "dog"


def test_enum_labels_are_written_by_value() -> None:
    report = score_classification(
        [Sample("1", Animal.DOG, Animal.CAT)], list(Animal), what="animal"
    )

    data = json.loads(json.dumps(report.as_dict("no_paw")))

    assert list(report.per_class) == [Animal.DOG]
    assert data["per_class"] == {"dog": {"accuracy": 0.0, "images": 1, "no_paw": 0, "correct": 0}}
    assert data["confusion"] == {"dog": {"cat": 1, "dog": 0}}


def test_empty_samples() -> None:
    report = score_classification([], LABELS, what="animal")

    assert report.per_class == {}
    assert report.confusion == {}
    assert report.accuracy is None
    assert report.detected_rate is None
    assert report.as_dict("no_paw")["images"] == 0


@pytest.mark.parametrize("sample", [Sample("1", "horse", "cat"), Sample("1", "cat", "horse")])
def test_labels_outside_the_list_are_a_programming_error(sample: Sample[str]) -> None:
    with pytest.raises(ValueError, match="not animal labels: horse"):
        score_classification([sample], LABELS, what="animal")


def test_mean_ms() -> None:
    assert mean_ms([2.0, 4.0, 9.0]) == 5.0
    assert mean_ms([]) == 0.0
