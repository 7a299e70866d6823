"""Seven facial expressions from face-api.js's FaceExpressionNet, run in numpy.

This is the network the 2022 prototype ran in the browser, ported layer by layer. Its
weights (TF.js format, MIT, from the npm package ``@vladmandic/face-api``) are installed by
``salesmigo models fetch`` and read from disk here. Given the same crop and the "tfjs"
resampling, the port gives face-api.js's probabilities to within 1e-5 (checked against
face-api.js 1.7.15 itself on the public test images; see the integration tests).

The network, as face-api.js defines it (FaceFeatureExtractor + a fully connected layer):

- input: the face crop padded with black to a centred square, resized to 112 x 112, RGB,
  minus the mean colour (122.782, 117.001, 104.298), divided by 255;
- four dense blocks (32, 64, 128, 256 channels). A block's first convolution has stride 2
  (a plain 3x3 convolution in the first block, a depthwise-separable one in the others);
  the next three are depthwise-separable with stride 1 and each takes the ReLU of the sum
  of all earlier outputs of its block; the block returns the ReLU of the sum of all four.
  Convolutions pad like TensorFlow's "same": with stride 2 on an even size the one padding
  row and column go after the image (bottom, right), none before;
- 7 x 7 average pooling to 256 features, a fully connected layer to 7 logits, softmax.

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

    crop                                            correct   happy vs not
    FaceMesh outline + 10 % a side (default)          39         41
    BlazeFace box moved down 5 % (the fallback)       39         41
    BlazeFace box as detected                         35         39
    5-point aligned crop (ArcFace template)           37         42

The two rule-based crops agree on the misses: three Yale "sad" faces read as happy (two of
them with the corners of the mouth visibly raised) and one sad and one surprised face read
as neutral. With ~4 % random jitter of the crop, face-api.js's own pipeline averages
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

About 45 M multiply-adds per face: ~4-5 ms on one core of a server CPU, crop included;
FaceMesh adds ~4 ms per face.
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
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from salesmigo.vision.align import align_face
from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.face_mesh import outline_box
from salesmigo.vision.tfjs import TfjsFormatError, read_weights
from salesmigo.vision.types import Box, DetectedFace, Frame
from salesmigo.vision.weights import (
    FACE_EXPRESSION,
    FACE_EXPRESSION_MANIFEST,
    NpmModel,
    require_installed,
)

logger = logging.getLogger(__name__)

# face-api.js FACE_EXPRESSION_LABELS: the order of the network's outputs.
EXPRESSION_LABELS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
)
INPUT_SIZE = 112
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)

# face-api.js's FaceLandmarks.align() default: the landmarks' bounding box grows by this
# share of its width and height, half on each side (module docstring).
LANDMARK_PADDING = 0.2
# The fallback crop is the detector's box moved down by this share of its height.
BOX_SHIFT = 0.05

Float32Array = NDArray[np.float32]
# "landmarks" needs FaceMesh; the other two need only what the face detector gives.
CropMode = Literal["landmarks", "box", "aligned"]
DetectorCrop = Literal["box", "aligned"]
Resampling = Literal["bilinear", "tfjs"]

_BLOCKS = ("dense0", "dense1", "dense2", "dense3")
_CHANNELS = (32, 64, 128, 256)
# Blocks whose (large) feature maps are held as (C, H, W) planes and convolved channel by
# channel with OpenCV; the later, small maps with many channels are (H, W, C) in numpy.
_PLANAR_BLOCKS = frozenset({"dense0", "dense1"})


def softmax(logits: Float32Array) -> Float32Array:
    """Softmax over the last axis, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float32)


def _depthwise_planar(x: Float32Array, kernel: Float32Array, stride: int) -> Float32Array:
    """3x3 depthwise convolution, "same", of a (C, H, W) map; kernel (3, 3, C).

    OpenCV's filter2D centres the kernel with zero borders, i.e. pads one pixel on every
    side. That is TensorFlow's "same" for stride 1; for stride 2 on an even size TensorFlow
    pads only after, so its output i is centred on input 2i + 1: the odd rows and columns.
    """
    out = np.empty_like(x)
    for channel in range(x.shape[0]):
        cv2.filter2D(
            x[channel],
            -1,
            kernel[:, :, channel],
            dst=out[channel],
            borderType=cv2.BORDER_CONSTANT,
        )
    if stride == 2:
        if x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"stride 2 needs an even feature map, got {x.shape[1:]}")
        return np.ascontiguousarray(out[:, 1::2, 1::2])
    return out


