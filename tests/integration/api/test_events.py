"""Camera agents' events: per-camera tokens and exactly-once ingest."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from salesmigo.services.runtime import Runtime
from salesmigo.store.models import ExpressionObservation, GestureObservation, Visit
from tests.unit.store import factories

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _camera(client: TestClient, name: str, role: str = "aisle") -> tuple[int, str]:
    aisle = client.post("/api/v1/aisles", json={"name": f"aisle of {name}"}).json()["id"]
    camera = client.post(
        "/api/v1/cameras", json={"name": name, "role": role, "aisle_id": aisle}
    ).json()["id"]
    issued = client.post(f"/api/v1/cameras/{camera}/tokens")
    assert issued.status_code == 201
    return camera, issued.json()["token"]


def _events() -> list[dict[str, object]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "visit",
            "occurred_at": T0.isoformat(),
            "track_id": "t1",
            "arrived_at": T0.isoformat(),
            "departed_at": (T0 + timedelta(minutes=3)).isoformat(),
        },
        {
            "id": str(uuid.uuid4()),
            "type": "expression",
            "occurred_at": T0.isoformat(),
            "track_id": "t1",
            "label": "happy",
            "probabilities": {"happy": 0.9, "neutral": 0.1},
        },
        {
            "id": str(uuid.uuid4()),
            "type": "gesture",
            "occurred_at": T0.isoformat(),
            "track_id": "t1",
            "gesture": "thumbs_up",
            "confidence": 0.95,
        },
    ]


def _rows(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Visit, ExpressionObservation, GestureObservation)
        )


def _post(client: TestClient, name: str, token: str | None, events: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/api/v1/cameras/{name}/events", json={"events": events}, headers=headers)


def test_events_are_stored_once_however_often_they_are_sent(
    client: TestClient, runtime: Runtime
) -> None:
    _, token = _camera(client, "coats")
    events = _events()
    first = _post(client, "coats", token, events)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0}
    again = _post(client, "coats", token, events)
    assert again.json() == {"accepted": 0, "duplicates": 3}
    partly = _post(client, "coats", token, [*events[1:], *_events()[:1]])
    assert partly.json() == {"accepted": 1, "duplicates": 2}
    assert _rows(runtime) == (2, 1, 1)

    with runtime.sessions() as session:
        visit = session.scalars(select(Visit).order_by(Visit.id)).first()
        assert visit is not None
        assert visit.departed_at is not None
        assert visit.departed_at - visit.occurred_at == timedelta(minutes=3)
        assert visit.source == "coats"


def test_tokens_are_per_camera_and_can_be_revoked(client: TestClient, runtime: Runtime) -> None:
    coats, coats_token = _camera(client, "coats")
    _, shoes_token = _camera(client, "shoes")
    cases = [
        (None, "coats", 401),
        ("not-a-token", "coats", 401),
        (shoes_token, "coats", 403),
        (shoes_token, "nowhere", 404),
    ]
    for token, name, status in cases:
        response = _post(client, name, token, _events())
        assert response.status_code == status, (token, name)
        assert response.json()["detail"]
    assert client.delete(f"/api/v1/cameras/{coats}/tokens").status_code == 204
    assert _post(client, "coats", coats_token, _events()).status_code == 401
    assert _rows(runtime) == (0, 0, 0)


def test_a_disabled_camera_records_nothing_until_enabled_again(
    client: TestClient, runtime: Runtime
) -> None:
    coats, token = _camera(client, "coats")
    assert client.patch(f"/api/v1/cameras/{coats}", json={"enabled": False}).status_code == 200
    events = _events()
    refused = _post(client, "coats", token, events)
    assert refused.status_code == 403
    assert "disabled" in refused.json()["detail"]
    assert _rows(runtime) == (0, 0, 0)

    assert client.patch(f"/api/v1/cameras/{coats}", json={"enabled": True}).status_code == 200
    accepted = _post(client, "coats", token, events)  # what an agent kept queued
    assert accepted.json() == {"accepted": 3, "duplicates": 0}


def test_an_invalid_event_stores_nothing(client: TestClient, runtime: Runtime) -> None:
    _, token = _camera(client, "coats")
    events = _events()
    events[2] = {**events[2], "gesture": "wave"}
    response = _post(client, "coats", token, events)
    assert response.status_code == 422
    assert "gesture" in response.json()["detail"]
    naive = _events()
    naive[0] = {**naive[0], "arrived_at": "2026-11-26T09:00:00"}
    assert _post(client, "coats", token, naive).status_code == 422
    assert _rows(runtime) == (0, 0, 0)


def test_stored_events_are_streamed_to_screens(client: TestClient) -> None:
    _, token = _camera(client, "coats")
    events = _events()
    with client.websocket_connect("/api/v1/ws/events") as screen:
        assert _post(client, "coats", token, events).status_code == 200
        received = [screen.receive_json() for _ in events]
        assert [m["type"] for m in received] == ["visit", "expression", "gesture"]
        assert {m["camera"] for m in received} == {"coats"}
        assert received[2]["gesture"] == "thumbs_up"
        _post(client, "coats", token, events)  # duplicates: nothing new to stream
        _post(client, "coats", token, _events()[2:])
        assert screen.receive_json()["id"] != received[2]["id"]


def _visit_steps(customer: int | None = None) -> tuple[dict[str, object], dict[str, object]]:
    """An arrival and its departure, as an agent reports one visit."""
    visit_id = str(uuid.uuid4())
    arrival: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "type": "arrival",
        "occurred_at": T0.isoformat(),
        "track_id": "door-1",
        "customer_id": None,
        "visit_id": visit_id,
        "arrived_at": T0.isoformat(),
    }
    departure: dict[str, object] = {
        **arrival,
        "id": str(uuid.uuid4()),
        "type": "departure",
        "occurred_at": (T0 + timedelta(seconds=40)).isoformat(),
        "customer_id": customer,
        "distance": 0.7 if customer else None,
        "departed_at": (T0 + timedelta(seconds=40)).isoformat(),
    }
    return arrival, departure


def _visits(runtime: Runtime) -> list[tuple[int | None, datetime, datetime | None]]:
    with runtime.sessions() as session:
        return [
            (v.customer_id, v.occurred_at, v.departed_at)
            for v in session.scalars(select(Visit).order_by(Visit.id))
        ]


def _customer(runtime: Runtime) -> int:
    with runtime.sessions.begin() as session:
        customer = factories.customer()
        session.add(customer)
        session.flush()
        return customer.id


def test_an_arrival_opens_a_visit_and_its_departure_completes_it(
    client: TestClient, runtime: Runtime
) -> None:
    _, token = _camera(client, "door", role="entrance")
    ada = _customer(runtime)
    arrival, departure = _visit_steps(customer=ada)
    with client.websocket_connect("/api/v1/ws/events") as screen:
        assert _post(client, "door", token, [arrival]).json() == {"accepted": 1, "duplicates": 0}
        announced = screen.receive_json()
        assert (announced["type"], announced["visit_id"]) == ("arrival", arrival["visit_id"])
        assert announced["customer_id"] is None
        assert _visits(runtime) == [(None, T0, None)]

        assert _post(client, "door", token, [arrival, departure]).json() == {
            "accepted": 1,
            "duplicates": 1,
        }
        left = screen.receive_json()
        assert (left["type"], left["customer_id"]) == ("departure", ada)
    # Named after an anonymous arrival: the departure's identity is the visit's.
    assert _visits(runtime) == [(ada, T0, T0 + timedelta(seconds=40))]
    assert _post(client, "door", token, [departure]).json() == {"accepted": 0, "duplicates": 1}
    assert _rows(runtime) == (1, 0, 0)


def test_a_departure_before_its_arrival_stores_the_whole_visit_once(
    client: TestClient, runtime: Runtime
) -> None:
    _, token = _camera(client, "door", role="entrance")
    arrival, departure = _visit_steps()
    with client.websocket_connect("/api/v1/ws/events") as screen:
        assert _post(client, "door", token, [departure]).json()["accepted"] == 1
        assert screen.receive_json()["type"] == "departure"
        assert _post(client, "door", token, [arrival]).json() == {"accepted": 1, "duplicates": 0}
        # The late arrival is stored (its id is known now) but is no news: they left.
        _post(client, "door", token, _events()[2:])
        assert screen.receive_json()["type"] == "gesture"
    assert _visits(runtime) == [(None, T0, T0 + timedelta(seconds=40))]


def test_arrival_and_departure_in_one_batch_make_one_visit(
    client: TestClient, runtime: Runtime
) -> None:
    _, token = _camera(client, "door", role="entrance")
    steps = [*_visit_steps(), *_visit_steps()]
    assert _post(client, "door", token, steps).json() == {"accepted": 4, "duplicates": 0}
    assert len(_visits(runtime)) == 2
    assert all(departed is not None for _, _, departed in _visits(runtime))


def test_a_departure_before_its_arrival_time_is_rejected(client: TestClient) -> None:
    _, token = _camera(client, "door", role="entrance")
    _, departure = _visit_steps()
    departure["departed_at"] = (T0 - timedelta(seconds=1)).isoformat()
    response = _post(client, "door", token, [departure])
    assert response.status_code == 422
    assert "departed_at must not be before arrived_at" in response.json()["detail"]


def test_only_an_entrance_reports_arrivals(client: TestClient, runtime: Runtime) -> None:
    _, token = _camera(client, "coats")  # an aisle camera
    arrival, _ = _visit_steps()
    response = _post(client, "coats", token, [_events()[1], arrival])
    assert response.status_code == 422
    assert "only an entrance camera reports arrivals" in response.json()["detail"]
    assert response.json()["detail"].startswith("events.1:")
    assert _rows(runtime) == (0, 0, 0)


def test_a_visit_seen_during_an_outage_is_stored_as_unidentified(
    client: TestClient, runtime: Runtime
) -> None:
    _, token = _camera(client, "door", role="entrance")
    arrival, departure = _visit_steps()
    arrival["identified"] = False
    assert _post(client, "door", token, [arrival]).status_code == 200
    with runtime.sessions() as session:
        assert session.scalars(select(Visit.identified)).one() is False
    # The server came back before the person left: the departure's vote counts.
    assert _post(client, "door", token, [departure]).status_code == 200
    with runtime.sessions() as session:
        assert session.scalars(select(Visit.identified)).one() is True
