"""A demo store: customers enrolled from the shared test photos, ready to be identified."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from salesmigo.evaluation.identify import split_identities
from salesmigo.evaluation.manifest import read_manifest
from salesmigo.services import customers, places
from salesmigo.services.errors import PhotosRejected
from salesmigo.services.legacy import import_customers, parse_export
from salesmigo.services.photos import Photo
from salesmigo.services.runtime import Runtime
from salesmigo.store.repositories import CustomerRepository

DEMO_EMAIL_DOMAIN = "demo.salesmigo.test"


@dataclass(frozen=True)
class DemoStore:
    enrolled: list[str]
    already_present: int
    skipped: list[str]  # identities whose enrolment photo had no usable face
    legacy_imported: int
    probe: Path | None  # another photo of an enrolled customer
    stranger: Path | None  # a photo of someone not enrolled


def demo_identities(testdata: Path) -> tuple[list[tuple[str, Path]], Path | None, Path | None]:
    """Every second identity of the manifest with its first photo; the others stay strangers."""
    split = split_identities(read_manifest(testdata / "MANIFEST.tsv"))
    people = [(identity.label, testdata / identity.images[0]) for identity in split.enrolled]
    with_probe = [identity for identity in split.enrolled if len(identity.images) > 1]
    probe = testdata / with_probe[0].images[1] if with_probe else None
    stranger = testdata / split.strangers[0].images[0] if split.strangers else None
    return people, probe, stranger


def display_name(label: str) -> str:
    return label.replace("_", " ").title()


def build_demo_store(
    runtime: Runtime, testdata: Path, progress: Callable[[str], None] = lambda _: None
) -> DemoStore:
    """Enrol the demo customers that are not there yet; running it twice adds nothing."""
    people, probe, stranger = demo_identities(testdata)
    enrolled, skipped, present = [], [], 0
    for label, photo in people:
        progress(label)
        email = f"{label.lower()}@{DEMO_EMAIL_DOMAIN}"
        with runtime.sessions() as session:
            if CustomerRepository(session).get_by_email(email) is not None:
                present += 1
                continue
        details = customers.CustomerDetails(display_name(label), email, location="demo")
        try:
            customers.enrol(runtime, details, True, [Photo(photo.name, photo.read_bytes())])
        except PhotosRejected:
            skipped.append(label)
            continue
        enrolled.append(label)
    legacy_file = testdata / "legacy" / "customers.json"
    legacy = 0
    if legacy_file.exists():
        legacy = import_customers(runtime, parse_export(legacy_file)).imported
    _demo_cameras(runtime)
    return DemoStore(enrolled, present, skipped, legacy, probe, stranger)


DEMO_CAMERAS = (("entrance", "entrance", None), ("shoes-cam", "aisle", "Shoes"))


def _demo_cameras(runtime: Runtime) -> None:
    """An entrance camera and an aisle camera, so frames can be posted to both."""
    existing = {camera.name for camera in places.list_cameras(runtime)}
    aisles = {aisle.name: aisle.id for aisle in places.list_aisles(runtime)}
    for name, role, aisle in DEMO_CAMERAS:
        if name in existing:
            continue
        aisle_id = None
        if aisle is not None:
            aisle_id = aisles.get(aisle) or places.create_aisle(runtime, {"name": aisle}).id
        places.create_camera(runtime, {"name": name, "role": role, "aisle_id": aisle_id})
