"""Dense face landmarks (mediapipe FaceMesh) for a face that a detector has already found.

Why: face-api.js, the 2022 prototype, fed its expression network the box around its 68
landmarks (see vision.expression). Salesmigo may not run a 68-point model (dlib's training
data forbids commercial use; face-api.js's landmark net is a second, undocumented network),
but FaceMesh (Apache-2.0, inside the mediapipe wheel) gives 468 points on the same face, and
a subset of them traces the same outline as the 68-point layout.

The 68-point layout (iBUG 300-W, which face-api.js follows) outlines a face with its jaw line
(points 0-16: from beside one eye, round the chin, to beside the other) and the upper edge of
the eyebrows (17-26). Its other 41 points (nose, eyes, lips) lie inside that outline, so they
never decide the box. OUTLINE_68 holds the FaceMesh points on the same curves: the lower half
of the face oval from the temple beside the right eye (127) round the chin (152) to the left
(356), and the five points along the upper edge of each eyebrow. On the four public images
for which face-api.js's own box is recorded (tests/integration/test_expression_model.py) the
box from these points lies within 0-6 % of it on every edge.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.align import ContextCrop
from salesmigo.vision.images import rgb_copy
from salesmigo.vision.types import Box, Frame

# FaceMesh indices. "Right" is the subject's right: the image's left in a frontal photo.
JAW_LINE: tuple[int, ...] = (
    127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148,  # right temple to the chin
    152,  # the chin
    377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356,  # the chin to the left temple
)  # fmt: skip
UPPER_EYEBROWS: tuple[int, ...] = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
OUTLINE_68: tuple[int, ...] = JAW_LINE + UPPER_EYEBROWS

MESH_POINTS = 468  # without the iris points (refine_landmarks=False): the outline needs none

# As in the face detector: mediapipe's own cut-off kept low; a face was already found here.
MIN_CONFIDENCE = 0.3


class FaceMeshLandmarks:
    """FaceMesh on a square crop around one detected face; thread-safe (one lock).

    The crop is the detector's box grown to CONTEXT times its longer side, so the mesh's own
    short-range detector sees a whole head with some context (as it was trained), resized to
    SIDE pixels so the cost does not grow with the face. Outside the frame the crop repeats
    the border pixels rather than adding a hard black edge beside a tightly cropped face.
    """

    CONTEXT = 2.0
    SIDE = 256

    def __init__(self, min_confidence: float = MIN_CONFIDENCE) -> None:
        # As in vision.detect: mediapipe's native libraries load only when a mesh is needed,
        # and its C++ start-up chatter stays off stderr.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from mediapipe.python.solutions import face_mesh

        self._lock = threading.Lock()
        # Static mode: every call is a new crop (often of another person), so tracking the
        # previous call's landmarks would follow the wrong face.
        self._mesh = face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=min_confidence,
        )
        self._closed = False

    def landmarks(self, frame: Frame, box: Box) -> NDArray[np.float32] | None:
        """(468, 2) landmarks in frame pixels for the face in ``box``, or None if the mesh
        finds no face there (or only a neighbour whose centre lies outside ``box``)."""
        if max(box.width, box.height) <= 0:
            return None
        crop = ContextCrop(frame, box, self.CONTEXT, self.SIDE)
        rgb = rgb_copy(np.asarray(crop.image, dtype=np.uint8))
        with self._lock:
            if self._closed:
                raise RuntimeError("this face mesh has been closed")
            found: Sequence[Any] = self._mesh.process(rgb).multi_face_landmarks or []
        if not found:
            return None
        relative = np.array([(point.x, point.y) for point in found[0].landmark], dtype=np.float64)
        points = crop.to_frame(relative * self.SIDE)
        if not _centre_inside(points, box):
            return None
        return np.asarray(points, dtype=np.float32)

    def close(self) -> None:
        """Release mediapipe's graph; landmarks() fails afterwards. Safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._mesh.close()

    def __enter__(self) -> FaceMeshLandmarks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _centre_inside(points: NDArray[np.float64], box: Box) -> bool:
    """Whether the mesh's centre lies in ``box``: in a crowd the crop around one face can hold
    another, and the mesh may pick that one."""
    centre_x, centre_y = points.mean(axis=0)
    return bool(box.x <= centre_x <= box.x + box.width and box.y <= centre_y <= box.y + box.height)


def outline_box(points: NDArray[np.float32]) -> tuple[float, float, float, float]:
    """(x, y, width, height): the smallest box around the 68-point outline's mesh points."""
    if points.ndim != 2 or points.shape[0] < MESH_POINTS or points.shape[1] != 2:
        raise ValueError(f"expected ({MESH_POINTS}, 2) FaceMesh landmarks, got {points.shape}")
    outline = points[list(OUTLINE_68)].astype(np.float64)
    left, top = outline.min(axis=0)
    right, bottom = outline.max(axis=0)
    if not all(math.isfinite(value) for value in (left, top, right, bottom)):
        raise ValueError("the landmarks are not finite")
    return float(left), float(top), float(right - left), float(bottom - top)
