from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from salesmigo.cameras.sources import (
    PushedFrameSource,
    SourceError,
    SourceFrame,
    StreamSource,
    UsbSource,
    VideoFileSource,
    open_source,
    resize_to_width,
)
from salesmigo.vision.types import Frame


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (320, 240)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 20.0, size)
    assert writer.isOpened()
    for i in range(frames):
        image = np.full((size[1], size[0], 3), i * 10, dtype=np.uint8)
        writer.write(image)
    writer.release()
    return path


@pytest.mark.parametrize(
    ("spec", "kind", "target"),
    [
        ("rtsp://user:pw@cam.local/stream", StreamSource, "rtsp://user:pw@cam.local/stream"),
        ("http://cam/video.mjpg", StreamSource, "http://cam/video.mjpg"),
        ("HTTPS://cam/video", StreamSource, "HTTPS://cam/video"),
        ("usb:0", UsbSource, 0),
        ("usb:2", UsbSource, 2),
        ("1", UsbSource, 1),
    ],
)
def test_open_source_parses_urls_and_devices(spec: str, kind: type, target: object) -> None:
    source = open_source(spec)
    assert isinstance(source, kind)
    assert isinstance(source, StreamSource | UsbSource)
    assert source.target == target
    assert source.is_live


def test_open_source_opens_a_file(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4")
    source = open_source(str(path))
    assert isinstance(source, VideoFileSource)
    assert not source.is_live


@pytest.mark.parametrize("spec", ["", "usb:x", "no/such/file.mp4"])
def test_open_source_rejects_what_it_cannot_open(spec: str) -> None:
    with pytest.raises(SourceError):
        open_source(spec)


def test_stream_credentials_are_not_shown() -> None:
    source = StreamSource("rtsp://admin:secret@10.0.0.5:554/live")
    assert "secret" not in source._describe()


def test_video_file_frames_have_indexes_timestamps_and_resize(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", frames=12)
    frames = list(VideoFileSource(path, max_width=160))
    assert [f.index for f in frames] == list(range(12))
    assert frames[0].image.shape == (120, 160, 3)
    assert frames[5].timestamp == pytest.approx(5 / 20)
    assert (frames[5].captured_at - frames[0].captured_at).total_seconds() == pytest.approx(0.25)


def test_a_paced_video_file_takes_its_own_duration(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", frames=10)
    started = time.monotonic()
    assert len(list(VideoFileSource(path, realtime=True))) == 10
    assert time.monotonic() - started >= 0.4  # 10 frames at 20 fps, the last at 0.45 s


def test_close_ends_a_video_file(tmp_path: Path) -> None:
    source = VideoFileSource(write_video(tmp_path / "clip.mp4"))
    seen = 0
    for _ in source:
        seen += 1
        source.close()
    assert seen == 1


class FakeCapture:
    def __init__(self, frames: int) -> None:
        self.frames = frames

    def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
        return self.frames >= 0

    def read(self) -> tuple[bool, Frame | None]:
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        return True, np.zeros((8, 8, 3), dtype=np.uint8)

    def release(self) -> None:
        pass


def test_a_stream_reconnects_with_backoff_and_gives_up() -> None:
    opened: list[object] = []

    def opener(target: str | int) -> FakeCapture:
        opened.append(target)
        return FakeCapture(2 if len(opened) == 1 else -1)

    source = StreamSource("rtsp://cam/x", opener=opener, backoff=(0.001, 0.004), max_failures=3)
    frames: list[SourceFrame] = []

    def read_all() -> None:
        frames.extend(source)

    with pytest.raises(SourceError, match="failed 4 times"):
        read_all()
    assert [f.index for f in frames] == [0, 1]
    assert len(opened) == 4
    assert source.reconnects == 3


def test_pushed_frames_are_decoded_and_the_oldest_dropped() -> None:
    source = PushedFrameSource(capacity=2)
    for value in (10, 20, 30):
        ok, encoded = cv2.imencode(".png", np.full((6, 8, 3), value, dtype=np.uint8))
        assert ok
        assert source.push(encoded.tobytes())
    source.push(b"not an image")
    source.close()
    assert not source.push(b"late")
    frames = list(source)
    assert source.dropped == 2
    assert source.rejected == 1
    assert [int(f.image[0, 0, 0]) for f in frames] == [30]
    assert frames[0].image.shape == (6, 8, 3)


def test_pushed_source_waits_for_frames() -> None:
    source = PushedFrameSource()
    ok, encoded = cv2.imencode(".jpg", np.zeros((16, 16, 3), dtype=np.uint8))
    assert ok

    def later() -> None:
        time.sleep(0.05)
        source.push(encoded.tobytes())
        source.close()

    threading.Thread(target=later).start()
    assert len(list(source)) == 1


def encoded(value: int, extension: str = ".png") -> bytes:
    ok, data = cv2.imencode(extension, np.full((6, 8, 3), value, dtype=np.uint8))
    assert ok
    return data.tobytes()


def test_pushed_frames_keep_the_number_of_their_push() -> None:
    reports: list[tuple[int, str]] = []
    source = PushedFrameSource(capacity=8, max_bytes=1000, on_reject=lambda *r: reports.append(r))
    source.push(encoded(10))
    source.push(b"not an image")
    source.push(bytes(1001))  # over max_bytes: refused at once, never queued
    source.push(encoded(40))
    source.close()
    frames = list(source)
    assert [(f.index, int(f.image[0, 0, 0])) for f in frames] == [(0, 10), (3, 40)]
    assert (source.pushed, source.rejected, source.dropped) == (4, 2, 0)
    assert sorted(i for i, _ in reports) == [1, 2]
    reasons = dict(reports)
    assert "not an image" in reasons[1]
    assert reasons[2] == "the frame is 1001 bytes; the limit is 1000 bytes."


def test_an_oversized_push_is_reported_before_it_is_queued() -> None:
    reports: list[int] = []
    source = PushedFrameSource(capacity=1, max_bytes=10, on_reject=lambda i, _: reports.append(i))
    source.push(encoded(5, ".jpg")[:10])
    source.push(bytes(11))
    # Reported while the push returns, and it did not evict the queued frame.
    assert reports == [1]
    assert source.dropped == 0


def test_pushed_frames_are_shrunk_to_the_maximum_width() -> None:
    source = PushedFrameSource(max_width=4)
    source.push(encoded(7))
    source.close()
    (frame,) = list(source)
    assert frame.image.shape == (3, 4, 3)


def test_resize_keeps_the_aspect_ratio() -> None:
    image = np.zeros((480, 1280, 3), dtype=np.uint8)
    assert resize_to_width(image, 640).shape == (240, 640, 3)
    assert resize_to_width(image, None) is image
    assert resize_to_width(image, 2000) is image
