"""Warping a face onto the standard 5-point template that ArcFace-style recognisers expect."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.types import Box, Frame

# The public 112x112 ArcFace template that SFace was trained with, in the landmark order of
# DetectedFace: subject's right eye, left eye, nose tip, right mouth corner, left mouth corner.
TEMPLATE_112: NDArray[np.float32] = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
TEMPLATE_SIZE = 112


def similarity_transform(
    landmarks: NDArray[np.float32], size: int = TEMPLATE_SIZE
) -> NDArray[np.float64]:
    """The 2x3 rotation + uniform scale + translation taking ``landmarks`` onto the template.

    A closed-form least-squares fit (Umeyama 1991) over all five points rather than a robust
    estimator: with five points, LMEDS/RANSAC may drop two of them and fit the rest exactly,
    which makes the crop jump between frames of the same face.
    """
    source = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.all(np.isfinite(source)):
        raise ValueError("face landmarks contain NaN or infinite values")
    target = TEMPLATE_112.astype(np.float64) * (size / TEMPLATE_SIZE)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    source_variance = float((source_centred**2).sum()) / len(source)
    if source_variance < 1e-6:
        raise ValueError("face landmarks are degenerate: all five points coincide")
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0  # a reflection is not a pose change: force a proper rotation
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign)) / source_variance
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix


def align_face(frame: Frame, landmarks: NDArray[np.float32], size: int = TEMPLATE_SIZE) -> Frame:
    """Crop ``frame`` to a ``size`` x ``size`` face whose 5 landmarks sit on the template."""
    matrix = similarity_transform(landmarks, size)
    # Replicating the border keeps faces at the frame edge from gaining black bars the
    # recogniser never saw in training.
    aligned = cv2.warpAffine(
        frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(aligned, dtype=np.uint8)


class ContextCrop:
    """A square crop centred on a face box, grown ``context`` times and resized to
    ``side`` pixels (a landmark model sees the whole head at a size it handles well), and
    the way back from crop pixels to frame pixels."""

    def __init__(self, frame: Frame, box: Box, context: float, side: int) -> None:
        half = max(box.width, box.height) * context / 2
        if half <= 0:
            raise ValueError("an empty face box has no crop")
        self.scale = side / (2 * half)
        centre_x, centre_y = box.x + box.width / 2, box.y + box.height / 2
        self.offset = np.array([(half - centre_x) * self.scale, (half - centre_y) * self.scale])
        matrix = np.array([[self.scale, 0.0, self.offset[0]], [0.0, self.scale, self.offset[1]]])
        warped = cv2.warpAffine(frame, matrix, (side, side), borderMode=cv2.BORDER_REPLICATE)
        self.image: Frame = np.asarray(warped, dtype=np.uint8)

    def to_frame(self, points: NDArray[Any]) -> NDArray[np.float64]:
        """(n, 2) crop pixel coordinates as frame pixel coordinates."""
        return np.asarray((points - self.offset) / self.scale, dtype=np.float64)
