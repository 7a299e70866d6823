"""Camera agents: tokens to send events with, and the idempotent event ingest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.schemas import ErrorBody
from salesmigo.cameras.events import EventBatch, IngestReport
from salesmigo.services import camera_tokens
from salesmigo.services.ingest import ingest_events

router = APIRouter(tags=["cameras"])


class IssuedToken(BaseModel):
    camera_id: int
    token: str = Field(description="Shown once: only a hash is kept. Give it to the agent.")


@router.post(
    "/cameras/{camera_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedToken,
    responses={404: {"model": ErrorBody, "description": "No such camera."}},
)
def issue_token(runtime: RuntimeDep, camera_id: int) -> IssuedToken:
    """A token that lets this camera's agent send events, and do nothing else."""
    return IssuedToken(camera_id=camera_id, token=camera_tokens.issue_token(runtime, camera_id))


@router.delete(
    "/cameras/{camera_id}/tokens",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorBody, "description": "No such camera."}},
)
def revoke_tokens(runtime: RuntimeDep, camera_id: int) -> Response:
    """Revoke every token of the camera; its agents are refused from now on."""
    camera_tokens.revoke_tokens(runtime, camera_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


# ":path": a camera named with "/" before names were checked (see services.places) still
# reaches its events; its agent sends the name percent-encoded, which is decoded first.
@router.post(
    "/cameras/{camera_name:path}/events",
    response_model=IngestReport,
    responses={
        401: {"model": ErrorBody, "description": "Missing, unknown or revoked token."},
        403: {"model": ErrorBody, "description": "The token belongs to another camera."},
        404: {"model": ErrorBody, "description": "No such camera."},
        422: {"model": ErrorBody, "description": "Invalid events; none were stored."},
    },
)
async def post_events(
    runtime: RuntimeDep,
    camera_name: str,
    batch: EventBatch,
    authorization: Annotated[str | None, Header()] = None,
) -> IngestReport:
    """Store a camera agent's events, oldest first. Resending is safe: an event id that
    was stored before is counted under `duplicates` and changes nothing."""
    token = _bearer(authorization)
    return await run_in_threadpool(ingest_events, runtime, camera_name, token, batch)
