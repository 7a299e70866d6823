"""What the API accepts and returns, separate from the database models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class CustomerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str | None
    phone: str | None
    date_of_birth: date | None
    location: str | None
    consent_given_at: datetime
    created_at: datetime
    templates: int = Field(description="How many face templates this customer has, all models.")


class CustomerList(BaseModel):
    customers: list[CustomerPublic]
    total: int


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=50)
    date_of_birth: date | None = None
    location: str | None = Field(default=None, max_length=200)


class CustomerRef(BaseModel):
    id: int
    name: str


class IdentifiedFace(BaseModel):
    box: list[int] | None = Field(description="[x, y, width, height]; null for a descriptor.")
    decision: Literal["match", "unknown"]
    customer: CustomerRef | None
    distance: float | None = Field(description="To the nearest customer, even when unknown.")
    runner_up_distance: float | None = Field(description="To the second-nearest customer.")
    model: str
    detection_score: float | None = None


class RejectedFacePublic(BaseModel):
    box: list[int]
    detection_score: float
    reason: str


class IdentifyResponse(BaseModel):
    faces: list[IdentifiedFace]
    rejected: list[RejectedFacePublic] = Field(
        default_factory=list, description="Faces seen but too small or uncertain to identify."
    )


class DescriptorQuery(BaseModel):
    """A face-api.js (dlib ResNet) descriptor, as the 2022 prototype's browser clients send."""

    model_config = ConfigDict(extra="forbid")

    descriptor: list[float] = Field(min_length=128, max_length=128)
    source: str | None = Field(default=None, max_length=100)


class DescriptorBatch(BaseModel):
    """Descriptors computed elsewhere (a camera agent), all of one recogniser model."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["sface", "dlib"] = "sface"
    descriptors: list[list[float]] = Field(min_length=1, max_length=256)


class ErrorBody(BaseModel):
    detail: str
    problems: list[dict[str, str]] | None = None
