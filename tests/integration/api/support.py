"""Photos and helpers shared by the API tests."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from salesmigo.services.runtime import Runtime
from salesmigo.store.models import Customer, FaceTemplate, Visit

OBAMA = "face_recognition/examples/obama.jpg"
OBAMA_OTHER = "face_recognition/examples/obama2.jpg"
BIDEN = "face_recognition/examples/biden.jpg"
BIDEN_OTHER = "face_recognition/examples/knn_examples/train/biden/biden2.jpg"
STRANGER = "face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg"
GROUP = "face_recognition/examples/two_people.jpg"
HAND = "hagrid380/data/hagrid_380_resize336/images/one/one_00000.jpg"


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """Customers, templates and visits in the database: what 'nothing changed' means."""
    with runtime.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Customer, FaceTemplate, Visit)
        )


def enrol(
    client: TestClient,
    photo: Callable[[str], tuple[str, bytes, str]],
    name: str,
    email: str,
    *photos: str,
) -> dict[str, object]:
    response = client.post(
        "/api/v1/customers",
        data={"name": name, "email": email, "consent": "true"},
        files=[("photos", photo(p)) for p in photos],
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body
