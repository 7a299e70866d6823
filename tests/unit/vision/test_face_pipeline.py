"""FacePipeline with fake detectors and embedders: filtering, laziness, errors."""

from __future__ import annotations

import numpy as np
import pytest

from salesmigo.config import VisionSettings
from salesmigo.vision.pipeline import FaceAnalysis, FacePipeline, rejection_reason
from salesmigo.vision.types import Box, DetectedFace, FaceEmbedder, FaceEmbedding, Frame

SETTINGS = VisionSettings(min_face_size=32, min_detection_score=0.6)
FRAME: Frame = np.zeros((200, 300, 3), dtype=np.uint8)


def face(width: int, score: float = 0.9) -> DetectedFace:
    return DetectedFace(
        box=Box(x=10, y=10, width=width, height=width),
        score=score,
        landmarks=np.zeros((5, 2), dtype=np.float32),
    )


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        (face(64), None),
        (face(32, 0.6), None),
        (face(20), "face is 20 px wide; the minimum is 32 px"),
        (face(64, 0.41), "detection score 0.41 is below 0.60"),
        (face(10, 0.1), "face is 10 px wide; the minimum is 32 px"),
    ],
)
def test_rejection_reason(detection: DetectedFace, reason: str | None) -> None:
    assert rejection_reason(detection, SETTINGS) == reason


class FakeDetector:
    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces
        self.closed = 0

    def close(self) -> None:
        self.closed += 1

    def detect(self, frame: Frame) -> list[DetectedFace]:
        return list(self.faces)


class FakeEmbedder:
    def __init__(self, model: str) -> None:
        self._model = model
        self.calls = 0

    @property
    def model(self) -> str:
        return self._model

    @property
    def model_version(self) -> str:
        return "test"

    @property
    def dimension(self) -> int:
        return 4

    def embed(self, frame: Frame, face: DetectedFace) -> FaceEmbedding:
        self.calls += 1
        vector = np.full(4, face.box.width, dtype=np.float32)
        return FaceEmbedding(vector=vector, model=self._model, model_version="test")


def test_analyse_describes_usable_faces_and_explains_the_rest() -> None:
    detector = FakeDetector([face(100), face(20), face(50, 0.3), face(40)])
    embedder = FakeEmbedder("sface")
    pipeline = FacePipeline(detector, {"sface": embedder}, SETTINGS)
    analysis = pipeline.analyse(FRAME, "sface")
    assert isinstance(analysis, FaceAnalysis)
    assert [f.detection.box.width for f in analysis.faces] == [100, 40]  # order kept
    assert [f.embedding.vector[0] for f in analysis.faces] == [100, 40]
    assert [r.reason for r in analysis.rejected] == [
        "face is 20 px wide; the minimum is 32 px",
        "detection score 0.30 is below 0.60",
    ]
    assert embedder.calls == 2  # rejected faces are never embedded


def test_embedders_from_a_factory_are_created_once_per_model() -> None:
    created: list[str] = []

    def factory(model: str) -> FaceEmbedder:
        created.append(model)
        return FakeEmbedder(model)

    pipeline = FacePipeline(FakeDetector([face(80)]), factory, SETTINGS)
    assert created == []  # nothing loaded up front
    first = pipeline.analyse(FRAME, "sface").faces[0]
    pipeline.analyse(FRAME, "sface")
    second = pipeline.embed(FRAME, first.detection, "dlib")
    assert created == ["sface", "dlib"]
    assert first.embedding.model == "sface"
    assert second.model == "dlib"


def test_unknown_model_in_a_fixed_mapping() -> None:
    pipeline = FacePipeline(FakeDetector([face(80)]), {"sface": FakeEmbedder("sface")}, SETTINGS)
    with pytest.raises(ValueError, match=r"no face recogniser 'arcface'.*'sface'"):
        pipeline.analyse(FRAME, "arcface")


def test_no_faces_is_an_empty_analysis() -> None:
    pipeline = FacePipeline(FakeDetector([]), {"sface": FakeEmbedder("sface")}, SETTINGS)
    assert pipeline.analyse(FRAME, "sface") == FaceAnalysis(faces=[], rejected=[])


def test_close_closes_the_detector() -> None:
    detector = FakeDetector([])
    pipeline = FacePipeline(detector, {}, SETTINGS)
    pipeline.close()
    assert detector.closed == 1
