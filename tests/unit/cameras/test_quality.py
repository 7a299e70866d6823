from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.cameras.tracker import face_quality, frontalness, sharpness, size_score
from salesmigo.vision.types import Box, DetectedFace, Frame


def landmarks(nose_x: float) -> NDArray[np.float32]:
    # right eye, left eye, nose, mouth corners: eyes at x 30 and 70
    return np.array([[30, 40], [70, 40], [nose_x, 60], [38, 80], [62, 80]], dtype=np.float32)


@pytest.mark.parametrize(
    ("nose_x", "expected"),
    [(50.0, 1.0), (40.0, 1 / 3), (30.0, 0.0), (20.0, 0.0), (75.0, 0.0)],
)
def test_frontalness_is_nose_symmetry_between_the_eyes(nose_x: float, expected: float) -> None:
    assert frontalness(landmarks(nose_x)) == pytest.approx(expected)


def test_frontalness_ignores_head_roll() -> None:
    angle = np.deg2rad(30)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], dtype=np.float32
    )
    rolled = landmarks(45.0) @ rotation.T
    assert frontalness(rolled) == pytest.approx(frontalness(landmarks(45.0)), abs=1e-5)


def test_frontalness_of_coincident_eyes_is_zero() -> None:
    assert frontalness(np.zeros((5, 2), dtype=np.float32)) == 0.0


@pytest.mark.parametrize(("width", "expected"), [(0, 0.0), (56, 0.5), (112, 1.0), (300, 1.0)])
def test_size_score_saturates_at_the_recogniser_size(width: int, expected: float) -> None:
    assert size_score(Box(0, 0, width, width)) == pytest.approx(expected)


def textured(seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    return np.asarray(rng.integers(0, 256, (200, 200, 3)), dtype=np.uint8)


def test_blur_lowers_sharpness() -> None:
    image = textured()
    box = Box(50, 50, 100, 100)
    blurred = np.asarray(cv2.GaussianBlur(image, (15, 15), 5), dtype=np.uint8)
    assert sharpness(image, box) > 10 * sharpness(blurred, box)


def test_sharpness_of_an_empty_box_is_zero() -> None:
    assert sharpness(textured(), Box(10, 10, 0, 0)) == 0.0


def test_quality_prefers_large_frontal_sharp_faces() -> None:
    image = textured()
    blurred = np.asarray(cv2.GaussianBlur(image, (15, 15), 5), dtype=np.uint8)
    good = DetectedFace(Box(40, 40, 112, 112), 0.9, landmarks(50.0) + np.float32(40))
    small = DetectedFace(Box(40, 40, 40, 40), 0.9, landmarks(50.0) + np.float32(40))
    turned = DetectedFace(Box(40, 40, 112, 112), 0.9, landmarks(35.0) + np.float32(40))
    best = face_quality(image, good)
    assert 0 < best <= 1
    assert face_quality(image, small) < best
    assert face_quality(image, turned) < best
    assert face_quality(blurred, good) < best
