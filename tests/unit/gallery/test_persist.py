"""Snapshots: a round trip gives the same gallery; anything doubtful gives None."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import faiss
import numpy as np
import pytest

from salesmigo.config import GallerySettings
from salesmigo.gallery import customer_codes, persist
from salesmigo.gallery.fastscan import FastScanIndex
from salesmigo.gallery.gallery import Gallery, Template
from salesmigo.gallery.persist import load_snapshot, save_snapshot, snapshot_path
from salesmigo.gallery.synthetic import FaceSpace, SyntheticGallery
from tests.unit.gallery.conftest import matching_for


def _gallery(faces: SyntheticGallery, settings: GallerySettings) -> Gallery:
    gallery = Gallery(matching_for, settings)
    gallery.add_arrays("sface", faces.template_ids, faces.customer_ids, faces.vectors)
    gallery.add([Template(10**7, 5, "dlib", np.full(128, 0.05, dtype=np.float32))])
    gallery.remove_templates(faces.template_ids[::7].tolist())  # tombstones are saved too
    return gallery


def _load(folder: Path, settings: GallerySettings, database_id: str = "db-1") -> Gallery | None:
    loaded = load_snapshot(
        folder, database_id=database_id, matching_for=matching_for, settings=settings
    )
    return None if loaded is None else loaded[0]


def test_round_trip_gives_the_same_search_results(
    tmp_path: Path, settings: GallerySettings, faces: SyntheticGallery
) -> None:
    original = _gallery(faces, settings)
    path = save_snapshot(original, tmp_path, revision=42, database_id="db-1")
    assert path == snapshot_path(tmp_path)
    assert path.exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    loaded = load_snapshot(
        tmp_path, database_id="db-1", matching_for=matching_for, settings=settings
    )
    assert loaded is not None
    gallery, revision = loaded
    assert revision == 42
    assert gallery.models() == ["dlib", "sface"]
    assert gallery.index_kind("sface") == settings.index
    for model in ("sface", "dlib"):
        assert gallery.size(model) == original.size(model)
        assert gallery.customers(model) == original.customers(model)
    queries = FaceSpace(seed=41).queries(faces, 50).vectors
    assert gallery.identify_batch("sface", queries) == original.identify_batch("sface", queries)
    # The loaded gallery goes on changing like any other.
    gallery.add([Template(10**6, 10**6, "sface", queries[0])])
    assert gallery.identify("sface", queries[0]).matched_customer_id == 10**6


def _fastscan_round_trip(
    index: FastScanIndex, folder: Path
) -> tuple[Gallery, Gallery, FastScanIndex]:
    """A gallery of this fast-scan index, that gallery saved and loaded again, and the
    loaded gallery's index."""
    settings = GallerySettings(index="fastscan")
    original = Gallery.from_indexes(matching_for, settings, {"sface": index})
    save_snapshot(original, folder, revision=3, database_id="db-1")
    gallery = _load(folder, settings)
    assert gallery is not None
    loaded = gallery.index("sface")
    assert isinstance(loaded, FastScanIndex)
    return original, gallery, loaded


def test_fastscan_codes_round_trip_without_being_rebuilt(
    tmp_path: Path, faces: SyntheticGallery
) -> None:
    index = FastScanIndex(faces.vectors.shape[1], train_min=1000)
    index.add(faces.template_ids, faces.customer_ids, faces.vectors)
    index.remove(faces.template_ids[::9])  # dead codes are saved as such
    original, gallery, loaded = _fastscan_round_trip(index, tmp_path)
    assert loaded.coded == index.coded  # the very codes, dead ones included: nothing re-encoded
    queries = FaceSpace(seed=43).queries(faces, 80).vectors
    for after, before in zip(
        gallery.identify_batch("sface", queries),
        original.identify_batch("sface", queries),
        strict=True,
    ):
        assert (after.decision, after.customer_id) == (before.decision, before.customer_id)
        assert after.distance == pytest.approx(before.distance, abs=1e-5)
    with index.frozen() as saved, loaded.frozen() as restored:
        assert np.array_equal(saved["codes_0"], restored["codes_0"])
        assert np.array_equal(saved["code_customer_1"], restored["code_customer_1"])


