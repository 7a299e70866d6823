"""The rule that turns distances into "this is customer X" or "unknown"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from salesmigo.config import ModelMatching
from salesmigo.gallery.index import CustomerHit

Decision = Literal["match", "unknown"]


@dataclass(frozen=True)
class Identification:
    """The outcome of a 1:N search for one face.

    ``customer_id`` and ``distance`` describe the nearest customer even when the decision is
    ``unknown``, so callers can log near misses; only a ``match`` names who it is.
    """

    decision: Decision
    customer_id: int | None
    distance: float | None
    runner_up_distance: float | None
    model: str

    @property
    def matched_customer_id(self) -> int | None:
        return self.customer_id if self.decision == "match" else None


def decide(hits: list[CustomerHit], matching: ModelMatching, model: str) -> Identification:
    """Match only when the nearest customer is under the threshold AND clearly ahead.

    The 2022 prototype returned the first record under the threshold, which names a wrong
    person whenever two customers are under it. Requiring a margin over the runner-up
    customer turns such ambiguous faces into ``unknown`` instead.
    """
    if not hits:
        return Identification("unknown", None, None, None, model)
    best = hits[0]
    runner_up = hits[1].distance if len(hits) > 1 else None
    close_enough = best.distance < matching.threshold
    clearly_best = runner_up is None or runner_up - best.distance >= matching.margin
    decision: Decision = "match" if close_enough and clearly_best else "unknown"
    return Identification(decision, best.customer_id, best.distance, runner_up, model)
