"""Seven facial expressions from face-api.js's FaceExpressionNet, run by ONNX Runtime.

This is the network the 2022 prototype ran in the browser. Its weights (TF.js format, MIT,
from the npm package ``@vladmandic/face-api``) are installed by ``salesmigo models fetch``,
read from disk here and assembled into an ONNX graph in memory (vision.expression_graph
describes the layers). Given the same crop and the "tfjs" resampling, it gives face-api.js's
probabilities to within 1e-5 (checked against face-api.js 1.7.15 itself on the public test
images; see the integration tests).

The input: the face crop padded with black to a centred square, resized to 112 x 112, RGB,
minus the mean colour (122.782, 117.001, 104.298), divided by 255.

The crop. The prototype ran ``detectAllFaces().withFaceLandmarks().withFaceExpressions()``.
After landmarks, face-api.js hands the expression net the face's ``alignedRect``:
``FaceLandmarks.align()`` with its defaults, i.e. the smallest box around the 68 landmarks
grown by 20 % of its width and height (10 % on each side), floored and clipped to the image
(``extractFaces``), then padded to a centred square and resized. Salesmigo runs no 68-point
model (dlib's is excluded for the licence of its training data; face-api.js's own landmark
net would be a second network of undocumented training data), so the "landmarks" crop takes
the same rule over the FaceMesh points that trace the 68-point outline (jaw line and upper
eyebrows: see vision.face_mesh). Where FaceMesh finds no face, the "box" crop stands in: the
BlazeFace box moved down by BOX_SHIFT of its height, which is where face-api.js's landmark
box sits relative to BlazeFace's on average (mean offset 5.4 %, same size within 2 %).

Against face-api.js's own boxes on the four public images where they are recorded
(intersection over union): FaceMesh outline 0.86-0.95, shifted BlazeFace box 0.80-0.93.
Measured on the 44 expression images of the public test set (face-api.js itself: 39/44):

    crop                                            correct   happy vs not (most likely)
    FaceMesh outline + 10 % a side (default)          39         41
    BlazeFace box moved down 5 % (the fallback)       39         41
    BlazeFace box as detected                         35         39
    5-point aligned crop (ArcFace template)           37         42

The two rule-based crops agree on the misses: three Yale "sad" faces read as happy (two of
them with the corners of the mouth visibly raised; the third at p(happy) 0.41-0.44, which
vision.expression_labels.looks_happy does not count as happy) and one sad and one surprised
face read as neutral. With ~4 % random jitter of the crop, face-api.js's own pipeline averages
37.6/44, the shifted box 37.1/44 and the FaceMesh box 37.1/44 (happy vs not: 40.8): no crop
rule can be told apart from another on so small a set. The landmark box is the default
because it is the rule the network was used with and follows each face's own outline
(rather than an offset averaged over the public images), not for a better count.

Resampling: face-api.js resizes the padded crop bilinearly. In the browser, where the
prototype ran, the canvas does it (bilinear with half-pixel centres: "bilinear", OpenCV's
INTER_LINEAR, the default); on a tensor, tf.image.resizeBilinear samples without half-pixel
centres ("tfjs", kept to check the port exactly). On the public set: 39 and 38 of 44, the
same within noise; OpenCV's area averaging, the textbook way to shrink, also gives 39 but
costs up to 1 ms on large faces.

About 45 M multiply-adds per face: about 1.2 ms on one core of this project's Xeon (the
earlier numpy port took 10-15), plus the crop; FaceMesh adds 4-8 ms per face.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
import onnxruntime
from numpy.typing import NDArray

from salesmigo.vision.align import align_face
from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.expression_graph import (
    INPUT_NAME,
    INPUT_SIZE,
    OUTPUT_NAME,
    expected_shapes,
    expression_model,
)
from salesmigo.vision.expression_labels import (
    EXPRESSION_LABELS,
    Expression,
    most_likely_expression,
)
from salesmigo.vision.face_mesh import outline_box
from salesmigo.vision.tfjs import TfjsFormatError, read_weights
from salesmigo.vision.types import Box, DetectedFace, ExpressionCrop, Frame
from salesmigo.vision.weights import (
    FACE_EXPRESSION,
    FACE_EXPRESSION_MANIFEST,
    NpmModel,
    require_installed,
)

logger = logging.getLogger(__name__)

MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)

# face-api.js's FaceLandmarks.align() default: the landmarks' bounding box grows by this
# share of its width and height, half on each side (module docstring).
LANDMARK_PADDING = 0.2
# The fallback crop is the detector's box moved down by this share of its height.
BOX_SHIFT = 0.05

Float32Array = NDArray[np.float32]
DetectorCrop = Literal["box", "aligned"]
Resampling = Literal["bilinear", "tfjs"]


def softmax(logits: Float32Array) -> Float32Array:
    """Softmax over the last axis, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float32)


