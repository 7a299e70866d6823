"""Who is this? One endpoint for photos (multipart) and face-api.js descriptors (JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.schemas import (
    CustomerRef,
    DescriptorBatch,
    DescriptorQuery,
    ErrorBody,
    IdentifiedFace,
    IdentifyResponse,
    RejectedFacePublic,
)
from salesmigo.api.uploads import read_form_image
from salesmigo.services import identification
from salesmigo.services.errors import InvalidInput
from salesmigo.vision.types import RejectedFace

router = APIRouter(tags=["identify"])

_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "source": {"type": "string", "description": "Camera or place name."},
                    },
                }
            },
            "application/json": {"schema": DescriptorQuery.model_json_schema()},
        },
    }
}


def public_rejected(rejected: RejectedFace) -> RejectedFacePublic:
    detection = rejected.detection
    return RejectedFacePublic(
        box=detection.box.as_list(), detection_score=detection.score, reason=rejected.reason
    )


def public_face(face: identification.IdentifiedFace) -> IdentifiedFace:
    result = face.identification
    customer_id = result.matched_customer_id
    customer = (
        CustomerRef(id=customer_id, name=face.customer_name)
        if customer_id is not None and face.customer_name is not None
        else None
    )
    return IdentifiedFace(
        box=face.face.detection.box.as_list() if face.face else None,
        decision="match" if customer else "unknown",
        customer=customer,
        distance=result.distance,
        runner_up_distance=result.runner_up_distance,
        model=result.model,
        detection_score=face.face.detection.score if face.face else None,
    )


@router.post(
    "/identify",
    response_model=IdentifyResponse,
    openapi_extra=_OPENAPI_BODY,
    responses={422: {"model": ErrorBody, "description": "No usable image or descriptor."}},
)
async def identify(request: Request, runtime: RuntimeDep) -> IdentifyResponse:
    """Identify every face in an image, or one face-api.js descriptor.

    A visit is recorded for each match when `source` is given.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return await _identify_descriptor(request, runtime)
    return await _identify_image(request, runtime)


@router.post(
    "/identify/descriptors",
    response_model=IdentifyResponse,
    responses={422: {"model": ErrorBody, "description": "Not 128-D descriptors of a model."}},
)
async def identify_descriptors(batch: DescriptorBatch, runtime: RuntimeDep) -> IdentifyResponse:
    """Identify many faces at once from their descriptors (busy entrances, camera agents).

    One pass over the gallery for the whole batch; no visits are recorded.
    """
    faces = await run_in_threadpool(
        identification.identify_descriptors, runtime, batch.model, batch.descriptors
    )
    return IdentifyResponse(faces=[public_face(face) for face in faces])


async def _identify_descriptor(request: Request, runtime: RuntimeDep) -> IdentifyResponse:
    try:
        query = DescriptorQuery.model_validate_json(await request.body())
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{field}: {first['msg']}") from None
    face = await run_in_threadpool(
        identification.identify_descriptor, runtime, query.descriptor, query.source
    )
    return IdentifyResponse(faces=[public_face(face)])


async def _identify_image(request: Request, runtime: RuntimeDep) -> IdentifyResponse:
    upload = await read_form_image(request, runtime.settings.vision)
    source = upload.fields.get("source") or None
    result = await run_in_threadpool(identification.identify_frame, runtime, upload.frame, source)
    return IdentifyResponse(
        faces=[public_face(face) for face in result.faces],
        rejected=[public_rejected(r) for r in result.rejected],
    )
