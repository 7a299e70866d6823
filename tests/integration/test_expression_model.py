"""The real FaceExpressionNet weights on real photos from ../shared/testdata.

The weights are installed by the setup command (`salesmigo models fetch`, run by
`./dev setup`); if they are missing these tests fail and say so, rather than skip.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from salesmigo.cli.main import app
from salesmigo.vision.detect import MediapipeFaceDetector
from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.expression import (
    ExpressionClassifier,
    FaceExpressionNet,
    crop_region,
    landmark_region,
    load_expression_net,
    preprocess,
)
from salesmigo.vision.expression_labels import EXPRESSION_LABELS
from salesmigo.vision.face_mesh import JAW_LINE, UPPER_EYEBROWS, FaceMeshLandmarks
from salesmigo.vision.images import load_image
from salesmigo.vision.types import Box, DetectedFace, Frame

pytestmark = pytest.mark.integration

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 100_000_000}
DEMO = "face-api.js/examples/images"

# face-api.js 1.7.15 itself (tfjs 4.22, CPU backend, `detectSingleFace(tensor,
# SsdMobilenetv1Options()).withFaceLandmarks().withFaceExpressions()`): the landmark box it
# cropped (x, y, width, height) and its seven probabilities, in EXPRESSION_LABELS order.
FACE_API_JS = [
    (
        f"{DEMO}/sad.jpg",
        (128.57079807342961, 68.90303807258606, 137.6502650063485, 139.71556034088135),
        (1e-06, 0.0, 0.999892, 0.0, 0.000107, 0.0, 0.0),
    ),
    (
        "human/samples/in/stock-emotions-b-4.jpg",
        (259.83624060835416, 264.45537707209587, 322.8333668500184, 309.6168290376663),
        (4.8e-05, 0.449631, 0.550242, 7.8e-05, 1e-06, 1e-06, 0.0),
    ),
    (
        "yale/png/subject01_surprised.png",
        (105.26414734739811, 68.12457940316061, 153.15740274712442, 164.53591223359112),
        (0.009085, 0.019319, 2.6e-05, 0.003715, 0.001021, 0.000201, 0.966633),
    ),
    (
        "yale/png/subject03_sad.png",
        (93.20927775725723, 102.88488316029539, 141.177995672822, 131.8944017529488),
        (0.070074, 0.217287, 0.037058, 0.069131, 0.482623, 0.03247, 0.091358),
    ),
]


def _missing_weights(error: ModelUnavailableError) -> str:
    return f"{error} The setup command installs the weights: `./dev setup`."


@pytest.fixture(scope="module")
def net() -> FaceExpressionNet:
    try:
        return load_expression_net()
    except ModelUnavailableError as error:
        pytest.fail(_missing_weights(error), pytrace=False)


@pytest.fixture(scope="module")
def classifier() -> ExpressionClassifier:
    try:
        return ExpressionClassifier()
    except ModelUnavailableError as error:
        pytest.fail(_missing_weights(error), pytrace=False)


@pytest.fixture(scope="module")
def detector() -> Iterator[MediapipeFaceDetector]:
    with MediapipeFaceDetector() as found:
        yield found


@pytest.fixture(scope="module")
def mesh() -> Iterator[FaceMeshLandmarks]:
    with FaceMeshLandmarks() as found:
        yield found


def _read(testdata: Path, path: str) -> Frame:
    return load_image(testdata / path, **LIMITS)


@pytest.mark.parametrize(("path", "region", "expected"), FACE_API_JS)
def test_the_port_gives_face_api_js_probabilities_on_the_same_crop(
    testdata: Path,
    net: FaceExpressionNet,
    path: str,
    region: tuple[float, float, float, float],
    expected: tuple[float, ...],
) -> None:
    frame = _read(testdata, path)

    image = preprocess(np.ascontiguousarray(crop_region(frame, *region)), "tfjs")
    probabilities = net.probabilities(image[np.newaxis])[0]

    np.testing.assert_allclose(probabilities, expected, atol=2e-5)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize(("path", "region", "expected"), FACE_API_JS)
def test_the_mesh_outline_gives_nearly_the_box_face_api_js_cropped(
    testdata: Path,
    detector: MediapipeFaceDetector,
    mesh: FaceMeshLandmarks,
    path: str,
    region: tuple[float, float, float, float],
    expected: tuple[float, ...],
) -> None:
    frame = _read(testdata, path)
    face = detector.detect(frame)[0]

    points = mesh.landmarks(frame, face.box)

    assert points is not None
    assert _overlap(landmark_region(points), region) > 0.83


@pytest.mark.parametrize(
    "path", [f"{DEMO}/happy.jpg", "yale/png/subject01_surprised.png", f"{DEMO}/amy/amy1.png"]
)
def test_the_landmark_crop_holds_the_whole_face(
    testdata: Path, detector: MediapipeFaceDetector, mesh: FaceMeshLandmarks, path: str
) -> None:
    frame = _read(testdata, path)
    face = detector.detect(frame)[0]

    points = mesh.landmarks(frame, face.box)

    assert points is not None
    x, y, width, height = landmark_region(points)
    # The detector's eyes, nose tip and mouth corners lie inside, with margin.
    inside = (face.landmarks - (x, y)) / (width, height)
    assert np.all((inside > 0.1) & (inside < 0.9))
    # The brows are above the eyes (on average: heads tilt), the chin below the mouth.
    eyes_y = face.landmarks[:2, 1].mean()
    mouth_y = face.landmarks[3:, 1].mean()
    assert points[list(UPPER_EYEBROWS), 1].mean() < eyes_y
    assert points[JAW_LINE[len(JAW_LINE) // 2], 1] > mouth_y


def test_each_face_of_a_group_gets_its_own_mesh(
    testdata: Path, detector: MediapipeFaceDetector, mesh: FaceMeshLandmarks
) -> None:
    frame = _read(testdata, f"{DEMO}/bbt1.jpg")
    faces = [face for face in detector.detect(frame) if face.box.width >= 40]
    assert len(faces) >= 3

    for face in faces:
        points = mesh.landmarks(frame, face.box)
        if points is None:  # a face the mesh cannot read falls back to the box crop
            continue
        centre = points.mean(axis=0)
        box = face.box
        assert box.x <= centre[0] <= box.x + box.width
        assert box.y <= centre[1] <= box.y + box.height


def test_where_the_mesh_finds_no_face_the_detector_box_is_read(
    classifier: ExpressionClassifier,
) -> None:
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    face = DetectedFace(Box(100, 60, 100, 100), 0.9, np.zeros((5, 2), dtype=np.float32))

    crop, used = classifier.crop_of(blank, face)

    assert used == "box"
    assert crop.shape[:2] == (100, 100)


@pytest.mark.parametrize("expression", ["happy", "sad", "surprised", "angry", "neutral"])
def test_the_face_api_js_demo_faces_show_their_expression(
    testdata: Path,
    detector: MediapipeFaceDetector,
    classifier: ExpressionClassifier,
    expression: str,
) -> None:
    frame = _read(testdata, f"{DEMO}/{expression}.jpg")
    face = detector.detect(frame)[0]

    _, crop = classifier.crop_of(frame, face)
    label, probabilities = classifier.classify(frame, face)

    assert crop == "landmarks"

    assert label == expression
    assert probabilities[expression] > 0.9
    assert list(probabilities) == list(EXPRESSION_LABELS)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _manifest(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "MANIFEST.tsv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "kind", "label", "notes"])
        writer.writerows([(*row, "") for row in rows])
    return path


def test_eval_expressions_scores_a_subset(testdata: Path, tmp_path: Path) -> None:
    rows = [(f"{DEMO}/{name}.jpg", "expression", name) for name in ("happy", "sad", "surprised")]
    rows += [
        ("yale/png/subject01_normal.png", "expression", "normal"),  # a synonym of neutral
        ("nowhere/missing.jpg", "expression", "happy"),
        (f"{DEMO}/angry.jpg", "expression", "contempt"),  # not one of the seven: ignored
        (f"{DEMO}/amy/amy1.png", "identity", "bbt_amy"),  # not an expression row
    ]
    manifest = _manifest(tmp_path, rows)

    code, stdout, stderr = _run(
        "eval", "expressions", "--manifest", str(manifest), "--root", str(testdata), "--json"
    )

    assert code == 0, stderr
    report = json.loads(stdout)
    assert {"accuracy", "per_class", "confusion", "images", "no_face"} <= set(report)
    assert report["images"] == 5
    assert report["no_face"] == 1  # the missing file
    assert report["ignored"] == 1
    assert report["accuracy"] == 1.0
    assert report["per_class"]["neutral"]["correct"] == 1
    assert report["confusion"]["happy"]["happy"] == 1
    assert report["per_class"]["happy"] == {
        "accuracy": 1.0,
        "images": 2,
        "no_face": 1,
        "correct": 1,
    }
    assert report["ms_per_face"] > 0  # reported; how fast is the benchmarks' business
    assert "missing.jpg" in stderr


def test_eval_expressions_prints_a_table(testdata: Path, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [(f"{DEMO}/happy.jpg", "expression", "happy")])

    code, stdout, stderr = _run(
        "eval", "expressions", "--manifest", str(manifest), "--root", str(testdata)
    )

    assert code == 0, stderr
    assert "happy vs not happy" in stdout
    assert "100.00%" in stdout


@pytest.mark.parametrize("crop", ["landmarks", "box", "aligned"])
def test_eval_expressions_measures_each_crop(testdata: Path, tmp_path: Path, crop: str) -> None:
    manifest = _manifest(tmp_path, [(f"{DEMO}/happy.jpg", "expression", "happy")])

    code, stdout, stderr = _run(
        "eval", "expressions", "--manifest", str(manifest), "--root", str(testdata),
        "--crop", crop, "--json",
    )  # fmt: skip

    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["crop"] == crop
    assert report["accuracy"] == 1.0


def test_eval_expressions_refuses_an_unknown_crop(testdata: Path, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [(f"{DEMO}/happy.jpg", "expression", "happy")])

    code, _, stderr = _run(
        "eval", "expressions", "--manifest", str(manifest), "--root", str(testdata),
        "--crop", "nose",
    )  # fmt: skip

    assert code == 2
    assert "nose" in stderr


def test_the_public_expression_set_is_read_as_well_as_the_prototype_did(
    testdata: Path, tmp_path: Path
) -> None:
    code, stdout, stderr = _run(
        "eval",
        "expressions",
        "--manifest",
        str(testdata / "MANIFEST.tsv"),
        "--root",
        str(testdata),
        "--json",
    )

    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["images"] == 44
    assert report["no_face"] == 0
    # face-api.js (the 2022 prototype) gets 39 of 44; this port 39 (see vision.expression).
    # One image of margin: a different CPU's rounding may flip a 50/50 face.
    assert report["correct"] >= 38
    # Happy vs not: 42 of 44 here (the goal is above 0.95), with the same one-image margin.
    assert report["happy_vs_not_accuracy"] >= round(41 / 44, 4)