class FaceExpressionNet:
    """The network with its weights (names as in the TF.js manifest), as an ONNX Runtime
    session (vision.expression_graph); safe to call from several threads at once.

    One intra-op thread: a face is too little work to share, and the camera workers and
    mediapipe already keep both cores busy.
    """

    def __init__(self, weights: Mapping[str, Float32Array]) -> None:
        self._check_shapes(weights)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no start-up chatter on stderr
        self._session = onnxruntime.InferenceSession(
            expression_model(weights).SerializeToString(),
            options,
            providers=["CPUExecutionProvider"],
        )

    @classmethod
    def from_manifest(cls, manifest: Path) -> FaceExpressionNet:
        return cls(read_weights(manifest))

    @staticmethod
    def expected_shapes() -> dict[str, tuple[int, ...]]:
        """Every tensor the network needs, by its TF.js name."""
        return expected_shapes()

    @classmethod
    def _check_shapes(cls, weights: Mapping[str, Float32Array]) -> None:
        for name, shape in cls.expected_shapes().items():
            found = weights.get(name)
            if found is None:
                raise TfjsFormatError(f"the expression weights lack the tensor {name!r}")
            if found.shape != shape:
                raise TfjsFormatError(
                    f"the expression tensor {name!r} has shape {found.shape}, expected {shape}"
                )

    def logits(self, batch: Float32Array) -> Float32Array:
        """(N, 7) logits for a normalised (N, 112, 112, 3) RGB batch (see preprocess)."""
        if batch.ndim != 4 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected an (N, 112, 112, 3) batch, got {batch.shape}")
        planes = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        (logits,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: planes})
        return np.asarray(logits, dtype=np.float32)

    def probabilities(self, batch: Float32Array) -> Float32Array:
        """(N, 7) class probabilities, in EXPRESSION_LABELS order."""
        return softmax(self.logits(batch))


