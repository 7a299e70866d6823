"""The small data types passed between vision stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

# An image as OpenCV holds it: height x width x 3, uint8, BGR channel order.
Frame = NDArray[np.uint8]
Vector = NDArray[np.float32]
# Which part of the frame the expression network reads for a face (vision.expression):
# "landmarks" needs FaceMesh; "box" and "aligned" need only what the face detector gives.
ExpressionCrop = Literal["landmarks", "box", "aligned"]


@dataclass(frozen=True)
class Box:
    """An axis-aligned face box in pixels, clipped to the frame."""

    x: int
    y: int
    width: int
    height: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class DetectedFace:
    """A face found by a detector.

    ``landmarks`` is a (5, 2) float32 array in the ArcFace/SFace order: the subject's right
    eye, left eye, nose tip, right mouth corner, left mouth corner (pixel x, y).
    """

    box: Box
    score: float
    landmarks: NDArray[np.float32]


@dataclass(frozen=True)
class FaceEmbedding:
    """A descriptor and the recogniser that made it: distances only compare within one model."""

    vector: Vector
    model: str
    model_version: str


@dataclass(frozen=True)
class Face:
    """A usable face: where it is and what it looks like to a recogniser."""

    detection: DetectedFace
    embedding: FaceEmbedding


@dataclass(frozen=True)
class RejectedFace:
    """A detected face too small or too uncertain to recognise, with the reason why."""

    detection: DetectedFace
    reason: str


class FaceDetector(Protocol):
    """Finds faces in a frame, largest first."""

    def detect(self, frame: Frame) -> list[DetectedFace]: ...


class FaceEmbedder(Protocol):
    """Turns one detected face into a fixed-length descriptor."""

    @property
    def model(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, frame: Frame, face: DetectedFace) -> FaceEmbedding: ...
