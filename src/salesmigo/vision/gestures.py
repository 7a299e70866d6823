"""A rule classifier from 21 hand landmarks to seven feedback gestures.

Everything here is a pure function of the landmarks (mediapipe's order, see
salesmigo.vision.hands.HandLandmark) in image pixels, y growing downwards.

How a gesture is decided:

1. Each finger gets an *extension* in [0, 1] (0 curled into the palm, 1 straight) from two
   measures that only use angles between its own joints and distance ratios, so they do not
   change when the hand is turned, mirrored or scaled: how much it bends at its two middle
   joints, and how far its tip is from the wrist compared with its middle joint.
2. The thumb gets an extension in [0, 1] measured in the hand's own frame: how far its tip
   sticks out past the index knuckle across the palm, how far the tip is from the index and
   middle fingers it would lie on in a fist, and how straight it is.
3. Some gestures also have a direction in the image, measured as the angle from straight up:
   the thumb (palm centre to thumb tip) for thumbs up / down, the raised fingers (knuckles to
   tips) for victory, open palm and pointing up. A cone of DIRECTION_LIMIT degrees (with a
   soft margin) accepts a hand turned by 30 degrees either way plus the usual tilt of a real
   hand, while a relaxed hand hanging by someone's side is not an open palm or a victory.
   A fist has no direction.
4. Each gesture is a pattern of these (for example thumbs up: four fingers curled, thumb
   out, thumb pointing up). A hand's score for a pattern is its *weakest* agreement with it;
   the best pattern wins if that score is above one half, otherwise the hand shows ``none``.
   The thresholds sit between the values of clearly straight and clearly curled fingers, so
   at most one pattern can pass. The score is returned as the confidence.

Which side of the hand faces the camera is deliberately not used: a V sign or an open hand
means the same shown either way (HaGRID's "_inverted" classes show the back of the hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from salesmigo.vision.gesture_labels import Gesture
from salesmigo.vision.hands import LANDMARK_COUNT, Hand, HandLandmark


class Classification(NamedTuple):
    """A gesture and how sure the rules are of it (0.5 to 1; see the module docstring)."""

    gesture: Gesture
    confidence: float


# Finger bend: the sum of the turns at the middle (PIP) and end (DIP) joints, in degrees.
# Straight fingers measured 3-35 on the public images, curled ones 60-220.
BEND_STRAIGHT = 40.0
BEND_CURLED = 100.0
# Tip-to-wrist over middle-joint-to-wrist distance: about 1.35 for a straight finger,
# 0.55-0.95 for a curled one.
REACH_CURLED = 0.9
REACH_STRAIGHT = 1.25

# Thumb, in palm lengths (wrist to middle knuckle): how far the tip is past the index knuckle
# across the palm (tucked thumbs -0.6..0.15, raised ones 0.5..1.3), and how far it is from
# the nearest middle or end joint of the index and middle fingers (in a fist 0.05..0.5).
THUMB_OUT_TUCKED = 0.1
THUMB_OUT_RAISED = 0.6
THUMB_GAP_TUCKED = 0.3
THUMB_GAP_RAISED = 0.7
# Thumb bend at its two outer joints, in degrees: raised thumbs 15-45, tucked ones 45-100.
THUMB_BEND_STRAIGHT = 25.0
THUMB_BEND_CURLED = 70.0

# Directions: within DIRECTION_LIMIT degrees of straight up counts as "up", with a soft
# margin of DIRECTION_MARGIN on either side of the limit.
DIRECTION_LIMIT = 60.0
DIRECTION_MARGIN = 15.0

# A pattern must agree at least this well on every point to be chosen.
DECISION = 0.5

_FINGERS: tuple[tuple[HandLandmark, HandLandmark, HandLandmark, HandLandmark], ...] = (
    (
        HandLandmark.INDEX_MCP,
        HandLandmark.INDEX_PIP,
        HandLandmark.INDEX_DIP,
        HandLandmark.INDEX_TIP,
    ),
    (
        HandLandmark.MIDDLE_MCP,
        HandLandmark.MIDDLE_PIP,
        HandLandmark.MIDDLE_DIP,
        HandLandmark.MIDDLE_TIP,
    ),
    (HandLandmark.RING_MCP, HandLandmark.RING_PIP, HandLandmark.RING_DIP, HandLandmark.RING_TIP),
    (
        HandLandmark.PINKY_MCP,
        HandLandmark.PINKY_PIP,
        HandLandmark.PINKY_DIP,
        HandLandmark.PINKY_TIP,
    ),
)
_KNUCKLES = [finger[0] for finger in _FINGERS]
_TIPS = [finger[3] for finger in _FINGERS]
_PALM = [HandLandmark.WRIST, *_KNUCKLES]

_EPSILON = 1e-9

_Points = NDArray[np.float64]


@dataclass(frozen=True)
class HandPose:
    """The measures the rules use, for one hand.

    ``fingers`` is the extension of the index, middle, ring and little finger and ``thumb``
    the thumb's (0 curled or tucked, 1 straight or raised). Directions are angles from
    straight up in the image, 0 to 180 degrees.
    """

    fingers: tuple[float, float, float, float]
    thumb: float
    thumb_direction: float  # palm centre to thumb tip
    index_direction: float  # index knuckle to tip
    victory_direction: float  # index and middle knuckles to their tips
    palm_direction: float  # the four knuckles to the four tips


def as_landmarks(hand: Hand | ArrayLike) -> _Points:
    """A (21, 3) float64 copy of a Hand's landmarks or of a (21, 2) / (21, 3) array.

    A missing depth column is taken as zero (a flat hand).
    """
    points = np.array(hand.landmarks if isinstance(hand, Hand) else hand, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] != LANDMARK_COUNT or points.shape[1] not in (2, 3):
        raise ValueError(f"expected ({LANDMARK_COUNT}, 2) or (21, 3) landmarks, got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("landmarks must be finite numbers")
    if points.shape[1] == 2:
        points = np.column_stack([points, np.zeros(LANDMARK_COUNT)])
    return points


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between and clipped (``low`` may exceed ``high``)."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _norm(vector: _Points) -> float:
    return float(np.linalg.norm(vector))


def turn_angle(a: _Points, b: _Points, c: _Points) -> float:
    """Degrees the path a -> b -> c turns at b: 0 when straight, 180 when it doubles back."""
    first, second = b - a, c - b
    lengths = _norm(first) * _norm(second)
    if lengths < _EPSILON:
        return 0.0
    cosine = float(np.dot(first, second)) / lengths
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def angle_from_up(vector: ArrayLike) -> float:
    """Degrees between an image vector (x right, y down) and straight up; 0 to 180."""
    x, y = float(np.asarray(vector)[0]), float(np.asarray(vector)[1])
    if math.hypot(x, y) < _EPSILON:
        return 90.0  # no direction: neither up nor down
    return math.degrees(math.atan2(abs(x), -y))


def upward(angle: float) -> float:
    """Agreement in [0, 1] that a direction ``angle`` degrees from up points up."""
    return _ramp(angle, DIRECTION_LIMIT + DIRECTION_MARGIN, DIRECTION_LIMIT - DIRECTION_MARGIN)


def downward(angle: float) -> float:
    """Agreement in [0, 1] that a direction ``angle`` degrees from up points down."""
    return upward(180.0 - angle)


def _palm_length(points: _Points) -> float:
    return max(_norm(points[HandLandmark.MIDDLE_MCP] - points[HandLandmark.WRIST]), _EPSILON)


def finger_extension(points: _Points, finger: int) -> float:
    """Extension of finger 0-3 (index to little finger): 0 curled, 1 straight."""
    knuckle, middle, end, tip = (points[index] for index in _FINGERS[finger])
    bend = turn_angle(knuckle, middle, end) + turn_angle(middle, end, tip)
    wrist = points[HandLandmark.WRIST]
    reach = _norm(tip - wrist) / max(_norm(middle - wrist), _EPSILON)
    by_bend = _ramp(bend, BEND_CURLED, BEND_STRAIGHT)
    by_reach = _ramp(reach, REACH_CURLED, REACH_STRAIGHT)
    return (by_bend + by_reach) / 2


def thumb_extension(points: _Points) -> float:
    """Extension of the thumb, measured in the hand's own frame: 0 tucked, 1 raised."""
    palm = _palm_length(points)
    index_knuckle = points[HandLandmark.INDEX_MCP]
    tip = points[HandLandmark.THUMB_TIP]
    # The hand's own across-the-palm axis, from the little finger's knuckle to the index's.
    across = index_knuckle - points[HandLandmark.PINKY_MCP]
    across = across / max(_norm(across), _EPSILON)
    out = float(np.dot(tip - index_knuckle, across)) / palm
    resting_on = (
        HandLandmark.INDEX_PIP,
        HandLandmark.INDEX_DIP,
        HandLandmark.MIDDLE_PIP,
        HandLandmark.MIDDLE_DIP,
    )
    gap = min(_norm(tip - points[joint]) for joint in resting_on) / palm
    bend = turn_angle(
        points[HandLandmark.THUMB_CMC],
        points[HandLandmark.THUMB_MCP],
        points[HandLandmark.THUMB_IP],
    ) + turn_angle(points[HandLandmark.THUMB_MCP], points[HandLandmark.THUMB_IP], tip)
    by_out = _ramp(out, THUMB_OUT_TUCKED, THUMB_OUT_RAISED)
    by_gap = _ramp(gap, THUMB_GAP_TUCKED, THUMB_GAP_RAISED)
    by_bend = _ramp(bend, THUMB_BEND_CURLED, THUMB_BEND_STRAIGHT)
    return (by_out + by_gap + by_bend) / 3


