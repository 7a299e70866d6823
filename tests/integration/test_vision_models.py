"""The real detector and both recognisers on real photos from ../shared/testdata."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from salesmigo.config import VisionSettings
from salesmigo.vision.detect import MediapipeFaceDetector
from salesmigo.vision.embedders import available_models, create_embedder
from salesmigo.vision.images import load_image
from salesmigo.vision.pipeline import FacePipeline
from salesmigo.vision.types import FaceEmbedder, Frame

pytestmark = pytest.mark.integration

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 100_000_000}
AMY = [f"face-api.js/examples/images/amy/amy{i}.png" for i in range(1, 6)]
JOHNS = [
    "dlib/examples/johns/John_Salley/000179_02159509.jpg",
    "dlib/examples/johns/John_Savage/000264_01099001.jpg",
    "dlib/examples/johns/John_Schneider/000326_00926139.jpg",
    "dlib/examples/johns/John_Shimkus/000385_03227766.jpg",
    "dlib/examples/johns/John_Simm/000306_00470223.jpg",
]


@cache
def _read(path: Path) -> Frame:
    return load_image(path, max_bytes=LIMITS["max_bytes"], max_pixels=LIMITS["max_pixels"])


@pytest.fixture(scope="module")
def detector() -> Iterator[MediapipeFaceDetector]:
    with MediapipeFaceDetector() as detector:
        yield detector


@pytest.fixture(scope="module", params=available_models())
def embedder(request: pytest.FixtureRequest) -> FaceEmbedder:
    model: str = request.param
    return create_embedder(model)


def anchored_pairs(testdata: Path) -> list[tuple[str, str, str]]:
    """(anchor, same person, different person) for the first anchor of each image source."""
    with (testdata / "pairs.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    same: dict[str, str] = {}
    different: dict[str, str] = {}
    for row in rows:
        target = same if row["same"] == "1" else different
        target.setdefault(row["path_a"], row["path_b"])
    triples: dict[str, tuple[str, str, str]] = {}
    for anchor in same:
        source = anchor.split("/")[0]
        if anchor in different and source not in triples:
            triples[source] = (anchor, same[anchor], different[anchor])
    return list(triples.values())


@pytest.mark.parametrize("image", AMY + JOHNS)
def test_one_face_in_each_aligned_crop(
    testdata: Path, detector: MediapipeFaceDetector, image: str
) -> None:
    frame = _read(testdata / image)
    faces = detector.detect(frame)
    assert len(faces) == 1
    box = faces[0].box
    assert box.x >= 0
    assert box.y >= 0
    assert box.x + box.width <= frame.shape[1]
    assert box.y + box.height <= frame.shape[0]
    assert box.width > frame.shape[1] / 3  # the crop is mostly face
    assert 0.0 < faces[0].score <= 1.0
    assert faces[0].landmarks.shape == (5, 2)
    assert faces[0].landmarks.dtype == np.float32


@pytest.mark.parametrize(("image", "at_least"), [("bbt2.jpg", 2), ("bbt4.jpg", 5)])
def test_several_faces_in_a_group_photo_largest_first(
    testdata: Path, detector: MediapipeFaceDetector, image: str, at_least: int
) -> None:
    faces = detector.detect(_read(testdata / "face-api.js/examples/images" / image))
    assert len(faces) >= at_least
    areas = [face.box.area for face in faces]
    assert areas == sorted(areas, reverse=True)
    for face in faces:
        right_eye, left_eye = face.landmarks[0], face.landmarks[1]
        assert right_eye[0] < left_eye[0]  # subject's right eye is on the image's left


def test_no_face_in_a_blank_frame(detector: MediapipeFaceDetector) -> None:
    assert detector.detect(np.full((240, 320, 3), 127, dtype=np.uint8)) == []


def test_detector_is_safe_to_share_between_threads(
    testdata: Path, detector: MediapipeFaceDetector
) -> None:
    frames = [_read(testdata / image) for image in AMY + JOHNS]
    expected = [detector.detect(frame) for frame in frames]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(detector.detect, frames * 3))
    for got, want in zip(results, expected * 3, strict=True):
        assert [face.box for face in got] == [face.box for face in want]


def test_closed_detector_refuses_work() -> None:
    detector = MediapipeFaceDetector(refine_landmarks=False)
    detector.close()
    detector.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        detector.detect(np.zeros((64, 64, 3), dtype=np.uint8))


def test_same_person_is_closer_than_a_stranger(
    testdata: Path, detector: MediapipeFaceDetector, embedder: FaceEmbedder
) -> None:
    triples = anchored_pairs(testdata)
    assert len(triples) >= 4

    def describe(image: str) -> np.ndarray:  # type: ignore[type-arg]
        frame = _read(testdata / image)
        faces = detector.detect(frame)
        assert faces, f"no face found in {image}"
        embedding = embedder.embed(frame, faces[0])
        assert embedding.model == embedder.model
        assert embedding.model_version == embedder.model_version
        vector = embedding.vector
        assert vector.shape == (embedder.dimension,) == (128,)
        assert vector.dtype == np.float32
        assert np.isfinite(vector).all()
        if embedder.model == "sface":
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        return vector

    for anchor, same, different in triples:
        reference = describe(anchor)
        same_distance = float(np.linalg.norm(reference - describe(same)))
        different_distance = float(np.linalg.norm(reference - describe(different)))
        assert same_distance < different_distance, (anchor, same, different)


def test_model_versions() -> None:
    sface, dlib = create_embedder("sface"), create_embedder("dlib")
    assert (sface.model, sface.model_version) == ("sface", "2021dec_int8bq")
    assert (dlib.model, dlib.model_version) == ("dlib", "resnet_v1")


def test_default_pipeline_on_a_real_photo(testdata: Path) -> None:
    frame = _read(testdata / "face_recognition/examples/obama.jpg")
    pipeline = FacePipeline.default(VisionSettings())
    try:
        analysis = pipeline.analyse(frame, "sface")
        assert len(analysis.faces) == 1
        face = analysis.faces[0]
        assert face.embedding.model == "sface"
        second = pipeline.embed(frame, face.detection, "dlib")
    finally:
        pipeline.close()
    assert second.model == "dlib"
    assert second.vector.shape == (128,)
    # dlib descriptors stay raw (comparable with face-api.js), unlike SFace's unit vectors.
    assert not np.isclose(np.linalg.norm(second.vector), 1.0)


def test_loading_one_model_does_not_load_the_other() -> None:
    code = (
        "import sys\n"
        "from salesmigo.vision.embedders import create_embedder\n"
        "create_embedder('sface')\n"
        "assert 'dlib' not in sys.modules, 'dlib loaded for sface'\n"
        "assert 'mediapipe' not in sys.modules, 'mediapipe loaded for an embedder'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
