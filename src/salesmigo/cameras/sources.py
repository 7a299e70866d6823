"""Where frames come from: a video file, an RTSP/HTTP stream, a USB camera, or the browser.

Every source is a FrameSource: iterate it for SourceFrames (the image, its index, seconds
since the source started, and the wall-clock time it was captured), ``close`` it when done.
``is_live`` tells a worker whether frames it cannot keep up with are lost anyway (a camera:
drop the oldest) or merely wait (a file: read it at the pace of processing).

``open_source("rtsp://...")`` picks the implementation from a string, as the CLI takes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from salesmigo.vision.images import decode_image
from salesmigo.vision.types import Frame

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceFrame:
    """One frame: BGR pixels, its 0-based index, seconds since the source began, wall time."""

    image: Frame
    index: int
    timestamp: float
    captured_at: datetime


class FrameSource(Protocol):
    @property
    def is_live(self) -> bool: ...

    def __iter__(self) -> Iterator[SourceFrame]: ...

    def close(self) -> None: ...


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message says which and what to check."""


def resize_to_width(image: Frame, max_width: int | None) -> Frame:
    """Shrink ``image`` to at most ``max_width`` pixels wide, keeping its aspect ratio."""
    if max_width is None or image.shape[1] <= max_width:
        return image
    height = max(1, round(image.shape[0] * max_width / image.shape[1]))
    return np.asarray(
        cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )


class VideoFileSource:
    """A video file through OpenCV; paced at its native frame rate or as fast as possible.

    ``captured_at`` is the moment reading started plus the frame's position in the video, so
    times in events follow the video even when it is processed faster than real time.
    """

    is_live = False

    def __init__(
        self,
        path: Path | str,
        *,
        max_width: int | None = None,
        realtime: bool = False,
        started_at: datetime | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist")
        self.max_width = max_width
        self.realtime = realtime
        self.started_at = started_at
        self._capture: Any = None
        self._closed = threading.Event()

    def _open(self) -> Any:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise SourceError(f"OpenCV cannot open {self.path}: is it a video file?")
        return capture

    @property
    def fps(self) -> float:
        capture = self._open()
        try:
            fps = float(capture.get(cv2.CAP_PROP_FPS))
        finally:
            capture.release()
        return fps if fps > 0 else 25.0

    def __iter__(self) -> Iterator[SourceFrame]:
        capture = self._open()
        self._capture = capture
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 25.0
        started = self.started_at or datetime.now(UTC)
        clock = time.monotonic()
        index = 0
        try:
            while not self._closed.is_set():
                ok, image = capture.read()
                if not ok or image is None:
                    return
                timestamp = index / fps
                if self.realtime:
                    delay = clock + timestamp - time.monotonic()
                    if delay > 0 and self._closed.wait(delay):
                        return
                yield SourceFrame(
                    resize_to_width(np.asarray(image, dtype=np.uint8), self.max_width),
                    index,
                    timestamp,
                    started + timedelta(seconds=timestamp),
                )
                index += 1
        finally:
            capture.release()

    def close(self) -> None:
        self._closed.set()


class _CaptureSource:
    """A live OpenCV capture (stream or device) that reconnects with exponential backoff."""

    is_live = True

    def __init__(
        self,
        target: str | int,
        *,
        max_width: int | None = None,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.5, 30.0),
        max_failures: int | None = None,
        opener: Callable[[str | int], Any] | None = None,
    ) -> None:
        self.target = target
        self.max_width = max_width
        self.reconnect = reconnect
        self.backoff = backoff
        self.max_failures = max_failures
        self._opener = opener or self._open_capture
        self._closed = threading.Event()
        self.reconnects = 0

    @staticmethod
    def _open_capture(target: str | int) -> Any:
        return cv2.VideoCapture(target)

    def _describe(self) -> str:
        return str(self.target)

    def __iter__(self) -> Iterator[SourceFrame]:
        clock = time.monotonic()
        index = 0
        delay = self.backoff[0]
        failures = 0
        while not self._closed.is_set():
            capture = self._opener(self.target)
            try:
                if capture.isOpened():
                    while not self._closed.is_set():
                        ok, image = capture.read()
                        if not ok or image is None:
                            break
                        delay = self.backoff[0]
                        failures = 0
                        yield SourceFrame(
                            resize_to_width(np.asarray(image, dtype=np.uint8), self.max_width),
                            index,
                            time.monotonic() - clock,
                            datetime.now(UTC),
                        )
                        index += 1
            finally:
                capture.release()
            if self._closed.is_set() or not self.reconnect:
                return
            failures += 1
            if self.max_failures is not None and failures > self.max_failures:
                raise SourceError(
                    f"camera {self._describe()} failed {failures} times in a row; check the "
                    "address or device and that the camera is on"
                )
            self.reconnects += 1
            logger.warning("camera %s lost; reconnecting in %.1f s", self._describe(), delay)
            if self._closed.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def close(self) -> None:
        self._closed.set()


