"""The seven facial expressions, and the two decisions taken from their probabilities.

Kept apart from vision.expression (which loads ONNX Runtime) so that the event schema, the
sentiment queries and the camera pipeline name the labels without loading the network.

Two questions are asked of one face's seven probabilities, and they have different answers:

* **Which expression?** The most likely of the seven (``most_likely_expression``): what an
  expression event and the per-aisle shares record.
* **Happy or not?** A yes/no question, answered by whether happy is more likely than all
  the other six together (``looks_happy``: p(happy) > 0.5). A face read as 41 % happy,
  30 % sad and 29 % spread over the rest has happy as its most likely expression, but is
  more likely not happy than happy. The 0.5 is the decision rule for two outcomes, not a
  figure fitted to test images. On the public test set the two rules differ on one face
  (Yale subject 03 "sad": p(happy) 0.41 with the landmark crop, 0.44 with the box crop),
  and every face labelled happy scores 0.85 or more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

Expression = Literal["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
# face-api.js's FACE_EXPRESSION_LABELS: the order of the network's outputs.
EXPRESSION_LABELS: Final[tuple[Expression, ...]] = get_args(Expression)
HAPPY: Final[Expression] = "happy"
# Happy must be more likely than the six others together (module docstring).
HAPPY_PROBABILITY: Final = 0.5


def most_likely_expression(scores: Mapping[str, float]) -> Expression:
    """The expression with the highest score (a probability, or a count of observations);
    a missing label scores 0, and ties go to the earlier label so the answer is stable."""
    return max(EXPRESSION_LABELS, key=lambda label: scores.get(label, 0.0))


def looks_happy(probabilities: Mapping[str, float]) -> bool:
    """Whether the face is more likely happy than not."""
    return probabilities.get(HAPPY, 0.0) > HAPPY_PROBABILITY
