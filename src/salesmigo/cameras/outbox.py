"""A durable on-disk queue of camera events waiting to reach the server.

The camera pipeline puts every event here before anything tries to send it, so an event
survives a server outage, a network cut and a crash of the agent itself. The deliverer
reads the oldest events, posts them, and acknowledges them once the server has stored
them; only then do they leave the file.

Durability: the file is SQLite in WAL mode with ``synchronous=FULL``. In WAL mode
``NORMAL`` already survives a crash of the *process* (the committed WAL frames are in the
OS page cache), but a power cut can roll back the last commits: a camera box unplugged
from the wall would silently lose the events it had "durably" queued. ``FULL`` fsyncs the
WAL on every commit, which costs about a millisecond per event; a camera produces a few
events per second at most, so the price is negligible and ``put`` means what it says.

Dead letters: an event the server refuses for good (it answered 4xx about the event
itself) moves, in one transaction, to the ``dead_letters`` table of the same file with
the server's reason, so it no longer blocks the events behind it and nothing is lost. An
operator lists, requeues (at the end of the queue, with a new sequence number) or drops
them with ``salesmigo outbox``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from salesmigo.cameras.events import CameraEvent

# How long a writer waits for another connection to the same file (another agent process,
# a sqlite3 shell) before failing with "database is locked".
BUSY_TIMEOUT_MS = 10_000
_WAL_SWITCH_ATTEMPTS = 20

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    queued_at REAL NOT NULL
)
""",
    # seq: the event's number in the outbox when it was refused (kept for the operator).
    """
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    queued_at REAL NOT NULL,
    failed_at REAL NOT NULL,
    status INTEGER,
    reason TEXT NOT NULL
)
""",
)


@dataclass(frozen=True)
class DeadLetter:
    """An event the server refused, as kept in the outbox file."""

    seq: int
    event_id: str
    body: str  # the event's JSON as queued
    queued_at: float  # seconds since the epoch
    failed_at: float
    status: int | None  # the server's HTTP status; None when the row could not be read
    reason: str

    @property
    def type(self) -> str:
        try:
            return str(json.loads(self.body).get("type", "?"))
        except (ValueError, AttributeError):
            return "?"


_EVENT = TypeAdapter[CameraEvent](CameraEvent)


class OutboxClosed(RuntimeError):
    """The outbox was used after `Outbox.close`."""


