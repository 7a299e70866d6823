from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from salesmigo.cameras.sources import SourceFrame
from salesmigo.cameras.worker import CameraWorker, DropOldestQueue

IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


class FakeSource:
    """``count`` frames, one every ``interval`` seconds."""

    def __init__(self, count: int, interval: float = 0.0, *, live: bool = True) -> None:
        self.count = count
        self.interval = interval
        self.is_live = live
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[SourceFrame]:
        for index in range(self.count):
            if self.closed.is_set():
                return
            if self.interval:
                time.sleep(self.interval)
            yield SourceFrame(IMAGE, index, index * 0.01, datetime.now(UTC))

    def close(self) -> None:
        self.closed.set()


class SlowPipeline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen: list[int] = []
        self.flushed = 0

    def process(self, frame: SourceFrame) -> object:
        time.sleep(self.seconds)
        self.seen.append(frame.index)
        return None

    def flush(self) -> object:
        self.flushed += 1
        return []

    def summary(self) -> dict[str, int]:
        return {"tracks": 1, "visits": 2, "observations": 3}


def test_queue_drops_the_oldest_item_when_full() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    assert [queue.put(i) for i in range(4)] == [0, 0, 1, 1]
    assert queue.dropped == 2
    queue.close()
    assert [queue.get(0), queue.get(0), queue.get(0)] == [2, 3, None]


def test_queue_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DropOldestQueue[int](0)


def test_a_slow_pipeline_on_a_live_source_drops_old_frames_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource(60, interval=0.002)
    pipeline = SlowPipeline(0.02)
    with caplog.at_level(logging.WARNING, logger="salesmigo.cameras.worker"):
        worker = CameraWorker(source, pipeline, name="door", queue_size=2, log_every=0.0)
        stats = worker.start().join(10)
    assert stats.frames == 60
    assert stats.dropped > 20
    assert stats.processed + stats.dropped == stats.frames
    assert pipeline.seen == sorted(pipeline.seen)  # order kept
    assert pipeline.seen[-1] == 59  # the newest frame survives
    assert pipeline.flushed == 1
    assert (stats.tracks, stats.visits, stats.observations) == (1, 2, 3)
    assert "dropped" in caplog.text
    assert "door" in caplog.text


def test_a_file_source_loses_no_frame() -> None:
    pipeline = SlowPipeline(0.002)
    stats = CameraWorker(FakeSource(30, live=False), pipeline, queue_size=2).start().join(10)
    assert stats.dropped == 0
    assert stats.processed == 30
    assert pipeline.seen == list(range(30))
    assert stats.fps > 0


def test_stop_ends_an_endless_source() -> None:
    source = FakeSource(10**9, interval=0.001)
    pipeline = SlowPipeline(0.001)
    worker = CameraWorker(source, pipeline).start()
    time.sleep(0.1)
    stats = worker.stop(5)
    assert not worker.running
    assert source.closed.is_set()
    assert pipeline.flushed == 1
    assert stats.processed > 0


def test_a_failing_pipeline_stops_the_worker_and_keeps_the_error() -> None:
    class Broken(SlowPipeline):
        def process(self, frame: SourceFrame) -> object:
            raise RuntimeError("model crashed")

    worker = CameraWorker(FakeSource(10**9, interval=0.001), Broken(0)).start()
    worker.join(5)
    assert isinstance(worker.error, RuntimeError)
    assert not worker.running


def test_the_worker_reports_its_end_after_the_flush() -> None:
    ended: list[tuple[BaseException | None, int]] = []
    pipeline = SlowPipeline(0)
    worker = CameraWorker(
        FakeSource(5, live=False),
        pipeline,
        on_exit=lambda error: ended.append((error, pipeline.flushed)),
    )
    worker.start().join(5)
    assert ended == [(None, 1)]  # once, with no error, after the last visits were flushed


def test_the_worker_reports_the_error_that_ended_it() -> None:
    class Broken(SlowPipeline):
        def process(self, frame: SourceFrame) -> object:
            raise RuntimeError("model crashed")

    ended: list[BaseException | None] = []
    worker = CameraWorker(FakeSource(10**9, interval=0.001), Broken(0), on_exit=ended.append)
    worker.start().join(5)
    assert len(ended) == 1
    assert ended[0] is worker.error
    assert str(ended[0]) == "model crashed"
