"""Storing events sent by camera agents, exactly once each.

A visit comes as an ``arrival`` and later a ``departure`` naming the same agent visit id.
The arrival creates the visit and is announced on the realtime bus; the departure sets its
departure time and, when it names a customer, the identity the agent settled on after
the arrival. A departure that arrives first (its arrival was delayed or rejected) creates
the complete visit, and the late arrival then changes nothing and is not announced: the
person has left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesmigo.cameras.events import (
    CameraEvent,
    EventBatch,
    ExpressionEvent,
    GestureEvent,
    IngestReport,
    VisitArrivalEvent,
    VisitDepartureEvent,
    VisitEvent,
)
from salesmigo.services import live
from salesmigo.services.camera_tokens import camera_named_for_token
from salesmigo.services.errors import InvalidInput
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import (
    Camera,
    Customer,
    ExpressionObservation,
    GestureObservation,
    IngestedEvent,
    Visit,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Stored:
    event: CameraEvent
    customer_id: int | None  # as stored: None if the customer was erased meanwhile
    announce: bool  # news for the staff screens (a late arrival of a finished visit is not)


def ingest_events(
    runtime: Runtime, camera_name: str, token: str | None, batch: EventBatch
) -> IngestReport:
    """Store each event not stored before, in one transaction per batch.

    Ids already present are counted as duplicates and skipped, so an agent that resends
    after a lost answer changes nothing. Two deliveries of one batch racing each other
    collide on the primary key; the loser retries and finds them all stored.
    """
    camera = camera_named_for_token(runtime, camera_name, token)
    _check_roles(camera, batch.events)
    for attempt in range(2):
        try:
            with runtime.sessions.begin() as session:
                stored = _store(session, camera, batch.events)
            break
        except IntegrityError:
            if attempt:
                raise
            logger.info("concurrent delivery of the same events from %s; retrying", camera.name)
    for item in stored:
        if not item.announce:
            continue
        event = item.event
        details = event.model_dump(mode="json", exclude={"type", "customer_id", "occurred_at"})
        live.publish(
            runtime, event.type, camera.name, event.occurred_at, item.customer_id, **details
        )
    return IngestReport(accepted=len(stored), duplicates=len(batch.events) - len(stored))


def _check_roles(camera: Camera, events: Sequence[CameraEvent]) -> None:
    """Only an entrance counts visits: an arrival from an aisle would count people twice.

    (The single ``visit`` event of older agents is accepted from any camera, as before.)
    """
    if camera.role == "entrance":
        return
    for position, event in enumerate(events):
        if isinstance(event, VisitArrivalEvent | VisitDepartureEvent):
            raise InvalidInput(
                f"events.{position}: camera {camera.name!r} is registered as {camera.role!r}, "
                "and only an entrance camera reports arrivals and departures; change the "
                "camera's role or run its agent with the matching --role"
            )


def _store(session: Session, camera: Camera, events: Sequence[CameraEvent]) -> list[_Stored]:
    """The events stored now (not seen before), each with the customer it was stored for."""
    ids = [str(event.id) for event in events]
    seen = set(
        session.scalars(select(IngestedEvent.event_id).where(IngestedEvent.event_id.in_(ids)))
    )
    fresh = [e for e in events if str(e.id) not in seen]
    fresh = list({str(e.id): e for e in fresh}.values())  # an id twice in one batch counts once
    customers = {e.customer_id for e in fresh if e.customer_id is not None}
    # A customer erased since the agent identified them is stored as unknown.
    existing = set(session.scalars(select(Customer.id).where(Customer.id.in_(customers))))
    stored = []
    for event in fresh:
        customer_id = event.customer_id if event.customer_id in existing else None
        session.add(IngestedEvent(event_id=str(event.id), camera_id=camera.id, type=event.type))
        if isinstance(event, VisitArrivalEvent | VisitDepartureEvent):
            announce = _store_visit_step(session, event, camera, customer_id)
        else:
            session.add(_row(event, camera, customer_id))
            announce = True
        stored.append(_Stored(event, customer_id, announce))
    session.flush()
    return stored


def _store_visit_step(
    session: Session,
    event: VisitArrivalEvent | VisitDepartureEvent,
    camera: Camera,
    customer_id: int | None,
) -> bool:
    """Create or complete the visit ``event`` names; whether the step is news."""
    # The query autoflushes, so an arrival earlier in the same batch is found.
    visit = session.scalar(select(Visit).where(Visit.agent_visit_id == str(event.visit_id)))
    departed_at = event.departed_at if isinstance(event, VisitDepartureEvent) else None
    if visit is None:
        session.add(
            Visit(
                customer_id=customer_id,
                source=camera.name,
                occurred_at=event.arrived_at,
                departed_at=departed_at,
                distance=event.distance if customer_id is not None else None,
                agent_visit_id=str(event.visit_id),
                identified=event.identified,
            )
        )
        return True
    if isinstance(event, VisitArrivalEvent):
        return False  # its departure came first: the visit is complete already
    visit.departed_at = departed_at
    visit.identified = visit.identified or event.identified  # the server came back meanwhile
    if customer_id is not None:  # named after the arrival: the final identity
        visit.customer_id = customer_id
        visit.distance = event.distance
    return True


def _row(
    event: CameraEvent, camera: Camera, customer_id: int | None
) -> Visit | ExpressionObservation | GestureObservation:
    if isinstance(event, VisitEvent):
        return Visit(
            customer_id=customer_id,
            source=camera.name,
            occurred_at=event.arrived_at,
            departed_at=event.departed_at,
            distance=event.distance,
        )
    if isinstance(event, ExpressionEvent):
        return ExpressionObservation(
            customer_id=customer_id,
            aisle_id=camera.aisle_id,
            camera_id=camera.id,
            label=event.label,
            probabilities=event.probabilities,
            observed_at=event.occurred_at,
        )
    assert isinstance(event, GestureEvent)
    return GestureObservation(
        customer_id=customer_id,
        aisle_id=camera.aisle_id,
        camera_id=camera.id,
        gesture=event.gesture,
        confidence=event.confidence,
        observed_at=event.occurred_at,
    )