def _direction(points: _Points, bases: list[HandLandmark], tips: list[HandLandmark]) -> float:
    vector = points[tips, :2].mean(axis=0) - points[bases, :2].mean(axis=0)
    return angle_from_up(vector)


def hand_pose(hand: Hand | ArrayLike) -> HandPose:
    """The measures of one hand (see HandPose)."""
    points = as_landmarks(hand)
    fingers = tuple(finger_extension(points, finger) for finger in range(4))
    palm_centre = points[_PALM, :2].mean(axis=0)
    return HandPose(
        fingers=(fingers[0], fingers[1], fingers[2], fingers[3]),
        thumb=thumb_extension(points),
        thumb_direction=angle_from_up(points[HandLandmark.THUMB_TIP, :2] - palm_centre),
        index_direction=_direction(points, [HandLandmark.INDEX_MCP], [HandLandmark.INDEX_TIP]),
        victory_direction=_direction(
            points,
            [HandLandmark.INDEX_MCP, HandLandmark.MIDDLE_MCP],
            [HandLandmark.INDEX_TIP, HandLandmark.MIDDLE_TIP],
        ),
        palm_direction=_direction(points, _KNUCKLES, _TIPS),
    )


def gesture_scores(pose: HandPose) -> dict[Gesture, float]:
    """Each gesture's weakest agreement with ``pose`` (every gesture but NONE)."""
    index, middle, ring, little = pose.fingers
    curled = min(1 - index, 1 - middle, 1 - ring, 1 - little)
    return {
        Gesture.THUMBS_UP: min(curled, pose.thumb, upward(pose.thumb_direction)),
        Gesture.THUMBS_DOWN: min(curled, pose.thumb, downward(pose.thumb_direction)),
        Gesture.FIST: min(curled, 1 - pose.thumb),
        Gesture.VICTORY: min(index, middle, 1 - ring, 1 - little, upward(pose.victory_direction)),
        Gesture.OPEN_PALM: min(index, middle, ring, little, upward(pose.palm_direction)),
        Gesture.POINTING_UP: min(
            index, 1 - middle, 1 - ring, 1 - little, upward(pose.index_direction)
        ),
    }


def classify_pose(pose: HandPose) -> Classification:
    """The best-agreeing gesture, or NONE (with 1 - the best score) if none agrees enough."""
    scores = gesture_scores(pose)
    best = max(scores, key=lambda gesture: scores[gesture])
    if scores[best] <= DECISION:
        return Classification(Gesture.NONE, 1.0 - scores[best])
    return Classification(best, scores[best])


def classify(hand: Hand | ArrayLike) -> Classification:
    """The gesture a hand shows: a Hand, or (21, 2) / (21, 3) landmarks in image pixels."""
    return classify_pose(hand_pose(hand))
