"""Gallery snapshots: the indexes on disk, so a restart loads them instead of rebuilding.

One file, ``<folder>/gallery.snapshot``, written to a temporary file, flushed to disk and
renamed over the old one (a crash leaves either the old or the new snapshot, never half).

Layout::

    MAGIC (16 bytes)
    payload: raw arrays, each starting on a 64-byte boundary
    header: UTF-8 JSON
    header length (8 bytes, little-endian) + MAGIC

The header says the format version, the database revision and database id the snapshot
reflects, and per model: the index kind, the dimension, counts and where each array lies
(dtype, shape, offset). ``sha256`` covers the whole payload. Per model the arrays are the
table rows verbatim (``template_ids``, ``customer_ids`` and the vectors: ``vectors``
as float32 for the fast-scan index, ``vectors_high`` and ``vectors_low`` for the exact
index, whose table keeps them so (gallery.halves); tombstones included) and, for the
fast-scan index, its serialised codes and their code-to-row maps,
so a restart rebuilds nothing. Loading reads each array straight into its own numpy buffer (no
per-row Python work), hashing as it reads; the exact index then rechecks its truncation
bound (gallery.halves): a million templates load in about two seconds.

The database stays the truth: the caller replays the changes logged after ``revision``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any, BinaryIO

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.config import GallerySettings, ModelMatching
from salesmigo.gallery import customer_codes
from salesmigo.gallery.exact import ExactIndex
from salesmigo.gallery.fastscan import FastScanIndex
from salesmigo.gallery.gallery import Gallery
from salesmigo.gallery.index import SearchIndex
from salesmigo.gallery.table import TemplateTable

logger = logging.getLogger(__name__)

# 2: fast-scan codes replaced the HNSW graph; 3: the exact index's vectors as two planes
FORMAT_VERSION = 4
SNAPSHOT_NAME = "gallery.snapshot"
MAGIC = b"SALESMIGO-GALLRY"  # 16 bytes
_ALIGN = 64
_READ_CHUNK = 64 * 1024 * 1024
_FOOTER = struct.Struct("<Q16s")
_ID_ARRAYS = ("template_ids", "customer_ids")
_DTYPES: dict[str, np.dtype[Any]] = {
    "template_ids": np.dtype("<i8"),
    "customer_ids": np.dtype("<i8"),
    "vectors": np.dtype("<f4"),
    "vectors_high": np.dtype("<u2"),  # the exact index's float32 rows as two 16-bit planes
    "vectors_low": np.dtype("<u2"),
    "trained_on": np.dtype("<i8"),
    "codes": np.dtype("u1"),  # one serialised faiss index per shard: codes_0, codes_1, ...
    "code_customer": np.dtype("<i8"),  # the customer of each code, -1 for a dead one
}


def _dtype(name: str) -> np.dtype[Any] | None:
    """The dtype an array of this name must have (shard arrays end in ``_<number>``)."""
    stem, _, number = name.rpartition("_")
    return _DTYPES.get(stem if number.isdigit() and stem in ("codes", "code_customer") else name)


class SnapshotError(Exception):
    """A snapshot that cannot be used; the message says why."""


def snapshot_path(folder: Path) -> Path:
    return folder / SNAPSHOT_NAME


def save_snapshot(gallery: Gallery, folder: Path, *, revision: int, database_id: str) -> Path:
    """Write every model's index to ``folder/gallery.snapshot`` atomically; returns the path.

    Each index is held still (searches go on, changes wait) only while its own arrays are
    written. ``revision`` must be the database revision the gallery reflects.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = snapshot_path(folder)
    handle, temporary = tempfile.mkstemp(prefix=f".{SNAPSHOT_NAME}.", dir=folder)
    digest = hashlib.sha256()
    models: dict[str, Any] = {}
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(MAGIC)
            for model in gallery.models():
                index = gallery.index(model)
                if index is None:
                    continue
                with index.frozen() as state:
                    arrays = {}
                    for name, array in state.items():
                        arrays[name] = _write_array(out, digest, np.asarray(array, _dtype(name)))
                    models[model] = {
                        "kind": index.kind,
                        "dimension": index.dimension,
                        "templates": len(index),
                        "rows": len(state["template_ids"]),
                        "arrays": arrays,
                    }
            header = {
                "format": FORMAT_VERSION,
                "revision": revision,
                "database_id": database_id,
                "models": models,
                "payload_bytes": out.tell() - len(MAGIC),
                "sha256": digest.hexdigest(),
            }
            encoded = json.dumps(header, sort_keys=True).encode()
            out.write(encoded)
            out.write(_FOOTER.pack(len(encoded), MAGIC))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)
    logger.info(
        "gallery snapshot at revision %s: %s",
        revision,
        ", ".join(f"{m} {v['templates']} ({v['kind']})" for m, v in models.items()) or "empty",
    )
    return target


