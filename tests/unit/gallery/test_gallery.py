"""The Gallery the services use: per-model indexes, batch identify, the auto rule."""

from __future__ import annotations

import numpy as np
import pytest

from salesmigo.config import GallerySettings
from salesmigo.gallery.gallery import Gallery, Template
from salesmigo.gallery.kernels import SPLIT_BATCH_MIN_ROWS
from salesmigo.gallery.synthetic import FaceSpace, SyntheticGallery
from tests.unit.gallery.conftest import matching_for


def _templates(faces: SyntheticGallery, model: str = "sface") -> list[Template]:
    return [
        Template(int(t), int(c), model, v)
        for t, c, v in zip(faces.template_ids, faces.customer_ids, faces.vectors, strict=True)
    ]


def test_the_services_api_works_as_before(faces: SyntheticGallery) -> None:
    gallery = Gallery(matching_for)  # the original one-argument constructor
    gallery.add(_templates(faces))
    gallery.add([Template(99_999, 77, "dlib", np.zeros(128, dtype=np.float32))])
    assert gallery.size("sface") == len(faces)
    assert gallery.size("dlib") == 1
    assert gallery.customers("dlib") == {77}
    assert gallery.customer_set("dlib") == frozenset({77})
    assert gallery.customer_set("nobody") == frozenset()
    assert gallery.customers("sface") == set(faces.customer_ids.tolist())
    assert gallery.identify("nobody", faces.vectors[0]).decision == "unknown"

    own_photo = gallery.identify("sface", faces.vectors[0])
    assert own_photo.decision == "match"
    assert own_photo.matched_customer_id == faces.customer_ids[0]
    assert own_photo.distance == pytest.approx(0.0, abs=1e-3)

    gallery.remove_customer(int(faces.customer_ids[0]))
    assert int(faces.customer_ids[0]) not in gallery.customers("sface")
    gallery.remove_templates([int(faces.template_ids[-1]), 123_456_789])
    assert gallery.size("sface") < len(faces)
    with pytest.raises(ValueError, match="128-D"):
        gallery.add([Template(1, 1, "sface", np.zeros(64, dtype=np.float32))])


def test_batch_identify_equals_single_identify(
    settings: GallerySettings, faces: SyntheticGallery
) -> None:
    gallery = Gallery(matching_for, settings)
    gallery.add(_templates(faces))
    assert gallery.index_kind("sface") == settings.index
    queries = FaceSpace(seed=31).queries(faces, 80).vectors
    batch = gallery.identify_batch("sface", queries)
    single = [gallery.identify("sface", query) for query in queries]
    assert [b.decision for b in batch] == [s.decision for s in single]
    assert [b.customer_id for b in batch] == [s.customer_id for s in single]
    assert [b.distance for b in batch] == pytest.approx([s.distance for s in single], abs=1e-4)
    assert any(b.decision == "match" for b in batch)
    assert gallery.identify_batch("nobody", queries[:3])[0].decision == "unknown"


def test_auto_switches_to_fastscan_above_the_size_and_back_below_half(
    faces: SyntheticGallery,
) -> None:
    settings = GallerySettings(index="auto", ann_min_size=1000)
    gallery = Gallery(matching_for, settings, background_builds=False)
    templates = _templates(faces)
    gallery.add(templates[:1000])
    assert gallery.index_kind("sface") == "exact"
    gallery.add(templates[1000:1001])
    assert gallery.index_kind("sface") == "fastscan"
    assert gallery.size("sface") == 1001
    gallery.remove_templates(range(1, 502))  # 500 left: not yet under half
    assert gallery.index_kind("sface") == "fastscan"
    gallery.remove_templates([502])
    assert gallery.index_kind("sface") == "exact"
    assert gallery.size("sface") == 499
    query = faces.vectors[700]
    assert gallery.identify("sface", query).matched_customer_id == faces.customer_ids[700]


def test_auto_builds_in_the_background_and_keeps_changes_made_meanwhile(
    faces: SyntheticGallery,
) -> None:
    settings = GallerySettings(index="auto", ann_min_size=2000)
    gallery = Gallery(matching_for, settings)
    templates = _templates(faces)
    gallery.add(templates[:2500])  # crosses the size: the codes are built in a thread
    gallery.add(templates[2500:])  # changes while it may still be building
    gallery.remove_templates(range(1, 101))
    gallery.remove_customer(int(faces.customer_ids[-1]))
    assert gallery.wait_for_builds(timeout=60)
    assert gallery.index_kind("sface") == "fastscan"
    index = gallery.index("sface")
    assert index is not None
    exported = index.export()
    expected = (faces.template_ids > 100) & (faces.customer_ids != faces.customer_ids[-1])
    assert sorted(exported.template_ids.tolist()) == faces.template_ids[expected].tolist()


def test_fastscan_setting_uses_that_index_from_the_first_template(
    faces: SyntheticGallery,
) -> None:
    gallery = Gallery(matching_for, GallerySettings(index="fastscan"))
    gallery.add(_templates(faces)[:10])
    assert gallery.index_kind("sface") == "fastscan"
    assert gallery.identify("sface", faces.vectors[3]).matched_customer_id == faces.customer_ids[3]


def test_search_helpers_start_with_a_gallery_only_if_its_searches_are_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    monkeypatch.setattr("salesmigo.gallery.gallery.helpers", lambda: started.append("now"))
    faces = FaceSpace(seed=5).gallery(SPLIT_BATCH_MIN_ROWS)
    gallery = Gallery(matching_for)
    gallery.add_arrays(
        "sface", faces.template_ids[:-1], faces.customer_ids[:-1], faces.vectors[:-1]
    )

    gallery.start_search_helpers()  # one row short: its searches run in one thread
    assert started == []

    gallery.add_arrays(
        "sface", faces.template_ids[-1:], faces.customer_ids[-1:], faces.vectors[-1:]
    )
    gallery.start_search_helpers()
    assert started == ["now"]
