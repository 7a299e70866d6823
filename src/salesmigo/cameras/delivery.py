"""Sending queued camera events to the server, in order, until each one is stored.

`EventSender` posts one batch and classifies the answer: stored (an `IngestReport`),
worth retrying (`TransientDeliveryError`: the server is down, restarting or overloaded)
or not (`PermanentDeliveryError`: a wrong token, an unknown camera, events the server
rejects; retrying cannot help).

`Deliverer` is the background thread that drains an `Outbox`: peek the oldest events,
post them, acknowledge them on success. Exactly one batch is in flight and it is retried,
unchanged, until it is stored, so event n+1 never reaches the server before event n is
acknowledged. The server ingests by event id, so a batch resent after a lost answer is
reported as duplicates, never stored twice.

A refusal is one of two kinds. The server refusing the *events* (400, 409, 413, 422)
must not block the queue: the server stores none of a refused batch, so its events are
sent again one by one, and each one refused on its own moves to the outbox's dead letters
with the server's reason (logged) while delivery goes on. The server refusing the *agent*
(401, 403, 404: a wrong or revoked token, an unknown camera) would refuse every event the
same way, so delivery stops with the reason and the events stay queued until an operator
fixes the token or the camera.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

import httpx2 as httpx
from pydantic import TypeAdapter, ValidationError

from salesmigo.cameras.events import CameraEvent, IngestReport
from salesmigo.cameras.outbox import Outbox, OutboxClosed

logger = logging.getLogger(__name__)

MAX_BATCH = 1000  # EventBatch accepts 1..1000 events.

_EVENTS = TypeAdapter(list[CameraEvent])
# Statuses that mean "not now" rather than "never".
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
# Statuses that refuse the events sent, not the agent: dead-letter them and go on.
EVENT_REJECTIONS = frozenset({400, 409, 413, 422})
_PERMANENT_HINTS = {
    401: "the server rejected the camera token (missing, wrong or revoked)",
    403: "the token does not belong to this camera",
    404: "the server does not know this camera (register it first, check --camera)",
    422: "the server rejected the events as invalid",
}


class DeliveryError(Exception):
    """A batch was not stored."""


class TransientDeliveryError(DeliveryError):
    """The server could not be reached or could not store the batch now; retry later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The server refused the batch for a reason retrying cannot fix."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason or message  # the server's own words, when it gave some


def _detail(response: httpx.Response) -> str:
    """The server's reason, short: FastAPI's ``detail`` if there is one, else the text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    text = detail if isinstance(detail, str) else str(detail)
    return text[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # An HTTP date: rare from an API; the backoff decides instead.


class EventSender:
    """Posts batches of events for one camera to ``{server}/api/v1/cameras/{camera}/events``."""

    def __init__(
        self,
        server: str,
        camera: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise ValueError("a camera token is required")
        base = server.rstrip("/")
        self.url = f"{base}/api/v1/cameras/{urllib.parse.quote(camera, safe='')}/events"
        self.camera = camera
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "User-Agent": "salesmigo-camera"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> EventSender:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(self, events: Sequence[CameraEvent]) -> IngestReport:
        """Post `events` (oldest first, 1..1000) and return what the server stored."""
        if not 1 <= len(events) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} events, not {len(events)}")
        body = b'{"events":' + _EVENTS.dump_json(list(events)) + b"}"
        try:
            response = self._client.post(
                self.url, content=body, headers={"Content-Type": "application/json"}
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise PermanentDeliveryError(f"invalid server URL {self.url}: {error}") from error
        except httpx.TransportError as error:
            kind = type(error).__name__
            raise TransientDeliveryError(f"cannot reach {self.url}: {kind}: {error}") from error
        return self._report(response, len(events))

    def _report(self, response: httpx.Response, sent: int) -> IngestReport:
        status = response.status_code
        if status == 200:
            try:
                report = IngestReport.model_validate_json(response.content)
            except ValidationError as error:
                raise PermanentDeliveryError(
                    f"{self.url} answered 200 without an ingest report: is this a Salesmigo "
                    "server?",
                    status=status,
                ) from error
            if report.accepted + report.duplicates != sent:
                logger.warning(
                    "server reported %d accepted + %d duplicates for a batch of %d events",
                    report.accepted,
                    report.duplicates,
                    sent,
                )
            return report
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise TransientDeliveryError(
                f"server answered {status}: {_detail(response)}",
                retry_after=_retry_after(response),
            )
        hint = _PERMANENT_HINTS.get(status, "the server refused the events")
        detail = _detail(response)
        raise PermanentDeliveryError(
            f"{hint} (HTTP {status} from {self.url}: {detail})", status=status, reason=detail
        )


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: attempt n waits up to initial * factor**n.

    The jitter takes a random fraction (up to `jitter`) off each delay, so agents that lost
    the same server do not all come back in the same instant.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: float) -> float:
        """The wait before retry number `attempt` (0-based); `rand` is uniform in [0, 1)."""
        ceiling = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return ceiling * (1.0 - self.jitter * rand)


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of what a deliverer has done so far."""

    delivered: int  # Events the server acknowledged (stored now or before).
    accepted: int  # Of those, stored now.
    duplicates: int  # Of those, already stored (a resend after a lost answer).
    batches: int
    retries: int
    last_error: str | None  # The most recent failure, transient or not.
    failed: bool  # Stopped on a permanent error; `last_error` says why.
    dead_lettered: int = 0  # Events the server refused, moved to the dead letters.


