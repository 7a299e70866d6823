"""Face embeddings computed beside a camera's frame loop, one frame behind it.

Why: an SFace embedding costs 30-45 ms on this project's 2-core machine, three to four
times a frame's face detection. Computed in line, every frame that embeds a face waits for
it: with a group at the door each frame took about 55 ms, fewer frames were processed, and
a newcomer needed that much longer to be seen in enough frames to count as a visitor.

With the lane, the embedding of a face found in frame n runs on a thread of its own
(which the second core can take) while frame n + 1 is decoded, detected and tracked; frame
n + 1 then collects it, waiting for whatever is left, before its identity step. So the
frame loop never runs more than one frame ahead of its embeddings, and what the pipeline
decides is what in-line embedding would decide one frame later, whatever the timing: the
same video gives the same events on a fast machine and a slow one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from salesmigo.cameras.tracker import Track
from salesmigo.vision.types import DetectedFace, Frame, Vector

# Computes one face's unit descriptor; must be safe to call from the lane's thread while the
# frame loop runs (the pipeline serialises its own in-line calls with the lane's).
Embed = Callable[[Frame, DetectedFace], Vector]


@dataclass(frozen=True)
class EmbeddedFace:
    """A face embedded on the lane, with what its track needs to keep it."""

    track: Track
    vector: Vector
    quality: float
    frame_index: int
    seconds: float  # time the embedding itself took, for the stage statistics


@dataclass(frozen=True)
class _Pending:
    track: Track
    quality: float
    frame_index: int
    result: Future[tuple[Vector, float]]


class EmbeddingLane:
    """Embeds the faces submitted by a frame while the next one is processed. Used from the
    frame loop's thread only.

    Each face gets a short-lived thread of its own rather than a pool's: a frame submits
    one or two faces, a thread costs about 0.1 ms next to a 30-45 ms embedding, and there
    is then nothing to shut down when a pipeline is dropped.
    """

    def __init__(self, embed: Embed, name: str = "camera") -> None:
        self._embed = embed
        self._name = f"{name}-embed"
        self._pending: list[_Pending] = []

    @property
    def pending(self) -> int:
        """Faces submitted and not yet collected."""
        return len(self._pending)

    def submit(
        self, image: Frame, face: DetectedFace, track: Track, quality: float, frame_index: int
    ) -> None:
        """Start embedding ``face`` of ``image`` (which must not be modified afterwards)."""
        result: Future[tuple[Vector, float]] = Future()

        def run() -> None:
            try:
                started = time.perf_counter()
                vector = self._embed(image, face)
                result.set_result((vector, time.perf_counter() - started))
            except BaseException as error:  # handed to the frame loop by collect()
                result.set_exception(error)

        threading.Thread(target=run, name=self._name, daemon=True).start()
        self._pending.append(_Pending(track, quality, frame_index, result))

    def collect(self) -> list[EmbeddedFace]:
        """Every face submitted so far, in order, waiting for those still running. An
        embedding that failed raises here, as it would have in line."""
        pending, self._pending = self._pending, []
        collected: list[EmbeddedFace] = []
        for item in pending:
            vector, seconds = item.result.result()
            collected.append(
                EmbeddedFace(item.track, vector, item.quality, item.frame_index, seconds)
            )
        return collected