def pad_to_square(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Black borders on the short side, the odd pixel after the image (as face-api.js)."""
    height, width = image.shape[:2]
    if height == width:
        return image
    difference = abs(height - width)
    after = math.floor(difference / 2 + 0.5)  # JavaScript's Math.round
    before = difference - after
    if height > width:
        return np.pad(image, ((0, 0), (before, after), (0, 0)))
    return np.pad(image, ((before, after), (0, 0), (0, 0)))


def resize_tfjs(image: NDArray[np.uint8], size: int) -> Float32Array:
    """tf.image.resizeBilinear(image, [size, size]) with TF.js defaults, as float32.

    No half-pixel centres: output pixel i samples input position i * in / out, between
    floor and floor + 1 (clamped to the last pixel).
    """

    def taps(length: int) -> tuple[NDArray[np.intp], NDArray[np.intp], Float32Array]:
        position = np.arange(size, dtype=np.float64) * (length / size)
        low = np.floor(position).astype(np.intp)
        high = np.minimum(low + 1, length - 1)
        return low, high, (position - low).astype(np.float32)

    top_rows, bottom_rows, row_weight = taps(image.shape[0])
    left_cols, right_cols, col_weight = taps(image.shape[1])
    pixels = image.astype(np.float32)
    col_weight = col_weight[np.newaxis, :, np.newaxis]
    top_left = pixels[top_rows][:, left_cols]
    top = top_left + (pixels[top_rows][:, right_cols] - top_left) * col_weight
    bottom_left = pixels[bottom_rows][:, left_cols]
    bottom = bottom_left + (pixels[bottom_rows][:, right_cols] - bottom_left) * col_weight
    return np.asarray(top + (bottom - top) * row_weight[:, np.newaxis, np.newaxis], np.float32)


def preprocess(face_bgr: NDArray[np.uint8], resampling: Resampling = "bilinear") -> Float32Array:
    """(112, 112, 3) network input from a BGR face crop: square, resize, RGB, normalise."""
    if face_bgr.ndim != 3 or face_bgr.shape[2] != 3 or face_bgr.size == 0:
        raise ValueError(f"expected a non-empty HxWx3 face crop, got {face_bgr.shape}")
    square = pad_to_square(face_bgr)
    if resampling == "tfjs":
        resized = resize_tfjs(square, INPUT_SIZE)
    else:
        size = (INPUT_SIZE, INPUT_SIZE)
        resized = cv2.resize(square, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    rgb = resized[:, :, ::-1]
    return np.asarray((rgb - MEAN_RGB) / np.float32(255.0), dtype=np.float32)


def crop_region(frame: Frame, x: float, y: float, width: float, height: float) -> Frame:
    """The region clipped to the frame, edges floored as face-api.js does (a view, no copy)."""
    frame_height, frame_width = frame.shape[:2]
    left, top = max(x, 0.0), max(y, 0.0)
    right, bottom = min(x + width, float(frame_width)), min(y + height, float(frame_height))
    x0, y0 = math.floor(left), math.floor(top)
    x1, y1 = x0 + math.floor(right - left), y0 + math.floor(bottom - top)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the region {[x, y, width, height]} lies outside the frame")
    return frame[y0:y1, x0:x1]


def landmark_region(points: NDArray[np.float32]) -> tuple[float, float, float, float]:
    """face-api.js's box for a face with landmarks, from FaceMesh points: (x, y, w, h)."""
    x, y, width, height = outline_box(points)
    pad_x, pad_y = width * LANDMARK_PADDING, height * LANDMARK_PADDING
    return x - pad_x / 2, y - pad_y / 2, width + pad_x, height + pad_y


def face_crop(frame: Frame, face: DetectedFace, crop: DetectorCrop = "box") -> Frame:
    """The part of the frame the network reads for ``face`` without landmarks (see the module
    docstring; the "landmarks" crop is the classifier's, as it needs FaceMesh)."""
    if crop == "aligned":
        return align_face(frame, face.landmarks, INPUT_SIZE)
    box = face.box
    return crop_region(frame, box.x, box.y + BOX_SHIFT * box.height, box.width, box.height)


class LandmarkFinder(Protocol):
    """Dense face landmarks for a detected face (FaceMesh; a fake in unit tests)."""

    def landmarks(self, frame: Frame, box: Box) -> NDArray[np.float32] | None: ...

    def close(self) -> None: ...


class ExpressionClassifier:
    """Expression probabilities for detected faces; one instance serves many threads.

    The weights are read and checked once (per models folder, shared by all instances);
    inference only reads them, so concurrent calls need no lock. FaceMesh, for the
    "landmarks" crop, is created here (so the first frame is not slowed by loading it) and
    serialises its own calls.
    """

    def __init__(
        self,
        models_root: Path | None = None,
        *,
        crop: ExpressionCrop = "landmarks",
        resampling: Resampling = "bilinear",
        model: NpmModel = FACE_EXPRESSION,
        landmark_finder: LandmarkFinder | None = None,
    ) -> None:
        self.crop: ExpressionCrop = crop
        self.resampling: Resampling = resampling
        self.model_version = f"{model.package}@{model.version}"
        self._net = load_expression_net(models_root, model)
        if landmark_finder is None and crop == "landmarks":
            from salesmigo.vision.face_mesh import FaceMeshLandmarks

            landmark_finder = FaceMeshLandmarks()
        self._finder = landmark_finder

    @property
    def labels(self) -> tuple[Expression, ...]:
        return EXPRESSION_LABELS

    def crop_of(self, frame: Frame, face: DetectedFace) -> tuple[Frame, ExpressionCrop]:
        """The part of the frame the network reads for ``face``, and which crop it is: the
        "landmarks" crop falls back to "box" where FaceMesh finds no face."""
        if self.crop != "landmarks" or self._finder is None:
            crop: DetectorCrop = "aligned" if self.crop == "aligned" else "box"
            return face_crop(frame, face, crop), crop
        points = self._finder.landmarks(frame, face.box)
        if points is not None:
            try:
                return crop_region(frame, *landmark_region(points)), "landmarks"
            except ValueError:  # a mesh entirely off the frame: as good as none
                pass
        logger.debug("no face mesh at %s: reading the detector's box", face.box.as_list())
        return face_crop(frame, face, "box"), "box"

    def probabilities(self, frame: Frame, face: DetectedFace) -> Float32Array:
        """(7,) probabilities in EXPRESSION_LABELS order."""
        crop, _ = self.crop_of(frame, face)
        image = preprocess(crop, self.resampling)
        probabilities: Float32Array = self._net.probabilities(image[np.newaxis])[0]
        return probabilities

    def read(self, frame: Frame, face: DetectedFace) -> dict[str, float]:
        """Expression name -> probability (the seven sum to 1)."""
        values = self.probabilities(frame, face)
        return {label: float(value) for label, value in zip(EXPRESSION_LABELS, values, strict=True)}

    def classify(self, frame: Frame, face: DetectedFace) -> tuple[Expression, dict[str, float]]:
        """The most likely expression and all seven probabilities."""
        probabilities = self.read(frame, face)
        return most_likely_expression(probabilities), probabilities

    def close(self) -> None:
        """Release FaceMesh's native graph if one was created (landmark crops fail after)."""
        if self._finder is not None:
            self._finder.close()


_LOAD_LOCK = threading.Lock()
_LOADED: dict[Path, FaceExpressionNet] = {}


def load_expression_net(
    models_root: Path | None = None, model: NpmModel = FACE_EXPRESSION
) -> FaceExpressionNet:
    """The network from the installed weights, loaded once per folder and then shared.

    Raises ModelUnavailableError, telling the operator to run ``salesmigo models fetch``,
    when the files are missing or are not the pinned ones.
    """
    folder = model.folder(models_root).resolve()
    with _LOAD_LOCK:
        cached = _LOADED.get(folder)
        if cached is not None:
            return cached
        require_installed(model, models_root, "the facial-expression model")
        try:
            net = FaceExpressionNet.from_manifest(model.path(FACE_EXPRESSION_MANIFEST, models_root))
        except TfjsFormatError as error:
            raise ModelUnavailableError(
                f"the facial-expression model in {folder} cannot be read ({error}); "
                "run `salesmigo models fetch` to reinstall it."
            ) from None
        _LOADED[folder] = net
        return net
