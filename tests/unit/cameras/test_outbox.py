"""The on-disk outbox: order, idempotent put, ack, durability across reopen and crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from salesmigo.cameras.events import CameraEvent, ExpressionEvent, GestureEvent, VisitEvent
from salesmigo.cameras.outbox import Outbox, OutboxClosed

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def make_event(n: int) -> CameraEvent:
    at = T0 + timedelta(seconds=n)
    kind = n % 3
    if kind == 0:
        return VisitEvent(occurred_at=at, track_id=f"t{n}", arrived_at=at, customer_id=n)
    if kind == 1:
        return ExpressionEvent(
            occurred_at=at, track_id=f"t{n}", label="happy", probabilities={"happy": 0.9}
        )
    return GestureEvent(occurred_at=at, track_id=f"t{n}", gesture="thumbs_up", confidence=0.8)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite") as box:
        yield box


def test_peek_returns_events_oldest_first_with_growing_seq(outbox: Outbox) -> None:
    events = [make_event(n) for n in range(7)]
    for event in events:
        assert outbox.put(event)

    peeked = outbox.peek(100)

    assert [event for _, event in peeked] == events
    seqs = [seq for seq, _ in peeked]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert [event for _, event in outbox.peek(3)] == events[:3]
    assert outbox.pending() == 7


def test_events_round_trip_with_their_type(outbox: Outbox) -> None:
    events = [make_event(n) for n in range(3)]
    for event in events:
        outbox.put(event)
    peeked = [event for _, event in outbox.peek(3)]
    assert [event.type for event in peeked] == ["visit", "expression", "gesture"]
    assert isinstance(peeked[0], VisitEvent)
    assert isinstance(peeked[2], GestureEvent)


def test_putting_the_same_event_id_again_is_a_no_op(outbox: Outbox) -> None:
    event = make_event(0)
    assert outbox.put(event)
    assert not outbox.put(event)
    assert not outbox.put(event.model_copy(update={"track_id": "changed"}))
    assert outbox.pending() == 1
    assert outbox.peek(10)[0][1] == event


def test_ack_removes_events_up_to_seq_only(outbox: Outbox) -> None:
    events = [make_event(n) for n in range(5)]
    for event in events:
        outbox.put(event)
    seqs = [seq for seq, _ in outbox.peek(5)]

    assert outbox.ack(seqs[2]) == 3

    assert outbox.pending() == 2
    assert [event for _, event in outbox.peek(10)] == events[3:]
    assert outbox.ack(seqs[2]) == 0  # Acknowledging twice is harmless.


def test_seq_keeps_growing_after_everything_was_acked(outbox: Outbox) -> None:
    outbox.put(make_event(0))
    (first_seq, _), *_ = outbox.peek(1)
    outbox.ack(first_seq)
    outbox.put(make_event(1))
    (second_seq, _), *_ = outbox.peek(1)
    assert second_seq > first_seq


def test_pending_events_survive_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    events = [make_event(n) for n in range(6)]
    with Outbox(path) as box:
        for event in events:
            box.put(event)
        box.ack(box.peek(2)[-1][0])

    with Outbox(path) as reopened:
        assert reopened.pending() == 4
        assert [event for _, event in reopened.peek(10)] == events[2:]
        assert not reopened.put(events[3])  # Still known: no duplicate after reopen.


def test_put_is_durable_when_the_process_dies_without_closing(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    ids = [str(uuid.uuid4()) for _ in range(5)]
    script = textwrap.dedent(
        f"""
        import os, uuid
        from datetime import UTC, datetime
        from pathlib import Path
        from salesmigo.cameras.events import VisitEvent
        from salesmigo.cameras.outbox import Outbox
        box = Outbox(Path({str(path)!r}))
        now = datetime.now(UTC)
        for i in {ids!r}:
            box.put(VisitEvent(id=uuid.UUID(i), occurred_at=now, track_id="t", arrived_at=now))
        os._exit(0)  # No close, no checkpoint: as if killed.
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)

    with Outbox(path) as box:
        assert [str(event.id) for _, event in box.peek(10)] == ids


