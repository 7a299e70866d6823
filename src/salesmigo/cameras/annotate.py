"""Draw what the pipeline sees on a frame, and write annotated video (for people, not models)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from salesmigo.cameras.pipeline import CameraPipeline
from salesmigo.vision.types import Box, Frame

KNOWN = (60, 180, 60)  # BGR
UNKNOWN = (0, 165, 255)


@dataclass(frozen=True)
class Label:
    """One track as drawn: its box, a name (or None) and what it shows."""

    box: Box
    track_id: str
    name: str | None = None
    expression: str | None = None
    gesture: str | None = None


def draw(frame: Frame, labels: Iterable[Label]) -> Frame:
    """A copy of ``frame`` with a box per label and its text above (below at the top edge)."""
    out = np.array(frame, dtype=np.uint8, copy=True)
    for label in labels:
        box = label.box
        colour = KNOWN if label.name else UNKNOWN
        cv2.rectangle(out, (box.x, box.y), (box.x + box.width, box.y + box.height), colour, 2)
        parts = [label.name or f"#{label.track_id}"]
        parts += [p for p in (label.expression, label.gesture) if p]
        text = " | ".join(parts)
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = box.y - height - baseline - 4
        if top < 0:
            top = box.y + box.height
        cv2.rectangle(
            out, (box.x, top), (box.x + width + 4, top + height + baseline + 4), colour, -1
        )
        cv2.putText(
            out,
            text,
            (box.x + 2, top + height + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def pipeline_labels(
    pipeline: CameraPipeline, names: Callable[[int], str | None] | None = None
) -> list[Label]:
    """The tracks seen in the pipeline's latest frame, with identities and smoothed labels."""
    labels: list[Label] = []
    for track in pipeline.active_tracks:
        if track.misses:
            continue
        customer = pipeline.identity_of(track.id)
        name = None
        if customer is not None:
            name = (names(customer) if names else None) or f"customer {customer}"
        labels.append(
            Label(
                box=track.box,
                track_id=track.id,
                name=name,
                expression=pipeline.expression_of(track.id),
                gesture=pipeline.gesture_of(track.id),
            )
        )
    return labels


class AnnotatedVideoWriter:
    """An MP4 ('mp4v') file of annotated frames; the size is taken from the first frame."""

    def __init__(self, path: Path | str, fps: float = 25.0) -> None:
        self.path = Path(path)
        self.fps = fps if fps > 0 else 25.0
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, frame: Frame, labels: Iterable[Label] = ()) -> None:
        if self._writer is None:
            height, width = frame.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write an MP4 video to {self.path}")
        self._writer.write(draw(frame, labels))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
