"""Whose hand is it? Link each hand in a frame to the face of the person it belongs to.

The rule, from the boxes alone (pure, no model):

* Distances are measured from each face's centre in units of *that face's* height, so a
  near (large) face reaches further in pixels than a far (small) one, as a real arm does.
* A hand is a candidate for a face only if
  - its centre is at most MAX_ABOVE face heights above the face centre (a hand raised
    beside or a little over the head still counts; people gesture below their face),
  - its centre is within MAX_REACH face heights of the face centre (about an arm's length:
    a hand at hip height, to the side, is about 4.5 away), and
  - its size is plausible for that face: its longer side between MIN_SIZE_RATIO and
    MAX_SIZE_RATIO face heights. A large hand of someone near the camera is not given to
    a small face far behind it.
* Among the candidates the nearest face wins, where a hand *above* a face counts as
  ABOVE_PENALTY times further away than the same distance below it: the face "nearest
  above" the hand is preferred. Ties go to the face listed first.
* A hand with no candidate is linked to no one (None). Several hands may link to one face
  (a person has two hands); a hand never links to two faces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from salesmigo.vision.types import Box

MAX_REACH = 5.0
MAX_ABOVE = 1.5
ABOVE_PENALTY = 2.0
MIN_SIZE_RATIO = 0.2
MAX_SIZE_RATIO = 4.0


def _centre(box: Box) -> tuple[float, float]:
    return box.x + box.width / 2, box.y + box.height / 2


def hand_face_distance(hand: Box, face: Box) -> float | None:
    """How far ``hand`` is from ``face`` by the rule above, or None if it cannot be theirs."""
    if face.height <= 0 or hand.width <= 0 or hand.height <= 0:
        return None
    size = max(hand.width, hand.height) / face.height
    if not MIN_SIZE_RATIO <= size <= MAX_SIZE_RATIO:
        return None
    hand_x, hand_y = _centre(hand)
    face_x, face_y = _centre(face)
    across = (hand_x - face_x) / face.height
    below = (hand_y - face_y) / face.height  # image y grows downwards
    if below < -MAX_ABOVE:
        return None
    if math.hypot(across, below) > MAX_REACH:
        return None
    if below < 0:
        below *= ABOVE_PENALTY
    return math.hypot(across, below)


def link_hands(hands: Sequence[Box], faces: Sequence[Box]) -> list[int | None]:
    """For each hand box, the index in ``faces`` of the face it belongs to, or None."""
    links: list[int | None] = []
    for hand in hands:
        best: int | None = None
        best_distance = math.inf
        for index, face in enumerate(faces):
            distance = hand_face_distance(hand, face)
            if distance is not None and distance < best_distance:
                best, best_distance = index, distance
        links.append(best)
    return links