def _pad_same_channels_last(x: Float32Array, stride: int) -> Float32Array:
    """(H, W, C) padded for a 3x3 kernel the way TensorFlow's "same" pads."""
    height, width, channels = x.shape
    if stride == 1:
        padded = np.zeros((height + 2, width + 2, channels), dtype=np.float32)
        padded[1:-1, 1:-1] = x
        return padded
    pad_h = max((math.ceil(height / stride) - 1) * stride + 3 - height, 0)
    pad_w = max((math.ceil(width / stride) - 1) * stride + 3 - width, 0)
    top, left = pad_h // 2, pad_w // 2
    padded = np.zeros((height + pad_h, width + pad_w, channels), dtype=np.float32)
    padded[top : top + height, left : left + width] = x
    return padded


def _windows3x3(padded: Float32Array, stride: int) -> Float32Array:
    """(H', W', 3, 3, C) view of every 3x3 window of a padded (H, W, C) map, at ``stride``."""
    channels = padded.shape[2]
    windows = sliding_window_view(padded, (3, 3, channels))[:, :, 0]
    return np.asarray(windows[::stride, ::stride], dtype=np.float32)


def _depthwise_channels_last(x: Float32Array, kernel: Float32Array, stride: int) -> Float32Array:
    """3x3 depthwise convolution, "same", of an (H, W, C) map; kernel (3, 3, C)."""
    padded = _pad_same_channels_last(x, stride)
    windows = _windows3x3(padded, stride)
    return np.asarray(np.einsum("hwijc,ijc->hwc", windows, kernel), dtype=np.float32)


def _conv3x3_stride2(x: Float32Array, filters: Float32Array, bias: Float32Array) -> Float32Array:
    """The first layer: a full 3x3 convolution, stride 2, "same"; (H, W, 3) -> (C, H/2, W/2)."""
    windows = _windows3x3(_pad_same_channels_last(x, 2), 2)
    out_h, out_w = windows.shape[:2]
    # Rows in (dy, dx, c) order: the row-major order of the HWIO filter's first three axes.
    rows = windows.reshape(out_h * out_w, -1)
    out = filters.reshape(-1, filters.shape[-1]).T @ rows.T
    out += bias[:, np.newaxis]
    return np.asarray(out.reshape(-1, out_h, out_w), dtype=np.float32)


