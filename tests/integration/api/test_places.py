"""Aisles and cameras through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from salesmigo.services import camera_tokens
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import Camera

pytestmark = pytest.mark.integration


def test_aisle_crud(client: TestClient) -> None:
    created = client.post(
        "/api/v1/aisles", json={"name": "Shoes", "category": "footwear", "description": "Level 1"}
    )
    assert created.status_code == 201
    aisle = created.json()
    assert (aisle["name"], aisle["category"]) == ("Shoes", "footwear")

    assert client.post("/api/v1/aisles", json={"name": "Shoes"}).status_code == 409
    assert client.get("/api/v1/aisles").json() == [aisle]
    renamed = client.patch(f"/api/v1/aisles/{aisle['id']}", json={"name": "Trainers"})
    assert renamed.json()["name"] == "Trainers"
    assert client.delete(f"/api/v1/aisles/{aisle['id']}").status_code == 204
    missing = client.get(f"/api/v1/aisles/{aisle['id']}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"aisle {aisle['id']} does not exist"}


def test_camera_crud_and_its_aisle(client: TestClient) -> None:
    aisle = client.post("/api/v1/aisles", json={"name": "Coats"}).json()
    created = client.post(
        "/api/v1/cameras", json={"name": "cam-coats", "role": "aisle", "aisle_id": aisle["id"]}
    )
    assert created.status_code == 201
    camera = created.json()
    assert (camera["role"], camera["aisle_id"], camera["enabled"]) == ("aisle", aisle["id"], True)

    disabled = client.patch(f"/api/v1/cameras/{camera['id']}", json={"enabled": False})
    assert disabled.json()["enabled"] is False
    # Deleting the aisle keeps the camera, without an aisle.
    client.delete(f"/api/v1/aisles/{aisle['id']}")
    assert client.get(f"/api/v1/cameras/{camera['id']}").json()["aisle_id"] is None
    assert client.delete(f"/api/v1/cameras/{camera['id']}").status_code == 204
    assert client.get("/api/v1/cameras").json() == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "door", "role": "ceiling"}, 422, "role"),
        ({"name": "door", "role": "entrance", "aisle_id": 999}, 404, "aisle 999"),
        ({"name": "", "role": "entrance"}, 422, "name"),
        ({"role": "entrance"}, 422, "name"),
        ({"name": "door", "role": "entrance", "zoom": 3}, 422, "zoom"),
    ],
)
def test_bad_cameras_are_refused(
    client: TestClient, body: dict[str, object], status: int, words: str
) -> None:
    response = client.post("/api/v1/cameras", json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert client.get("/api/v1/cameras").json() == []


def test_camera_names_are_unique(client: TestClient) -> None:
    first = client.post("/api/v1/cameras", json={"name": "door", "role": "entrance"}).json()
    assert client.post("/api/v1/cameras", json={"name": "door", "role": "aisle"}).status_code == 409
    other = client.post("/api/v1/cameras", json={"name": "till", "role": "aisle"}).json()
    clash = client.patch(f"/api/v1/cameras/{other['id']}", json={"name": "door"})
    assert clash.status_code == 409
    assert client.get(f"/api/v1/cameras/{first['id']}").json()["name"] == "door"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("door/east", "contains '/': a camera name may hold only letters, digits, spaces"),
        ("door?1", "contains '?'"),
        ("a%2Fb", "contains '%'"),
        ("tab\there", "contains '\\t'"),
        (" door", "is not allowed"),
        ("..", "is not allowed"),
    ],
)
def test_camera_names_keep_to_a_safe_set(client: TestClient, name: str, words: str) -> None:
    response = client.post("/api/v1/cameras", json={"name": name, "role": "entrance"})
    assert response.status_code == 422
    assert words in response.json()["detail"]
    good = client.post("/api/v1/cameras", json={"name": "Tür 2 - west_v1.0", "role": "aisle"})
    assert good.status_code == 201, good.text
    renamed = client.patch(f"/api/v1/cameras/{good.json()['id']}", json={"name": name})
    assert renamed.status_code == 422
    assert [c["name"] for c in client.get("/api/v1/cameras").json()] == ["Tür 2 - west_v1.0"]


def test_a_camera_named_with_a_slash_before_the_rule_still_sends_events(
    client: TestClient, runtime: Runtime
) -> None:
    with runtime.sessions.begin() as session:
        legacy = Camera(name="door 1/east", role="aisle")  # stored before names were checked
        session.add(legacy)
        session.flush()
        camera_id = legacy.id
    token = camera_tokens.issue_token(runtime, camera_id)
    event = {
        "id": "0b0f6a4e-51b5-4d8c-9d55-7d6ad1a8f0a1",
        "type": "gesture",
        "occurred_at": "2026-11-26T09:00:00+00:00",
        "track_id": "t1",
        "gesture": "thumbs_up",
        "confidence": 0.9,
    }
    response = client.post(
        "/api/v1/cameras/door%201%2Feast/events",
        json={"events": [event]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "duplicates": 0}
    # Other settings of the camera can still change without renaming it.
    assert client.patch(f"/api/v1/cameras/{camera_id}", json={"enabled": False}).status_code == 200
