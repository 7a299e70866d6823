"""The gesture rules on synthetic hands: canonical poses, turned, mirrored, scaled."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.vision.gesture_labels import SHOWN_GESTURES, Gesture
from salesmigo.vision.gestures import (
    Classification,
    angle_from_up,
    as_landmarks,
    classify,
    downward,
    finger_extension,
    gesture_scores,
    hand_pose,
    thumb_extension,
    turn_angle,
    upward,
)
from salesmigo.vision.hands import Hand, HandLandmark
from salesmigo.vision.types import Box

Points = NDArray[np.float64]

# A right hand in pixels, palm towards the camera, fingers up, the wrist at the origin and a
# palm (wrist to middle knuckle) 100 px long; x right, y down, z smaller nearer the camera.
# Knuckles: (x, y); phalanx lengths from the knuckle outwards; sideways splay in degrees.
_KNUCKLES = {"index": (35, -95), "middle": (10, -100), "ring": (-12, -95), "pinky": (-32, -85)}
_PHALANGES = {
    "index": (40, 25, 20),
    "middle": (45, 28, 22),
    "ring": (42, 26, 21),
    "pinky": (32, 20, 18),
}
_SPLAY = {"index": 8.0, "middle": 0.0, "ring": -6.0, "pinky": -12.0}
# Flexion at the knuckle, middle and end joints, towards the palm (the camera).
STRAIGHT = (3.0, 5.0, 3.0)
CURLED = (75.0, 105.0, 55.0)
# Thumb joints (CMC, MCP, IP, tip) in the hand's own frame.
THUMB_OUT = ((25, -20, 0), (48, -38, -2), (72, -48, -4), (95, -54, -5))
THUMB_TUCKED = ((25, -20, -5), (40, -45, -20), (28, -62, -38), (8, -68, -45))

FINGER_NAMES = ("index", "middle", "ring", "pinky")


def _finger(name: str, flexion: tuple[float, float, float]) -> list[Points]:
    """Middle joint, end joint and tip of one finger bent by ``flexion`` degrees."""
    x, y = _KNUCKLES[name]
    splay = math.radians(_SPLAY[name])
    along = np.array([math.sin(splay), -math.cos(splay), 0.0])
    towards_camera = np.array([0.0, 0.0, -1.0])
    point = np.array([x, y, 0.0])
    joints = []
    bent = 0.0
    for length, angle in zip(_PHALANGES[name], flexion, strict=True):
        bent += math.radians(angle)
        point = point + length * (math.cos(bent) * along + math.sin(bent) * towards_camera)
        joints.append(point)
    return joints


def make_hand(
    extended: tuple[bool, bool, bool, bool], *, thumb_out: bool, degrees: float = 0.0
) -> Points:
    """(21, 3) landmarks of a hand with the given fingers straight, turned ``degrees``.

    Positive degrees turn the hand clockwise on screen (y grows downwards).
    """
    points = np.zeros((21, 3))
    for number, joint in enumerate(THUMB_OUT if thumb_out else THUMB_TUCKED, start=1):
        points[number] = joint
    for finger, (name, straight) in enumerate(zip(FINGER_NAMES, extended, strict=True)):
        knuckle = 5 + 4 * finger
        points[knuckle] = (*_KNUCKLES[name], 0.0)
        points[knuckle + 1 : knuckle + 4] = _finger(name, STRAIGHT if straight else CURLED)
    return turn(points, degrees)


def turn(points: Points, degrees: float) -> Points:
    """Turn the hand about its wrist in the image plane, clockwise on screen."""
    angle = math.radians(degrees)
    cosine, sine = math.cos(angle), math.sin(angle)
    turned = points.copy()
    turned[:, 0] = cosine * points[:, 0] - sine * points[:, 1]
    turned[:, 1] = sine * points[:, 0] + cosine * points[:, 1]
    return turned


def yaw(points: Points, degrees: float) -> Points:
    """Turn the hand about the vertical axis (as if the person turned their wrist)."""
    angle = math.radians(degrees)
    turned = points.copy()
    turned[:, 0] = math.cos(angle) * points[:, 0] + math.sin(angle) * points[:, 2]
    turned[:, 2] = -math.sin(angle) * points[:, 0] + math.cos(angle) * points[:, 2]
    return turned


def mirror(points: Points) -> Points:
    """The hand as seen in a horizontally flipped image (a left hand from a right one)."""
    mirrored = points.copy()
    mirrored[:, 0] = -mirrored[:, 0]
    return mirrored


def thumb_angle(points: Points) -> float:
    """Clockwise screen angle of the palm-centre-to-thumb-tip direction, from straight up."""
    palm = points[[0, 5, 9, 13, 17], :2].mean(axis=0)
    x, y = points[HandLandmark.THUMB_TIP, :2] - palm
    return math.degrees(math.atan2(x, -y))


def thumbs_up() -> Points:
    """A fist with the thumb raised, turned so that the thumb points straight up."""
    fist = make_hand((False, False, False, False), thumb_out=True)
    return turn(fist, -thumb_angle(fist))


CANONICAL: dict[str, tuple[Points, Gesture]] = {
    "open palm": (make_hand((True, True, True, True), thumb_out=True), Gesture.OPEN_PALM),
    "open palm, thumb folded": (
        make_hand((True, True, True, True), thumb_out=False),
        Gesture.OPEN_PALM,
    ),
    "victory": (make_hand((True, True, False, False), thumb_out=False), Gesture.VICTORY),
    "victory, thumb out": (make_hand((True, True, False, False), thumb_out=True), Gesture.VICTORY),
    "pointing up": (make_hand((True, False, False, False), thumb_out=False), Gesture.POINTING_UP),
    "fist": (make_hand((False, False, False, False), thumb_out=False), Gesture.FIST),
    "fist on its side": (
        make_hand((False, False, False, False), thumb_out=False, degrees=90),
        Gesture.FIST,
    ),
    "fist upside down": (
        make_hand((False, False, False, False), thumb_out=False, degrees=180),
        Gesture.FIST,
    ),
    "thumbs up": (thumbs_up(), Gesture.THUMBS_UP),
    "thumbs down": (turn(thumbs_up(), 180), Gesture.THUMBS_DOWN),
}

NOT_A_GESTURE: dict[str, Points] = {
    "open hand hanging down": make_hand((True, True, True, True), thumb_out=True, degrees=180),
    "open hand held sideways": make_hand((True, True, True, True), thumb_out=True, degrees=90),
    "V pointing down": make_hand((True, True, False, False), thumb_out=False, degrees=180),
    "index pointing sideways": make_hand((True, False, False, False), thumb_out=False, degrees=-90),
    "thumb sideways": turn(thumbs_up(), 90),
    "rock (index and little finger)": make_hand((True, False, False, True), thumb_out=False),
    "call (thumb and little finger)": make_hand((False, False, False, True), thumb_out=True),
    "three (index, middle, ring)": make_hand((True, True, True, False), thumb_out=False),
    "middle finger": make_hand((False, True, False, False), thumb_out=False),
}

TURNS = [-30.0, -15.0, 0.0, 15.0, 30.0]


@pytest.mark.parametrize("degrees", TURNS)
@pytest.mark.parametrize("mirrored", [False, True], ids=["as-is", "mirrored"])
@pytest.mark.parametrize("pose", list(CANONICAL))
def test_canonical_pose_turned_and_mirrored(pose: str, mirrored: bool, degrees: float) -> None:
    points, expected = CANONICAL[pose]
    points = turn(mirror(points) if mirrored else points, degrees)
    gesture, confidence = classify(points)
    assert gesture is expected
    assert 0.5 < confidence <= 1.0


@pytest.mark.parametrize("degrees", [-30.0, 30.0])
@pytest.mark.parametrize("pose", list(CANONICAL))
def test_wrist_turned_towards_or_away_from_the_camera(pose: str, degrees: float) -> None:
    points, expected = CANONICAL[pose]
    assert classify(yaw(points, degrees)).gesture is expected


@pytest.mark.parametrize(
    ("scale", "shift"),
    [(0.2, (0.0, 0.0)), (1.0, (640.0, 360.0)), (7.5, (-50.0, 1000.0))],
    ids=["tiny", "moved", "huge"],
)
@pytest.mark.parametrize("pose", list(CANONICAL))
def test_size_and_position_do_not_matter(
    pose: str, scale: float, shift: tuple[float, float]
) -> None:
    points, expected = CANONICAL[pose]
    moved = points * scale
    moved[:, :2] += shift
    assert classify(moved).gesture is expected


@pytest.mark.parametrize("pose", list(CANONICAL))
def test_flat_landmarks_without_depth(pose: str) -> None:
    points, expected = CANONICAL[pose]
    assert classify(points[:, :2]).gesture is expected


@pytest.mark.parametrize("mirrored", [False, True], ids=["as-is", "mirrored"])
@pytest.mark.parametrize("pose", list(NOT_A_GESTURE))
def test_other_hand_shapes_are_none(pose: str, mirrored: bool) -> None:
    points = NOT_A_GESTURE[pose]
    gesture, confidence = classify(mirror(points) if mirrored else points)
    assert gesture is Gesture.NONE
    assert 0.5 <= confidence <= 1.0


def test_a_hand_object_is_classified_by_its_pixel_landmarks() -> None:
    points = thumbs_up().astype(np.float32)
    hand = Hand(
        box=Box(0, 0, 10, 10),
        landmarks=points,
        normalized=points / 100,
        handedness="right",
        handedness_score=0.9,
    )
    assert classify(hand) == classify(points)
    assert classify(hand).gesture is Gesture.THUMBS_UP


def test_classification_is_a_gesture_and_confidence_pair() -> None:
    result = classify(CANONICAL["victory"][0])
    assert isinstance(result, Classification)
    gesture, confidence = result
    assert (gesture, confidence) == (result.gesture, result.confidence)
    assert gesture == "victory"  # a StrEnum: compares and serialises as its label


def test_finger_extension_separates_straight_and_curled_fingers() -> None:
    points = as_landmarks(make_hand((True, False, True, False), thumb_out=False))
    assert [round(finger_extension(points, finger), 2) for finger in range(4)] == [1, 0, 1, 0]


def test_thumb_extension_in_the_hands_own_frame() -> None:
    out = as_landmarks(make_hand((False,) * 4, thumb_out=True))
    tucked = as_landmarks(make_hand((False,) * 4, thumb_out=False))
    assert thumb_extension(out) > 0.9
    assert thumb_extension(tucked) < 0.1
    # Turning or mirroring the hand does not change it.
    assert thumb_extension(as_landmarks(turn(out, 135))) == pytest.approx(thumb_extension(out))
    assert thumb_extension(as_landmarks(mirror(tucked))) == pytest.approx(thumb_extension(tucked))


def test_pose_directions() -> None:
    pose = hand_pose(thumbs_up())
    assert pose.thumb_direction == pytest.approx(0.0, abs=1e-6)
    assert hand_pose(turn(thumbs_up(), 180)).thumb_direction == pytest.approx(180.0)
    assert hand_pose(CANONICAL["open palm"][0]).palm_direction < 15
    assert hand_pose(CANONICAL["pointing up"][0]).index_direction < 15


@pytest.mark.parametrize(
    ("vector", "expected"),
    [((0, -1), 0.0), ((1, 0), 90.0), ((-1, 0), 90.0), ((0, 1), 180.0), ((1, -1), 45.0)],
)
def test_angle_from_up(vector: tuple[float, float], expected: float) -> None:
    assert angle_from_up(vector) == pytest.approx(expected)


def test_up_and_down_cones_have_soft_edges() -> None:
    assert upward(0) == 1.0
    assert upward(45) == 1.0
    assert upward(60) == pytest.approx(0.5)
    assert upward(75) == 0.0
    assert downward(180) == 1.0
    assert downward(120) == pytest.approx(0.5)
    assert downward(0) == 0.0
    assert angle_from_up((0, 0)) == 90.0  # no direction is neither up nor down


def test_turn_angle() -> None:
    a, b = np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0])
    assert turn_angle(a, b, np.array([2.0, 0.0, 0.0])) == pytest.approx(0.0)
    assert turn_angle(a, b, np.array([1.0, 1.0, 0.0])) == pytest.approx(90.0)
    assert turn_angle(a, b, np.array([0.0, 0.0, 0.0])) == pytest.approx(180.0)
    assert turn_angle(a, a, b) == 0.0  # a zero-length bone has no angle


def test_at_most_one_gesture_passes() -> None:
    for points, _ in CANONICAL.values():
        scores = gesture_scores(hand_pose(points))
        assert sum(score > 0.5 for score in scores.values()) == 1


def test_collapsed_landmarks_are_none_not_an_error() -> None:
    assert classify(np.zeros((21, 3))).gesture is Gesture.NONE


@pytest.mark.parametrize(
    "landmarks",
    [np.zeros((20, 3)), np.zeros((21, 4)), np.zeros(63), np.full((21, 2), np.nan)],
    ids=["20 points", "4 columns", "flat", "nan"],
)
def test_bad_landmarks_are_refused(landmarks: Points) -> None:
    with pytest.raises(ValueError, match="landmarks"):
        classify(landmarks)


def test_an_observation_can_record_every_gesture_but_none() -> None:
    assert set(SHOWN_GESTURES) == {gesture.value for gesture in Gesture} - {"none"}
