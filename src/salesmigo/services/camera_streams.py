"""Cameras connected to this server (the browser camera page): one worker per camera.

A connected camera pushes encoded frames; a PushedFrameSource feeds a CameraWorker running
the same CameraPipeline as ``salesmigo camera``, with identification against this
process's gallery. Its events go through the same ingest service as an agent's (stored
once each by event id, then published on the realtime bus), and what it sees in each frame
is handed back through ``reply`` for the page to draw.

Only one connection per camera streams at a time: a second one is refused (Conflict)
rather than replacing the first, so two forgotten tabs cannot take the camera from each
other in a loop, and the operator learns where the camera is already open.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast, get_args

from salesmigo.cameras.annotate import pipeline_labels
from salesmigo.cameras.configured import configured_pipeline
from salesmigo.cameras.events import EventBatch
from salesmigo.cameras.frame_report import StreamStats, frame_report, rejected_report
from salesmigo.cameras.pipeline import CameraPipeline, Event, Role
from salesmigo.cameras.sources import PushedFrameSource, SourceFrame
from salesmigo.cameras.worker import CameraWorker
from salesmigo.services.camera_tokens import camera_named_for_token
from salesmigo.services.errors import Conflict, Forbidden, NotFound, SalesmigoError, Unauthorized
from salesmigo.services.ingest import ingest_events
from salesmigo.services.local_identify import LocalIdentifier
from salesmigo.services.places import CameraRecord, get_camera
from salesmigo.services.runtime import Runtime

logger = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
# Told when a stream must end on its own: the SalesmigoError that refused its events (a
# revoked token, a deleted or disabled camera), or the error that stopped its pipeline.
Ended = Callable[[BaseException], None]

_STORE_ATTEMPTS = 3
_TRACK_PREFIX_CHARS = 60  # track ids are at most 100 characters (cameras.events)


def authorise_stream(runtime: Runtime, camera_name: str, token: str) -> CameraRecord:
    """The enabled camera ``camera_name``, if ``token`` is one of its live ingest tokens:
    the same check as ``POST /api/v1/cameras/{name}/events`` (camera_named_for_token)."""
    return get_camera(runtime, camera_named_for_token(runtime, camera_name, token).id)


class CameraStream:
    """One connected camera: frames in (``push``), events stored, a reply per frame out.

    ``start`` loads the models (seconds: call it off the event loop) and starts the
    worker; ``stop`` ends it, flushing the pipeline so the people still in view get their
    visits, and may be called any number of times, from any thread, even during ``start``.
    """

    def __init__(
        self, runtime: Runtime, camera: CameraRecord, token: str, reply: Reply, ended: Ended
    ) -> None:
        self.runtime = runtime
        self.camera = camera
        self._token = token
        self._reply = reply
        self._ended = ended
        page = runtime.settings.camera_page
        self.source = PushedFrameSource(
            capacity=page.queue_size,
            max_bytes=page.max_frame_bytes,
            max_pixels=page.max_frame_pixels,
            max_width=page.max_width,
            on_reject=self._rejected,
        )
        self._identifier = LocalIdentifier(runtime, runtime.settings.recognition.default_model)
        self._pipeline: CameraPipeline | None = None
        self._worker: CameraWorker | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._stored = 0
        self._unstored = 0

    # -- life cycle

    def start(self) -> None:
        settings = self.runtime.settings
        # A prefix per connection keeps the track ids of two sessions of one camera apart.
        prefix = f"{self.camera.name[:_TRACK_PREFIX_CHARS]}-{uuid.uuid4().hex[:6]}-"
        if self.camera.role not in get_args(Role):
            raise Conflict(f"camera {self.camera.name!r} has a role no pipeline knows")
        pipeline = configured_pipeline(
            settings,
            self._identifier,
            role=cast(Role, self.camera.role),
            camera=self.camera.name,
            on_event=self._store,
        )
        pipeline.tracker.prefix = prefix  # ids of tracks started from now on
        worker = CameraWorker(
            self.source,
            pipeline,
            name=f"camera {self.camera.name}",
            queue_size=settings.camera_page.queue_size,
            on_frame=self._annotate,
            on_exit=self._exited,
        )
        with self._lock:
            if self._stopped:  # the page left while the models loaded
                pipeline.close()
                return
            self._pipeline, self._worker = pipeline, worker
            worker.start()
        logger.info("camera %s connected (%s)", self.camera.name, self.camera.role)

    def push(self, data: bytes) -> None:
        self.source.push(data)

    def stop(self) -> StreamStats:
        with self._lock:
            first = not self._stopped
            self._stopped = True
            worker, pipeline = self._worker, self._pipeline
        self.source.close()
        if worker is not None:
            worker.stop(timeout=60)
        if first and pipeline is not None:
            pipeline.close()
        stats = self.stats()
        if first:
            logger.info("camera %s disconnected: %s", self.camera.name, stats.as_json())
        return stats

    def stats(self) -> StreamStats:
        worker = self._worker
        counts = worker.processor.summary() if worker is not None else {}
        return StreamStats(
            received=self.source.pushed,
            processed=worker.stats().processed if worker is not None else 0,
            dropped=self.source.dropped + (worker.queue.dropped if worker is not None else 0),
            rejected=self.source.rejected,
            tracks=counts.get("tracks", 0),
            visits=counts.get("visits", 0),
            observations=counts.get("observations", 0),
            stored=self._stored,
            unstored=self._unstored,
        )

    # -- callbacks from the worker's threads

    def _rejected(self, index: int, reason: str) -> None:
        self._reply(rejected_report(index, reason))

    def _annotate(self, frame: SourceFrame, _events: object) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        labels = pipeline_labels(pipeline, self._identifier.name_of)
        self._reply(frame_report(frame, labels, self.stats()))

    def _exited(self, error: BaseException | None) -> None:
        if error is not None:
            self._ended(error)

    def _store(self, event: Event) -> None:
        """Ingest one event as an agent's would be: by id, once, then on the bus."""
        batch = EventBatch(events=[event])
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            try:
                ingest_events(self.runtime, self.camera.name, self._token, batch)
            except (Unauthorized, Forbidden, NotFound) as refusal:
                # The token was revoked, or the camera deleted, renamed or disabled, since
                # connecting: this page may not record anything more.
                self._unstored += 1
                logger.warning("camera %s: event refused: %s", self.camera.name, refusal)
                self._ended(refusal)
                return
            except SalesmigoError as error:
                self._unstored += 1
                logger.warning("camera %s: event not stored: %s", self.camera.name, error)
                self._reply_event(event, stored=False, detail=str(error))
                return
            except Exception:
                # The database may be briefly unavailable; the event id makes a retry safe.
                logger.exception(
                    "camera %s: storing a %s event failed (attempt %s of %s)",
                    self.camera.name,
                    event.type,
                    attempt,
                    _STORE_ATTEMPTS,
                )
                time.sleep(0.2 * attempt)
            else:
                self._stored += 1
                self._reply_event(event, stored=True)
                return
        self._unstored += 1
        self._reply_event(
            event, stored=False, detail="the server could not store it; its log has the details"
        )

    def _reply_event(self, event: Event, *, stored: bool, detail: str | None = None) -> None:
        message: dict[str, Any] = {
            "type": "event",
            "event": event.model_dump(mode="json"),
            "stored": stored,
        }
        if detail is not None:
            message["detail"] = detail
        self._reply(message)


class CameraStreams:
    """The cameras streaming to this process, at most one connection each."""

    def __init__(self) -> None:
        self._streams: dict[int, CameraStream] = {}
        self._lock = threading.Lock()

    def open(
        self, runtime: Runtime, camera: CameraRecord, token: str, reply: Reply, ended: Ended
    ) -> CameraStream:
        """A new stream for ``camera`` (not started), or Conflict if one is open already."""
        with self._lock:
            if camera.id in self._streams:
                raise Conflict(
                    f"camera {camera.name!r} is already streaming from another page; "
                    "close that one first"
                )
            stream = CameraStream(runtime, camera, token, reply, ended)
            self._streams[camera.id] = stream
            return stream

    def release(self, stream: CameraStream) -> StreamStats:
        """Stop ``stream`` and free its camera for a new connection; its final counts."""
        try:
            return stream.stop()
        finally:
            with self._lock:
                if self._streams.get(stream.camera.id) is stream:
                    del self._streams[stream.camera.id]

    def close_all(self) -> None:
        """Stop every stream (the server is shutting down): their last visits are stored."""
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            self.release(stream)

    def __len__(self) -> int:
        with self._lock:
            return len(self._streams)
