"""Per-track label smoothing: a label is an event once it persists, and fires once."""

from __future__ import annotations

import pytest

from salesmigo.vision.smoothing import LabelSmoother, TrackSmoothers

UP, DOWN, V = "thumbs_up", "thumbs_down", "victory"


def run(frames: list[str | None], min_frames: int = 3, window: int = 5) -> list[str | None]:
    smoother = LabelSmoother[str](min_frames, window)
    return [smoother.update(label) for label in frames]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        pytest.param([UP, UP, UP], [None, None, UP], id="confirmed on the third frame"),
        pytest.param([UP, UP, UP, UP, UP, UP], [None, None, UP, None, None, None], id="once"),
        pytest.param([UP, None, UP, None, UP], [None, None, None, None, UP], id="3 of 5 with gaps"),
        pytest.param([UP, None, None, UP, None, None, UP], [None] * 7, id="too sparse"),
        pytest.param([DOWN, UP, UP, UP], [None, None, None, UP], id="one noisy frame first"),
        pytest.param(
            [UP, UP, UP, DOWN, UP, UP], [None, None, UP, None, None, None], id="one noisy frame"
        ),
        pytest.param(
            [UP, UP, UP, V, V, V], [None, None, UP, None, None, V], id="a change fires once"
        ),
        pytest.param(
            [UP, UP, UP, None, UP, None, UP, UP],
            [None, None, UP, None, None, None, None, None],
            id="flicker does not re-fire",
        ),
        pytest.param(
            [UP, UP, UP, None, None, None, None, None, UP, UP, UP],
            [None, None, UP, *[None] * 5, None, None, UP],
            id="shown again after it lapsed",
        ),
        pytest.param([None, None, None], [None, None, None], id="nothing"),
    ],
)
def test_default_three_of_five(frames: list[str | None], expected: list[str | None]) -> None:
    assert run(frames) == expected


def test_current_lapses_after_a_window_without_the_label() -> None:
    smoother = LabelSmoother[str]()
    for _ in range(3):
        smoother.update(UP)
    assert smoother.current == UP
    for _ in range(4):
        smoother.update(None)
    assert smoother.current == UP  # still in the window
    smoother.update(None)
    assert smoother.current is None


def test_min_frames_one_passes_every_change_through() -> None:
    assert run([UP, UP, V, UP], min_frames=1, window=1) == [UP, None, V, UP]


def test_a_challenger_takes_over_only_once_ahead() -> None:
    # Two of five: both labels can qualify at once; the confirmed one keeps a tie.
    assert run([UP, UP, V, V, V], min_frames=2, window=5) == [None, UP, None, None, V]


def test_reset_forgets() -> None:
    smoother = LabelSmoother[str]()
    for _ in range(3):
        smoother.update(UP)
    smoother.reset()
    assert smoother.current is None
    assert [smoother.update(UP) for _ in range(3)] == [None, None, UP]


@pytest.mark.parametrize(("min_frames", "window"), [(0, 5), (3, 2)])
def test_bad_settings(min_frames: int, window: int) -> None:
    with pytest.raises(ValueError, match="must be at least"):
        LabelSmoother[str](min_frames, window)
    with pytest.raises(ValueError, match="must be at least"):
        TrackSmoothers[int, str](min_frames, window)


def test_tracks_are_independent() -> None:
    smoothers = TrackSmoothers[int, str]()
    events = []
    for frame in range(3):
        events.append((frame, smoothers.update(1, UP), smoothers.update(2, V if frame else None)))
    assert events == [(0, None, None), (1, None, None), (2, UP, None)]
    assert smoothers.current(1) == UP
    assert smoothers.current(2) is None
    assert smoothers.update(2, V) == V
    assert len(smoothers) == 2
    smoothers.forget(1)
    smoothers.forget(99)
    assert smoothers.current(1) is None
    assert len(smoothers) == 1
