"""The two decisions taken from one face's seven expression probabilities."""

from __future__ import annotations

import pytest

from salesmigo.vision.expression_labels import (
    EXPRESSION_LABELS,
    looks_happy,
    most_likely_expression,
)


def _probabilities(**chosen: float) -> dict[str, float]:
    rest = (1.0 - sum(chosen.values())) / (len(EXPRESSION_LABELS) - len(chosen))
    return {label: chosen.get(label, rest) for label in EXPRESSION_LABELS}


def test_the_labels_are_face_api_js_output_order() -> None:
    assert EXPRESSION_LABELS == (
        "neutral",
        "happy",
        "sad",
        "angry",
        "fearful",
        "disgusted",
        "surprised",
    )


def test_the_most_likely_expression_wins_and_ties_go_to_the_earlier_label() -> None:
    assert most_likely_expression(_probabilities(surprised=0.6)) == "surprised"
    assert most_likely_expression(_probabilities(sad=0.4, angry=0.4)) == "sad"


@pytest.mark.parametrize(
    ("happy", "expected"),
    [(0.97, True), (0.51, True), (0.5, False), (0.41, False), (0.0, False)],
)
def test_a_face_looks_happy_when_happy_is_more_likely_than_not(
    happy: float, expected: bool
) -> None:
    assert looks_happy(_probabilities(happy=happy)) is expected


def test_happy_can_be_the_most_likely_expression_of_a_face_that_does_not_look_happy() -> None:
    probabilities = _probabilities(happy=0.41, sad=0.3)

    assert most_likely_expression(probabilities) == "happy"
    assert not looks_happy(probabilities)
