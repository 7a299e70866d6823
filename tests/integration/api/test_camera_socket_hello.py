"""The camera socket's first message, in process: no models are loaded for a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from salesmigo.api.app import create_app
from salesmigo.config import CameraPageSettings, Settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, camera_page=CameraPageSettings(hello_seconds=0.2))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def refusal(client: TestClient, first: str | None, camera: str = "door") -> tuple[int, str]:
    with client.websocket_connect(f"/api/v1/ws/cameras/{camera}/frames") as socket:
        if first is not None:
            socket.send_text(first)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    return closed.value.code, closed.value.reason


def test_a_page_that_never_says_hello_is_closed(client: TestClient) -> None:
    code, reason = refusal(client, None)
    assert code == 4408
    assert reason.startswith("no hello within 0.2 s;")


@pytest.mark.parametrize(
    "first",
    ["not json", '{"token": "abc"}', '{"type": "hello"}', '{"type": "hello", "token": "  "}'],
)
def test_a_malformed_hello_is_refused_with_the_expected_form(
    client: TestClient, first: str
) -> None:
    assert refusal(client, first) == (
        4400,
        'the first message must be {"type": "hello", "token": "<camera token>"}',
    )


def test_a_camera_name_may_contain_slashes(client: TestClient) -> None:
    # "floor-2/left" reaches the socket (and is refused only for its bad hello).
    assert refusal(client, "{}", camera="floor-2/left")[0] == 4400
