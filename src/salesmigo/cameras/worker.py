"""A long-lived worker per camera: a reader thread, a bounded queue, a processing thread.

The reader never waits for processing. For a live source, when the queue is full the
oldest frame is dropped (a late frame of a live camera is worth less than the newest one),
counted, and logged at most once per ``log_every`` seconds. A file is not live: its reader
waits for room instead, so every frame is processed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from salesmigo.cameras.sources import FrameSource, SourceFrame

logger = logging.getLogger(__name__)

Item = TypeVar("Item")


class DropOldestQueue(Generic[Item]):
    """A bounded, thread-safe FIFO whose ``put`` evicts the oldest item when full."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item: Item, *, block: bool = False, stop: threading.Event | None = None) -> int:
        """Add ``item``; how many old items were dropped for it (0 or 1).

        With ``block`` wait for room instead of dropping (until ``stop`` is set or close).
        """
        with self._cond:
            if block:
                while len(self._items) >= self.capacity and not self._closed:
                    if stop is not None and stop.is_set():
                        return 0
                    self._cond.wait(0.1)
            dropped = 0
            if len(self._items) >= self.capacity:
                self._items.popleft()
                dropped = 1
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float | None = None) -> Item | None:
        """The oldest item, or None if none came within ``timeout`` or the queue is closed."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more puts are coming: ``get`` returns what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class FrameProcessor(Protocol):
    """What the worker drives: CameraPipeline, or a fake in tests."""

    def process(self, frame: SourceFrame) -> object: ...

    def flush(self) -> object: ...

    def summary(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class WorkerStats:
    frames: int  # read from the source
    processed: int
    dropped: int
    tracks: int
    visits: int
    observations: int
    fps: float  # processed frames per second of running time
    decode_ms: float  # mean time to read one frame from the source
    seconds: float


class CameraWorker:
    """Reads ``source`` into a bounded queue and processes it with ``processor``.

    ``start`` launches both threads; ``stop`` (or the source ending) stops them, flushes the
    pipeline (so the last tracks report their visits) and closes the source. ``on_exit``
    is called from the processing thread after the flush, with the error that ended the
    worker or None: a server holding a worker for a connected camera learns of a failure
    without polling.
    """

    def __init__(
        self,
        source: FrameSource,
        processor: FrameProcessor,
        *,
        name: str = "camera",
        queue_size: int = 4,
        log_every: float = 10.0,
        on_frame: Callable[[SourceFrame, object], None] | None = None,
        on_exit: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.source = source
        self.processor = processor
        self.name = name
        self.queue: DropOldestQueue[SourceFrame] = DropOldestQueue(queue_size)
        self.log_every = log_every
        self.on_frame = on_frame
        self.on_exit = on_exit
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._runner = threading.Thread(target=self._run, name=f"{name}-pipeline", daemon=True)
        self._frames = 0
        self._processed = 0
        self._decode_seconds = 0.0
        self._started = 0.0
        self._finished: float | None = None
        self.error: BaseException | None = None

    def start(self) -> CameraWorker:
        self._started = time.perf_counter()
        self._reader.start()
        self._runner.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> WorkerStats:
        self._stop.set()
        self.source.close()
        self.queue.close()
        return self.join(timeout)

    def join(self, timeout: float | None = None) -> WorkerStats:
        """Wait for both threads (the source ends, or stop was called); the summary."""
        self._reader.join(timeout)
        self._runner.join(timeout)
        return self.stats()

    @property
    def running(self) -> bool:
        return self._runner.is_alive()

    def _read(self) -> None:
        live = self.source.is_live
        last_log = time.monotonic()
        logged_drops = 0
        try:
            iterator = iter(self.source)
            while not self._stop.is_set():
                started = time.perf_counter()
                frame = next(iterator, None)
                if frame is None:
                    break
                self._decode_seconds += time.perf_counter() - started
                self._frames += 1
                self.queue.put(frame, block=not live, stop=self._stop)
                now = time.monotonic()
                if self.queue.dropped > logged_drops and now - last_log >= self.log_every:
                    logger.warning(
                        "camera %s: processing is behind; dropped %s old frame(s) (%s in all)",
                        self.name,
                        self.queue.dropped - logged_drops,
                        self.queue.dropped,
                    )
                    logged_drops, last_log = self.queue.dropped, now
        except Exception as error:
            self.error = error
            logger.exception("camera %s: the source failed", self.name)
        finally:
            if self.queue.dropped > logged_drops:
                logger.warning(
                    "camera %s: dropped %s old frame(s) in all", self.name, self.queue.dropped
                )
            self.queue.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.queue.get(timeout=0.5)
                if frame is None:
                    finished = self._stop.is_set() or not self._reader.is_alive()
                    if finished and len(self.queue) == 0:
                        break
                    continue
                result = self.processor.process(frame)
                self._processed += 1
                if self.on_frame is not None:
                    self.on_frame(frame, result)
        except Exception as error:
            self.error = error
            logger.exception("camera %s: processing failed", self.name)
            self._stop.set()
            self.source.close()
        finally:
            try:
                self.processor.flush()
            except Exception:
                logger.exception("camera %s: flushing the pipeline failed", self.name)
            self._finished = time.perf_counter()
            if self.on_exit is not None:
                try:
                    self.on_exit(self.error)
                except Exception:
                    logger.exception("camera %s: the exit callback failed", self.name)

    def stats(self) -> WorkerStats:
        end = self._finished or time.perf_counter()
        seconds = max(end - self._started, 1e-9) if self._started else 0.0
        summary = self.processor.summary()
        return WorkerStats(
            frames=self._frames,
            processed=self._processed,
            dropped=self.queue.dropped,
            tracks=summary.get("tracks", 0),
            visits=summary.get("visits", 0),
            observations=summary.get("observations", 0),
            fps=self._processed / seconds if seconds else 0.0,
            decode_ms=1000 * self._decode_seconds / max(1, self._frames),
            seconds=seconds,
        )