class FaceExpressionNet:
    """The network with its weights (names as in the TF.js manifest); stateless after init."""

    def __init__(self, weights: Mapping[str, Float32Array]) -> None:
        self._check_shapes(weights)
        self._filters = np.ascontiguousarray(weights["dense0/conv0/filters"], dtype=np.float32)
        self._bias0 = np.ascontiguousarray(weights["dense0/conv0/bias"], dtype=np.float32)
        # prefix -> (depthwise kernel (3, 3, C), pointwise (C_in, C_out), bias (C_out,))
        self._separable: dict[str, tuple[Float32Array, Float32Array, Float32Array]] = {}
        for block in _BLOCKS:
            for index in range(4):
                prefix = f"{block}/conv{index}"
                if prefix == "dense0/conv0":
                    continue
                depthwise = weights[f"{prefix}/depthwise_filter"][:, :, :, 0]
                pointwise = weights[f"{prefix}/pointwise_filter"][0, 0]
                self._separable[prefix] = (
                    np.ascontiguousarray(depthwise, dtype=np.float32),
                    np.ascontiguousarray(pointwise, dtype=np.float32),
                    np.ascontiguousarray(weights[f"{prefix}/bias"], dtype=np.float32),
                )
        self._fc_weights = np.ascontiguousarray(weights["fc/weights"], dtype=np.float32)
        self._fc_bias = np.ascontiguousarray(weights["fc/bias"], dtype=np.float32)

    @classmethod
    def from_manifest(cls, manifest: Path) -> FaceExpressionNet:
        return cls(read_weights(manifest))

    @staticmethod
    def expected_shapes() -> dict[str, tuple[int, ...]]:
        """Every tensor the network needs, by its TF.js name."""
        shapes: dict[str, tuple[int, ...]] = {}
        channels_in = 3
        for block, channels in zip(_BLOCKS, _CHANNELS, strict=True):
            for index in range(4):
                prefix = f"{block}/conv{index}"
                source = channels_in if index == 0 else channels
                if prefix == "dense0/conv0":
                    shapes[f"{prefix}/filters"] = (3, 3, 3, channels)
                else:
                    shapes[f"{prefix}/depthwise_filter"] = (3, 3, source, 1)
                    shapes[f"{prefix}/pointwise_filter"] = (1, 1, source, channels)
                shapes[f"{prefix}/bias"] = (channels,)
            channels_in = channels
        shapes["fc/weights"] = (_CHANNELS[-1], len(EXPRESSION_LABELS))
        shapes["fc/bias"] = (len(EXPRESSION_LABELS),)
        return shapes

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

    def _separable_conv(
        self, x: Float32Array, prefix: str, stride: int, planar: bool
    ) -> Float32Array:
        """Depthwise 3x3 then pointwise 1x1 plus bias; x is (C, H, W) if planar else (H, W, C)."""
        depthwise, pointwise, bias = self._separable[prefix]
        if planar:
            mixed = _depthwise_planar(x, depthwise, stride)
            channels, height, width = mixed.shape
            out = pointwise.T @ mixed.reshape(channels, height * width)
            out += bias[:, np.newaxis]
            return np.asarray(out.reshape(-1, height, width), dtype=np.float32)
        mixed = _depthwise_channels_last(x, depthwise, stride)
        height, width, channels = mixed.shape
        out = mixed.reshape(height * width, channels) @ pointwise
        out += bias
        return np.asarray(out.reshape(height, width, -1), dtype=np.float32)

    def _block(self, x: Float32Array, block: str) -> Float32Array:
        planar = block in _PLANAR_BLOCKS
        if block == "dense0":
            out1 = _conv3x3_stride2(x, self._filters, self._bias0)
        else:
            out1 = self._separable_conv(x, f"{block}/conv0", 2, planar)
        np.maximum(out1, 0.0, out=out1)
        total = out1 + self._separable_conv(out1, f"{block}/conv1", 1, planar)
        total += self._separable_conv(np.maximum(total, 0.0), f"{block}/conv2", 1, planar)
        total += self._separable_conv(np.maximum(total, 0.0), f"{block}/conv3", 1, planar)
        return np.maximum(total, 0.0, out=total)

    def _logits_one(self, image: Float32Array) -> Float32Array:
        x = self._block(image, "dense0")  # (C, H, W) from here: large maps
        x = self._block(x, "dense1")
        x = np.ascontiguousarray(x.transpose(1, 2, 0))  # (H, W, C): small maps
        x = self._block(x, "dense2")
        x = self._block(x, "dense3")
        # 7x7 average pooling with stride 2, "valid", on the 7x7 map: one mean per channel.
        features = x.mean(axis=(0, 1), dtype=np.float32)
        return np.asarray(features @ self._fc_weights + self._fc_bias, dtype=np.float32)

    def logits(self, batch: Float32Array) -> Float32Array:
        """(N, 7) logits for a normalised (N, 112, 112, 3) RGB batch (see preprocess)."""
        if batch.ndim != 4 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected an (N, 112, 112, 3) batch, got {batch.shape}")
        images = np.asarray(batch, dtype=np.float32)
        return np.stack([self._logits_one(image) for image in images]).astype(np.float32)

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
        crop: CropMode = "landmarks",
        resampling: Resampling = "bilinear",
        model: NpmModel = FACE_EXPRESSION,
        landmark_finder: LandmarkFinder | None = None,
    ) -> None:
        self.crop: CropMode = crop
        self.resampling: Resampling = resampling
        self.model_version = f"{model.package}@{model.version}"
        self._net = load_expression_net(models_root, model)
        if landmark_finder is None and crop == "landmarks":
            from salesmigo.vision.face_mesh import FaceMeshLandmarks

            landmark_finder = FaceMeshLandmarks()
        self._finder = landmark_finder

    @property
    def labels(self) -> tuple[str, ...]:
        return EXPRESSION_LABELS

    def crop_of(self, frame: Frame, face: DetectedFace) -> tuple[Frame, CropMode]:
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

    def classify(self, frame: Frame, face: DetectedFace) -> tuple[str, dict[str, float]]:
        """The most likely expression and all seven probabilities."""
        probabilities = self.read(frame, face)
        return max(probabilities, key=probabilities.__getitem__), probabilities

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
