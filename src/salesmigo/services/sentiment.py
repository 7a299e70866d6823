"""What the aisles make people feel: shares of expressions and counts of gestures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from salesmigo.services.customers import existing_customer
from salesmigo.services.errors import InvalidInput
from salesmigo.services.places import existing_aisle
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import Aisle, ExpressionObservation, GestureObservation
from salesmigo.vision.expression_labels import EXPRESSION_LABELS, most_likely_expression
from salesmigo.vision.gesture_labels import SHOWN_GESTURES


@dataclass(frozen=True)
class TimeRange:
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise InvalidInput("'from' must not be after 'to'")


@dataclass
class Sentiment:
    """Expressions as shares of the observations, the dominant one, and gesture counts."""

    observations: int = 0
    shares: dict[str, float] = field(default_factory=lambda: dict.fromkeys(EXPRESSION_LABELS, 0.0))
    dominant: str | None = None
    gestures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SHOWN_GESTURES, 0))

    @classmethod
    def from_counts(cls, expressions: dict[str, int], gestures: dict[str, int]) -> Sentiment:
        sentiment = cls()
        total = sum(expressions.values())
        sentiment.observations = total
        if total:
            for label, count in expressions.items():
                sentiment.shares[label] = count / total
            sentiment.dominant = most_likely_expression(expressions)
        for gesture, count in gestures.items():
            sentiment.gestures[gesture] = count
        return sentiment


Counts = dict[int | None, dict[str, int]]


def _conditions(
    table: type[ExpressionObservation] | type[GestureObservation],
    column: Literal["customer_id", "aisle_id"],
    value: int,
    period: TimeRange,
) -> list[ColumnElement[bool]]:
    conditions = [getattr(table, column) == value]
    if period.start:
        conditions.append(table.observed_at >= period.start)
    if period.end:
        conditions.append(table.observed_at <= period.end)
    return conditions


def _counts(
    session: Session, column: Literal["customer_id", "aisle_id"], value: int, period: TimeRange
) -> tuple[Counts, Counts]:
    """Expression and gesture counts per aisle id, for one customer or one aisle."""
    expressions: Counts = defaultdict(dict)
    for aisle_id, label, count in session.execute(
        select(ExpressionObservation.aisle_id, ExpressionObservation.label, func.count())
        .where(*_conditions(ExpressionObservation, column, value, period))
        .group_by(ExpressionObservation.aisle_id, ExpressionObservation.label)
    ):
        expressions[aisle_id][label] = count
    gestures: Counts = defaultdict(dict)
    for aisle_id, gesture, count in session.execute(
        select(GestureObservation.aisle_id, GestureObservation.gesture, func.count())
        .where(*_conditions(GestureObservation, column, value, period))
        .group_by(GestureObservation.aisle_id, GestureObservation.gesture)
    ):
        gestures[aisle_id][gesture] = count
    return expressions, gestures


@dataclass(frozen=True)
class AisleSentiment:
    aisle_id: int | None
    aisle_name: str | None
    sentiment: Sentiment


def customer_sentiment(
    runtime: Runtime, customer_id: int, period: TimeRange
) -> list[AisleSentiment]:
    """Per aisle, how this customer looked and what feedback they gave."""
    with runtime.sessions() as session:
        existing_customer(session, customer_id)
        expressions, gestures = _counts(session, "customer_id", customer_id, period)
        aisle_ids = sorted(set(expressions) | set(gestures), key=lambda a: (a is None, a or 0))
        known = [a for a in aisle_ids if a is not None]
        names = dict(
            session.execute(select(Aisle.id, Aisle.name).where(Aisle.id.in_(known))).tuples().all()
        )
    return [
        AisleSentiment(
            aisle_id,
            names.get(aisle_id) if aisle_id is not None else None,
            Sentiment.from_counts(expressions.get(aisle_id, {}), gestures.get(aisle_id, {})),
        )
        for aisle_id in aisle_ids
    ]


def aisle_sentiment(runtime: Runtime, aisle_id: int, period: TimeRange) -> AisleSentiment:
    """Everyone's expressions and gestures in one aisle over a time range."""
    with runtime.sessions() as session:
        aisle = existing_aisle(session, aisle_id)
        expressions, gestures = _counts(session, "aisle_id", aisle_id, period)
        name = aisle.name
    return AisleSentiment(
        aisle_id,
        name,
        Sentiment.from_counts(expressions.get(aisle_id, {}), gestures.get(aisle_id, {})),
    )
