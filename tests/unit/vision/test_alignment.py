"""align_face warps the five landmarks onto the ArcFace template; detect's landmark maths."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.vision.align import TEMPLATE_112, align_face, similarity_transform
from salesmigo.vision.detect import MOUTH_TO_EYE_WIDTH, arcface_landmarks


def moved(
    points: NDArray[Any], degrees: float, scale: float, shift: tuple[float, float]
) -> NDArray[Any]:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.asarray(points @ (scale * rotation).T + shift, dtype=np.float32)


def test_template_maps_onto_itself() -> None:
    matrix = similarity_transform(TEMPLATE_112)
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6)


@pytest.mark.parametrize(
    ("degrees", "scale", "shift"), [(0, 1, (0, 0)), (25, 3.0, (140, 60)), (-40, 0.7, (5, 90))]
)
def test_rotated_scaled_points_map_back(
    degrees: float, scale: float, shift: tuple[float, float]
) -> None:
    landmarks = moved(TEMPLATE_112, degrees, scale, shift)
    matrix = similarity_transform(landmarks)
    mapped = landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(mapped, TEMPLATE_112, atol=1e-3)


def test_aligned_crop_puts_marks_on_the_template() -> None:
    # Draw a white dot at each landmark of a face rotated 30 degrees and scaled 2.5x.
    landmarks = moved(TEMPLATE_112, 30, 2.5, (200, 40))
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    for x, y in landmarks:
        cv2.circle(frame, (round(float(x)), round(float(y))), 4, (255, 255, 255), -1)
    aligned = align_face(frame, landmarks)
    assert aligned.shape == (112, 112, 3)
    assert aligned.dtype == np.uint8
    for x, y in TEMPLATE_112:
        assert aligned[round(float(y)), round(float(x))].min() > 200


def test_size_scales_the_template() -> None:
    aligned = align_face(np.zeros((300, 300, 3), dtype=np.uint8), TEMPLATE_112 * 2, size=224)
    assert aligned.shape == (224, 224, 3)


@pytest.mark.parametrize(
    "landmarks",
    [np.full((5, 2), 10.0, dtype=np.float32), np.full((5, 2), np.nan, dtype=np.float32)],
    ids=["coincident", "nan"],
)
def test_unusable_landmarks_are_refused(landmarks: NDArray[Any]) -> None:
    with pytest.raises(ValueError, match="landmarks"):
        align_face(np.zeros((50, 50, 3), dtype=np.uint8), landmarks)


def test_mouth_corners_follow_the_eye_line() -> None:
    # BlazeFace keypoints: right eye, left eye, nose tip, mouth centre, two ears.
    keypoints = np.array(
        [[40, 50], [80, 50], [60, 70], [60, 90], [20, 60], [100, 60]], dtype=np.float32
    )
    landmarks = arcface_landmarks(keypoints)
    assert landmarks.shape == (5, 2)
    assert landmarks.dtype == np.float32
    assert np.allclose(landmarks[:3], keypoints[:3])
    right_corner, left_corner = landmarks[3], landmarks[4]
    assert right_corner[0] < 60 < left_corner[0]  # subject's right is on the image's left
    assert np.allclose((right_corner + left_corner) / 2, [60, 90])
    assert np.isclose(np.linalg.norm(left_corner - right_corner), 40 * MOUTH_TO_EYE_WIDTH)
    assert 0.8 < MOUTH_TO_EYE_WIDTH < 0.85
