"""Import of the 2022 prototype's customer export (MongoDB JSON with face-api.js descriptors)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from salesmigo.services.errors import InvalidInput
from salesmigo.services.runtime import Runtime
from salesmigo.store.gallery_log import record_added
from salesmigo.store.models import Customer, FaceTemplate, TemplateOrigin, normalize_email
from salesmigo.store.repositories import CustomerRepository
from salesmigo.store.types import utcnow

LEGACY_MODEL = "dlib"
# face-api.js computes its descriptors with dlib's ResNet: same network, same 128-D space.
LEGACY_MODEL_VERSION = "face-api.js"
DESCRIPTOR_LENGTH = 128


@dataclass(frozen=True)
class LegacyCustomer:
    name: str
    email: str
    descriptors: list[NDArray[np.float32]]


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped_existing: list[str]
    templates: int


def _descriptor(value: Any, where: str) -> NDArray[np.float32]:
    if isinstance(value, dict):
        try:
            ordered = [value[str(i)] for i in range(DESCRIPTOR_LENGTH)]
        except KeyError as missing:
            raise InvalidInput(f"{where}: descriptor has no component {missing}") from None
        if len(value) != DESCRIPTOR_LENGTH:
            raise InvalidInput(f"{where}: descriptor has {len(value)} components, not 128")
    elif isinstance(value, list):
        ordered = value
    else:
        raise InvalidInput(f"{where}: a descriptor must be an object or a list of 128 numbers")
    try:
        vector = np.asarray(ordered, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: descriptor components must be numbers") from None
    if vector.shape != (DESCRIPTOR_LENGTH,) or not np.all(np.isfinite(vector)):
        raise InvalidInput(f"{where}: a descriptor must be 128 finite numbers")
    return vector


def parse_export(path: Path) -> list[LegacyCustomer]:
    """Read and validate the whole export, so a bad record stops the import before any write."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"{path} is not a readable JSON file: {error}") from None
    if not isinstance(records, list):
        raise InvalidInput(f"{path} must hold a JSON list of customer records")
    customers = []
    for number, record in enumerate(records, start=1):
        where = f"record {number}"
        if not isinstance(record, dict):
            raise InvalidInput(f"{where} is not an object")
        name, email = record.get("customer_name"), normalize_email(record.get("customer_email"))
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where} has no customer_name")
        if not email:
            raise InvalidInput(f"{where} ({name}) has no customer_email")
        raw = record.get("customer_img_descriptions")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput(f"{where} ({name}) has no customer_img_descriptions")
        descriptors = [
            _descriptor(d, f"{where} ({name}) descriptor {i}") for i, d in enumerate(raw)
        ]
        customers.append(LegacyCustomer(name.strip(), email, descriptors))
    return customers


def import_customers(
    runtime: Runtime,
    customers: Sequence[LegacyCustomer],
    progress: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Store each customer with dlib-model templates; customers already present are skipped.

    Skipping by e-mail makes a repeated import harmless. Consent is recorded at import
    time: the prototype enrolled these customers with their faces, so they had agreed then.
    """
    skipped: list[str] = []
    added: list[FaceTemplate] = []
    with runtime.sessions.begin() as session:
        repository = CustomerRepository(session)
        for legacy in customers:
            progress()
            if repository.get_by_email(legacy.email) is not None:
                skipped.append(legacy.email)
                continue
            customer = Customer(name=legacy.name, email=legacy.email, consent_given_at=utcnow())
            repository.add(customer)
            templates = [
                FaceTemplate.from_vector(
                    vector,
                    model=LEGACY_MODEL,
                    model_version=LEGACY_MODEL_VERSION,
                    origin=TemplateOrigin.LEGACY_IMPORT,
                    customer=customer,
                )
                for vector in legacy.descriptors
            ]
            session.add_all(templates)
            session.flush()
            added.extend(templates)
        record_added(session, added)
    runtime.gallery_changed()
    return ImportReport(len(customers) - len(skipped), skipped, len(added))
