"""The gestures a hand can show, named once for the classifier, the events and the queries.

Kept apart from vision.gestures (which loads OpenCV through vision.hands) so that the event
schema and the sentiment queries name gestures without loading a vision library.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, get_args


class Gesture(StrEnum):
    """The seven labels a hand can get."""

    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    VICTORY = "victory"
    OPEN_PALM = "open_palm"
    FIST = "fist"
    POINTING_UP = "pointing_up"
    NONE = "none"


# What a gesture observation can record: every label but "none".
ShownGesture = Literal["thumbs_up", "thumbs_down", "victory", "open_palm", "fist", "pointing_up"]
SHOWN_GESTURES: Final[tuple[ShownGesture, ...]] = get_args(ShownGesture)
