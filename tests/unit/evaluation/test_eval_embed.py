from pathlib import Path

import numpy as np
import pytest

from salesmigo.config import VisionSettings
from salesmigo.evaluation.embed import (
    FaceDescription,
    describe_image,
    describe_largest_face,
    embed_record,
)
from salesmigo.vision.pipeline import FaceAnalysis
from salesmigo.vision.types import (
    Box,
    DetectedFace,
    Face,
    FaceEmbedding,
    Frame,
    RejectedFace,
)

FRAME: Frame = np.zeros((100, 100, 3), dtype=np.uint8)
# The keys of one `salesmigo embed` JSON line, in order (also checked on real images).
EMBED_RECORD_KEYS = [
    "path",
    "found",
    "model",
    "descriptor",
    "box",
    "det_score",
    "expressions",
    "ms",
]


def _detection(size: int, score: float = 0.9) -> DetectedFace:
    return DetectedFace(Box(0, 0, size, size), score, np.zeros((5, 2), dtype=np.float32))


def _embedding(value: float) -> FaceEmbedding:
    return FaceEmbedding(np.full(4, value, dtype=np.float32), "fake", "v1")


class FakePipeline:
    def __init__(self, analysis: FaceAnalysis) -> None:
        self.analysis = analysis
        self.embedded: list[DetectedFace] = []

    def analyse(self, frame: Frame, model: str) -> FaceAnalysis:
        return self.analysis

    def embed(self, frame: Frame, detection: DetectedFace, model: str) -> FaceEmbedding:
        self.embedded.append(detection)
        return _embedding(float(detection.box.width))


class FakeExpressions:
    def read(self, frame: Frame, face: DetectedFace) -> dict[str, float]:
        return {"happy": 0.9, "neutral": 0.1}


def test_usable_face_comes_first_even_if_a_rejected_one_is_larger() -> None:
    usable = Face(_detection(40), _embedding(1.0))
    pipeline = FakePipeline(
        FaceAnalysis(faces=[usable], rejected=[RejectedFace(_detection(80, 0.2), "low score")])
    )
    description = describe_largest_face(pipeline, FRAME, "fake")
    assert description.found
    assert description.detection == usable.detection
    assert description.gated is None
    assert pipeline.embedded == []
    assert description.ms >= 0


def test_falls_back_to_the_largest_rejected_face() -> None:
    rejected = [RejectedFace(_detection(10), "too small"), RejectedFace(_detection(20), "small")]
    pipeline = FakePipeline(FaceAnalysis(faces=[], rejected=rejected))
    description = describe_largest_face(pipeline, FRAME, "fake")
    assert description.found
    assert description.detection == rejected[1].detection
    assert description.gated == "small"
    assert pipeline.embedded == [rejected[1].detection]
    assert description.vector is not None
    assert description.vector.tolist() == [20.0] * 4


def test_no_detection_at_all_is_no_face() -> None:
    description = describe_largest_face(FakePipeline(FaceAnalysis([], [])), FRAME, "fake")
    assert not description.found
    assert description.vector is None
    record = embed_record("x.jpg", description)
    assert record["found"] is False
    assert record["descriptor"] is None
    assert record["box"] is None
    assert record["det_score"] is None
    assert record["expressions"] is None


def test_embed_record() -> None:
    pipeline = FakePipeline(FaceAnalysis([Face(_detection(40, 0.75), _embedding(0.5))], []))
    description = describe_largest_face(pipeline, FRAME, "fake", FakeExpressions())
    record = embed_record("dir/x.jpg", description)
    assert list(record) == EMBED_RECORD_KEYS
    assert record["path"] == "dir/x.jpg"
    assert record["found"] is True
    assert record["model"] == "fake"
    assert record["descriptor"] == [0.5] * 4
    assert record["box"] == [0, 0, 40, 40]
    assert record["det_score"] == pytest.approx(0.75)
    assert record["expressions"] == {"happy": 0.9, "neutral": 0.1}
    assert isinstance(record["ms"], float)


@pytest.mark.parametrize("name", ["absent.jpg", "not-an-image.jpg"])
def test_unreadable_file_is_an_error_not_an_exception(tmp_path: Path, name: str) -> None:
    (tmp_path / "not-an-image.jpg").write_text("hello", encoding="utf-8")
    pipeline = FakePipeline(FaceAnalysis([], []))
    description = describe_image(pipeline, tmp_path / name, "fake", VisionSettings())
    assert isinstance(description, FaceDescription)
    assert not description.found
    assert description.error is not None
    assert name in description.error
