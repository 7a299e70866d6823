"""1:N identification through the HTTP API with real models on real photos."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from salesmigo.services.runtime import Runtime
from salesmigo.vision.images import decode_image
from salesmigo.vision.pipeline import FacePipeline
from tests.integration.api.support import (
    BIDEN,
    BIDEN_OTHER,
    GROUP,
    OBAMA,
    OBAMA_OTHER,
    STRANGER,
    counts,
    enrol,
)

pytestmark = pytest.mark.integration
Photo = Callable[[str], tuple[str, bytes, str]]


def test_same_person_matches_and_a_stranger_is_unknown(client: TestClient, photo: Photo) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    biden = enrol(client, photo, "Joe Biden", "joe@example.com", BIDEN)

    for probe, expected in ((OBAMA_OTHER, obama), (BIDEN_OTHER, biden)):
        response = client.post("/api/v1/identify", files={"image": photo(probe)})
        assert response.status_code == 200
        (face,) = response.json()["faces"]
        assert face["decision"] == "match"
        assert face["customer"] == {"id": expected["id"], "name": expected["name"]}
        assert face["distance"] < face["runner_up_distance"]
        assert len(face["box"]) == 4

    stranger = client.post("/api/v1/identify", files={"image": photo(STRANGER)}).json()
    (face,) = stranger["faces"]
    assert face["decision"] == "unknown"
    assert face["customer"] is None
    assert face["distance"] is not None  # the nearest customer is still reported


def test_every_face_of_a_group_photo_gets_an_answer(client: TestClient, photo: Photo) -> None:
    enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    body = client.post("/api/v1/identify", files={"image": photo(GROUP)}).json()
    assert len(body["faces"]) == 2
    decisions = sorted(face["decision"] for face in body["faces"])
    names = [face["customer"]["name"] for face in body["faces"] if face["customer"]]
    assert decisions == ["match", "unknown"]
    assert names == ["Barack Obama"]


def test_visits_are_recorded_only_for_matches_with_a_source(
    client: TestClient, photo: Photo, runtime: Runtime
) -> None:
    enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    client.post("/api/v1/identify", files={"image": photo(OBAMA_OTHER)})
    assert counts(runtime)[2] == 0
    client.post("/api/v1/identify", files={"image": photo(STRANGER)}, data={"source": "door"})
    assert counts(runtime)[2] == 0
    client.post("/api/v1/identify", files={"image": photo(OBAMA_OTHER)}, data={"source": "door"})
    assert counts(runtime)[2] == 1


def test_a_face_api_descriptor_is_searched_against_dlib_templates(
    client: TestClient, photo: Photo, face_pipeline: FacePipeline
) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    enrol(client, photo, "Joe Biden", "joe@example.com", BIDEN)
    frame = decode_image(photo(OBAMA_OTHER)[1], max_bytes=10**8, max_pixels=10**8)
    analysis = face_pipeline.analyse(frame, "sface")
    descriptor = face_pipeline.embed(frame, analysis.faces[0].detection, "dlib").vector

    response = client.post("/api/v1/identify", json={"descriptor": descriptor.tolist()})
    assert response.status_code == 200
    (face,) = response.json()["faces"]
    assert face["model"] == "dlib"
    assert face["box"] is None
    assert face["decision"] == "match"
    assert face["customer"]["id"] == obama["id"]


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"json": {"descriptor": [0.1] * 127}}, "descriptor"),
        ({"json": {"descriptor": ["x"] * 128}}, "descriptor"),
        ({"json": {"vector": [0.1] * 128}}, "descriptor"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "JSON"),
        ({"files": {"image": ("a.txt", b"hello", "text/plain")}}, "a.txt"),
        ({"data": {"source": "door"}, "files": {"other": ("a.jpg", b"x", "image/jpeg")}}, "image"),
        ({"content": b"raw", "headers": {"content-type": "image/jpeg"}}, "multipart"),
    ],
    ids=["short", "not-numbers", "no-descriptor", "bad-json", "not-image", "no-image", "raw"],
)
def test_bad_identify_requests_get_a_sentence(
    client: TestClient, request_kwargs: dict[str, object], message: str
) -> None:
    response = client.post("/api/v1/identify", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/customers", "/api/v1/customers/{customer_id}", "/api/v1/identify"} <= set(
        paths
    )
    content = paths["/api/v1/identify"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(content)
    assert client.get("/docs").status_code == 200


def test_a_batch_of_descriptors_is_identified_in_one_call(
    client: TestClient, photo: Photo, face_pipeline: FacePipeline
) -> None:
    obama = enrol(client, photo, "Barack Obama", "barack@example.com", OBAMA)
    biden = enrol(client, photo, "Joe Biden", "joe@example.com", BIDEN)
    vectors = []
    for probe in (OBAMA_OTHER, BIDEN_OTHER, STRANGER):
        frame = decode_image(photo(probe)[1], max_bytes=10**8, max_pixels=10**8)
        vectors.append(face_pipeline.analyse(frame, "sface").faces[0].embedding.vector.tolist())

    response = client.post("/api/v1/identify/descriptors", json={"descriptors": vectors})
    assert response.status_code == 200, response.text
    faces = response.json()["faces"]
    assert [f["customer"]["id"] if f["customer"] else None for f in faces] == [
        obama["id"],
        biden["id"],
        None,
    ]
    assert [f["decision"] for f in faces] == ["match", "match", "unknown"]

    bad = [
        ({"descriptors": [[0.1] * 127]}, "128"),
        ({"descriptors": vectors, "model": "arcface"}, "model"),
        ({"descriptors": []}, "descriptors"),
    ]
    for body, words in bad:
        refused = client.post("/api/v1/identify/descriptors", json=body)
        assert refused.status_code == 422
        assert words in refused.json()["detail"]
