"""Who is this? One endpoint for photos (multipart) and face-api.js descriptors (JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.schemas import (
    CustomerRef,
    DescriptorQuery,
    ErrorBody,
    IdentifiedFace,
    IdentifyResponse,
    RejectedFacePublic,
)
from salesmigo.services import identification
from salesmigo.services.errors import InvalidInput
from salesmigo.vision.images import ImageError, decode_image

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


def _public(face: identification.IdentifiedFace) -> IdentifiedFace:
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
    if content_type.startswith("multipart/form-data"):
        return await _identify_image(request, runtime)
    raise InvalidInput(
        "send a multipart form with an 'image' file, or JSON {\"descriptor\": [128 numbers]}"
    )


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
    return IdentifyResponse(faces=[_public(face)])


async def _identify_image(request: Request, runtime: RuntimeDep) -> IdentifyResponse:
    vision = runtime.settings.vision
    async with request.form(max_files=1, max_fields=10) as form:
        image = form.get("image")
        source = form.get("source")
        if not isinstance(image, UploadFile):
            raise InvalidInput("the form needs a file field named 'image'")
        data = await image.read(vision.max_upload_bytes + 1)
    name = image.filename or "image"
    try:
        frame = decode_image(
            data, max_bytes=vision.max_upload_bytes, max_pixels=vision.max_image_pixels, name=name
        )
    except ImageError as error:
        raise InvalidInput(str(error)) from None
    result = await run_in_threadpool(
        identification.identify_frame,
        runtime,
        frame,
        source if isinstance(source, str) and source else None,
    )
    return IdentifyResponse(
        faces=[_public(face) for face in result.faces],
        rejected=[
            RejectedFacePublic(
                box=r.detection.box.as_list(), detection_score=r.detection.score, reason=r.reason
            )
            for r in result.rejected
        ],
    )