def test_file_uses_wal_and_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    with Outbox(path) as box:
        box.put(make_event(0))
        connection = sqlite3.connect(path)
        try:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            connection.close()
        assert box._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_concurrent_puts_from_threads_lose_nothing(outbox: Outbox) -> None:
    per_thread = 50
    produced: list[list[CameraEvent]] = [
        [make_event(n) for n in range(per_thread)] for _ in range(4)
    ]

    def produce(events: list[CameraEvent]) -> None:
        for event in events:
            outbox.put(event)

    threads = [threading.Thread(target=produce, args=(events,)) for events in produced]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    stored = [event for _, event in outbox.peek(1000)]
    assert len(stored) == 4 * per_thread
    for events in produced:  # Each producer's events keep their relative order.
        positions = [stored.index(event) for event in events]
        assert positions == sorted(positions)


def test_wait_for_pending_wakes_on_put(outbox: Outbox) -> None:
    assert not outbox.wait_for_pending(0.01)
    timer = threading.Timer(0.05, outbox.put, args=(make_event(0),))
    timer.start()
    try:
        assert outbox.wait_for_pending(60)
    finally:
        timer.join()


def test_closed_outbox_refuses_use_and_close_is_idempotent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "box.sqlite")
    box.close()
    box.close()
    with pytest.raises(OutboxClosed):
        box.put(make_event(0))
    with pytest.raises(OutboxClosed):
        box.pending()


def test_peek_limit_must_be_positive(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="limit"):
        outbox.peek(0)


def test_a_rejected_event_moves_to_the_dead_letters_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "box.sqlite"
    events = [make_event(n) for n in range(3)]
    with Outbox(path) as box:
        for event in events:
            box.put(event)
        seq = box.peek(3)[1][0]
        assert box.reject(seq, 422, "departed_at must not be before arrived_at")
        assert not box.reject(seq, 422, "again")  # no longer pending
    with Outbox(path) as box:
        assert [event for _, event in box.peek(10)] == [events[0], events[2]]
        [letter] = box.dead_letters()
    assert (letter.seq, letter.event_id, letter.status) == (seq, str(events[1].id), 422)
    assert letter.reason == "departed_at must not be before arrived_at"
    assert letter.type == events[1].type
    assert letter.failed_at >= letter.queued_at


def test_requeue_appends_and_drop_forgets(outbox: Outbox) -> None:
    events = [make_event(n) for n in range(3)]
    for event in events:
        outbox.put(event)
    first, second, _ = (seq for seq, _ in outbox.peek(3))
    outbox.reject(first, 400, "no")
    outbox.reject(second, 400, "no")

    assert outbox.requeue([first, 12345]) == [first]
    # Back at the end of the queue, with a new number: an ack in flight cannot take it.
    requeued = outbox.peek(3)
    assert [event for _, event in requeued] == [events[2], events[0]]
    assert requeued[-1][0] > requeued[0][0]
    assert outbox.drop([second, first]) == [second]
    assert outbox.dead_letters() == []
    assert outbox.pending() == 2


def test_an_unreadable_row_is_set_aside_instead_of_blocking_the_queue(
    outbox: Outbox, tmp_path: Path
) -> None:
    events = [make_event(n) for n in range(2)]
    outbox.put(events[0])
    with sqlite3.connect(outbox.path) as db:
        db.execute(
            "INSERT INTO outbox (event_id, body, queued_at) VALUES ('x', '{\"type\": \"beam\"}', 0)"
        )
    outbox.put(events[1])
    assert [event for _, event in outbox.peek(10)] == events
    [letter] = outbox.dead_letters()
    assert letter.status is None
    assert "cannot be read" in letter.reason
