"""Linking hands to the face of the person they belong to, from boxes alone."""

from __future__ import annotations

import pytest

from salesmigo.vision.hand_links import (
    MAX_ABOVE,
    MAX_REACH,
    hand_face_distance,
    link_hands,
)
from salesmigo.vision.types import Box


def box_at(centre_x: float, centre_y: float, width: float, height: float | None = None) -> Box:
    height = width if height is None else height
    return Box(
        round(centre_x - width / 2), round(centre_y - height / 2), round(width), round(height)
    )


# One face, 100 px tall, centred at (500, 200).
FACE = box_at(500, 200, 100)


@pytest.mark.parametrize(
    ("hand", "expected"),
    [
        pytest.param(box_at(650, 300, 90), 0, id="thumbs up beside the chin"),
        pytest.param(box_at(500, 450, 90), 0, id="in front of the chest"),
        pytest.param(box_at(650, 620, 80), 0, id="at the hip"),
        pytest.param(box_at(360, 80, 90), 0, id="waving beside the head"),
        pytest.param(box_at(500, 200, 80), 0, id="over the face"),
        pytest.param(box_at(500, 20, 90), None, id="far above the head"),
        pytest.param(box_at(1200, 250, 90), None, id="far to the side"),
        pytest.param(box_at(500, 900, 90), None, id="far below"),
        pytest.param(box_at(600, 350, 500), None, id="much too big for this face"),
        pytest.param(box_at(600, 350, 10), None, id="much too small for this face"),
    ],
)
def test_one_face(hand: Box, expected: int | None) -> None:
    assert link_hands([hand], [FACE]) == [expected]


def test_no_faces_no_links() -> None:
    assert link_hands([box_at(10, 10, 20)], []) == [None]
    assert link_hands([], [FACE]) == []


def test_the_nearest_face_wins() -> None:
    left, right = box_at(300, 200, 100), box_at(700, 200, 100)
    hands = [box_at(380, 350, 90), box_at(640, 380, 90)]
    assert link_hands(hands, [left, right]) == [0, 1]
    assert link_hands(hands, [right, left]) == [1, 0]


def test_both_hands_of_one_person() -> None:
    hands = [box_at(350, 330, 90), box_at(650, 330, 90)]
    assert link_hands(hands, [FACE]) == [0, 0]


def test_the_face_above_is_preferred_to_one_equally_far_below() -> None:
    # A hand between two people standing one behind the other (same size in the image):
    # 150 px below the upper face and 150 px above the lower one.
    upper, lower = box_at(500, 200, 100), box_at(500, 500, 100)
    assert link_hands([box_at(500, 350, 80)], [lower, upper]) == [1]


def test_distance_is_in_units_of_each_faces_height() -> None:
    # A hand 250 px from a near (200 px) face and 300 px from a far (50 px) one: only the
    # near person's arm reaches that far.
    near, far = box_at(300, 200, 200), box_at(850, 200, 50)
    hand = box_at(550, 200, 150)
    assert hand_face_distance(hand, near) == pytest.approx(1.25)
    assert hand_face_distance(hand, far) is None
    assert link_hands([hand], [far, near]) == [1]


def test_distance_limits() -> None:
    reach = FACE.height * MAX_REACH
    assert hand_face_distance(box_at(500, 200 + reach - 1, 80), FACE) is not None
    assert hand_face_distance(box_at(500, 200 + reach + 1, 80), FACE) is None
    above = FACE.height * MAX_ABOVE
    assert hand_face_distance(box_at(500, 200 - above + 1, 80), FACE) is not None
    assert hand_face_distance(box_at(500, 200 - above - 1, 80), FACE) is None


def test_ties_go_to_the_face_listed_first() -> None:
    left, right = box_at(400, 200, 100), box_at(600, 200, 100)
    assert link_hands([box_at(500, 400, 90)], [left, right]) == [0]
    assert link_hands([box_at(500, 400, 90)], [right, left]) == [0]


def test_empty_boxes_link_to_no_one() -> None:
    assert hand_face_distance(Box(10, 10, 0, 0), FACE) is None
    assert hand_face_distance(box_at(500, 300, 80), Box(500, 200, 100, 0)) is None
