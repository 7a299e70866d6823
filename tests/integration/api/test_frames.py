"""Camera frames through the API: identification, expressions and smoothed gestures stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from salesmigo.services.runtime import Runtime
from tests.integration.api.support import OBAMA, OBAMA_OTHER, STRANGER, counts, enrol

pytestmark = pytest.mark.integration
Photo = Callable[[str], tuple[str, bytes, str]]

THUMBS_UP = "hagrid380/data/hagrid_380_resize336/images/like/like_00002.jpg"
THUMBS_DOWN = "hagrid380/data/hagrid_380_resize336/images/dislike/dislike_00001.jpg"
HAPPY = "face-api.js/examples/images/happy.jpg"


def _camera(client: TestClient, role: str, aisle: str | None = None) -> int:
    aisle_id = client.post("/api/v1/aisles", json={"name": aisle}).json()["id"] if aisle else None
    body = {"name": f"{role}-{aisle}", "role": role, "aisle_id": aisle_id}
    created = client.post("/api/v1/cameras", json=body)
    assert created.status_code == 201, created.text
    camera_id: int = created.json()["id"]
    return camera_id


def test_an_entrance_camera_counts_customers_and_strangers(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    door = _camera(client, "entrance")

    known = client.post(f"/api/v1/cameras/{door}/frames", files={"image": photo(OBAMA_OTHER)})
    assert known.status_code == 200, known.text
    body = known.json()
    assert body["camera"]["role"] == "entrance"
    (face,) = body["faces"]
    assert face["customer"]["id"] == obama["id"]
    assert face["expression"] is None
    assert body["hands"] == []
    assert body["stored"] == {"visits": 1, "expressions": 0, "gestures": 0}

    stranger = client.post(f"/api/v1/cameras/{door}/frames", files={"image": photo(STRANGER)})
    assert stranger.json()["faces"][0]["decision"] == "unknown"
    assert stranger.json()["stored"]["visits"] == 1  # an anonymous visit, for footfall
    assert counts(runtime)[2] == 2


def test_an_aisle_camera_reads_expressions(client: TestClient, photo: Photo) -> None:
    camera = _camera(client, "aisle", "Shoes")
    body = client.post(f"/api/v1/cameras/{camera}/frames", files={"image": photo(HAPPY)}).json()
    (face,) = body["faces"]
    assert face["expression"] == "happy"
    assert sum(face["expressions"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["stored"]["expressions"] == 1


def test_a_gesture_is_stored_once_it_persists(client: TestClient, photo: Photo) -> None:
    camera = _camera(client, "aisle", "Coats")
    aisle = client.get(f"/api/v1/cameras/{camera}").json()["aisle_id"]
    stored = []
    for _ in range(4):
        body = client.post(
            f"/api/v1/cameras/{camera}/frames", files={"image": photo(THUMBS_UP)}
        ).json()
        (hand,) = body["hands"]
        assert hand["gesture"] == "thumbs_up"
        assert hand["face"] == 0  # linked to the person whose face is above it
        stored.append(body["stored"]["gestures"])
    # One frame is no event: the gesture counts once it has shown in three frames, once.
    assert stored == [0, 0, 1, 0]

    gestures = client.get(f"/api/v1/aisles/{aisle}/gestures").json()["gestures"]
    assert gestures["thumbs_up"] == 1
    sentiment = client.get(f"/api/v1/aisles/{aisle}/sentiment").json()
    assert sentiment["observations"] == 4


def test_frames_for_missing_or_disabled_cameras_or_bad_images(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    camera = _camera(client, "aisle", "Hats")
    assert (
        client.post("/api/v1/cameras/999/frames", files={"image": photo(HAPPY)}).status_code == 404
    )
    bad = client.post(
        f"/api/v1/cameras/{camera}/frames", files={"image": ("x.png", b"nope", "image/png")}
    )
    assert bad.status_code == 422
    assert "x.png" in bad.json()["detail"]
    client.patch(f"/api/v1/cameras/{camera}", json={"enabled": False})
    disabled = client.post(f"/api/v1/cameras/{camera}/frames", files={"image": photo(HAPPY)})
    assert disabled.status_code == 409
    assert "disabled" in disabled.json()["detail"]
    assert counts(runtime) == (0, 0, 0)


def test_age_range_and_gender_only_when_switched_on(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    door = _camera(client, "entrance")
    off = client.post(f"/api/v1/cameras/{door}/frames", files={"image": photo(OBAMA)}).json()
    assert (off["faces"][0]["age_range"], off["faces"][0]["gender"]) == (None, None)
    runtime.settings.vision.attributes = True
    on = client.post(f"/api/v1/cameras/{door}/frames", files={"image": photo(OBAMA)}).json()
    (face,) = on["faces"]
    assert face["gender"] == "male"
    low, _, high = face["age_range"].partition("-")
    # Obama was in his late forties in this photo.
    assert int(low) >= 35
    assert int(high) <= 64
