"""The FaceExpressionNet port on random weights: layer semantics, preprocessing, loading.

The real weights are checked against face-api.js itself in the integration tests; here a
literal (slow, loop-per-pixel) TensorFlow-semantics implementation is the reference.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.expression import (
    LANDMARK_PADDING,
    MEAN_RGB,
    ExpressionClassifier,
    FaceExpressionNet,
    crop_region,
    face_crop,
    landmark_region,
    pad_to_square,
    preprocess,
    resize_tfjs,
    softmax,
)
from salesmigo.vision.expression_labels import EXPRESSION_LABELS
from salesmigo.vision.face_mesh import MESH_POINTS, OUTLINE_68
from salesmigo.vision.tfjs import TfjsFormatError
from salesmigo.vision.types import Box, DetectedFace
from salesmigo.vision.weights import FACE_EXPRESSION_MANIFEST, FACE_EXPRESSION_SHARD, NpmModel

Array = NDArray[np.float32]


def _random_weights(seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in FaceExpressionNet.expected_shapes().items():
        fan_in = math.prod(shape[:-1]) if len(shape) > 1 else 1
        scale = 1.0 / math.sqrt(fan_in) if "bias" not in name else 0.05
        weights[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return weights


# A literal reading of TensorFlow's definitions, one output pixel at a time.


def _tf_same_pad(x: Array, stride: int) -> Array:
    pads = []
    for size in x.shape[:2]:
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + 3 - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, (*pads, (0, 0)))


def _conv(x: Array, filters: Array, stride: int) -> Array:
    padded = _tf_same_pad(x, stride)
    out_h, out_w = math.ceil(x.shape[0] / stride), math.ceil(x.shape[1] / stride)
    out = np.zeros((out_h, out_w, filters.shape[3]), np.float32)
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[i * stride : i * stride + 3, j * stride : j * stride + 3]
            out[i, j] = np.tensordot(patch, filters, axes=([0, 1, 2], [0, 1, 2]))
    return out


def _depthwise(x: Array, filters: Array, stride: int) -> Array:
    padded = _tf_same_pad(x, stride)
    out_h, out_w = math.ceil(x.shape[0] / stride), math.ceil(x.shape[1] / stride)
    out = np.zeros((out_h, out_w, x.shape[2]), np.float32)
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[i * stride : i * stride + 3, j * stride : j * stride + 3]
            out[i, j] = (patch * filters[:, :, :, 0]).sum(axis=(0, 1))
    return out


def _reference_logits(weights: dict[str, Array], image: Array) -> Array:
    def separable(x: Array, prefix: str, stride: int) -> Array:
        mixed = _depthwise(x, weights[f"{prefix}/depthwise_filter"], stride)
        out: Array = mixed @ weights[f"{prefix}/pointwise_filter"][0, 0]
        return out + weights[f"{prefix}/bias"]

    def relu(x: Array) -> Array:
        return np.maximum(x, 0)

    x = image
    for block in ("dense0", "dense1", "dense2", "dense3"):
        if block == "dense0":
            conv = _conv(x, weights["dense0/conv0/filters"], 2) + weights["dense0/conv0/bias"]
            out1 = relu(conv)
        else:
            out1 = relu(separable(x, f"{block}/conv0", 2))
        out2 = separable(out1, f"{block}/conv1", 1)
        out3 = separable(relu(out1 + out2), f"{block}/conv2", 1)
        out4 = separable(relu(out1 + out2 + out3), f"{block}/conv3", 1)
        x = relu(out1 + out2 + out3 + out4)
    assert x.shape == (7, 7, 256)
    features = x.mean(axis=(0, 1))  # avgPool 7x7, stride 2, valid: one window
    logits: Array = features @ weights["fc/weights"] + weights["fc/bias"]
    return logits


def test_the_port_computes_what_tensorflow_defines() -> None:
    weights = _random_weights()
    rng = np.random.default_rng(1)
    image = rng.uniform(-0.5, 0.5, size=(112, 112, 3)).astype(np.float32)

    logits = FaceExpressionNet(weights).logits(image[np.newaxis])[0]

    np.testing.assert_allclose(logits, _reference_logits(weights, image), rtol=1e-4, atol=1e-4)


def test_batches_give_the_same_answer_as_single_images() -> None:
    net = FaceExpressionNet(_random_weights())
    batch = np.random.default_rng(2).uniform(-0.5, 0.5, (3, 112, 112, 3)).astype(np.float32)

    together = net.probabilities(batch)
    alone = np.stack([net.probabilities(image[np.newaxis])[0] for image in batch])

    np.testing.assert_allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("shape", [(112, 112, 3), (1, 64, 64, 3), (1, 112, 112, 1)])
def test_a_wrongly_shaped_batch_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(N, 112, 112, 3\)"):
        FaceExpressionNet(_random_weights()).logits(np.zeros(shape, np.float32))


def test_missing_or_misshapen_weights_are_refused() -> None:
    weights = _random_weights()
    del weights["dense2/conv3/bias"]
    with pytest.raises(TfjsFormatError, match="dense2/conv3/bias"):
        FaceExpressionNet(weights)

    weights = _random_weights()
    weights["fc/weights"] = np.zeros((256, 6), np.float32)
    with pytest.raises(TfjsFormatError, match=r"fc/weights.*\(256, 7\)"):
        FaceExpressionNet(weights)


@pytest.mark.parametrize(
    "logits",
    [
        np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32),
        np.array([1000.0, -1000.0, 0, 0, 0, 0, 999.0], np.float32),  # no overflow
        np.zeros((4, 7), np.float32),
    ],
)
def test_softmax_gives_probabilities_that_sum_to_one(logits: Array) -> None:
    probabilities = softmax(logits)

    assert np.all(np.isfinite(probabilities))
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.argmax(probabilities, axis=-1).tolist() == np.argmax(logits, axis=-1).tolist()


@pytest.mark.parametrize(
    ("shape", "before", "after", "axis"),
    [((10, 6, 3), 2, 2, 1), ((6, 11, 3), 2, 3, 0), ((5, 10, 3), 2, 3, 0), ((8, 8, 3), 0, 0, 0)],
)
def test_pad_to_square_centres_with_the_odd_pixel_after(
    shape: tuple[int, int, int], before: int, after: int, axis: int
) -> None:
    image = np.full(shape, 200, np.uint8)

    square = pad_to_square(image)

    side = max(shape[:2])
    assert square.shape == (side, side, 3)
    profile = square[:, :, 0].max(axis=1 - axis) if before or after else None
    if profile is not None:
        assert profile[:before].tolist() == [0] * before
        assert profile[side - after :].tolist() == [0] * after
        assert profile[before : side - after].min() == 200


def test_resize_tfjs_samples_without_half_pixel_centres() -> None:
    image = (np.arange(16).reshape(4, 4, 1).repeat(3, axis=2) * 10).astype(np.uint8)

    halved = resize_tfjs(image, 2)
    doubled = resize_tfjs(image, 8)

    # Output i reads input i * 2 exactly: rows/columns 0 and 2, no averaging.
    assert halved[:, :, 0].tolist() == [[0, 20], [80, 100]]
    # Output i reads input i / 2: half-way between pixels, clamped at the last one.
    assert doubled[0, :, 0].tolist() == [0, 5, 10, 15, 20, 25, 30, 30]


@pytest.mark.parametrize("resampling", ["bilinear", "tfjs"])
@pytest.mark.parametrize("shape", [(40, 30, 3), (300, 260, 3), (112, 112, 3)])
def test_preprocess_makes_a_normalised_rgb_112_square(
    resampling: str, shape: tuple[int, int, int]
) -> None:
    blue_bgr = np.zeros(shape, np.uint8)
    blue_bgr[:, :, 0] = 255

    image = preprocess(blue_bgr, resampling)  # type: ignore[arg-type]

    assert image.shape == (112, 112, 3)
    assert image.dtype == np.float32
    centre = image[56, 56]
    expected = (np.array([0.0, 0.0, 255.0]) - MEAN_RGB) / 255.0  # RGB order: blue is last
    np.testing.assert_allclose(centre, expected, atol=1e-6)


def test_crop_region_clips_and_floors_like_face_api() -> None:
    frame = np.arange(100 * 80 * 3, dtype=np.uint32).astype(np.uint8).reshape(100, 80, 3)

    inside = crop_region(frame, 10.7, 20.2, 30.9, 40.5)
    clipped = crop_region(frame, -5.5, 90.0, 20.0, 30.0)

    assert inside.shape == (40, 30, 3)
    assert np.array_equal(inside, frame[20:60, 10:40])
    assert clipped.shape == (10, 14, 3)
    with pytest.raises(ValueError, match="outside"):
        crop_region(frame, 200.0, 0.0, 10.0, 10.0)


# The classifier on a fake installed model.


def _install(root: Path, weights: dict[str, Array]) -> NpmModel:
    """Write ``weights`` as a TF.js model where an NpmModel with their checksums expects it."""
    folder = root / "fake-1.0.0"
    folder.mkdir(parents=True)
    shard = b"".join(np.ascontiguousarray(value, "<f4").tobytes() for value in weights.values())
    entries = [
        {"name": name, "shape": list(value.shape), "dtype": "float32"}
        for name, value in weights.items()
    ]
    manifest = json.dumps([{"paths": ["face_expression_model.bin"], "weights": entries}]).encode()
    (folder / "face_expression_model-weights_manifest.json").write_bytes(manifest)
    (folder / "face_expression_model.bin").write_bytes(shard)
    return NpmModel(
        name="face-expression",
        package="fake",
        version="1.0.0",
        integrity="sha512-unused",
        files={
            FACE_EXPRESSION_MANIFEST: hashlib.sha256(manifest).hexdigest(),
            FACE_EXPRESSION_SHARD: hashlib.sha256(shard).hexdigest(),
        },
        licence="MIT",
        description="random weights",
    )


def _face(x: int = 40, y: int = 30, size: int = 80) -> DetectedFace:
    # Eyes, nose tip, mouth corners, as shares of the box.
    shares = [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]
    landmarks = np.array([(x + a * size, y + b * size) for a, b in shares], dtype=np.float32)
    return DetectedFace(box=Box(x, y, size, size), score=0.9, landmarks=landmarks)


@pytest.fixture
def frame() -> NDArray[np.uint8]:
    return np.random.default_rng(3).integers(0, 256, (200, 160, 3), dtype=np.uint8)


@pytest.mark.parametrize("crop", ["box", "aligned"])
def test_read_gives_seven_probabilities_that_sum_to_one(
    tmp_path: Path, frame: NDArray[np.uint8], crop: str
) -> None:
    model = _install(tmp_path, _random_weights())
    classifier = ExpressionClassifier(tmp_path, model=model, crop=crop)  # type: ignore[arg-type]

    probabilities = classifier.read(frame, _face())
    label, same = classifier.classify(frame, _face())

    assert list(probabilities) == list(EXPRESSION_LABELS)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= value <= 1.0 for value in probabilities.values())
    assert same == probabilities
    assert label == max(probabilities, key=probabilities.__getitem__)
    assert classifier.model_version == "fake@1.0.0"


def test_a_face_at_the_frame_edge_is_read(tmp_path: Path, frame: NDArray[np.uint8]) -> None:
    classifier = ExpressionClassifier(tmp_path, model=_install(tmp_path, _random_weights()))

    probabilities = classifier.read(frame, _face(x=120, y=150, size=60))

    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_the_classifier_is_safe_to_share_between_threads(
    tmp_path: Path, frame: NDArray[np.uint8]
) -> None:
    classifier = ExpressionClassifier(tmp_path, model=_install(tmp_path, _random_weights()))
    expected = classifier.read(frame, _face())
    results: list[dict[str, float]] = []

    def work() -> None:
        for _ in range(5):
            results.append(classifier.read(frame, _face()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 20
    assert all(result == expected for result in results)


def test_missing_weights_tell_the_operator_to_fetch_them(tmp_path: Path) -> None:
    model = _install(tmp_path / "elsewhere", _random_weights())

    with pytest.raises(ModelUnavailableError, match="salesmigo models fetch") as raised:
        ExpressionClassifier(tmp_path, model=model)

    assert "missing" in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_modified_weights_are_refused(tmp_path: Path) -> None:
    model = _install(tmp_path, _random_weights())
    shard = model.path(FACE_EXPRESSION_SHARD, tmp_path)
    shard.write_bytes(shard.read_bytes()[:-4] + b"\x00\x00\x80\x7f")

    with pytest.raises(ModelUnavailableError, match=r"face_expression_model\.bin modified"):
        ExpressionClassifier(tmp_path, model=model)


# The "landmarks" crop, with a fake FaceMesh.


class _FakeMesh:
    """Returns fixed landmarks (or none) and records what it was asked and whether closed."""

    def __init__(self, points: NDArray[np.float32] | None) -> None:
        self.points = points
        self.boxes: list[Box] = []
        self.closed = False

    def landmarks(self, frame: NDArray[np.uint8], box: Box) -> NDArray[np.float32] | None:
        self.boxes.append(box)
        return self.points

    def close(self) -> None:
        self.closed = True


def _mesh_spanning(left: float, top: float, right: float, bottom: float) -> NDArray[np.float32]:
    """468 landmarks whose outline (jaw line, upper eyebrows) spans the given box."""
    points = np.full((MESH_POINTS, 2), ((left + right) / 2, (top + bottom) / 2), np.float32)
    points[OUTLINE_68[0]] = (left, (top + bottom) / 2)
    points[OUTLINE_68[1]] = (right, (top + bottom) / 2)
    points[OUTLINE_68[2]] = ((left + right) / 2, top)
    points[OUTLINE_68[3]] = ((left + right) / 2, bottom)
    return points


def test_landmark_region_pads_the_outline_by_a_tenth_on_each_side() -> None:
    region = landmark_region(_mesh_spanning(20.0, 10.0, 120.0, 60.0))

    assert region == pytest.approx((10.0, 5.0, 120.0, 60.0))
    assert LANDMARK_PADDING == 0.2  # face-api.js's FaceLandmarks.align() default


def test_the_landmarks_crop_reads_face_api_js_box_around_the_mesh(
    tmp_path: Path, frame: NDArray[np.uint8]
) -> None:
    mesh = _FakeMesh(_mesh_spanning(20.0, 10.0, 120.0, 60.0))
    model = _install(tmp_path, _random_weights())
    classifier = ExpressionClassifier(tmp_path, model=model, landmark_finder=mesh)

    crop, used = classifier.crop_of(frame, _face())

    assert used == "landmarks"
    assert np.array_equal(crop, crop_region(frame, 10.0, 5.0, 120.0, 60.0))
    assert mesh.boxes == [_face().box]  # the mesh is looked for around the detected face


def test_without_a_mesh_the_detector_box_is_read(tmp_path: Path, frame: NDArray[np.uint8]) -> None:
    model = _install(tmp_path, _random_weights())
    classifier = ExpressionClassifier(tmp_path, model=model, landmark_finder=_FakeMesh(None))
    by_box = ExpressionClassifier(tmp_path, model=model, crop="box")

    crop, used = classifier.crop_of(frame, _face())

    assert used == "box"
    assert np.array_equal(crop, face_crop(frame, _face(), "box"))
    assert classifier.read(frame, _face()) == by_box.read(frame, _face())


def test_a_mesh_off_the_frame_counts_as_none(tmp_path: Path, frame: NDArray[np.uint8]) -> None:
    mesh = _FakeMesh(_mesh_spanning(500.0, 500.0, 600.0, 600.0))
    model = _install(tmp_path, _random_weights())
    classifier = ExpressionClassifier(tmp_path, model=model, landmark_finder=mesh)

    _, used = classifier.crop_of(frame, _face())

    assert used == "box"


def test_closing_the_classifier_closes_its_mesh(tmp_path: Path) -> None:
    mesh = _FakeMesh(None)
    model = _install(tmp_path, _random_weights())

    ExpressionClassifier(tmp_path, model=model, landmark_finder=mesh).close()

    assert mesh.closed
