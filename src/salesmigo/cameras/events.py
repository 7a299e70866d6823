"""The events a camera pipeline reports: the one contract between agents and the server.

Every event carries a unique id chosen where it is produced, so the server can ingest
idempotently: an agent that lost its connection resends, and nothing is stored twice.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Unique; resending is safe.")
    occurred_at: AwareDatetime
    track_id: str = Field(max_length=100, description="The camera's track of this person.")
    customer_id: int | None = Field(default=None, description="Null when not recognised.")
    distance: float | None = Field(default=None, description="Of the identification, if any.")


class VisitEvent(_Event):
    """One person passing an entrance camera: arrival, departure (dwell), who if known."""

    type: Literal["visit"] = "visit"
    arrived_at: AwareDatetime
    departed_at: AwareDatetime | None = None


class ExpressionEvent(_Event):
    type: Literal["expression"] = "expression"
    label: Literal["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
    probabilities: dict[str, float]


class GestureEvent(_Event):
    type: Literal["gesture"] = "gesture"
    gesture: Literal["thumbs_up", "thumbs_down", "victory", "open_palm", "fist", "pointing_up"]
    confidence: float = Field(ge=0, le=1)


CameraEvent = Annotated[VisitEvent | ExpressionEvent | GestureEvent, Field(discriminator="type")]


class EventBatch(BaseModel):
    """What an agent posts to ``POST /api/v1/cameras/{camera_id}/events``, oldest first."""

    model_config = ConfigDict(extra="forbid")

    events: list[CameraEvent] = Field(min_length=1, max_length=1000)


class IngestReport(BaseModel):
    accepted: int = Field(description="Events stored now.")
    duplicates: int = Field(description="Events already stored before (resent): ignored.")
