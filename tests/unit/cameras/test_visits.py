"""When entrance visits are reported, and for whom (cameras.visits), on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from salesmigo.cameras.identity_vote import VoteOutcome
from salesmigo.cameras.visits import (
    TrackVisit,
    VisitBook,
    VisitRules,
    arrival_due,
    departure_due,
    is_repeat_visit,
)

RULES = VisitRules(visit_period=300.0, arrival_window=0.15, min_track_frames=3)
T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
UNDECIDED = VoteOutcome(None, None, False)
STRANGER = VoteOutcome(None, None, True)


def known(customer: int) -> VoteOutcome:
    return VoteOutcome(customer, 0.6, True)


def seen(started: float, frames: int = 3) -> TrackVisit:
    visit = TrackVisit(started, T0 + timedelta(seconds=started), T0)
    for n in range(frames):
        visit.seen(T0 + timedelta(seconds=started + n / 10))
    return visit


@pytest.mark.parametrize(
    ("confident", "frames", "now", "expected"),
    [
        (True, 2, 0.05, False),  # too few frames to be a person
        (True, 3, 0.05, True),  # identity settled: at once
        (False, 3, 0.10, False),  # still voting, window open
        (False, 3, 0.15, True),  # the window closed: report what is known
    ],
)
def test_arrival_due(confident: bool, frames: int, now: float, expected: bool) -> None:
    due = arrival_due(confident=confident, frames_seen=frames, started=0.0, now=now, rules=RULES)
    assert due is expected


def test_departure_due() -> None:
    assert departure_due(ended=True, started=0.0, now=1.0, rules=RULES)
    assert not departure_due(ended=False, started=0.0, now=299.0, rules=RULES)
    assert departure_due(ended=False, started=0.0, now=300.0, rules=RULES)


def test_is_repeat_visit() -> None:
    assert not is_repeat_visit(None, 10.0, 0.0, RULES)
    assert not is_repeat_visit(7, 10.0, None, RULES)
    assert is_repeat_visit(7, 10.0, 0.0, RULES)
    assert not is_repeat_visit(7, 400.0, 0.0, RULES)


def test_one_arrival_then_one_departure_with_the_same_visit_id() -> None:
    book = VisitBook(RULES)
    visit = seen(0.0)
    assert book.arrival_if_due("t1", visit, UNDECIDED, 0.1) == []
    [arrival] = book.arrival_if_due("t1", visit, STRANGER, 0.1)
    assert book.arrival_if_due("t1", visit, STRANGER, 0.2) == []  # reported once
    assert book.departure_if_due("t1", visit, STRANGER, 5.0, ended=False) == []
    [departure] = book.departure_if_due("t1", visit, STRANGER, 5.0, ended=True)
    assert (arrival.type, departure.type) == ("arrival", "departure")
    assert arrival.visit_id == departure.visit_id


def test_a_track_too_short_to_be_a_person_reports_nothing() -> None:
    book = VisitBook(RULES)
    visit = seen(0.0, frames=2)
    assert book.departure_if_due("t1", visit, known(7), 0.1, ended=True) == []


def test_a_track_ending_before_its_arrival_was_due_reports_both() -> None:
    book = VisitBook(RULES)
    events = book.departure_if_due("t1", seen(0.0), UNDECIDED, 0.1, ended=True)
    assert [e.type for e in events] == ["arrival", "departure"]


def test_a_customer_back_within_the_period_is_not_a_second_visit() -> None:
    book = VisitBook(RULES)
    first = seen(0.0)
    assert book.arrival_if_due("t1", first, known(7), 0.1)
    book.departure_if_due("t1", first, known(7), 20.0, ended=True)
    again = seen(60.0)
    assert book.arrival_if_due("t2", again, known(7), 60.1) == []
    assert book.departure_if_due("t2", again, known(7), 80.0, ended=True) == []
    later = seen(400.0)
    assert [e.customer_id for e in book.arrival_if_due("t3", later, known(7), 400.1)] == [7]


def test_a_customer_staying_longer_than_the_period_makes_consecutive_visits() -> None:
    book = VisitBook(RULES)
    visit = seen(0.0)
    [first] = book.arrival_if_due("t1", visit, known(7), 0.1)
    [departure] = book.departure_if_due("t1", visit, known(7), 300.0, ended=False)
    visit.seen(T0 + timedelta(seconds=300))
    assert book.arrival_if_due("t1", visit, known(7), 300.1) == []  # one frame: too early
    visit.seen(T0 + timedelta(seconds=300.1))
    visit.seen(T0 + timedelta(seconds=300.2))
    [second] = book.arrival_if_due("t1", visit, known(7), 300.2)
    assert departure.visit_id == first.visit_id != second.visit_id


def test_a_late_name_already_counted_in_the_period_stays_anonymous() -> None:
    book = VisitBook(RULES)
    earlier = seen(0.0)
    book.arrival_if_due("t1", earlier, known(7), 0.1)
    visit = seen(30.0)
    [arrival] = book.arrival_if_due("t2", visit, UNDECIDED, 30.2)
    [departure] = book.departure_if_due("t2", visit, known(7), 40.0, ended=True)
    assert arrival.customer_id is None
    assert departure.customer_id is None
    fresh = seen(500.0)
    book.arrival_if_due("t3", fresh, UNDECIDED, 500.2)
    [named] = book.departure_if_due("t3", fresh, known(8), 510.0, ended=True)
    assert named.customer_id == 8
