"""Per-camera tokens: each lets one camera agent send events, and nothing else."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from salesmigo.services.errors import Forbidden, NotFound, Unauthorized
from salesmigo.services.places import existing_camera
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import Camera, CameraToken
from salesmigo.store.types import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(runtime: Runtime, camera_id: int) -> str:
    """A new token for the camera; only its hash is stored, so show it to the operator once."""
    token = secrets.token_urlsafe(32)
    with runtime.sessions.begin() as session:
        existing_camera(session, camera_id)
        session.add(CameraToken(camera_id=camera_id, token_sha256=_digest(token)))
    return token


def revoke_tokens(runtime: Runtime, camera_id: int) -> int:
    with runtime.sessions.begin() as session:
        existing_camera(session, camera_id)
        tokens = session.scalars(
            select(CameraToken).where(
                CameraToken.camera_id == camera_id, CameraToken.revoked_at.is_(None)
            )
        ).all()
        for token in tokens:
            token.revoked_at = utcnow()
        return len(tokens)


def camera_for_token(runtime: Runtime, token: str | None) -> Camera:
    """The camera a live token belongs to, or Unauthorized."""
    if not token:
        raise Unauthorized("send the camera's token as 'Authorization: Bearer <token>'")
    with runtime.sessions() as session:
        camera = session.scalar(
            select(Camera)
            .join(CameraToken, CameraToken.camera_id == Camera.id)
            .where(CameraToken.token_sha256 == _digest(token), CameraToken.revoked_at.is_(None))
        )
    if camera is None:
        raise Unauthorized("the camera token is not valid (unknown or revoked)")
    return camera


def camera_named_for_token(runtime: Runtime, camera_name: str, token: str | None) -> Camera:
    """The camera ``camera_name``, if ``token`` is one of its live tokens and it may record.

    Unauthorized for a missing, unknown or revoked token; NotFound for an unknown camera;
    Forbidden for another camera's token, and for a disabled camera: it records nothing,
    so an agent stops with its events queued and a streaming camera page ends.
    """
    camera = camera_for_token(runtime, token)
    if camera.name != camera_name:
        with runtime.sessions() as session:
            if session.scalar(select(Camera.id).where(Camera.name == camera_name)) is None:
                raise NotFound(f"camera {camera_name!r} does not exist")
        raise Forbidden(f"this token belongs to camera {camera.name!r}, not {camera_name!r}")
    if not camera.enabled:
        raise Forbidden(f"camera {camera.name!r} is disabled; enable it to record its events")
    return camera
