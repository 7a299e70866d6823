"""Keeping one process's in-memory gallery in step with the database's change log.

Every process follows ``gallery_changes`` by revision. On PostgreSQL a LISTEN connection
wakes the follower the moment another process commits a change; everywhere the follower
also polls at ``gallery.sync_interval_seconds``, so a lost notification (or SQLite, which
has none) costs at most that long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import suppress

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from salesmigo.gallery.gallery import Gallery, Template
from salesmigo.store.gallery_log import NOTIFY_CHANNEL, Change, changes_since
from salesmigo.store.models import FaceTemplate
from salesmigo.store.types import decode_vector

logger = logging.getLogger(__name__)

_FETCH_CHUNK = 500


class GallerySync:
    """Applies logged changes after ``revision`` to ``gallery``; optionally in the background."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        gallery: Gallery,
        revision: int,
        interval_seconds: float,
    ) -> None:
        self.gallery = gallery
        self.revision = revision
        self._sessions = sessions
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self) -> int:
        """Apply every change committed since the last call; returns how many."""
        applied = 0
        with self._lock, self._sessions() as session:
            while changes := changes_since(session, self.revision):
                self._apply(session, changes)
                self.revision = changes[-1].revision
                applied += len(changes)
        if applied:
            logger.debug("gallery caught up %s change(s) to revision %s", applied, self.revision)
        return applied

    def _apply(self, session: Session, changes: list[Change]) -> None:
        # Only a template's last operation in the batch matters; adds and removes are
        # idempotent, so replaying a change twice is harmless.
        last_op = {change.template_id: change.op for change in changes}
        removed = [t for t, op in last_op.items() if op == "remove"]
        added = [t for t, op in last_op.items() if op == "add"]
        self.gallery.remove_templates(removed)
        for start in range(0, len(added), _FETCH_CHUNK):
            chunk = added[start : start + _FETCH_CHUNK]
            rows = session.execute(
                select(
                    FaceTemplate.id,
                    FaceTemplate.customer_id,
                    FaceTemplate.model,
                    FaceTemplate.vector,
                ).where(FaceTemplate.id.in_(chunk))
            )
            # A template added and then deleted with its customer is simply absent here.
            self.gallery.add(
                Template(template_id, customer_id, model, decode_vector(vector))
                for template_id, customer_id, model, vector in rows
            )

    def start(self, engine: Engine) -> None:
        """Follow the log in a daemon thread until ``stop()``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, args=(engine,), name="gallery-sync", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5)
            self._thread = None

    def _follow(self, engine: Engine) -> None:
        for _ in self._wakeups(engine):
            try:
                self.catch_up()
            except Exception:  # keep following: a database blip must not end the thread
                logger.warning("gallery sync failed; retrying", exc_info=True)

    def _wakeups(self, engine: Engine) -> Iterator[None]:
        """Yield whenever it is time to look for changes, until stopped."""
        listener = _listen(engine) if engine.dialect.name == "postgresql" else None
        try:
            while not self._stop.is_set():
                if listener is None:
                    self._stop.wait(self._interval)
                else:
                    try:
                        for _ in listener.notifies(timeout=self._interval, stop_after=1):
                            pass
                    except psycopg.Error:
                        logger.warning("lost the LISTEN connection; polling", exc_info=True)
                        with suppress(psycopg.Error):
                            listener.close()
                        listener = None
                if not self._stop.is_set():
                    yield
        finally:
            if listener is not None:
                listener.close()


def _listen(engine: Engine) -> psycopg.Connection[tuple[object, ...]] | None:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        connection = psycopg.connect(url, autocommit=True)
        connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    except psycopg.Error:
        logger.warning("cannot LISTEN for gallery changes; polling instead", exc_info=True)
        return None
    return connection
