"""Aisles, cameras and sentiment as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CameraRole = Literal["entrance", "aisle", "fitting_room"]


class AisleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class AisleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class AislePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    category: str | None
    description: str | None
    created_at: datetime


_CAMERA_NAME = (
    "Unique. Letters and digits (any script), spaces inside, and - _ . : it is part of the "
    "agent's URL /api/v1/cameras/{name}/events."
)


class CameraCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description=_CAMERA_NAME)
    role: CameraRole
    aisle_id: int | None = None
    enabled: bool = True


class CameraUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, description=_CAMERA_NAME)
    role: CameraRole | None = None
    aisle_id: int | None = None
    enabled: bool | None = None


class CameraPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: CameraRole
    aisle_id: int | None
    enabled: bool
    created_at: datetime


class AisleRef(BaseModel):
    id: int
    name: str


class SentimentPublic(BaseModel):
    aisle: AisleRef | None = Field(description="Null for observations made outside any aisle.")
    observations: int = Field(description="Expression observations counted.")
    shares: dict[str, float] = Field(description="Share of the observations per expression.")
    dominant: str | None
    gestures: dict[str, int] = Field(description="Feedback gestures counted.")


class CustomerSentiment(BaseModel):
    customer_id: int
    aisles: list[SentimentPublic]


class AisleGestures(BaseModel):
    aisle: AisleRef
    gestures: dict[str, int]
