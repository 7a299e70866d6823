"""How customers feel, per aisle: expression shares and feedback gestures over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.place_schemas import AisleGestures, AisleRef, CustomerSentiment, SentimentPublic
from salesmigo.api.schemas import ErrorBody
from salesmigo.services import sentiment

router = APIRouter(tags=["sentiment"])

From = Annotated[datetime | None, Query(alias="from", description="ISO 8601, inclusive.")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601, inclusive.")]
_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No such customer or aisle."},
    422: {"model": ErrorBody, "description": "Bad time range."},
}


def _public(found: sentiment.AisleSentiment) -> SentimentPublic:
    aisle = None
    if found.aisle_id is not None and found.aisle_name is not None:
        aisle = AisleRef(id=found.aisle_id, name=found.aisle_name)
    result = found.sentiment
    return SentimentPublic(
        aisle=aisle,
        observations=result.observations,
        shares=result.shares,
        dominant=result.dominant,
        gestures=result.gestures,
    )


@router.get(
    "/customers/{customer_id}/sentiment", response_model=CustomerSentiment, responses=_ERRORS
)
def customer_sentiment(
    runtime: RuntimeDep, customer_id: int, start: From = None, end: To = None
) -> CustomerSentiment:
    """Per aisle: the share of each expression, the dominant one, and the gesture counts."""
    period = sentiment.TimeRange(start, end)
    found = sentiment.customer_sentiment(runtime, customer_id, period)
    return CustomerSentiment(customer_id=customer_id, aisles=[_public(a) for a in found])


@router.get("/aisles/{aisle_id}/sentiment", response_model=SentimentPublic, responses=_ERRORS)
def aisle_sentiment(
    runtime: RuntimeDep, aisle_id: int, start: From = None, end: To = None
) -> SentimentPublic:
    """Everyone's expressions (and gestures) in this aisle over the time range."""
    period = sentiment.TimeRange(start, end)
    return _public(sentiment.aisle_sentiment(runtime, aisle_id, period))


@router.get("/aisles/{aisle_id}/gestures", response_model=AisleGestures, responses=_ERRORS)
def aisle_gestures(
    runtime: RuntimeDep, aisle_id: int, start: From = None, end: To = None
) -> AisleGestures:
    """Feedback gestures counted in this aisle over the time range."""
    found = sentiment.aisle_sentiment(runtime, aisle_id, sentiment.TimeRange(start, end))
    assert found.aisle_name is not None
    return AisleGestures(
        aisle=AisleRef(id=aisle_id, name=found.aisle_name), gestures=found.sentiment.gestures
    )
