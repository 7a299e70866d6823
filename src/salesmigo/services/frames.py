"""One camera frame in, identities, expressions and gestures out (and stored).

What runs depends on the camera's role: an entrance identifies and counts visits; an aisle
or fitting-room camera also reads expressions and feedback gestures. Expressions are
stored per frame (a time series of probabilities); a gesture becomes an observation only
once it has persisted over several frames of one person, so one noisy frame is no event.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesmigo.services import live
from salesmigo.services.errors import Conflict
from salesmigo.services.identification import FrameIdentification, identify_frame
from salesmigo.services.places import CameraRecord, get_camera
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import CameraRole, ExpressionObservation, GestureObservation, Visit
from salesmigo.store.types import utcnow
from salesmigo.vision.attributes import FaceAttributes
from salesmigo.vision.gesture_labels import Gesture
from salesmigo.vision.gestures import Classification, classify
from salesmigo.vision.hand_links import link_hands
from salesmigo.vision.hands import Hand
from salesmigo.vision.types import Frame

# Who a gesture belongs to, for smoothing across frames: a customer, or "someone unknown".
PersonKey = tuple[int, int | None]


@dataclass(frozen=True)
class FaceReading:
    expression: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class HandReading:
    hand: Hand
    gesture: Classification
    face_index: int | None  # into CameraFrame.identified.faces


@dataclass(frozen=True)
class CameraFrame:
    camera: CameraRecord
    identified: FrameIdentification
    expressions: list[FaceReading | None]  # one per identified face; None at an entrance
    attributes: list[FaceAttributes | None]  # one per face; None unless vision.attributes
    hands: list[HandReading]
    stored_visits: int
    stored_expressions: int
    stored_gestures: int


def process_camera_frame(runtime: Runtime, camera_id: int, frame: Frame) -> CameraFrame:
    camera = get_camera(runtime, camera_id)
    if not camera.enabled:
        raise Conflict(f"camera {camera.name!r} is disabled; enable it to send frames")
    observing = camera.role != CameraRole.ENTRANCE
    identified = identify_frame(
        runtime, frame, camera.name if camera.role == CameraRole.ENTRANCE else None
    )
    expressions: list[FaceReading | None] = [None] * len(identified.faces)
    hands: list[HandReading] = []
    if observing:
        expressions = [
            FaceReading(*runtime.expressions.classify(frame, face.face.detection))
            for face in identified.faces
            if face.face is not None
        ]
        found = runtime.hands.detect(frame)
        links = link_hands(
            [h.box for h in found],
            [f.face.detection.box for f in identified.faces if f.face is not None],
        )
        hands = [HandReading(h, classify(h), link) for h, link in zip(found, links, strict=True)]
    estimator = runtime.attributes
    attributes: list[FaceAttributes | None] = [
        estimator.estimate(frame, face.face.detection)
        if estimator is not None and face.face is not None
        else None
        for face in identified.faces
    ]
    return _store(runtime, camera, identified, expressions, attributes, hands)


def _customer_of(people: list[int | None], key: int | None) -> int | None:
    """The customer behind a face index; None for a hand linked to no face."""
    return people[key] if key is not None else None


def _confirmed_gestures(
    runtime: Runtime, camera: CameraRecord, people: list[int | None], hands: list[HandReading]
) -> dict[int | None, Classification]:
    """Gestures that persisted long enough, by index of the face they belong to.

    Hands linked to no face are smoothed together as one unknown person per camera.
    """
    best: dict[int | None, Classification] = {}
    for reading in hands:
        if reading.gesture.gesture == Gesture.NONE:
            continue
        current = best.get(reading.face_index)
        if current is None or reading.gesture.confidence > current.confidence:
            best[reading.face_index] = reading.gesture
    keys: list[int | None] = list(range(len(people)))
    if None in best:
        keys.append(None)
    confirmed: dict[int | None, Classification] = {}
    for key in keys:
        person: PersonKey = (camera.id, _customer_of(people, key))
        seen = best.get(key)
        label = runtime.smooth_gesture(person, seen.gesture if seen else None)
        if label is not None and seen is not None:
            confirmed[key] = seen
    return confirmed


def _store(
    runtime: Runtime,
    camera: CameraRecord,
    identified: FrameIdentification,
    expressions: list[FaceReading | None],
    attributes: list[FaceAttributes | None],
    hands: list[HandReading],
) -> CameraFrame:
    now = utcnow()
    people = [face.identification.matched_customer_id for face in identified.faces]
    gestures = _confirmed_gestures(runtime, camera, people, hands)
    visits = expression_rows = 0
    with runtime.sessions.begin() as session:
        anonymous: dict[int, int] = {}
        for index, customer_id in enumerate(people):
            # Someone not recognised is still counted, as a visit without a customer.
            if customer_id is None:
                visit = Visit(customer_id=None, source=camera.name, occurred_at=now)
                session.add(visit)
                session.flush()
                anonymous[index] = visit.id
                visits += 1
        matched_visits = sum(1 for c in people if c is not None)
        if camera.role == CameraRole.ENTRANCE:
            visits += matched_visits  # recorded by identify_frame
        for index, reading in enumerate(expressions):
            if reading is None:
                continue
            session.add(
                ExpressionObservation(
                    customer_id=people[index],
                    visit_id=anonymous.get(index),
                    aisle_id=camera.aisle_id,
                    camera_id=camera.id,
                    label=reading.expression,
                    probabilities=reading.probabilities,
                    observed_at=now,
                )
            )
            expression_rows += 1
        for key, gesture in gestures.items():
            session.add(
                GestureObservation(
                    customer_id=_customer_of(people, key),
                    visit_id=anonymous.get(key) if key is not None else None,
                    aisle_id=camera.aisle_id,
                    camera_id=camera.id,
                    gesture=str(gesture.gesture),
                    confidence=gesture.confidence,
                    observed_at=now,
                )
            )
    if camera.role == CameraRole.ENTRANCE:
        for customer_id in people:
            live.publish(runtime, "visit", camera.name, now, customer_id)
    for key, gesture in gestures.items():
        customer_id = _customer_of(people, key)
        live.publish(
            runtime, "gesture", camera.name, now, customer_id, gesture=str(gesture.gesture)
        )
    return CameraFrame(
        camera, identified, expressions, attributes, hands, visits, expression_rows, len(gestures)
    )