class StreamSource(_CaptureSource):
    """An RTSP or HTTP(S) stream URL (credentials in the URL are not logged)."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)

    def _describe(self) -> str:
        url = str(self.target)
        scheme, sep, rest = url.partition("://")
        if sep and "@" in rest.split("/", 1)[0]:
            rest = "***@" + rest.split("@", 1)[1]
        return f"{scheme}{sep}{rest}"


class UsbSource(_CaptureSource):
    """A local camera by device index (0 is the first)."""

    def __init__(self, device: int, **options: Any) -> None:
        if device < 0:
            raise SourceError(f"a camera device index cannot be negative, got {device}")
        super().__init__(device, **options)

    def _describe(self) -> str:
        return f"usb:{self.target}"


FrameRejected = Callable[[int, str], None]


class PushedFrameSource:
    """Frames pushed as encoded JPEG/PNG bytes (the browser camera page over a WebSocket).

    ``push`` never blocks the handler: the queue is bounded, and when it is full the oldest
    frame is dropped (and counted), since a late frame of a live camera is worth nothing.
    Iteration ends after ``close``.

    Each push gets the next index (0, 1, 2, ...), and a frame keeps it as its
    ``SourceFrame.index``, so whoever pushed it can tell which frame a result is about;
    frames dropped or rejected leave gaps. A frame that is too large or cannot be decoded is
    counted in ``rejected`` and reported to ``on_reject`` with its index and a sentence
    saying why, then skipped: one bad frame never ends the source.
    """

    is_live = True

    def __init__(
        self,
        *,
        capacity: int = 4,
        max_bytes: int = 5 * 1024 * 1024,
        max_pixels: int = 8_000_000,
        max_width: int | None = None,
        on_reject: FrameRejected | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_width = max_width
        self.on_reject = on_reject
        self._queue: deque[tuple[int, bytes, datetime]] = deque(maxlen=capacity)
        self._ready = threading.Condition()
        self._closed = False
        self.pushed = 0
        self.dropped = 0
        self.rejected = 0
        self._clock = time.monotonic()

    def push(self, data: bytes, captured_at: datetime | None = None) -> bool:
        """Queue one encoded frame; False if the source is closed."""
        with self._ready:
            if self._closed:
                return False
            index = self.pushed
            self.pushed += 1
            if len(data) > self.max_bytes:
                # Refused before it takes a place in the queue (or memory while it waits).
                self.rejected += 1
                reason = f"the frame is {len(data)} bytes; the limit is {self.max_bytes} bytes."
            else:
                reason = None
                if len(self._queue) == self._queue.maxlen:
                    self.dropped += 1
                self._queue.append((index, data, captured_at or datetime.now(UTC)))
                self._ready.notify()
        if reason is not None:
            self._reject(index, reason)
        return True

    def _reject(self, index: int, reason: str) -> None:
        logger.info("pushed frame %s skipped: %s", index, reason)
        if self.on_reject is not None:
            self.on_reject(index, reason)

    def __iter__(self) -> Iterator[SourceFrame]:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                index, data, captured_at = self._queue.popleft()
            try:
                image = decode_image(
                    data, max_bytes=self.max_bytes, max_pixels=self.max_pixels, name="the frame"
                )
            except ValueError as error:
                with self._ready:
                    self.rejected += 1
                self._reject(index, str(error))
                continue
            yield SourceFrame(
                resize_to_width(image, self.max_width),
                index,
                time.monotonic() - self._clock,
                captured_at,
            )

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


def open_source(
    spec: str, *, max_width: int | None = None, realtime: bool = False
) -> VideoFileSource | StreamSource | UsbSource:
    """A source from a string: ``rtsp://``/``http(s)://`` URL, ``usb:N`` or ``N``, or a file.

    ``realtime`` paces a video file at its native frame rate (as if it were a camera).
    """
    text = spec.strip()
    if not text:
        raise SourceError("empty camera source: give a video file, a URL, or usb:N")
    lowered = text.lower()
    if lowered.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return StreamSource(text, max_width=max_width)
    device = text[4:] if lowered.startswith("usb:") else text
    if device.isdigit():
        return UsbSource(int(device), max_width=max_width)
    if lowered.startswith("usb:"):
        raise SourceError(f"{spec!r}: a USB camera is usb:N with N a device number, e.g. usb:0")
    return VideoFileSource(text, max_width=max_width, realtime=realtime)
