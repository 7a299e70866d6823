"""Sentiment per aisle and per customer, aggregated from stored observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from salesmigo.services.runtime import Runtime
from salesmigo.store.models import (
    Customer,
    ExpressionObservation,
    GestureObservation,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _observe(
    runtime: Runtime,
    customer_id: int | None,
    aisle_id: int,
    labels: list[str],
    gestures: list[str],
    at: datetime = T0,
) -> None:
    with runtime.sessions.begin() as session:
        for offset, label in enumerate(labels):
            session.add(
                ExpressionObservation(
                    customer_id=customer_id,
                    aisle_id=aisle_id,
                    label=label,
                    probabilities={label: 0.9},
                    observed_at=at + timedelta(seconds=offset),
                )
            )
        for gesture in gestures:
            session.add(
                GestureObservation(
                    customer_id=customer_id,
                    aisle_id=aisle_id,
                    gesture=gesture,
                    confidence=0.9,
                    observed_at=at,
                )
            )


def _customer(runtime: Runtime) -> int:
    with runtime.sessions.begin() as session:
        customer = Customer(name="Ada", email="ada@example.com", consent_given_at=T0)
        session.add(customer)
        session.flush()
        return customer.id


def test_customer_sentiment_per_aisle(client: TestClient, runtime: Runtime) -> None:
    shoes = client.post("/api/v1/aisles", json={"name": "Shoes"}).json()["id"]
    coats = client.post("/api/v1/aisles", json={"name": "Coats"}).json()["id"]
    ada = _customer(runtime)
    _observe(runtime, ada, shoes, ["happy", "happy", "happy", "neutral"], ["thumbs_up"])
    _observe(runtime, ada, coats, ["sad", "neutral", "sad"], ["thumbs_down", "thumbs_down"])
    _observe(runtime, None, shoes, ["angry"] * 5, [])  # someone else: not Ada's

    body = client.get(f"/api/v1/customers/{ada}/sentiment").json()
    by_aisle = {a["aisle"]["name"]: a for a in body["aisles"]}
    assert set(by_aisle) == {"Shoes", "Coats"}
    assert by_aisle["Shoes"]["dominant"] == "happy"
    assert by_aisle["Shoes"]["shares"]["happy"] == pytest.approx(0.75)
    assert by_aisle["Shoes"]["observations"] == 4
    assert by_aisle["Shoes"]["gestures"]["thumbs_up"] == 1
    assert by_aisle["Coats"]["dominant"] == "sad"
    assert by_aisle["Coats"]["gestures"]["thumbs_down"] == 2
    assert sum(by_aisle["Coats"]["shares"].values()) == pytest.approx(1.0)


def test_aisle_sentiment_and_gestures_over_a_time_range(
    client: TestClient, runtime: Runtime
) -> None:
    shoes = client.post("/api/v1/aisles", json={"name": "Shoes"}).json()["id"]
    _observe(runtime, None, shoes, ["happy", "happy"], ["victory"], at=T0)
    _observe(runtime, None, shoes, ["sad"] * 3, ["thumbs_down"], at=T0 + timedelta(days=1))

    everything = client.get(f"/api/v1/aisles/{shoes}/sentiment").json()
    assert (everything["observations"], everything["dominant"]) == (5, "sad")
    first_day = client.get(
        f"/api/v1/aisles/{shoes}/sentiment",
        params={"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()},
    ).json()
    assert (first_day["observations"], first_day["dominant"]) == (2, "happy")

    gestures = client.get(
        f"/api/v1/aisles/{shoes}/gestures", params={"from": (T0 + timedelta(hours=1)).isoformat()}
    ).json()
    assert gestures["aisle"] == {"id": shoes, "name": "Shoes"}
    assert gestures["gestures"]["thumbs_down"] == 1
    assert gestures["gestures"]["victory"] == 0


def test_empty_sentiment_and_errors(client: TestClient, runtime: Runtime) -> None:
    shoes = client.post("/api/v1/aisles", json={"name": "Shoes"}).json()["id"]
    empty = client.get(f"/api/v1/aisles/{shoes}/sentiment").json()
    assert (empty["observations"], empty["dominant"]) == (0, None)
    assert client.get(f"/api/v1/customers/{_customer(runtime)}/sentiment").json()["aisles"] == []

    assert client.get("/api/v1/customers/999/sentiment").status_code == 404
    assert client.get("/api/v1/aisles/999/gestures").status_code == 404
    backwards = client.get(
        f"/api/v1/aisles/{shoes}/sentiment",
        params={"from": "2026-11-03T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
    )
    assert backwards.status_code == 422
    assert "from" in backwards.json()["detail"]
    not_a_date = client.get(f"/api/v1/aisles/{shoes}/sentiment", params={"from": "yesterday"})
    assert not_a_date.status_code == 422