def load_snapshot(
    folder: Path,
    *,
    database_id: str,
    matching_for: Callable[[str], ModelMatching],
    settings: GallerySettings | None = None,
    background_builds: bool = True,
) -> tuple[Gallery, int] | None:
    """The gallery saved in ``folder`` and the revision it reflects, or None (reason logged).

    None when there is no snapshot, when it belongs to another database, has another
    format version, or fails its checksum or consistency checks. An index whose kind the
    settings no longer allow is converted (fast-scan to exact is instant; exact to
    fast-scan encodes the templates, seconds at 1M).
    """
    path = snapshot_path(folder)
    if not path.exists():
        logger.info("no gallery snapshot at %s; building from the database", path)
        return None
    try:
        header, arrays = _read(path, database_id)
        indexes = _indexes(header, arrays, settings or GallerySettings())
    except (SnapshotError, OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        logger.warning("gallery snapshot %s not used: %s", path, error)
        return None
    gallery = Gallery.from_indexes(
        matching_for, settings, indexes, background_builds=background_builds
    )
    revision = int(header["revision"])
    logger.info("gallery snapshot loaded at revision %s", revision)
    return gallery, revision


# -- writing ---------------------------------------------------------------------------


def _write_array(out: BinaryIO, digest: Any, array: NDArray[Any]) -> dict[str, Any]:
    padding = (-out.tell()) % _ALIGN
    if padding:
        zeros = b"\0" * padding
        out.write(zeros)
        digest.update(zeros)
    offset = out.tell()
    contiguous = np.ascontiguousarray(array)
    flat = contiguous.reshape(-1).view(np.uint8)
    for start in range(0, len(flat), _READ_CHUNK):
        chunk = flat[start : start + _READ_CHUNK].data
        out.write(chunk)
        digest.update(chunk)
    return {
        "dtype": contiguous.dtype.str,
        "shape": list(contiguous.shape),
        "offset": offset,
        "nbytes": contiguous.nbytes,
    }


def _fsync_folder(folder: Path) -> None:
    with suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# -- reading ---------------------------------------------------------------------------


def _read(
    path: Path, database_id: str
) -> tuple[dict[str, Any], dict[tuple[str, str], NDArray[Any]]]:
    with ExitStack() as stack:
        source = stack.enter_context(path.open("rb"))
        size = os.fstat(source.fileno()).st_size
        if size < len(MAGIC) + _FOOTER.size or source.read(len(MAGIC)) != MAGIC:
            raise SnapshotError("not a gallery snapshot")
        source.seek(size - _FOOTER.size)
        header_length, magic = _FOOTER.unpack(source.read(_FOOTER.size))
        payload_end = size - _FOOTER.size - header_length
        if magic != MAGIC or payload_end < len(MAGIC):
            raise SnapshotError("truncated or damaged footer")
        source.seek(payload_end)
        try:
            header = json.loads(source.read(header_length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SnapshotError(f"unreadable header ({error})") from error
        if not isinstance(header, dict):
            raise SnapshotError("unreadable header")
        if header.get("format") != FORMAT_VERSION:
            raise SnapshotError(
                f"format version {header.get('format')!r}, this version reads {FORMAT_VERSION}"
            )
        if header.get("database_id") != database_id:
            raise SnapshotError(
                f"made for database {header.get('database_id')!r}, not {database_id!r}"
            )
        if header.get("payload_bytes") != payload_end - len(MAGIC):
            raise SnapshotError("payload length differs from the header")
        layout = sorted(  # empty arrays share an offset with the next: put them first
            ((spec["offset"], spec["nbytes"], model, name), spec)
            for model, entry in header["models"].items()
            for name, spec in entry["arrays"].items()
        )
        digest = hashlib.sha256()
        source.seek(len(MAGIC))
        position = len(MAGIC)
        arrays: dict[tuple[str, str], NDArray[Any]] = {}
        for (offset, _, model, name), spec in layout:
            if offset < position or offset + spec["nbytes"] > payload_end:
                raise SnapshotError(f"{model}/{name} lies outside the payload")
            digest.update(_read_exactly(source, offset - position))
            dtype = np.dtype(spec["dtype"])
            if dtype != _dtype(name):
                raise SnapshotError(f"{model}/{name} has dtype {spec['dtype']}")
            array = np.empty(tuple(spec["shape"]), dtype=dtype)
            if array.nbytes != spec["nbytes"]:
                raise SnapshotError(f"{model}/{name}: shape and size disagree")
            _read_into(source, array, digest)
            arrays[(model, name)] = array
            position = offset + spec["nbytes"]
        digest.update(_read_exactly(source, payload_end - position))
        if digest.hexdigest() != header.get("sha256"):
            raise SnapshotError("checksum mismatch")
    return header, arrays


def _read_exactly(source: BinaryIO, count: int) -> bytes:
    data = source.read(count)
    if len(data) != count:
        raise SnapshotError("file ends early")
    return data


def _read_into(source: BinaryIO, array: NDArray[Any], digest: Any) -> None:
    flat = array.reshape(-1).view(np.uint8)
    for start in range(0, len(flat), _READ_CHUNK):
        chunk = flat[start : start + _READ_CHUNK].data
        if source.readinto(chunk) != len(chunk):  # type: ignore[attr-defined]
            raise SnapshotError("file ends early")
        digest.update(chunk)


def _indexes(
    header: dict[str, Any],
    arrays: dict[tuple[str, str], NDArray[Any]],
    settings: GallerySettings,
) -> dict[str, SearchIndex]:
    indexes: dict[str, SearchIndex] = {}
    for model, entry in header["models"].items():
        template_ids, customer_ids = (arrays[(model, name)] for name in _ID_ARRAYS)
        dimension = int(entry["dimension"])
        rows = int(entry["rows"])
        if (model, "vectors") in arrays:
            vectors: tuple[NDArray[Any], ...] = (arrays[(model, "vectors")],)
        else:
            vectors = (arrays[(model, "vectors_high")], arrays[(model, "vectors_low")])
        if any(v.shape != (rows, dimension) for v in vectors) or not (
            len(template_ids) == len(customer_ids) == rows
        ):
            raise SnapshotError(f"{model}: arrays of different lengths")
        if len(np.unique(template_ids)) != rows:
            raise SnapshotError(f"{model}: repeated template ids")
        kind = entry["kind"]
        if kind not in ("exact", "fastscan"):
            raise SnapshotError(f"{model}: unknown index kind {kind!r}")
        fast = settings.index == "fastscan" or (kind == "fastscan" and settings.index != "exact")
        table_type = FastScanIndex.table_type if fast else ExactIndex.table_type
        if len(vectors) == 1:
            table = table_type.from_arrays(template_ids, customer_ids, vectors[0])
        else:
            table = table_type.from_planes(template_ids, customer_ids, *vectors)
        if table.live != entry["templates"]:
            raise SnapshotError(
                f"{model}: {table.live} templates, header says {entry['templates']}"
            )
        index: SearchIndex
        if kind == "fastscan" and fast:
            index = _fastscan(model, dimension, table, arrays)
        elif fast:
            index = FastScanIndex(dimension, table)  # the codes are made now
        else:
            index = ExactIndex(dimension, table)
        indexes[model] = index
    return indexes


def _fastscan(
    model: str, dimension: int, table: TemplateTable, arrays: dict[tuple[str, str], NDArray[Any]]
) -> FastScanIndex:
    shards = []
    number = 0
    while (model, f"codes_{number}") in arrays:
        codes = faiss.deserialize_index(arrays[(model, f"codes_{number}")])
        shards.append((codes, arrays[(model, f"code_customer_{number}")]))
        number += 1
    trained_on = arrays.get((model, "trained_on"))
    if trained_on is None or trained_on.shape != (1,):
        raise SnapshotError(f"{model}: fast-scan codes without their training size")
    if any(getattr(codes, "bbs", None) != customer_codes.BLOCK for codes, _ in shards):
        # Codes laid out as before blocks of BLOCK: they would search correctly but more
        # slowly until their next rebuild, so they are made again now (seconds at 1M).
        logger.info("%s: fast-scan codes in an older layout; encoding them again", model)
        return FastScanIndex(dimension, table)
    try:
        return FastScanIndex(dimension, table, shards=shards, trained_on=int(trained_on[0]))
    except ValueError as error:
        raise SnapshotError(f"{model}: {error}") from None