class Outbox:
    """Pending events in production order, in a SQLite file at `path`.

    ``seq`` is assigned at ``put`` and only grows (AUTOINCREMENT never reuses a number,
    even after the rows are deleted), so ``peek`` returns events in the order they were
    produced and ``ack(seq)`` removes exactly the events up to that one.

    One connection serves every thread, guarded by a lock; ``wait_for_pending`` lets a
    consumer sleep until a producer puts something instead of polling the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wakeups = 0
        # isolation_level=None: autocommit; each write below is its own explicit transaction.
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            # First: switching to WAL takes a lock, and without a busy timeout a connection
            # that meets another one doing the same fails at once with "database is locked".
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                connection.execute(statement)
        except BaseException:
            connection.close()
            raise
        self._connection: sqlite3.Connection | None = connection

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise OutboxClosed(f"the outbox {self.path} is closed")
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the caller holds ``_lock``): committed when the block
        ends, rolled back if it raises."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def put(self, event: CameraEvent) -> bool:
        """Queue `event`; committed to disk on return. False if its id was already queued.

        An event already acknowledged has left the file, so putting it again queues it
        again; the server ingests idempotently and reports it as a duplicate.
        """
        body = event.model_dump_json()
        with self._lock:
            cursor = self._db().execute(
                "INSERT OR IGNORE INTO outbox (event_id, body, queued_at) VALUES (?, ?, ?)",
                (str(event.id), body, time.time()),
            )
            added = cursor.rowcount == 1
            if added:
                self._changed.notify_all()
            return added

    def peek(self, limit: int) -> list[tuple[int, CameraEvent]]:
        """Up to `limit` pending events, oldest first, with their sequence numbers.

        A row that no longer reads as an event (written by another version of the agent,
        or edited by hand) is moved to the dead letters rather than blocking the queue.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        while True:
            with self._lock:
                rows = (
                    self._db()
                    .execute("SELECT seq, body FROM outbox ORDER BY seq LIMIT ?", (limit,))
                    .fetchall()
                )
            events: list[tuple[int, CameraEvent]] = []
            unreadable = False
            for seq, body in rows:
                try:
                    events.append((int(seq), _EVENT.validate_json(body)))
                except ValidationError as error:
                    reason = f"the queued event cannot be read: {error.errors()[0]['msg']}"
                    self.reject(int(seq), None, reason)
                    unreadable = True
                    break
            if not unreadable:
                return events

    def reject(self, seq: int, status: int | None, reason: str) -> bool:
        """Move the pending event `seq` to the dead letters; False if it is not pending."""
        with self._lock:
            with self._transaction() as db:
                moved = db.execute(
                    "INSERT INTO dead_letters "
                    "(seq, event_id, body, queued_at, failed_at, status, reason) "
                    "SELECT seq, event_id, body, queued_at, ?, ?, ? FROM outbox WHERE seq = ?",
                    (time.time(), status, reason, seq),
                ).rowcount
                db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._changed.notify_all()
            return moved == 1

    def dead_letters(self) -> list[DeadLetter]:
        """Every refused event, oldest first."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT seq, event_id, body, queued_at, failed_at, status, reason "
                    "FROM dead_letters ORDER BY seq"
                )
                .fetchall()
            )
        return [DeadLetter(*row) for row in rows]

    def requeue(self, seqs: list[int]) -> list[int]:
        """Put dead letters back at the end of the queue (new sequence numbers, in the
        order given); the seqs that were dead letters, in that order."""
        done: list[int] = []
        with self._lock:
            with self._transaction() as db:
                for seq in seqs:
                    row = db.execute(
                        "SELECT event_id, body FROM dead_letters WHERE seq = ?", (seq,)
                    ).fetchone()
                    if row is None:
                        continue
                    # The same event may have been queued again meanwhile: keep one copy.
                    db.execute(
                        "INSERT OR IGNORE INTO outbox (event_id, body, queued_at) VALUES (?, ?, ?)",
                        (row[0], row[1], time.time()),
                    )
                    db.execute("DELETE FROM dead_letters WHERE seq = ?", (seq,))
                    done.append(seq)
            self._changed.notify_all()
        return done

    def drop(self, seqs: list[int]) -> list[int]:
        """Delete dead letters for good; the seqs that were dead letters."""
        done: list[int] = []
        with self._lock, self._transaction() as db:
            for seq in seqs:
                deleted = db.execute("DELETE FROM dead_letters WHERE seq = ?", (seq,))
                if deleted.rowcount == 1:
                    done.append(seq)
        return done

    def ack(self, up_to_seq: int) -> int:
        """Forget every event with ``seq <= up_to_seq`` (the server has them); how many."""
        with self._lock:
            cursor = self._db().execute("DELETE FROM outbox WHERE seq <= ?", (up_to_seq,))
            self._changed.notify_all()
            return cursor.rowcount

    def pending(self) -> int:
        """How many events wait to be delivered."""
        with self._lock:
            row = self._db().execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])

    def wait_for_pending(self, timeout: float, cancel: threading.Event | None = None) -> bool:
        """Block until an event is pending, `cancel` is set or `timeout` seconds pass.

        Whoever sets `cancel` must then call `wake`; checking it under the lock makes the
        pair race-free.

        Returns whether an event is pending. Wakes at once on a `put` in this process; a
        put by another process is seen when the timeout expires, so callers should loop
        with a modest timeout.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            generation = self._wakeups
            while True:
                if self._count_locked() > 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._wakeups != generation:
                    return False
                if cancel is not None and cancel.is_set():
                    return False
                self._changed.wait(remaining)

    def wake(self) -> None:
        """Release every thread blocked in `wait_for_pending` (a consumer is stopping)."""
        with self._changed:
            self._wakeups += 1
            self._changed.notify_all()

    def _count_locked(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        """Close the file; idempotent. Pending events stay on disk for the next run."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._wakeups += 1
            self._changed.notify_all()


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL (stored in the file: only the first open ever switches).

    The switch needs a lock for which SQLite does not always call the busy handler, so
    two agents opening a new file at once retry briefly instead of failing.
    """
    for attempt in range(_WAL_SWITCH_ATTEMPTS):
        if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == _WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
            continue
        if mode != "wal":
            raise sqlite3.OperationalError(f"cannot use WAL for the outbox (got {mode!r})")
        return