class Deliverer:
    """A background thread that drains `outbox` through `sender`, oldest first.

    Transient failures are retried with `backoff`; events the server refuses move to the
    dead letters (see the module docstring); a refusal of the agent stops the thread and is
    kept in `error` for the operator. `sleep(seconds)` waits between retries; the
    default wakes early when `stop` is called. `rand` draws the jitter.
    """

    def __init__(
        self,
        outbox: Outbox,
        sender: EventSender,
        *,
        batch_size: int = 100,
        backoff: Backoff | None = None,
        sleep: Callable[[float], object] | None = None,
        rand: Callable[[], float] = random.random,
        poll_interval: float = 1.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        self.outbox = outbox
        self.sender = sender
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._stop.wait
        self._rand = rand
        self._poll_interval = poll_interval
        self._state = threading.Condition()
        self._delivered = 0
        self._accepted = 0
        self._duplicates = 0
        self._batches = 0
        self._retries = 0
        self._dead_lettered = 0
        self._last_error: str | None = None
        self._error: PermanentDeliveryError | None = None
        self._thread = threading.Thread(target=self._run, name="salesmigo-deliverer", daemon=True)

    # -- control ---------------------------------------------------------------------------

    def start(self) -> Deliverer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish (an unacknowledged batch stays queued); whether it did."""
        self._stop.set()
        self.outbox.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty; False on timeout, a permanent error or a stop."""
        deadline = time.monotonic() + timeout
        with self._state:
            while True:
                if self._error is not None:
                    return False
                if self.outbox.pending() == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._state.wait(min(remaining, 0.5))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def error(self) -> PermanentDeliveryError | None:
        """Why delivery stopped for good, if it did."""
        with self._state:
            return self._error

    @property
    def stats(self) -> DeliveryStats:
        with self._state:
            return DeliveryStats(
                delivered=self._delivered,
                accepted=self._accepted,
                duplicates=self._duplicates,
                batches=self._batches,
                retries=self._retries,
                last_error=self._last_error,
                failed=self._error is not None,
                dead_lettered=self._dead_lettered,
            )

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.outbox.peek(self.batch_size)
                if not batch:
                    self.outbox.wait_for_pending(self._poll_interval, cancel=self._stop)
                    continue
                if not self._deliver(batch):
                    return
        except OutboxClosed:
            logger.debug("outbox closed: deliverer stops")
        except Exception as error:
            logger.exception("the deliverer failed")
            self._fail(PermanentDeliveryError(f"delivery failed unexpectedly: {error!r}"))
        finally:
            with self._state:
                self._state.notify_all()

    def _deliver(self, batch: list[tuple[int, CameraEvent]]) -> bool:
        """Deliver `batch` (True), or stop the thread (False: stopped, or the agent refused)."""
        outcome = self._send([event for _, event in batch])
        if outcome is None:
            return False
        if isinstance(outcome, IngestReport):
            self._acknowledge(batch[-1][0], len(batch), outcome)
            return True
        if outcome.status not in EVENT_REJECTIONS:
            self._fail(outcome)
            return False
        if len(batch) == 1:
            self._dead_letter(batch[0], outcome)
            return True
        # The server stored none of the batch: find the refused events by sending each alone.
        for seq, event in batch:
            outcome = self._send([event])
            if outcome is None:
                return False
            if isinstance(outcome, IngestReport):
                self._acknowledge(seq, 1, outcome)
            elif outcome.status in EVENT_REJECTIONS:
                self._dead_letter((seq, event), outcome)
            else:
                self._fail(outcome)
                return False
        return True

    def _send(self, events: list[CameraEvent]) -> IngestReport | PermanentDeliveryError | None:
        """Post `events` until the server answers for good; None if asked to stop first."""
        attempt = 0
        while not self._stop.is_set():
            try:
                report = self.sender.send(events)
            except TransientDeliveryError as error:
                delay = self.backoff.delay(attempt, self._rand())
                if error.retry_after is not None:
                    delay = max(delay, min(error.retry_after, self.backoff.maximum))
                with self._state:
                    self._retries += 1
                    self._last_error = str(error)
                # One warning per outage, not one per retry: the counters tell the rest.
                log = logger.warning if attempt == 0 else logger.debug
                log("delivery failed (%s); retrying in %.1f s", error, delay)
                attempt += 1
                self._sleep(delay)
                continue
            except PermanentDeliveryError as error:
                return error
            if attempt:
                logger.warning("delivery resumed after %d failed attempt(s)", attempt)
            return report
        return None

    def _acknowledge(self, up_to_seq: int, count: int, report: IngestReport) -> None:
        self.outbox.ack(up_to_seq)
        with self._state:
            self._delivered += count
            self._accepted += report.accepted
            self._duplicates += report.duplicates
            self._batches += 1
            self._state.notify_all()

    def _dead_letter(self, item: tuple[int, CameraEvent], error: PermanentDeliveryError) -> None:
        seq, event = item
        self.outbox.reject(seq, error.status, error.reason)
        logger.error(
            "the server refused %s event %s; kept as dead letter %d in %s (see "
            "`salesmigo outbox list`): %s",
            event.type,
            event.id,
            seq,
            self.outbox.path,
            error.reason,
        )
        with self._state:
            self._dead_lettered += 1
            self._last_error = str(error)
            self._state.notify_all()

    def _fail(self, error: PermanentDeliveryError) -> None:
        logger.error("delivery stopped: %s", error)
        with self._state:
            self._error = error
            self._last_error = str(error)
            self._state.notify_all()
