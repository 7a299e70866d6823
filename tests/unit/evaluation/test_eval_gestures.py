"""Gesture scoring, the label mapping and `eval gestures`, with a fake hand detector."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from salesmigo.cli import evaluate
from salesmigo.evaluation.gestures import (
    GOAL_GESTURES,
    LABEL_MAP,
    GestureSample,
    gesture_for_label,
    gesture_rows,
    image_gesture,
    predict_gesture,
    score_gestures,
)
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.vision import hands as hands_module
from salesmigo.vision.gesture_labels import Gesture
from salesmigo.vision.gestures import Classification
from salesmigo.vision.hands import Hand
from salesmigo.vision.types import Box, Frame
from tests.unit.vision.test_gestures import make_hand, thumbs_up, turn

G = Gesture


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("thumbs_up", G.THUMBS_UP),
        ("like", G.THUMBS_UP),
        ("dislike", G.THUMBS_DOWN),
        ("peace", G.VICTORY),
        ("peace_inverted", G.VICTORY),
        ("two_up", G.VICTORY),
        ("two_up_inverted", G.VICTORY),
        ("digit2", G.VICTORY),
        ("2-hand", G.VICTORY),
        ("palm", G.OPEN_PALM),
        ("five", G.OPEN_PALM),
        ("stop", G.OPEN_PALM),
        ("stop_inverted", G.OPEN_PALM),
        ("digit5", G.OPEN_PALM),
        ("5-hand", G.OPEN_PALM),
        ("fist", G.FIST),
        ("0-hand", G.FIST),
        ("one", G.POINTING_UP),
        ("digit1", G.POINTING_UP),
        ("Digit-1", G.POINTING_UP),
        ("no_gesture", G.NONE),
        ("none", G.NONE),
        (" Thumbs Up ", G.THUMBS_UP),
        ("call", None),
        ("four", None),
        ("three2", None),
        ("point", None),
        ("mute", None),
        ("other:half_curl", None),
        ("", None),
    ],
)
def test_label_mapping(label: str, expected: Gesture | None) -> None:
    assert gesture_for_label(label) is expected


def test_every_gesture_maps_from_its_own_name() -> None:
    for gesture in Gesture:
        assert gesture_for_label(gesture.value) is gesture
    assert set(LABEL_MAP.values()) == set(Gesture)


def test_gesture_rows_keep_mapped_gesture_rows_only() -> None:
    rows = [
        ManifestRow("a.jpg", "gesture", "like"),
        ManifestRow("b.jpg", "gesture", "call"),
        ManifestRow("c.jpg", "expression", "happy"),
        ManifestRow("d.jpg", "gesture", "no_gesture"),
        ManifestRow("e.jpg", "identity", "fist"),
    ]
    kept, ignored = gesture_rows(rows)
    assert [(row.path, row.truth) for row in kept] == [("a.jpg", G.THUMBS_UP), ("d.jpg", G.NONE)]
    assert ignored == 1


def test_image_gesture_prefers_the_surest_hand_showing_one() -> None:
    assert image_gesture([]) is None
    assert image_gesture([Classification(G.NONE, 1.0)]) is G.NONE
    hands = [
        Classification(G.NONE, 1.0),
        Classification(G.FIST, 0.6),
        Classification(G.THUMBS_UP, 0.9),
    ]
    assert image_gesture(hands) is G.THUMBS_UP


def _hand(points: NDArray[np.float64]) -> Hand:
    landmarks = (points + 300).astype(np.float32)
    return Hand(
        box=Box(0, 0, 50, 50),
        landmarks=landmarks,
        normalized=landmarks / 600,
        handedness="right",
        handedness_score=0.9,
    )


# The fake detector reads the pose off the frame's first pixel.
POSES = {
    10: [_hand(thumbs_up())],
    20: [_hand(turn(thumbs_up(), 180))],
    30: [_hand(make_hand((True, True, False, False), thumb_out=False))],
    40: [_hand(make_hand((True, True, True, True), thumb_out=True, degrees=180))],  # hanging
    50: [],
}


class FakeDetector:
    def __init__(self, **options: object) -> None:
        self.options = options
        self.closed = False

    def detect(self, frame: Frame) -> list[Hand]:
        if self.closed:
            raise RuntimeError("closed")
        return POSES.get(int(frame[0, 0, 0]), [])

    def close(self) -> None:
        self.closed = True


def _frame(code: int) -> Frame:
    return np.full((8, 8, 3), code, dtype=np.uint8)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(10, G.THUMBS_UP), (20, G.THUMBS_DOWN), (30, G.VICTORY), (40, G.NONE), (50, None)],
)
def test_predict_gesture(code: int, expected: Gesture | None) -> None:
    gesture, milliseconds = predict_gesture(FakeDetector(), _frame(code))
    assert gesture is expected
    assert milliseconds >= 0


def test_scores() -> None:
    samples = [
        GestureSample("1", G.THUMBS_UP, G.THUMBS_UP),
        GestureSample("2", G.THUMBS_UP, G.FIST),
        GestureSample("3", G.THUMBS_UP, None),
        GestureSample("4", G.FIST, G.FIST),
        GestureSample("5", G.POINTING_UP, G.POINTING_UP),
        GestureSample("6", G.POINTING_UP, G.NONE),
        GestureSample("7", G.NONE, None),
    ]
    report = score_gestures(samples, [10.0, 20.0, 30.0], ignored=4)
    assert report.images == 7
    assert report.no_hand == 2
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.goal_accuracy == pytest.approx(2 / 3)
    assert report.hand_found_rate == pytest.approx(5 / 7)
    assert list(report.per_class) == [G.THUMBS_UP, G.FIST, G.POINTING_UP, G.NONE]
    assert report.per_class[G.THUMBS_UP].accuracy == pytest.approx(0.5)
    assert report.per_class[G.NONE].accuracy is None  # its only image had no hand
    assert report.confusion[G.THUMBS_UP][G.FIST] == 1
    assert report.confusion[G.POINTING_UP][G.NONE] == 1
    assert sum(report.confusion[G.THUMBS_UP].values()) == 2  # no-hand images are not in it

    data = report.as_dict()
    assert {"accuracy", "per_class", "confusion", "images", "no_hand"} <= set(data)
    assert data["accuracy"] == 0.6
    assert data["goal_accuracy"] == pytest.approx(0.6667)
    assert data["ms_per_image"] == 20.0
    assert data["ignored"] == 4
    assert data["goal_classes"] == [gesture.value for gesture in GOAL_GESTURES]
    assert data["per_class"] == {
        "thumbs_up": {"accuracy": 0.5, "images": 3, "no_hand": 1, "correct": 1},
        "fist": {"accuracy": 1.0, "images": 1, "no_hand": 0, "correct": 1},
        "pointing_up": {"accuracy": 0.5, "images": 2, "no_hand": 0, "correct": 1},
        "none": {"accuracy": None, "images": 1, "no_hand": 1, "correct": 0},
    }
    assert json.loads(json.dumps(data))["confusion"]["fist"] == {
        gesture.value: int(gesture is G.FIST) for gesture in G
    }


def test_empty_scores() -> None:
    report = score_gestures([], [])
    assert report.accuracy is None
    assert report.goal_accuracy is None
    assert report.hand_found_rate is None
    assert report.as_dict()["images"] == 0


@pytest.fixture
def fake_detector(monkeypatch: pytest.MonkeyPatch) -> list[FakeDetector]:
    made: list[FakeDetector] = []

    def factory(**options: object) -> FakeDetector:
        detector = FakeDetector(**options)
        made.append(detector)
        return detector

    monkeypatch.setattr(hands_module, "HandDetector", factory)
    return made


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "data"
    root.mkdir()
    rows = [
        ("up.png", "like", 10),
        ("down.png", "thumbs_down", 20),
        ("v.png", "peace", 30),
        ("relaxed.png", "no_gesture", 40),
        ("empty.png", "fist", 50),
        ("call.png", "call", 10),
    ]
    for name, _, code in rows:
        cv2.imwrite(str(root / name), _frame(code))
    lines = ["path\tkind\tlabel", *(f"{name}\tgesture\t{label}" for name, label, _ in rows)]
    lines += ["missing.png\tgesture\tvictory", "face.png\texpression\thappy"]
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, root


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(evaluate.app, ["gestures", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_eval_gestures_json(tmp_path: Path, fake_detector: list[FakeDetector]) -> None:
    manifest, root = _dataset(tmp_path)
    code, out, err = _invoke("--manifest", str(manifest), "--root", str(root), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["images"] == 6  # five readable images and a missing one
    assert data["no_hand"] == 2  # the empty frame and the missing file
    assert data["ignored"] == 1
    assert data["accuracy"] == 1.0
    assert data["per_class"]["victory"] == {
        "accuracy": 1.0,
        "images": 2,
        "no_hand": 1,
        "correct": 1,
    }
    assert "missing.png" in err
    assert [detector.closed for detector in fake_detector] == [True]
    assert fake_detector[0].options == {"static_image_mode": True}


def test_eval_gestures_table(tmp_path: Path, fake_detector: list[FakeDetector]) -> None:
    manifest, root = _dataset(tmp_path)
    code, out, _ = _invoke("--manifest", str(manifest), "--root", str(root))
    assert code == 0
    assert "Hand gestures" in out
    assert "thumbs_up" in out


def test_eval_gestures_without_gesture_rows(
    tmp_path: Path, fake_detector: list[FakeDetector]
) -> None:
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text("path\tkind\tlabel\na.png\tgesture\tcall\n", encoding="utf-8")
    code, _, err = _invoke("--manifest", str(manifest), "--root", str(tmp_path))
    assert code == 1
    assert "no rows of kind 'gesture'" in err
    assert fake_detector == []


def test_eval_gestures_missing_manifest(tmp_path: Path) -> None:
    code, _, err = _invoke("--manifest", str(tmp_path / "nope.tsv"), "--root", str(tmp_path))
    assert code == 1
    assert "does not exist" in err
