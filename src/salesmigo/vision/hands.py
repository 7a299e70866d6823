"""Hand landmarks with mediapipe Hands: 21 points per hand, retried on a padded copy.

Landmark order is mediapipe's (see HandLandmark): the wrist, then four joints for each digit
from the base to the tip, thumb first. ``Hand.landmarks`` holds pixel coordinates of the
frame the hand was found in, with a third column for depth (see Hand).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.images import rgb_copy
from salesmigo.vision.types import Box, Frame

logger = logging.getLogger(__name__)

LANDMARK_COUNT = 21

# Border added on each side, as a share of the frame size, for the retry. The palm detector
# needs some arm or background around a hand and misses hands that fill the image, such as
# 100 px hand-only crops: on the public gesture images this retry found 10 of the 12 hands the
# first pass missed (replicated borders; the two left are a hand cut off by the frame and an
# over-exposed one).
PAD_FRACTION = 0.5

# The padded copy is enlarged until its shorter side has this many pixels, so a small hand
# still covers enough pixels for the landmark model's 224 px crop.
RETRY_MIN_SIDE = 384

# Mediapipe's default cut-offs: lower ones add false hands (faces, knuckly shadows) without
# finding the missed hands of the test images.
MIN_DETECTION_CONFIDENCE = 0.5
MIN_TRACKING_CONFIDENCE = 0.5

Handedness = Literal["left", "right"]


class HandLandmark(IntEnum):
    """Indices into the 21 landmarks, as mediapipe numbers them."""

    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_MCP = 5
    INDEX_PIP = 6
    INDEX_DIP = 7
    INDEX_TIP = 8
    MIDDLE_MCP = 9
    MIDDLE_PIP = 10
    MIDDLE_DIP = 11
    MIDDLE_TIP = 12
    RING_MCP = 13
    RING_PIP = 14
    RING_DIP = 15
    RING_TIP = 16
    PINKY_MCP = 17
    PINKY_PIP = 18
    PINKY_DIP = 19
    PINKY_TIP = 20


@dataclass(frozen=True)
class Hand:
    """A hand found in a frame.

    ``landmarks`` is a (21, 3) float32 array: pixel x and y in the frame (y grows downwards)
    and a depth z relative to the wrist, in the same pixel scale as x (mediapipe's relative
    depth times the frame width; smaller is nearer the camera). Coordinates may fall a little
    outside the frame when part of the hand is cut off. ``normalized`` is the same in
    mediapipe's units: x / width, y / height, and the raw relative depth.
    ``handedness`` is the subject's own hand (see HandDetector about mirrored frames) and
    ``handedness_score`` mediapipe's confidence in it. ``box`` bounds the landmarks, clipped
    to the frame.
    """

    box: Box
    landmarks: NDArray[np.float32]
    normalized: NDArray[np.float32]
    handedness: Handedness
    handedness_score: float

    @property
    def points(self) -> NDArray[np.float32]:
        """The (21, 2) pixel x, y of the landmarks."""
        return self.landmarks[:, :2]


def landmark_box(points: NDArray[np.float32], width: int, height: int) -> Box | None:
    """The box around (N, 2+) pixel points, clipped to a width x height frame (None if outside)."""
    left, top = float(points[:, 0].min()), float(points[:, 1].min())
    right, bottom = float(points[:, 0].max()), float(points[:, 1].max())
    x0, y0 = max(0, math.floor(left)), max(0, math.floor(top))
    x1, y1 = min(width, math.ceil(right)), min(height, math.ceil(bottom))
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x=x0, y=y0, width=x1 - x0, height=y1 - y0)


def _swap(label: Handedness) -> Handedness:
    return "right" if label == "left" else "left"


class HandDetector:
    """mediapipe Hands behind a lock, with a retry on a padded, enlarged copy of the frame.

    ``static_image_mode=True`` (the default) treats every frame as a new still: the palm
    detector runs on each one. With False (a camera stream from one source) mediapipe tracks
    hands from frame to frame and runs the palm detector only when it has lost them, which is
    cheaper; the retry then uses a separate still-image graph so the tracker never sees a
    padded frame. ``retry`` can be turned off where most frames hold no hand and the second
    pass would double their cost.

    ``model_complexity`` 0 is mediapipe's lite landmark model (about 11 ms for one hand on one
    core here), 1 the full one (about 30 ms); both classify the public gesture images alike.

    mediapipe names handedness as if the frame were a mirrored selfie view. Shop cameras do
    not mirror, so by default the label is swapped to give the subject's own hand; pass
    ``mirrored=True`` for frames from a mirrored preview (a browser webcam page that flips
    its video).

    Mediapipe graphs are not thread-safe: one lock serialises their use.
    """

    def __init__(
        self,
        *,
        max_num_hands: int = 2,
        static_image_mode: bool = True,
        model_complexity: Literal[0, 1] = 0,
        min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
        min_tracking_confidence: float = MIN_TRACKING_CONFIDENCE,
        retry: bool = True,
        mirrored: bool = False,
    ) -> None:
        if max_num_hands < 1:
            raise ValueError(f"max_num_hands must be at least 1, got {max_num_hands}")
        # Imported here so that importing the vision package does not load mediapipe's native
        # libraries until a detector is really needed; its C++ start-up chatter is silenced.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from mediapipe.python.solutions import hands

        self._solution = hands
        self._options: dict[str, Any] = {
            "max_num_hands": max_num_hands,
            "model_complexity": model_complexity,
            "min_detection_confidence": min_detection_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        }
        self._lock = threading.Lock()
        self._main = hands.Hands(static_image_mode=static_image_mode, **self._options)
        self._still: Any = self._main if static_image_mode else None
        self._retry = retry
        self._mirrored = mirrored
        self._closed = False

    @property
    def max_num_hands(self) -> int:
        value: int = self._options["max_num_hands"]
        return value

    def detect(self, frame: Frame) -> list[Hand]:
        """Hands in a BGR frame, largest box first."""
        rgb = rgb_copy(frame)
        height, width = frame.shape[:2]
        with self._lock:
            if self._closed:
                raise RuntimeError("this hand detector has been closed")
            found = self._run(self._main, rgb, 0.0, 0.0, 1.0, width, height)
            if not found and self._retry:
                found = self._retry_padded(rgb, width, height)
        found.sort(key=lambda hand: hand.box.area, reverse=True)
        return found

    def _retry_padded(self, rgb: NDArray[np.uint8], width: int, height: int) -> list[Hand]:
        """Run the still-image graph on a padded, enlarged copy; map hands back (lock held)."""
        if self._still is None:
            self._still = self._solution.Hands(static_image_mode=True, **self._options)
        pad_x, pad_y = round(width * PAD_FRACTION), round(height * PAD_FRACTION)
        padded = cv2.copyMakeBorder(rgb, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
        scale = max(1.0, RETRY_MIN_SIDE / min(padded.shape[:2]))
        if scale > 1.0:
            padded = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        found = self._run(
            self._still, np.asarray(padded, dtype=np.uint8), pad_x, pad_y, scale, width, height
        )
        if found:
            logger.debug("found %d hand(s) only on the padded retry", len(found))
        return found

    def _run(
        self,
        graph: Any,
        rgb: NDArray[np.uint8],
        offset_x: float,
        offset_y: float,
        scale: float,
        width: int,
        height: int,
    ) -> list[Hand]:
        """Run one graph on ``rgb`` and map its hands into the original width x height frame.

        ``rgb`` is the original frame padded by ``offset_x``/``offset_y`` pixels on each side
        and then enlarged ``scale`` times (0, 0 and 1 for the frame itself).
        """
        run_height, run_width = rgb.shape[:2]
        result = graph.process(rgb)
        all_landmarks: Sequence[Any] = result.multi_hand_landmarks or []
        all_handedness: Sequence[Any] = result.multi_handedness or []
        hands: list[Hand] = []
        for landmarks, handedness in zip(all_landmarks, all_handedness, strict=False):
            raw = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float64)
            pixels = np.empty_like(raw)
            pixels[:, 0] = raw[:, 0] * run_width / scale - offset_x
            pixels[:, 1] = raw[:, 1] * run_height / scale - offset_y
            # Depth is in the scale of the run image's width; bring it to the frame's pixels.
            pixels[:, 2] = raw[:, 2] * run_width / scale
            box = landmark_box(pixels.astype(np.float32), width, height)
            if box is None:  # entirely inside the padding
                continue
            normalized = np.column_stack(
                [pixels[:, 0] / width, pixels[:, 1] / height, pixels[:, 2] / width]
            )
            category = handedness.classification[0]
            label: Handedness = "left" if str(category.label).lower() == "left" else "right"
            hands.append(
                Hand(
                    box=box,
                    landmarks=pixels.astype(np.float32),
                    normalized=normalized.astype(np.float32),
                    handedness=label if self._mirrored else _swap(label),
                    handedness_score=float(category.score),
                )
            )
        return hands

    def close(self) -> None:
        """Release mediapipe's graphs; detect() fails afterwards. Safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._main.close()
                if self._still is not None and self._still is not self._main:
                    self._still.close()

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
