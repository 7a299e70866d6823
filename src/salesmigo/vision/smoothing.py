"""Turning per-frame labels of one person into events: one noisy frame is not a gesture.

Pure and clock-free: a smoother only counts the frames it is given, so it behaves the same
at any frame rate and in tests.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

Label = TypeVar("Label", bound=Hashable)
Key = TypeVar("Key", bound=Hashable)


class LabelSmoother(Generic[Label]):
    """Confirms a label once it was seen in ``min_frames`` of the last ``window`` frames.

    Feed one label per frame of one track (None for a frame with no label: no hand, or a
    hand showing no gesture). ``update`` returns a label only on the frame it becomes
    confirmed, so each change is emitted once; otherwise it returns None.

    The confirmed label (``current``) stays until another label is confirmed, or until it
    has not been seen at all for ``window`` frames; then it lapses silently and showing it
    again later is a new event. A label that flickers in and out of the window therefore
    does not fire again and again.
    """

    def __init__(self, min_frames: int = 3, window: int = 5) -> None:
        if min_frames < 1:
            raise ValueError(f"min_frames must be at least 1, got {min_frames}")
        if window < min_frames:
            raise ValueError(f"window ({window}) must be at least min_frames ({min_frames})")
        self.min_frames = min_frames
        self.window = window
        self._recent: deque[Label | None] = deque(maxlen=window)
        self._current: Label | None = None

    @property
    def current(self) -> Label | None:
        """The confirmed label, or None."""
        return self._current

    def update(self, label: Label | None) -> Label | None:
        """Add one frame's label; the label confirmed by this frame, if one is."""
        self._recent.append(label)
        counts = Counter(seen for seen in self._recent if seen is not None)
        if self._current is not None and counts[self._current] == 0:
            self._current = None
        candidates = [seen for seen, count in counts.items() if count >= self.min_frames]
        if not candidates:
            return None
        # With min_frames at most half the window two labels can both qualify: the more
        # frequent wins, then the one seen last.
        order = list(self._recent)
        best = max(
            candidates,
            key=lambda seen: (counts[seen], len(order) - 1 - order[::-1].index(seen)),
        )
        if best == self._current:
            return None
        if self._current is not None and counts[self._current] >= counts[best]:
            return None  # a challenger only takes over once it is ahead
        self._current = best
        return best

    def reset(self) -> None:
        """Forget everything, as for a new track."""
        self._recent.clear()
        self._current = None


class TrackSmoothers(Generic[Key, Label]):
    """One LabelSmoother per track id, created on first use."""

    def __init__(self, min_frames: int = 3, window: int = 5) -> None:
        LabelSmoother[Label](min_frames, window)  # validate the settings now
        self.min_frames = min_frames
        self.window = window
        self._smoothers: dict[Key, LabelSmoother[Label]] = {}

    def update(self, track: Key, label: Label | None) -> Label | None:
        """LabelSmoother.update for ``track``'s smoother."""
        smoother = self._smoothers.get(track)
        if smoother is None:
            smoother = LabelSmoother[Label](self.min_frames, self.window)
            self._smoothers[track] = smoother
        return smoother.update(label)

    def current(self, track: Key) -> Label | None:
        """The confirmed label of ``track``, or None."""
        smoother = self._smoothers.get(track)
        return None if smoother is None else smoother.current

    def forget(self, track: Key) -> None:
        """Drop a track that has ended (unknown tracks are ignored)."""
        self._smoothers.pop(track, None)

    def __len__(self) -> int:
        return len(self._smoothers)
