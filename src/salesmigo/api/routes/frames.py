"""Frames from a camera: identify, read expressions and gestures, store what is seen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.routes.identify import public_face, public_rejected
from salesmigo.api.schemas import ErrorBody, IdentifiedFace, RejectedFacePublic
from salesmigo.api.uploads import read_form_image
from salesmigo.services.frames import CameraFrame, process_camera_frame

router = APIRouter(tags=["cameras"])


class FrameFace(IdentifiedFace):
    expression: str | None = Field(description="Most likely expression; null at an entrance.")
    expressions: dict[str, float] | None = Field(description="All seven probabilities.")
    age_range: str | None = Field(
        default=None, description="e.g. 25-34; only with SALESMIGO_VISION__ATTRIBUTES=true."
    )
    gender: str | None = Field(default=None, description="female or male; likewise optional.")


class FrameHand(BaseModel):
    box: list[int]
    gesture: str
    confidence: float
    handedness: str
    face: int | None = Field(description="Index into `faces` of the person the hand belongs to.")


class Stored(BaseModel):
    visits: int
    expressions: int
    gestures: int = Field(description="Gestures confirmed over several frames of one person.")


class FrameResult(BaseModel):
    camera: dict[str, Any]
    faces: list[FrameFace]
    rejected: list[RejectedFacePublic]
    hands: list[FrameHand]
    stored: Stored


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _result(frame: CameraFrame) -> FrameResult:
    faces = []
    for face, reading, attributes in zip(
        frame.identified.faces, frame.expressions, frame.attributes, strict=True
    ):
        public = public_face(face).model_dump()
        faces.append(
            FrameFace(
                **public,
                expression=reading.expression if reading else None,
                expressions=reading.probabilities if reading else None,
                age_range=attributes.age_range_label if attributes else None,
                gender=attributes.gender if attributes else None,
            )
        )
    camera = frame.camera
    return FrameResult(
        camera={"id": camera.id, "name": camera.name, "role": camera.role},
        faces=faces,
        rejected=[public_rejected(r) for r in frame.identified.rejected],
        hands=[
            FrameHand(
                box=h.hand.box.as_list(),
                gesture=str(h.gesture.gesture),
                confidence=h.gesture.confidence,
                handedness=h.hand.handedness,
                face=h.face_index,
            )
            for h in frame.hands
        ],
        stored=Stored(
            visits=frame.stored_visits,
            expressions=frame.stored_expressions,
            gestures=frame.stored_gestures,
        ),
    )


@router.post(
    "/cameras/{camera_id}/frames",
    response_model=FrameResult,
    openapi_extra=_BODY,
    responses={
        404: {"model": ErrorBody, "description": "No such camera."},
        409: {"model": ErrorBody, "description": "The camera is disabled."},
        422: {"model": ErrorBody, "description": "No usable image."},
    },
)
async def post_frame(camera_id: int, request: Request, runtime: RuntimeDep) -> FrameResult:
    """Process one image from this camera according to its role, store what it shows, and
    return the annotated result: faces (box, name, expression) and hands (gesture)."""
    upload = await read_form_image(request, runtime.settings.vision)
    frame = await run_in_threadpool(process_camera_frame, runtime, camera_id, upload.frame)
    return _result(frame)
