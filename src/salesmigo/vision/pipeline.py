"""Detect, filter and describe faces: the vision stage as the rest of Salesmigo sees it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from salesmigo.config import VisionSettings
from salesmigo.vision.types import (
    DetectedFace,
    Face,
    FaceDetector,
    FaceEmbedder,
    FaceEmbedding,
    Frame,
    RejectedFace,
)

logger = logging.getLogger(__name__)

EmbedderFactory = Callable[[str], FaceEmbedder]


@dataclass(frozen=True)
class FaceAnalysis:
    """Every face in a frame: the usable ones described, the others with a reason."""

    faces: list[Face]  # largest first
    rejected: list[RejectedFace]


def rejection_reason(detection: DetectedFace, settings: VisionSettings) -> str | None:
    """Why a detected face should not be recognised, or None if it is usable.

    Small or uncertain faces give descriptors that match the wrong person; refusing them
    with a reason is better than storing a bad template or greeting a stranger by name.
    """
    if detection.box.width < settings.min_face_size:
        return f"face is {detection.box.width} px wide; the minimum is {settings.min_face_size} px"
    if detection.score < settings.min_detection_score:
        return f"detection score {detection.score:.2f} is below {settings.min_detection_score:.2f}"
    return None


class FacePipeline:
    """A detector plus one embedder per recogniser model, created on first use if lazy."""

    def __init__(
        self,
        detector: FaceDetector,
        embedders: Mapping[str, FaceEmbedder] | EmbedderFactory,
        settings: VisionSettings,
    ) -> None:
        self.detector = detector
        self.settings = settings
        self._embedders: dict[str, FaceEmbedder] = {}
        self._factory: EmbedderFactory | None = None
        if callable(embedders):
            self._factory = embedders
        else:
            self._embedders.update(embedders)
        self._lock = threading.Lock()

    @classmethod
    def default(cls, settings: VisionSettings) -> FacePipeline:
        """Mediapipe detection and registry embedders, each model loaded when first asked for."""
        from salesmigo.vision.detect import MediapipeFaceDetector
        from salesmigo.vision.embedders import create_embedder

        return cls(MediapipeFaceDetector(), create_embedder, settings)

    def embedder(self, model: str) -> FaceEmbedder:
        """The embedder for ``model``; ValueError naming the known models if there is none."""
        with self._lock:
            found = self._embedders.get(model)
            if found is None:
                if self._factory is None:
                    known = ", ".join(repr(name) for name in self._embedders)
                    raise ValueError(
                        f"no face recogniser {model!r} in this pipeline; it has: {known}"
                    )
                # Loading weights under the lock means two threads asking at once load once.
                found = self._factory(model)
                self._embedders[model] = found
            return found

    def analyse(self, frame: Frame, model: str) -> FaceAnalysis:
        """Detect every face, reject the unusable ones and describe the rest with ``model``."""
        embedder = self.embedder(model)  # fail on an unknown model before detecting
        faces: list[Face] = []
        rejected: list[RejectedFace] = []
        for detection in self.detector.detect(frame):
            reason = rejection_reason(detection, self.settings)
            if reason is not None:
                logger.debug("rejected face at %s: %s", detection.box.as_list(), reason)
                rejected.append(RejectedFace(detection=detection, reason=reason))
                continue
            faces.append(Face(detection=detection, embedding=embedder.embed(frame, detection)))
        return FaceAnalysis(faces=faces, rejected=rejected)

    def embed(self, frame: Frame, detection: DetectedFace, model: str) -> FaceEmbedding:
        """Describe an already detected face with ``model`` (e.g. a second recogniser)."""
        return self.embedder(model).embed(frame, detection)

    def close(self) -> None:
        """Release the detector's native resources (if it has any); safe to call twice."""
        close = getattr(self.detector, "close", None)
        if callable(close):
            close()
