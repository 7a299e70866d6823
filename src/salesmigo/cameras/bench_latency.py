"""First-event latency: from the frame a person first appears in to their arrival at the server.

The video plays at its own frame rate (as a camera delivers it: frames the pipeline cannot
keep up with are dropped, oldest first, as for a live camera), so a frame's
``captured_at`` is the wall-clock moment it was "captured" and a person's arrival event
carries that moment of their first frame (``arrived_at``). Each event the entrance pipeline
publishes is handed to a server thread that stores it with the server's own ingest
(``services.ingest``, a fresh SQLite store), which publishes it on the realtime bus; a
"screen" thread subscribed to the bus notes when each arrival reaches it. Latency is that
moment minus ``arrived_at``. What is left out is the HTTP hop between an agent and the
server (a millisecond or two on a LAN) and the outbox's fsync (about one).

Identification searches random vectors, so everyone is a stranger: their arrival waits for
the ``arrival_window`` (a known customer's vote settles sooner), the slower path.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from salesmigo.cameras.identity_vote import Identify
from salesmigo.cameras.sources import SourceFrame, VideoFileSource


class _CameraLikeFile:
    """A video file at its own frame rate that, like a camera, does not wait for processing:
    the worker drops its oldest frames when behind, as it does for a live camera."""

    is_live = True

    def __init__(self, video: Path, max_width: int) -> None:
        self._file = VideoFileSource(video, max_width=max_width, realtime=True)

    def __iter__(self) -> Iterator[SourceFrame]:
        return iter(self._file)

    def close(self) -> None:
        self._file.close()


def percentiles(values_ms: list[float]) -> dict[str, Any]:
    """p50, p95 (nearest rank above: with few people, the slow one counts) and max."""
    if not values_ms:
        return {"p50": None, "p95": None, "max": None, "people": 0}
    array = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(array, 50, method="higher")), 1),
        "p95": round(float(np.percentile(array, 95, method="higher")), 1),
        "max": round(float(array.max()), 1),
        "people": len(values_ms),
    }


def measure_latency(video: Path, max_width: int, plays: int, identify: Identify) -> dict[str, Any]:
    """Play ``video`` ``plays`` times through an entrance pipeline into a real ingest."""
    from salesmigo.cameras.bench import warm_up
    from salesmigo.cameras.events import EventBatch
    from salesmigo.cameras.pipeline import CameraPipeline, Event, PipelineSettings
    from salesmigo.cameras.worker import CameraWorker
    from salesmigo.config import Settings
    from salesmigo.services import camera_tokens, places
    from salesmigo.services.ingest import ingest_events
    from salesmigo.services.live import EVENTS_TOPIC
    from salesmigo.services.runtime import open_runtime

    with tempfile.TemporaryDirectory(prefix="salesmigo-bench-") as folder:
        runtime = open_runtime(Settings(data_dir=Path(folder)))
        camera = places.create_camera(runtime, {"name": "bench door", "role": "entrance"})
        token = camera_tokens.issue_token(runtime, camera.id)
        subscription = runtime.bus.subscribe(EVENTS_TOPIC)
        inbox: queue.Queue[Event | None] = queue.Queue()
        latencies: list[float] = []
        published: list[float] = []  # the same, to where the pipeline hands the event over

        def publish(event: Event) -> None:
            if event.type == "arrival":
                handed = datetime.now(UTC) - event.occurred_at
                published.append(1000 * handed.total_seconds())
            inbox.put(event)

        stop = threading.Event()

        def serve() -> None:
            while (event := inbox.get()) is not None:
                ingest_events(runtime, camera.name, token, EventBatch(events=[event]))

        def watch() -> None:
            while True:
                message = subscription.get(timeout=0.05)
                if message is None:
                    if stop.is_set():  # set once the server stored everything
                        return
                    continue
                if message["type"] != "arrival":
                    continue
                seen = datetime.now(UTC)
                arrived = datetime.fromisoformat(message["arrived_at"])
                latencies.append(1000 * (seen - arrived).total_seconds())

        server = threading.Thread(target=serve, name="bench-server", daemon=True)
        screen = threading.Thread(target=watch, name="bench-screen", daemon=True)
        server.start()
        screen.start()
        settings = PipelineSettings(role="entrance", camera=camera.name)
        first = CameraPipeline.with_models(identify, settings, on_event=publish)
        warm_up(first, next(iter(VideoFileSource(video, max_width=max_width))).image)
        events = 0
        try:
            for play in range(plays):
                # A fresh tracker per play (each play is new people); the models load once.
                pipeline = (
                    first
                    if play == 0
                    else CameraPipeline(
                        first.detector,
                        first.embedder,
                        identify,
                        settings,
                        refiner=first.refiner,
                        on_event=publish,
                    )
                )
                source = _CameraLikeFile(video, max_width)
                worker = CameraWorker(source, pipeline, name="bench-latency").start()
                worker.join()
                if worker.error is not None:
                    raise worker.error
                events += pipeline.stats.events
        finally:
            inbox.put(None)
            server.join()
            stop.set()
            screen.join()
            first.close()
            subscription.close()
            runtime.close()
    return {
        "first_event_latency_ms": percentiles(latencies),
        "pipeline_latency_ms": percentiles(published),
        "events": events,
    }
