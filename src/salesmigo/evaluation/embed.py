"""Describe the largest face of an image file, for evaluation and for ``salesmigo embed``.

Evaluation measures the *recogniser*, not the live quality gate: the largest usable face
(``analysis.faces[0]``) is taken first, and when the pipeline rejected every face (too
small, or a low detection score) the largest rejected detection is embedded anyway with
``pipeline.embed``. Only an image where the detector found nothing at all counts as "no
face". ``FaceDescription.gated`` keeps the pipeline's reason when such a face was used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from salesmigo.config import VisionSettings
from salesmigo.vision.images import ImageError, load_image
from salesmigo.vision.pipeline import FaceAnalysis
from salesmigo.vision.types import DetectedFace, FaceEmbedding, Frame, Vector


class Analyser(Protocol):
    """What this module needs of a FacePipeline (a fake one in unit tests)."""

    def analyse(self, frame: Frame, model: str) -> FaceAnalysis: ...

    def embed(self, frame: Frame, detection: DetectedFace, model: str) -> FaceEmbedding: ...


class ExpressionReader(Protocol):
    """A facial-expression model: class name -> probability for one face.

    ``salesmigo embed`` passes the ExpressionClassifier; None leaves ``expressions`` null
    (the command does that, with a warning, when the weights are not installed).
    """

    def read(self, frame: Frame, face: DetectedFace) -> dict[str, float]: ...


@dataclass(frozen=True)
class FaceDescription:
    """The largest face of one image, or why there is none."""

    model: str
    embedding: FaceEmbedding | None
    detection: DetectedFace | None
    ms: float  # wall time of detect + embed (+ expressions), not of reading the file
    gated: str | None = None  # the live pipeline's reason for rejecting the face used
    expressions: dict[str, float] | None = None
    error: str | None = None  # the file is missing or unreadable

    @property
    def found(self) -> bool:
        return self.embedding is not None

    @property
    def vector(self) -> Vector | None:
        return None if self.embedding is None else self.embedding.vector


def describe_largest_face(
    pipeline: Analyser,
    frame: Frame,
    model: str,
    expression_reader: ExpressionReader | None = None,
) -> FaceDescription:
    """Detect and embed the largest face in ``frame`` with ``model`` (see the module docstring)."""
    started = time.perf_counter()
    analysis = pipeline.analyse(frame, model)
    gated: str | None = None
    if analysis.faces:
        detection = analysis.faces[0].detection
        embedding = analysis.faces[0].embedding
    elif analysis.rejected:
        largest = max(analysis.rejected, key=lambda rejected: rejected.detection.box.area)
        detection, gated = largest.detection, largest.reason
        embedding = pipeline.embed(frame, detection, model)
    else:
        return FaceDescription(model, None, None, _ms_since(started))
    expressions = None
    if expression_reader is not None:
        expressions = expression_reader.read(frame, detection)
    return FaceDescription(
        model, embedding, detection, _ms_since(started), gated=gated, expressions=expressions
    )


def describe_image(
    pipeline: Analyser,
    path: Path,
    model: str,
    vision: VisionSettings,
    expression_reader: ExpressionReader | None = None,
) -> FaceDescription:
    """describe_largest_face on an image file; a missing or unreadable file sets ``error``."""
    try:
        frame = load_image(
            path, max_bytes=vision.max_upload_bytes, max_pixels=vision.max_image_pixels
        )
    except ImageError as error:
        return FaceDescription(model, None, None, 0.0, error=str(error))
    return describe_largest_face(pipeline, frame, model, expression_reader)


def embed_record(path: str, description: FaceDescription) -> dict[str, object]:
    """One line of ``salesmigo embed`` output (``path`` as written in the manifest)."""
    embedding, detection = description.embedding, description.detection
    return {
        "path": path,
        "found": description.found,
        "model": description.model,
        "descriptor": None if embedding is None else [float(x) for x in embedding.vector],
        "box": None if detection is None or embedding is None else detection.box.as_list(),
        "det_score": None if detection is None or embedding is None else float(detection.score),
        "expressions": description.expressions,
        "ms": round(description.ms, 3),
    }


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
