"""Aisles and cameras: create, read, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.place_schemas import (
    AisleCreate,
    AislePublic,
    AisleUpdate,
    CameraCreate,
    CameraPublic,
    CameraUpdate,
)
from salesmigo.api.schemas import ErrorBody
from salesmigo.services import places

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No such aisle or camera."},
    409: {"model": ErrorBody, "description": "The name is taken."},
    422: {"model": ErrorBody, "description": "Bad input; `detail` says what and why."},
}


@router.post(
    "/aisles", status_code=201, response_model=AislePublic, tags=["aisles"], responses=_ERRORS
)
def create_aisle(runtime: RuntimeDep, aisle: AisleCreate) -> AislePublic:
    return AislePublic.model_validate(places.create_aisle(runtime, aisle.model_dump()))


@router.get("/aisles", response_model=list[AislePublic], tags=["aisles"])
def list_aisles(runtime: RuntimeDep) -> list[AislePublic]:
    return [AislePublic.model_validate(a) for a in places.list_aisles(runtime)]


@router.get("/aisles/{aisle_id}", response_model=AislePublic, tags=["aisles"], responses=_ERRORS)
def get_aisle(runtime: RuntimeDep, aisle_id: int) -> AislePublic:
    return AislePublic.model_validate(places.get_aisle(runtime, aisle_id))


@router.patch("/aisles/{aisle_id}", response_model=AislePublic, tags=["aisles"], responses=_ERRORS)
def update_aisle(runtime: RuntimeDep, aisle_id: int, changes: AisleUpdate) -> AislePublic:
    updated = places.update_aisle(runtime, aisle_id, changes.model_dump(exclude_unset=True))
    return AislePublic.model_validate(updated)


@router.delete("/aisles/{aisle_id}", status_code=204, tags=["aisles"], responses=_ERRORS)
def delete_aisle(runtime: RuntimeDep, aisle_id: int) -> Response:
    """Its cameras stay (without an aisle); past observations keep their data."""
    places.delete_aisle(runtime, aisle_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/cameras", status_code=201, response_model=CameraPublic, tags=["cameras"], responses=_ERRORS
)
def create_camera(runtime: RuntimeDep, camera: CameraCreate) -> CameraPublic:
    return CameraPublic.model_validate(places.create_camera(runtime, camera.model_dump()))


@router.get("/cameras", response_model=list[CameraPublic], tags=["cameras"])
def list_cameras(runtime: RuntimeDep) -> list[CameraPublic]:
    return [CameraPublic.model_validate(c) for c in places.list_cameras(runtime)]


@router.get(
    "/cameras/{camera_id}", response_model=CameraPublic, tags=["cameras"], responses=_ERRORS
)
def get_camera(runtime: RuntimeDep, camera_id: int) -> CameraPublic:
    return CameraPublic.model_validate(places.get_camera(runtime, camera_id))


@router.patch(
    "/cameras/{camera_id}", response_model=CameraPublic, tags=["cameras"], responses=_ERRORS
)
def update_camera(runtime: RuntimeDep, camera_id: int, changes: CameraUpdate) -> CameraPublic:
    updated = places.update_camera(runtime, camera_id, changes.model_dump(exclude_unset=True))
    return CameraPublic.model_validate(updated)


@router.delete("/cameras/{camera_id}", status_code=204, tags=["cameras"], responses=_ERRORS)
def delete_camera(runtime: RuntimeDep, camera_id: int) -> Response:
    places.delete_camera(runtime, camera_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
