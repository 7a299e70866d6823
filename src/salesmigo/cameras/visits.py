"""Entrance visits: when a track's arrival and departure are reported, and for whom.

An arrival is reported as soon as the track's identity is decided (the vote is confident:
a customer, or a settled stranger) or, at the latest, ``arrival_window`` seconds after the
person first appeared, so staff hear of an arrival while the person is still at the door.
A vote still open then reports the arrival as anonymous and keeps running; the departure,
when the track ends, carries the final identity, and the server completes the visit with
it. A track ending before its arrival was due reports both at once.

One visit per person per ``visit_period``: a customer who already arrived less than a
period ago (they stepped out of view and back: a new track) is not reported again, and a
track that stays longer than a period is split into consecutive visits. A track named only
after its anonymous arrival, as a customer who already has a visit in the period, stays
anonymous: the rule wins over the late name. Tracks seen in fewer than
``min_track_frames`` frames are not visits (a passing false detection).

``identified`` says whether identification ran at all: during a server outage a track's
faces cannot be identified, and its visit is reported as not identified (customer unknown)
rather than as a stranger's.

Pure bookkeeping on the source's clock: no models, no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from salesmigo.cameras.events import VisitArrivalEvent, VisitDepartureEvent
from salesmigo.cameras.identity_vote import VoteOutcome

VisitEvent = VisitArrivalEvent | VisitDepartureEvent


@dataclass(frozen=True)
class VisitRules:
    visit_period: float = 300.0  # seconds
    arrival_window: float = 0.1  # seconds: latest arrival report after first appearing
    min_track_frames: int = 3


def arrival_due(
    *, confident: bool, frames_seen: int, started: float, now: float, rules: VisitRules
) -> bool:
    """Report this track's arrival now? Identity settled, or the window has passed."""
    if frames_seen < rules.min_track_frames:
        return False
    return confident or now - started >= rules.arrival_window


def departure_due(*, ended: bool, started: float, now: float, rules: VisitRules) -> bool:
    """End the current visit now? The track ended, or it has lasted a whole period."""
    return ended or now - started >= rules.visit_period


def is_repeat_visit(
    customer_id: int | None, arrived: float, previous: float | None, rules: VisitRules
) -> bool:
    """A known customer already reported arriving less than ``visit_period`` ago."""
    if customer_id is None or previous is None:
        return False
    return arrived - previous < rules.visit_period


@dataclass
class TrackVisit:
    """The visit window of one track (a track staying for hours has several)."""

    started: float  # source seconds
    started_at: datetime
    last_at: datetime
    frames: int = 0
    visit_id: uuid.UUID | None = None  # set once the arrival is reported
    customer_id: int | None = None  # as reported at arrival
    repeat: bool = False  # a known customer's second visit in the period: not reported

    def seen(self, at: datetime) -> None:
        self.frames += 1
        self.last_at = at


class VisitBook:
    """Arrivals and departures of one entrance camera's tracks. Not thread-safe."""

    def __init__(self, rules: VisitRules) -> None:
        self.rules = rules
        self._last_arrival: dict[int, float] = {}  # customer id -> arrival (source seconds)

    def arrival_if_due(
        self,
        track_id: str,
        visit: TrackVisit,
        outcome: VoteOutcome,
        now: float,
        *,
        identified: bool = True,
    ) -> list[VisitEvent]:
        """The arrival of ``visit`` if it is due now and not reported yet."""
        if visit.visit_id is not None or visit.repeat:
            return []
        if not arrival_due(
            confident=outcome.confident,
            frames_seen=visit.frames,
            started=visit.started,
            now=now,
            rules=self.rules,
        ):
            return []
        return self._arrive(track_id, visit, outcome, identified)

    def departure_if_due(
        self,
        track_id: str,
        visit: TrackVisit,
        outcome: VoteOutcome,
        now: float,
        *,
        ended: bool,
        identified: bool = True,
    ) -> list[VisitEvent]:
        """The departure (and a missing arrival) if the visit ends now; then a new window."""
        if not departure_due(ended=ended, started=visit.started, now=now, rules=self.rules):
            return []
        events: list[VisitEvent] = []
        if (
            visit.visit_id is None
            and not visit.repeat
            and visit.frames >= self.rules.min_track_frames
        ):
            events += self._arrive(track_id, visit, outcome, identified)
        if visit.visit_id is not None:
            events.append(self._depart(track_id, visit, outcome, identified))
        visit.started, visit.started_at = now, visit.last_at
        visit.frames, visit.visit_id, visit.customer_id, visit.repeat = 0, None, None, False
        return events

    def _arrive(
        self, track_id: str, visit: TrackVisit, outcome: VoteOutcome, identified: bool
    ) -> list[VisitEvent]:
        customer_id = outcome.customer_id if outcome.confident else None
        previous = self._last_arrival.get(customer_id) if customer_id is not None else None
        if is_repeat_visit(customer_id, visit.started, previous, self.rules):
            visit.repeat = True
            return []
        if customer_id is not None:
            self._last_arrival[customer_id] = visit.started
        visit.visit_id = uuid.uuid4()
        visit.customer_id = customer_id
        return [
            VisitArrivalEvent(
                occurred_at=visit.started_at,
                track_id=track_id,
                customer_id=customer_id,
                distance=outcome.distance if customer_id is not None else None,
                visit_id=visit.visit_id,
                arrived_at=visit.started_at,
                identified=identified,
            )
        ]

    def _depart(
        self, track_id: str, visit: TrackVisit, outcome: VoteOutcome, identified: bool
    ) -> VisitEvent:
        assert visit.visit_id is not None
        customer_id = outcome.customer_id if outcome.confident else None
        if customer_id is not None and customer_id != visit.customer_id:
            previous = self._last_arrival.get(customer_id)
            if is_repeat_visit(customer_id, visit.started, previous, self.rules):
                customer_id = None  # named late, and already counted in this period
            else:
                self._last_arrival[customer_id] = visit.started
        return VisitDepartureEvent(
            occurred_at=visit.last_at,
            track_id=track_id,
            customer_id=customer_id,
            distance=outcome.distance if customer_id is not None else None,
            visit_id=visit.visit_id,
            arrived_at=visit.started_at,
            departed_at=visit.last_at,
            identified=identified,
        )
