"""Enrolment, lookup, correction and erasure through the HTTP API, with real models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from salesmigo.services.runtime import Runtime
from tests.integration.api.support import (
    BIDEN,
    GROUP,
    HAND,
    OBAMA,
    OBAMA_OTHER,
    STRANGER,
    counts,
    enrol,
)

pytestmark = pytest.mark.integration
Photo = Callable[[str], tuple[str, bytes, str]]


def test_enrol_stores_one_template_per_photo_and_model(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    body = enrol(client, photo, "Barack Obama", "Barack@Example.com", OBAMA, OBAMA_OTHER)
    assert body["name"] == "Barack Obama"
    assert body["email"] == "barack@example.com"
    # Two photos, each described by SFace (default) and dlib (face-api.js compatibility).
    assert body["templates"] == 4
    assert runtime.gallery.size("sface") == 2
    assert runtime.gallery.size("dlib") == 2

    fetched = client.get(f"/api/v1/customers/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_duplicate_email_is_a_conflict_and_stores_nothing(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    before = counts(runtime)
    response = client.post(
        "/api/v1/customers",
        data={"name": "Someone Else", "email": "BARACK@example.com", "consent": "true"},
        files=[("photos", photo(BIDEN))],
    )
    assert response.status_code == 409
    assert "already enrolled" in response.json()["detail"]
    assert counts(runtime) == before


def _not_an_image(_: Photo) -> tuple[str, bytes, str]:
    return ("notes.txt", b"this is a shopping list, not a photo", "text/plain")


def _truncated_jpeg(photo: Photo) -> tuple[str, bytes, str]:
    _, data, kind = photo(OBAMA)
    return ("broken.jpg", data[:300], kind)


def _empty(_: Photo) -> tuple[str, bytes, str]:
    return ("empty.jpg", b"", "image/jpeg")


@pytest.mark.parametrize(
    ("make_photo", "reason"),
    [
        (lambda photo: photo(HAND), "no usable face"),
        (lambda photo: photo(GROUP), "2 faces"),
        (_not_an_image, "not an image"),
        (_truncated_jpeg, ""),
        (_empty, "empty"),
    ],
    ids=["no-face", "several-faces", "not-an-image", "truncated", "empty"],
)
def test_an_unusable_photo_names_the_photo_and_stores_nothing(
    client: TestClient,
    photo: Photo,
    runtime: Runtime,
    make_photo: Callable[[Photo], tuple[str, bytes, str]],
    reason: str,
) -> None:
    enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    before = counts(runtime)
    bad = make_photo(photo)
    response = client.post(
        "/api/v1/customers",
        data={"name": "Joe Biden", "email": "joe@example.com", "consent": "true"},
        files=[("photos", photo(BIDEN)), ("photos", bad)],
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert bad[0] in body["detail"]
    assert reason in body["detail"]
    assert [p["photo"] for p in body["problems"]] == [bad[0]]
    assert counts(runtime) == before
    assert runtime.gallery.size("sface") == 1


def test_an_oversized_photo_is_refused(client: TestClient, photo: Photo, runtime: Runtime) -> None:
    runtime.settings.vision.max_upload_bytes = 10_000
    response = client.post(
        "/api/v1/customers",
        data={"name": "Barack Obama", "email": "barack@example.com", "consent": "true"},
        files=[("photos", photo(OBAMA))],
    )
    assert response.status_code == 422
    assert "obama.jpg" in response.json()["detail"]
    assert "limit" in response.json()["detail"]
    assert counts(runtime) == (0, 0, 0)


@pytest.mark.parametrize(
    ("form", "photos", "message"),
    [
        ({"name": "B", "email": "b@example.com", "consent": "false"}, 1, "consent"),
        ({"name": "B", "email": "b@example.com"}, 1, "consent"),
        ({"name": "B", "email": "not-an-email", "consent": "true"}, 1, "email"),
        ({"email": "b@example.com", "consent": "true"}, 1, "name"),
        ({"name": "B", "email": "b@example.com", "consent": "true"}, 0, "photos"),
        ({"name": "B", "email": "b@example.com", "consent": "true"}, 11, "between 1 and 10"),
        (
            {"name": "B", "email": "b@example.com", "consent": "true", "date_of_birth": "soon"},
            1,
            "date_of_birth",
        ),
    ],
    ids=["no-consent", "consent-missing", "bad-email", "no-name", "no-photo", "11-photos", "dob"],
)
def test_bad_forms_are_refused_with_a_sentence(
    client: TestClient,
    photo: Photo,
    runtime: Runtime,
    form: dict[str, str],
    photos: int,
    message: str,
) -> None:
    response = client.post(
        "/api/v1/customers", data=form, files=[("photos", photo(OBAMA))] * photos
    )
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert counts(runtime) == (0, 0, 0)


def test_search_update_and_errors(client: TestClient, photo: Photo) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    enrol(client, photo, "Joe Biden", "joe@example.com", BIDEN)

    found = client.get("/api/v1/customers", params={"query": "obam"}).json()
    assert [c["name"] for c in found["customers"]] == ["Barack Obama"]
    assert client.get("/api/v1/customers").json()["total"] == 2

    patched = client.patch(
        f"/api/v1/customers/{obama['id']}", json={"phone": "+1 202 456 1111", "location": "DC"}
    )
    assert patched.status_code == 200
    assert (patched.json()["phone"], patched.json()["location"]) == ("+1 202 456 1111", "DC")

    taken = client.patch(f"/api/v1/customers/{obama['id']}", json={"email": "joe@example.com"})
    assert taken.status_code == 409
    no_email = client.patch(f"/api/v1/customers/{obama['id']}", json={"email": None})
    assert no_email.status_code == 422
    assert "email" in no_email.json()["detail"]
    unknown_field = client.patch(f"/api/v1/customers/{obama['id']}", json={"colour": "blue"})
    assert unknown_field.status_code == 422
    assert "colour" in unknown_field.json()["detail"]

    missing = client.get("/api/v1/customers/999999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "customer 999999 does not exist"}
    assert client.delete("/api/v1/customers/999999").status_code == 404


def test_delete_erases_everything_and_the_gallery_forgets_at_once(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    identified = client.post(
        "/api/v1/identify", files={"image": photo(OBAMA_OTHER)}, data={"source": "entrance"}
    )
    assert identified.json()["faces"][0]["decision"] == "match"
    assert counts(runtime) == (1, 2, 1)

    assert client.delete(f"/api/v1/customers/{obama['id']}").status_code == 204
    assert counts(runtime) == (0, 0, 0)
    after = client.post("/api/v1/identify", files={"image": photo(OBAMA_OTHER)}).json()
    assert after["faces"][0]["decision"] == "unknown"
    assert after["faces"][0]["customer"] is None


def test_add_photos_to_an_existing_customer(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    added = client.post(
        f"/api/v1/customers/{obama['id']}/photos", files=[("photos", photo(OBAMA_OTHER))]
    )
    assert added.status_code == 201
    assert added.json()["templates"] == 4
    refused = client.post(
        f"/api/v1/customers/{obama['id']}/photos", files=[("photos", photo(STRANGER))] * 0
    )
    assert refused.status_code == 422
    assert (
        client.post("/api/v1/customers/424242/photos", files=[("photos", photo(OBAMA))]).status_code
        == 404
    )
