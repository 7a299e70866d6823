"""Reading TensorFlow.js weight files (a JSON manifest plus binary shards) into numpy.

The format: the manifest is a list of groups; each group names its shard files (``paths``,
relative to the manifest) and its tensors (``weights``: name, shape, dtype, and optionally
``quantization``). A group's shards are one byte stream cut into files; its tensors lie in
that stream back to back, in manifest order, little-endian. A quantized tensor is stored as
uint8 or uint16 ``q`` and means ``q * scale + min``, or is stored as float16.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Stored dtype -> numpy dtype (explicitly little-endian, as TF.js writes them).
_QUANTIZED_DTYPES: dict[str, np.dtype[Any]] = {
    "uint8": np.dtype("<u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}
_PLAIN_DTYPES: dict[str, np.dtype[Any]] = {"float32": np.dtype("<f4")}


class TfjsFormatError(ValueError):
    """A TF.js weights manifest or shard cannot be read; the message names the file."""


def read_weights(manifest_path: Path) -> dict[str, NDArray[np.float32]]:
    """Every tensor of a TF.js weights manifest, dequantized to float32, by name.

    Raises TfjsFormatError (missing or short shards, unknown dtypes, bad JSON) and
    FileNotFoundError when the manifest itself is missing.
    """
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TfjsFormatError(f"{manifest_path} is not valid JSON: {error}") from None
    if not isinstance(manifest, list):
        raise TfjsFormatError(f"{manifest_path} is not a TF.js weights manifest (not a list)")
    tensors: dict[str, NDArray[np.float32]] = {}
    for group_number, group in enumerate(manifest):
        where = f"{manifest_path} group {group_number}"
        if not isinstance(group, dict) or "paths" not in group or "weights" not in group:
            raise TfjsFormatError(f"{where} has no 'paths' and 'weights'")
        stream = _read_shards(manifest_path.parent, group["paths"], where)
        offset = 0
        for entry in group["weights"]:
            name, array, offset = _read_tensor(entry, stream, offset, where)
            if name in tensors:
                raise TfjsFormatError(f"{where} repeats the tensor name {name!r}")
            tensors[name] = array
        if offset != len(stream):
            raise TfjsFormatError(
                f"{where}: the shards hold {len(stream)} bytes but the tensors use {offset}"
            )
    return tensors


def _read_shards(folder: Path, paths: object, where: str) -> bytes:
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        raise TfjsFormatError(f"{where}: 'paths' must be a list of file names")
    root = folder.resolve()
    parts = []
    for relative in paths:
        shard = (folder / relative).resolve()
        if not shard.is_relative_to(root):
            raise TfjsFormatError(f"{where}: shard {relative!r} lies outside {folder}")
        try:
            parts.append(shard.read_bytes())
        except FileNotFoundError:
            raise TfjsFormatError(f"{where}: the shard file {shard} is missing") from None
    return b"".join(parts)


def _read_tensor(
    entry: Mapping[str, Any], stream: bytes, offset: int, where: str
) -> tuple[str, NDArray[np.float32], int]:
    """(name, float32 array, offset after it) for one manifest ``weights`` entry."""
    try:
        name = str(entry["name"])
        shape = [int(size) for size in entry["shape"]]
        dtype_name = str(entry["dtype"])
    except (KeyError, TypeError, ValueError):
        raise TfjsFormatError(f"{where}: a weights entry lacks name, shape or dtype") from None
    if dtype_name not in _PLAIN_DTYPES:
        raise TfjsFormatError(f"{where}: tensor {name!r} has dtype {dtype_name!r}; only float32")
    quantization = entry.get("quantization")
    stored = _PLAIN_DTYPES[dtype_name]
    if quantization is not None:
        quantized_name = str(quantization.get("dtype"))
        if quantized_name not in _QUANTIZED_DTYPES:
            raise TfjsFormatError(
                f"{where}: tensor {name!r} is quantized as {quantized_name!r}; "
                f"known: {', '.join(_QUANTIZED_DTYPES)}"
            )
        stored = _QUANTIZED_DTYPES[quantized_name]
    count = math.prod(shape)
    end = offset + count * stored.itemsize
    if end > len(stream):
        raise TfjsFormatError(
            f"{where}: tensor {name!r} needs bytes {offset}..{end} but the shards end at "
            f"{len(stream)}"
        )
    raw = np.frombuffer(stream, dtype=stored, count=count, offset=offset)
    values: NDArray[np.float32]
    if quantization is not None and stored.kind == "u":
        try:
            scale, minimum = float(quantization["scale"]), float(quantization["min"])
        except (KeyError, TypeError, ValueError):
            raise TfjsFormatError(
                f"{where}: tensor {name!r} lacks quantization scale/min"
            ) from None
        # In float64 then rounded once, as TF.js does (JS numbers into a Float32Array).
        values = (raw.astype(np.float64) * scale + minimum).astype(np.float32)
    else:
        values = raw.astype(np.float32)  # a copy: the result does not pin the whole stream
    return name, values.reshape(shape), end
