"""Delivery against a real HTTP server on loopback that can fail, stop and come back.

The server below stores events by id the way the real one must (idempotently) and records
how often each event was stored and in what order, so the tests can prove: nothing lost,
nothing doubled, order kept, and a permanent refusal stops delivery with its reason.
"""

from __future__ import annotations

import errno
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError

from salesmigo.cameras.delivery import (
    Backoff,
    Deliverer,
    EventSender,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from salesmigo.cameras.events import CameraEvent, EventBatch, VisitEvent
from salesmigo.cameras.outbox import Outbox

CAMERA = "door 1 östlich"  # Needs quoting in the URL.
TOKEN = "door-token"
OTHER_CAMERA = "aisle-3"
OTHER_TOKEN = "aisle-token"
WAIT = 60.0  # Generous: the tests wait for conditions, never for a fixed time.
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def make_events(count: int, start: int = 0) -> list[CameraEvent]:
    events: list[CameraEvent] = []
    for n in range(start, start + count):
        at = T0 + timedelta(seconds=n)
        events.append(VisitEvent(occurred_at=at, track_id=f"t{n}", arrived_at=at))
    return events


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@dataclass
class IngestState:
    """What the fake server stored and how it should misbehave; guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stored_order: list[str] = field(default_factory=list)
    store_counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    fail_next: list[int] = field(default_factory=list)  # Statuses to answer, then normal.
    lose_answers: int = 0  # Store the batch, then answer 503 as if the answer was lost.
    reject_status: int | None = None  # Answer this to every request.
    reject_ids: set[str] = field(default_factory=set)  # A batch holding one of these: 422.
    batch_sizes: list[int] = field(default_factory=list)
    retry_after: str | None = None  # Retry-After header on injected failures.

    def ids(self) -> list[str]:
        with self.lock:
            return list(self.stored_order)


class _Handler(BaseHTTPRequestHandler):
    server: _IngestHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: object, retry_after: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        prefix, suffix = "/api/v1/cameras/", "/events"
        if not (self.path.startswith(prefix) and self.path.endswith(suffix)):
            self._answer(404, {"detail": "Not Found"})
            return
        camera = urllib.parse.unquote(self.path[len(prefix) : -len(suffix)])
        tokens = {CAMERA: TOKEN, OTHER_CAMERA: OTHER_TOKEN}
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with state.lock:
            state.requests += 1
            if state.fail_next:
                status = state.fail_next.pop(0)
                self._answer(status, {"detail": f"injected {status}"}, state.retry_after)
                return
            if state.reject_status is not None:
                self._answer(state.reject_status, {"detail": "injected refusal"})
                return
            if token not in tokens.values():
                self._answer(401, {"detail": "invalid camera token"})
                return
            if camera not in tokens:
                self._answer(404, {"detail": f"unknown camera {camera!r}"})
                return
            if tokens[camera] != token:
                self._answer(403, {"detail": "token of another camera"})
                return
            try:
                batch = EventBatch.model_validate_json(body)
            except ValidationError as error:
                self._answer(422, {"detail": str(error)})
                return
            refused = [str(e.id) for e in batch.events if str(e.id) in state.reject_ids]
            if refused:  # As the real server: the whole batch is refused, nothing stored.
                self._answer(422, {"detail": f"event {refused[0]} is not acceptable"})
                return
            state.batch_sizes.append(len(batch.events))
            accepted = duplicates = 0
            for event in batch.events:
                key = str(event.id)
                if key in state.store_counts:
                    duplicates += 1
                    continue
                state.store_counts[key] = 1
                state.stored_order.append(key)
                accepted += 1
            if state.lose_answers:
                state.lose_answers -= 1
                self._answer(503, {"detail": "stored, but the answer is lost"})
                return
            self._answer(200, {"accepted": accepted, "duplicates": duplicates})


class _IngestHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: IngestState) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class IngestServer:
    """A loopback ingest server that can be stopped (connection refused) and restarted."""

    def __init__(self) -> None:
        self.state = IngestState()
        self.port = 0
        self._server: _IngestHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self._server is None
        # Restarting on the same port can meet EADDRINUSE for a moment: the kernel may
        # have given that free port to an outgoing connection (even the agent's own).
        deadline = time.monotonic() + WAIT
        while True:
            try:
                self._server = _IngestHTTPServer(self.port, self.state)
                break
            except OSError as error:
                if error.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(WAIT)
        self._server = None


@pytest.fixture
def server() -> Iterator[IngestServer]:
    server = IngestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite") as box:
        yield box


FAST = Backoff(initial=0.001, maximum=0.02)


@pytest.fixture
def make_deliverer(server: IngestServer, outbox: Outbox) -> Iterator[Callable[..., Deliverer]]:
    made: list[tuple[Deliverer, EventSender]] = []

    def make(
        camera: str = CAMERA, token: str = TOKEN, batch_size: int = 10, **kwargs: object
    ) -> Deliverer:
        sender = EventSender(server.url, camera, token, timeout=WAIT)
        options: dict[str, object] = {"backoff": FAST, "poll_interval": 0.05, **kwargs}
        deliverer = Deliverer(outbox, sender, batch_size=batch_size, **options)  # type: ignore[arg-type]
        made.append((deliverer, sender))
        return deliverer.start()

    yield make
    for deliverer, sender in made:
        assert deliverer.stop(WAIT)
        sender.close()


def ids(events: list[CameraEvent]) -> list[str]:
    return [str(event.id) for event in events]


def assert_stored_exactly_once_in_order(server: IngestServer, events: list[CameraEvent]) -> None:
    assert server.state.ids() == ids(events)
    assert set(server.state.store_counts.values()) <= {1}


def test_delivers_everything_in_order_in_batches(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    events = make_events(35)
    for event in events:
        outbox.put(event)
    deliverer = make_deliverer(batch_size=10)

    assert deliverer.flush(WAIT)

    assert_stored_exactly_once_in_order(server, events)
    assert server.state.batch_sizes == [10, 10, 10, 5]
    stats = deliverer.stats
    assert (stats.delivered, stats.accepted, stats.duplicates) == (35, 35, 0)
    assert (stats.batches, stats.retries, stats.failed) == (4, 0, False)
    assert outbox.pending() == 0


def test_events_put_while_running_are_picked_up(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    deliverer = make_deliverer(poll_interval=WAIT)  # Only a put can wake it in time.
    assert deliverer.flush(WAIT)
    events = make_events(3)
    for event in events:
        outbox.put(event)
    wait_until(lambda: deliverer.stats.delivered == 3)
    assert_stored_exactly_once_in_order(server, events)


def test_5xx_is_retried_with_the_same_batch(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    server.state.fail_next = [503, 500, 502]
    events = make_events(4)
    for event in events:
        outbox.put(event)
    deliverer = make_deliverer(batch_size=10)

    assert deliverer.flush(WAIT)

    assert_stored_exactly_once_in_order(server, events)
    assert server.state.batch_sizes == [4]
    stats = deliverer.stats
    assert stats.retries == 3
    assert stats.last_error is not None
    assert "502" in stats.last_error


def test_a_lost_answer_is_resent_and_reported_as_duplicates_not_stored_twice(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    server.state.lose_answers = 1
    events = make_events(5)
    for event in events:
        outbox.put(event)
    deliverer = make_deliverer(batch_size=10)

    assert deliverer.flush(WAIT)

    assert_stored_exactly_once_in_order(server, events)
    stats = deliverer.stats
    assert (stats.delivered, stats.accepted, stats.duplicates) == (5, 0, 5)
    assert stats.retries == 1


def test_server_killed_and_restarted_during_a_run_loses_and_doubles_nothing(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    deliverer = make_deliverer(batch_size=7)
    produced: list[CameraEvent] = []

    def produce(count: int) -> None:
        for event in make_events(count, start=len(produced)):
            outbox.put(event)
            produced.append(event)

    produce(20)
    wait_until(lambda: deliverer.stats.delivered > 0)
    for _ in range(3):  # Kill the server mid-stream, keep producing, bring it back.
        server.stop()
        retries = deliverer.stats.retries
        produce(15)
        wait_until(lambda r=retries: deliverer.stats.retries > r)  # type: ignore[misc]
        server.start()
        produce(5)
    server.state.lose_answers = 2  # Answers lost on the way back: resent, not doubled.
    produce(10)

    assert deliverer.flush(WAIT)

    assert len(produced) == 90
    assert_stored_exactly_once_in_order(server, produced)
    stats = deliverer.stats
    assert stats.delivered == 90  # Each event acknowledged once...
    assert stats.accepted + stats.duplicates == 90
    # ...though lost answers made some arrive twice. At least one: when both lost answers
    # hit the same batch, only its third sending is answered, and counts its events once.
    assert stats.duplicates >= 1
    assert not stats.failed


def test_undelivered_events_wait_on_disk_for_the_next_run(
    server: IngestServer, tmp_path: Path
) -> None:
    path = tmp_path / "box.sqlite"
    events = make_events(12)
    server.stop()
    with Outbox(path) as box, EventSender(server.url, CAMERA, TOKEN, timeout=WAIT) as sender:
        for event in events:
            box.put(event)
        deliverer = Deliverer(box, sender, backoff=FAST).start()
        wait_until(lambda: deliverer.stats.retries >= 2)
        assert not deliverer.flush(0.01)
        assert deliverer.stop(WAIT)
        assert box.pending() == 12

    server.start()
    with Outbox(path) as box, EventSender(server.url, CAMERA, TOKEN, timeout=WAIT) as sender:
        deliverer = Deliverer(box, sender, backoff=FAST).start()
        try:
            assert deliverer.flush(WAIT)
        finally:
            assert deliverer.stop(WAIT)
    assert_stored_exactly_once_in_order(server, events)


@pytest.mark.parametrize(
    ("camera", "token", "reject", "status", "reason"),
    [
        (CAMERA, "wrong", None, 401, "token"),
        (CAMERA, OTHER_TOKEN, None, 403, "another camera"),
        ("nowhere", TOKEN, None, 404, "does not know this camera"),
        (CAMERA, TOKEN, 405, 405, "refused"),
    ],
)
def test_a_refusal_of_the_agent_stops_delivery_with_the_reason(
    server: IngestServer,
    outbox: Outbox,
    make_deliverer: Callable[..., Deliverer],
    camera: str,
    token: str,
    reject: int | None,
    status: int,
    reason: str,
) -> None:
    server.state.reject_status = reject
    for event in make_events(3):
        outbox.put(event)
    deliverer = make_deliverer(camera=camera, token=token)

    assert not deliverer.flush(WAIT)

    wait_until(lambda: not deliverer.running)
    error = deliverer.error
    assert error is not None
    assert error.status == status
    assert reason in str(error)
    assert deliverer.stats.failed
    assert deliverer.stats.retries == 0
    assert server.state.requests == 1  # Not retried.
    assert outbox.pending() == 3  # Kept for when the operator has fixed it.
    assert outbox.dead_letters() == []
    assert server.state.ids() == []


def test_refused_events_become_dead_letters_and_the_rest_goes_on_in_order(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    events = make_events(10)
    bad = [events[3], events[7]]
    server.state.reject_ids = {str(e.id) for e in bad}
    for event in events:
        outbox.put(event)
    deliverer = make_deliverer(batch_size=10)

    assert deliverer.flush(WAIT)

    good = [e for e in events if e not in bad]
    assert_stored_exactly_once_in_order(server, good)
    letters = outbox.dead_letters()
    assert [letter.event_id for letter in letters] == ids(bad)
    assert {letter.status for letter in letters} == {422}
    assert letters[0].reason == f"event {bad[0].id} is not acceptable"
    assert letters[0].type == "visit"
    stats = deliverer.stats
    assert (stats.delivered, stats.dead_lettered, stats.failed) == (8, 2, False)
    assert deliverer.running

    later = make_events(2, start=10)  # Delivery goes on with what comes next.
    for event in later:
        outbox.put(event)
    assert deliverer.flush(WAIT)
    assert server.state.ids()[-2:] == ids(later)


def test_an_outage_while_sending_one_by_one_keeps_retrying_in_order(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    events = make_events(4)
    server.state.reject_ids = {str(events[0].id)}
    server.state.fail_next = [422, 503, 503]  # The batch, then the first event alone twice.
    for event in events:
        outbox.put(event)
    deliverer = make_deliverer(batch_size=4)

    assert deliverer.flush(WAIT)

    assert_stored_exactly_once_in_order(server, events[1:])
    assert [letter.event_id for letter in outbox.dead_letters()] == ids(events[:1])
    assert deliverer.stats.retries == 2


def test_a_requeued_dead_letter_is_delivered_once_accepted(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    events = make_events(3)
    server.state.reject_ids = {str(events[1].id)}
    for event in events:
        outbox.put(event)
    deliverer = make_deliverer(batch_size=1)
    assert deliverer.flush(WAIT)
    [letter] = outbox.dead_letters()

    server.state.reject_ids = set()  # The operator fixed the server side.
    assert outbox.requeue([letter.seq, 999]) == [letter.seq]
    assert deliverer.flush(WAIT)

    assert server.state.ids() == ids([events[0], events[2], events[1]])
    assert outbox.dead_letters() == []


def test_retries_back_off_exponentially_up_to_the_cap(
    server: IngestServer, outbox: Outbox, make_deliverer: Callable[..., Deliverer]
) -> None:
    server.state.fail_next = [503] * 7
    slept: list[float] = []
    outbox.put(make_events(1)[0])
    deliverer = make_deliverer(
        backoff=Backoff(initial=1.0, maximum=10.0, factor=2.0, jitter=0.5),
        sleep=slept.append,  # Injected: no real waiting.
        rand=lambda: 0.0,
    )

    assert deliverer.flush(WAIT)

    assert slept == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, FAST.initial), ("3", 3.0), ("999", 10.0), ("soon", FAST.initial)],
)
def test_retry_after_is_honoured_within_the_cap(
    server: IngestServer,
    outbox: Outbox,
    make_deliverer: Callable[..., Deliverer],
    header: str | None,
    expected: float,
) -> None:
    server.state.fail_next = [429]
    server.state.retry_after = header
    slept: list[float] = []
    outbox.put(make_events(1)[0])
    deliverer = make_deliverer(
        backoff=Backoff(initial=FAST.initial, maximum=10.0), sleep=slept.append, rand=lambda: 0.0
    )

    assert deliverer.flush(WAIT)

    assert slept == [expected]


def test_backoff_jitter_shortens_the_delay_within_bounds() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, factor=2.0, jitter=0.5)
    assert backoff.delay(0, 0.0) == 0.5
    assert backoff.delay(3, 0.0) == 4.0
    assert backoff.delay(3, 0.999) == pytest.approx(2.002)
    assert backoff.delay(100, 0.0) == 30.0
    assert backoff.delay(10_000, 0.5) == 22.5


def test_sender_classifies_a_refused_connection_as_transient(server: IngestServer) -> None:
    server.stop()
    with (
        EventSender(server.url, CAMERA, TOKEN, timeout=WAIT) as sender,
        pytest.raises(TransientDeliveryError, match="cannot reach"),
    ):
        sender.send(make_events(1))


def test_sender_rejects_an_unusable_url_as_permanent() -> None:
    with (
        EventSender("ftp://127.0.0.1:1", CAMERA, TOKEN) as sender,
        pytest.raises(PermanentDeliveryError, match="invalid server URL"),
    ):
        sender.send(make_events(1))


def test_sender_posts_to_the_quoted_camera_path(server: IngestServer) -> None:
    with EventSender(server.url + "/", CAMERA, TOKEN, timeout=WAIT) as sender:
        assert sender.url.endswith("/api/v1/cameras/door%201%20%C3%B6stlich/events")
        report = sender.send(make_events(2))
    assert (report.accepted, report.duplicates) == (2, 0)


def test_sender_requires_a_token_and_a_batch_in_range(server: IngestServer) -> None:
    with pytest.raises(ValueError, match="token"):
        EventSender(server.url, CAMERA, "")
    with (
        EventSender(server.url, CAMERA, TOKEN) as sender,
        pytest.raises(ValueError, match="batch"),
    ):
        sender.send([])


def test_event_ids_are_unique_per_event() -> None:
    events = make_events(100)
    assert len({event.id for event in events}) == 100
    assert all(isinstance(event.id, uuid.UUID) for event in events)
