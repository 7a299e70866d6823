"""What a camera page is told about each frame it sent: JSON-ready, drawn by the page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from salesmigo.cameras.annotate import Label
from salesmigo.cameras.sources import SourceFrame


@dataclass(frozen=True)
class StreamStats:
    """Counts of one connected camera since it connected."""

    received: int  # frames that arrived
    processed: int  # frames the pipeline ran on
    dropped: int  # frames skipped because processing was behind (the oldest go first)
    rejected: int  # frames too large or not decodable
    tracks: int
    visits: int
    observations: int
    stored: int  # events the ingest service stored (or had stored before)
    unstored: int  # events that could not be stored

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def frame_report(frame: SourceFrame, labels: Iterable[Label], stats: StreamStats) -> dict[str, Any]:
    """One ``frame`` message: the people in the frame, in its own pixels, and the counts.

    ``width`` and ``height`` are those of the frame as processed (after any shrinking), so
    the page scales the boxes to whatever size it shows the video at.
    """
    height, width = frame.image.shape[:2]
    return {
        "type": "frame",
        "frame": frame.index,
        "width": width,
        "height": height,
        "faces": [
            {
                "box": label.box.as_list(),
                "track": label.track_id,
                "name": label.name,
                "expression": label.expression,
                "gesture": label.gesture,
            }
            for label in labels
        ],
        "stats": stats.as_json(),
    }


def rejected_report(index: int, reason: str) -> dict[str, Any]:
    """One ``rejected`` message: a frame that was skipped, and why."""
    return {"type": "rejected", "frame": index, "reason": reason}
