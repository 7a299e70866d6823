"""The events a camera pipeline reports: the one contract between agents and the server.

Every event carries a unique id chosen where it is produced, so the server can ingest
idempotently: an agent that lost its connection resends, and nothing is stored twice.

A visit is reported in two steps so that staff learn of an arrival while the person is
still at the door: an ``arrival`` as soon as the track's identity is decided, then a
``departure`` with the same ``visit_id`` when the track ends (dwell). The departure
repeats the arrival time and carries the final identity, so it is complete on its own: a
server that receives it first (the arrival was delayed or rejected) still stores the whole
visit. A single ``visit`` event (arrival and departure at once) is still accepted, as
agents before the two-step contract sent it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from salesmigo.vision.expression_labels import Expression
from salesmigo.vision.gesture_labels import ShownGesture


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


class _VisitStep(_Event):
    visit_id: uuid.UUID = Field(description="Shared by the arrival and departure of a visit.")
    arrived_at: AwareDatetime
    identified: bool = Field(
        default=True,
        description="False: identification could not run (the server was unreachable), so "
        "a null customer_id means not known, rather than a stranger.",
    )


class VisitArrivalEvent(_VisitStep):
    """Someone entered: sent once the track's identity is decided, before they leave."""

    type: Literal["arrival"] = "arrival"


class VisitDepartureEvent(_VisitStep):
    """The visit's end: its dwell and final identity; creates the visit if none exists."""

    type: Literal["departure"] = "departure"
    departed_at: AwareDatetime

    @model_validator(mode="after")
    def _departs_after_arriving(self) -> VisitDepartureEvent:
        if self.departed_at < self.arrived_at:
            raise ValueError("departed_at must not be before arrived_at")
        return self


class ExpressionEvent(_Event):
    type: Literal["expression"] = "expression"
    label: Expression
    probabilities: dict[str, float]


class GestureEvent(_Event):
    type: Literal["gesture"] = "gesture"
    gesture: ShownGesture
    confidence: float = Field(ge=0, le=1)


CameraEvent = Annotated[
    VisitEvent | VisitArrivalEvent | VisitDepartureEvent | ExpressionEvent | GestureEvent,
    Field(discriminator="type"),
]


class EventBatch(BaseModel):
    """What an agent posts to ``POST /api/v1/cameras/{camera_id}/events``, oldest first."""

    model_config = ConfigDict(extra="forbid")

    events: list[CameraEvent] = Field(min_length=1, max_length=1000)


class IngestReport(BaseModel):
    accepted: int = Field(description="Events stored now.")
    duplicates: int = Field(description="Events already stored before (resent): ignored.")
