"""dlib's ResNet (the network face-api.js ports): raw 128-D descriptors, same person < ~0.6."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import dlib
import numpy as np

from salesmigo.vision.embedders import package_models_dir, require_file
from salesmigo.vision.types import DetectedFace, FaceEmbedding, Frame

logger = logging.getLogger(__name__)

MODEL = "dlib"
VERSION = "resnet_v1"
_PACKAGE, _DISTRIBUTION = "face_recognition_models", "face-recognition-models"
_RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# Only the 5-point predictor: the 68-point model's training data (iBUG 300-W) forbids
# commercial use, so it must never be loaded even though the same package ships it.
_SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"


class DlibEmbedder:
    """5-point dlib shape on the detection box, then dlib's face chip and ResNet descriptor."""

    def __init__(self, models_dir: Path | None = None) -> None:
        folder = (
            models_dir if models_dir is not None else package_models_dir(_PACKAGE, _DISTRIBUTION)
        )
        shape_path = require_file(folder, _SHAPE_FILE, _DISTRIBUTION)
        recognition_path = require_file(folder, _RECOGNITION_FILE, _DISTRIBUTION)
        self._shape_predictor = dlib.shape_predictor(str(shape_path))
        self._recognizer = dlib.face_recognition_model_v1(str(recognition_path))
        # dlib's network objects keep scratch buffers: one call at a time per instance.
        self._lock = threading.Lock()
        logger.info("loaded dlib ResNet from %s", folder)

    @property
    def model(self) -> str:
        return MODEL

    @property
    def model_version(self) -> str:
        return VERSION

    @property
    def dimension(self) -> int:
        return 128

    def embed(self, frame: Frame, face: DetectedFace) -> FaceEmbedding:
        rgb = np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))  # dlib wants RGB
        box = face.box
        rectangle = dlib.rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1)
        with self._lock:
            shape = self._shape_predictor(rgb, rectangle)
            descriptor = self._recognizer.compute_face_descriptor(rgb, shape)
        # Not normalised: face-api.js descriptors of the 2022 prototype are raw, and its
        # distances (same person below ~0.6) must stay comparable.
        vector = np.asarray(descriptor, dtype=np.float32).reshape(-1)
        return FaceEmbedding(vector=vector, model=MODEL, model_version=VERSION)
