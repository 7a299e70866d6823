import pytest

from salesmigo.config import ModelMatching
from salesmigo.gallery.decision import decide
from salesmigo.gallery.exact import CustomerHit

MATCHING = ModelMatching(threshold=1.0, margin=0.05)


@pytest.mark.parametrize(
    ("hits", "decision", "customer"),
    [
        ([], "unknown", None),
        ([CustomerHit(1, 0.6)], "match", 1),
        ([CustomerHit(1, 0.6), CustomerHit(2, 1.3)], "match", 1),
        ([CustomerHit(1, 1.2), CustomerHit(2, 1.3)], "unknown", None),
        ([CustomerHit(1, 1.0)], "unknown", None),  # the threshold itself is not a match
        # Two customers both under the threshold and too close to call: never guess.
        ([CustomerHit(1, 0.70), CustomerHit(2, 0.72)], "unknown", None),
        ([CustomerHit(1, 0.70), CustomerHit(2, 0.75)], "match", 1),
    ],
)
def test_decide(hits: list[CustomerHit], decision: str, customer: int | None) -> None:
    result = decide(hits, MATCHING, "sface")
    assert result.decision == decision
    assert result.matched_customer_id == customer
    if hits:
        assert result.customer_id == hits[0].customer_id
        assert result.distance == hits[0].distance
        assert result.runner_up_distance == (hits[1].distance if len(hits) > 1 else None)
