"""Aisles and cameras: where observations come from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesmigo.services.errors import Conflict, InvalidInput, NotFound
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import Aisle, Camera, CameraRole

CAMERA_ROLES = tuple(role.value for role in CameraRole)

# A camera's name is part of its agent's URL (POST /api/v1/cameras/{name}/events) and of
# its outbox file name, so it is kept to characters that mean nothing in either: letters
# and digits (any script), spaces inside, and - _ . ("/" would split the URL path).
CAMERA_NAME_RULE = "letters, digits, spaces, and - _ . (no space at either end, not only dots)"
_CAMERA_NAME = re.compile(r"[\w .-]+")


@dataclass(frozen=True)
class AisleRecord:
    id: int
    name: str
    category: str | None
    description: str | None
    created_at: datetime


@dataclass(frozen=True)
class CameraRecord:
    id: int
    name: str
    role: str
    aisle_id: int | None
    enabled: bool
    created_at: datetime


def _aisle_record(aisle: Aisle) -> AisleRecord:
    return AisleRecord(aisle.id, aisle.name, aisle.category, aisle.description, aisle.created_at)


def _camera_record(camera: Camera) -> CameraRecord:
    return CameraRecord(
        camera.id, camera.name, camera.role, camera.aisle_id, camera.enabled, camera.created_at
    )


def existing_aisle(session: Session, aisle_id: int) -> Aisle:
    aisle = session.get(Aisle, aisle_id)
    if aisle is None:
        raise NotFound(f"aisle {aisle_id} does not exist")
    return aisle


def existing_camera(session: Session, camera_id: int) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise NotFound(f"camera {camera_id} does not exist")
    return camera


def _name_taken(
    session: Session, kind: type[Aisle] | type[Camera], name: str, own: int | None
) -> bool:
    found = session.scalar(select(kind.id).where(kind.name == name))
    return found is not None and found != own


def check_camera_name(name: str) -> None:
    """InvalidInput with a sentence unless ``name`` keeps to CAMERA_NAME_RULE."""
    if not name.strip():
        raise InvalidInput("name must not be empty")
    bad = sorted({c for c in name if not _CAMERA_NAME.fullmatch(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise InvalidInput(
            f"camera name {name!r} contains {shown}: a camera name may hold only {CAMERA_NAME_RULE}"
        )
    if name != name.strip() or not name.strip("."):
        raise InvalidInput(f"camera name {name!r} is not allowed: use {CAMERA_NAME_RULE}")


def _check_fields(session: Session, fields: dict[str, Any], kind: type[Aisle | Camera]) -> None:
    if "name" in fields and not (fields["name"] or "").strip():
        raise InvalidInput("name must not be empty")
    # Names set now must be safe; a camera named before the rule keeps its name until
    # renamed (its agent still reaches the server: the events route accepts "/").
    if kind is Camera and fields.get("name") is not None:
        check_camera_name(fields["name"])
    if fields.get("role") is not None and fields["role"] not in CAMERA_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(CAMERA_ROLES)}")
    if fields.get("aisle_id") is not None:
        existing_aisle(session, fields["aisle_id"])


def _apply(session: Session, row: Aisle | Camera, changes: dict[str, Any], what: str) -> None:
    """Validate and write ``changes`` to a new or existing aisle or camera."""
    _check_fields(session, changes, type(row))
    name = changes.get("name")
    conflict = Conflict(f"{what} named {name!r} exists already")
    if name is not None and _name_taken(session, type(row), name, row.id):
        raise conflict
    for key, value in changes.items():
        setattr(row, key, value)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent writer took the name between check and flush
        raise conflict from None


def create_aisle(runtime: Runtime, fields: dict[str, Any]) -> AisleRecord:
    with runtime.sessions.begin() as session:
        aisle = Aisle()
        _apply(session, aisle, fields, "an aisle")
        return _aisle_record(aisle)


def list_aisles(runtime: Runtime) -> list[AisleRecord]:
    with runtime.sessions() as session:
        return [_aisle_record(a) for a in session.scalars(select(Aisle).order_by(Aisle.name))]


def get_aisle(runtime: Runtime, aisle_id: int) -> AisleRecord:
    with runtime.sessions() as session:
        return _aisle_record(existing_aisle(session, aisle_id))


def update_aisle(runtime: Runtime, aisle_id: int, changes: dict[str, Any]) -> AisleRecord:
    with runtime.sessions.begin() as session:
        aisle = existing_aisle(session, aisle_id)
        _apply(session, aisle, changes, "an aisle")
        return _aisle_record(aisle)


def delete_aisle(runtime: Runtime, aisle_id: int) -> None:
    """Cameras of the aisle stay, without an aisle; its observations keep their data."""
    with runtime.sessions.begin() as session:
        session.delete(existing_aisle(session, aisle_id))


def create_camera(runtime: Runtime, fields: dict[str, Any]) -> CameraRecord:
    with runtime.sessions.begin() as session:
        camera = Camera()
        _apply(session, camera, fields, "a camera")
        return _camera_record(camera)


def list_cameras(runtime: Runtime) -> list[CameraRecord]:
    with runtime.sessions() as session:
        return [_camera_record(c) for c in session.scalars(select(Camera).order_by(Camera.name))]


def get_camera(runtime: Runtime, camera_id: int) -> CameraRecord:
    with runtime.sessions() as session:
        return _camera_record(existing_camera(session, camera_id))


def update_camera(runtime: Runtime, camera_id: int, changes: dict[str, Any]) -> CameraRecord:
    with runtime.sessions.begin() as session:
        camera = existing_camera(session, camera_id)
        _apply(session, camera, changes, "a camera")
        return _camera_record(camera)


def delete_camera(runtime: Runtime, camera_id: int) -> None:
    with runtime.sessions.begin() as session:
        session.delete(existing_camera(session, camera_id))