def test_fastscan_codes_in_an_older_layout_are_encoded_again_on_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faces = FaceSpace(seed=6).gallery(5000)  # enough for codes at the default training size
    with monkeypatch.context() as before:
        before.setattr(customer_codes, "BLOCK", 32)  # faiss's default, used until 2026-11
        index = FastScanIndex(faces.vectors.shape[1])
        index.add(faces.template_ids, faces.customer_ids, faces.vectors)

    original, gallery, loaded = _fastscan_round_trip(index, tmp_path)

    with loaded.frozen() as restored:
        codes = faiss.deserialize_index(np.asarray(restored["codes_0"], dtype=np.uint8))
    assert getattr(codes, "bbs", None) == customer_codes.BLOCK != 32
    queries = FaceSpace(seed=44).queries(faces, 40).vectors
    assert gallery.identify_batch("sface", queries) == original.identify_batch("sface", queries)


def test_a_fastscan_snapshot_loads_as_exact_when_the_settings_say_exact(
    tmp_path: Path, faces: SyntheticGallery
) -> None:
    original = _gallery(faces, GallerySettings(index="fastscan"))
    save_snapshot(original, tmp_path, revision=1, database_id="db-1")
    gallery = _load(tmp_path, GallerySettings(index="exact"))
    assert gallery is not None
    assert gallery.index_kind("sface") == "exact"
    assert gallery.size("sface") == original.size("sface")


def test_an_exact_snapshot_keeps_the_planes_and_loads_as_fastscan_when_asked(
    tmp_path: Path, faces: SyntheticGallery
) -> None:
    original = _gallery(faces, GallerySettings(index="exact"))
    save_snapshot(original, tmp_path, revision=1, database_id="db-1")
    header, _ = persist._read(snapshot_path(tmp_path), "db-1")
    assert set(header["models"]["sface"]["arrays"]) == {
        "template_ids",
        "customer_ids",
        "vectors_high",
        "vectors_low",
    }
    exact = _load(tmp_path, GallerySettings(index="exact"))
    fast = _load(tmp_path, GallerySettings(index="fastscan"))
    assert exact is not None
    assert fast is not None
    assert (exact.index_kind("sface"), fast.index_kind("sface")) == ("exact", "fastscan")
    # Every float32 bit survives the planes, whichever table the rows are loaded into.
    saved = original.index("sface")
    assert saved is not None
    for loaded in (exact.index("sface"), fast.index("sface")):
        assert loaded is not None
        np.testing.assert_array_equal(
            loaded.export().vectors.view(np.uint32), saved.export().vectors.view(np.uint32)
        )
    queries = FaceSpace(seed=44).queries(faces, 30).vectors
    assert exact.identify_batch("sface", queries) == original.identify_batch("sface", queries)


def test_missing_foreign_corrupt_or_other_version_gives_none(
    tmp_path: Path, faces: SyntheticGallery, caplog: pytest.LogCaptureFixture
) -> None:
    settings = GallerySettings(index="exact")
    caplog.set_level(logging.INFO, logger="salesmigo.gallery.persist")
    assert _load(tmp_path, settings) is None
    assert "no gallery snapshot" in caplog.text

    path = save_snapshot(_gallery(faces, settings), tmp_path, revision=3, database_id="db-1")
    assert _load(tmp_path, settings, database_id="db-2") is None
    assert "made for database 'db-1'" in caplog.text

    intact = path.read_bytes()
    corrupt = bytearray(intact)
    corrupt[len(persist.MAGIC) + 1000] ^= 0xFF  # one bit of one vector
    path.write_bytes(bytes(corrupt))
    assert _load(tmp_path, settings) is None
    assert "checksum mismatch" in caplog.text

    path.write_bytes(intact[: len(intact) // 2])
    assert _load(tmp_path, settings) is None

    header_length, magic = struct.unpack("<Q16s", intact[-24:])
    header = json.loads(intact[-24 - header_length : -24])
    header["format"] = persist.FORMAT_VERSION + 1
    encoded = json.dumps(header).encode()
    path.write_bytes(
        intact[: -24 - header_length] + encoded + struct.pack("<Q16s", len(encoded), magic)
    )
    assert _load(tmp_path, settings) is None
    assert "format version" in caplog.text

    path.write_bytes(intact)
    assert _load(tmp_path, settings) is not None


def test_an_empty_gallery_round_trips(tmp_path: Path) -> None:
    save_snapshot(Gallery(matching_for), tmp_path, revision=0, database_id="db-1")
    gallery = _load(tmp_path, GallerySettings())
    assert gallery is not None
    assert gallery.models() == []
