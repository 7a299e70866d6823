"""The camera page's WebSocket on a real server: real frames, real models, real database."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx2 as httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.integration.servers import server as running_server
from tests.integration.servers import start_server, wait_for
from tests.integration.streaming import (
    THUMBS_UP_VIDEO,
    connect_camera,
    query,
    receive,
    register_camera,
    say_hello,
    send_and_wait,
    stop,
    video_jpegs,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Server:
    base: str
    data_dir: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("camera-page") / "server"
    with running_server(data_dir) as base:
        yield Server(base, data_dir)


def closed(socket: ClientConnection) -> tuple[int | None, str | None]:
    """Wait for the server to close the socket; its code and reason."""

    def drain() -> None:
        while True:
            receive(socket)

    with pytest.raises(ConnectionClosed):
        drain()
    return socket.close_code, socket.close_reason


def enrol(base: str, name: str, email: str, photo: bytes) -> int:
    created = httpx.post(
        f"{base}/api/v1/customers",
        data={"name": name, "email": email, "consent": "true"},
        files=[("photos", ("photo.jpg", photo, "image/jpeg"))],
        timeout=60,
    )
    assert created.status_code == 201, created.text
    customer_id: int = created.json()["id"]
    return customer_id


def test_an_entrance_stream_stores_one_visit_of_the_recognised_customer(
    server: Server, testdata: Path
) -> None:
    video = testdata / THUMBS_UP_VIDEO
    frames = video_jpegs(video, range(0, 66, 2))
    # Enrolled from the first frame; recognised in the later ones.
    customer = enrol(server.base, "Thumbs Up", "thumbs@example.com", frames.pop(0))
    token = register_camera(server.base, "front-door", "entrance")
    screen = connect(server.base.replace("http://", "ws://") + "/api/v1/ws/events")
    replies: list[dict[str, Any]] = []
    with screen, connect_camera(server.base, "front-door") as camera:
        ready = say_hello(camera, token)
        assert (ready["camera"], ready["role"]) == ("front-door", "entrance")
        for sent, data in enumerate(frames.values()):
            reply = send_and_wait(camera, data, sent, replies)
            assert reply["type"] == "frame", reply
        summary = stop(camera, replies)
        assert closed(camera) == (1000, "stopped by the page")
        published = json.loads(screen.recv(timeout=60))
        while published["camera"] != "front-door":  # other tests' cameras share the server
            published = json.loads(screen.recv(timeout=60))

    annotated = [r for r in replies if r["type"] == "frame"]
    assert len(annotated) == len(frames)
    assert all(r["width"] == 640 for r in annotated)  # the video's own width
    faces = [face for r in annotated for face in r["faces"]]
    assert faces, "no face was reported back"
    assert all(len(face["box"]) == 4 for face in faces)
    assert any(face["name"] == "Thumbs Up" for face in faces), "the customer was never named"

    events = [r for r in replies if r["type"] == "event"]
    # One visit: its arrival (named if the vote settled within the arrival window, which
    # these slowly pushed frames rarely allow; anonymous otherwise) and its departure,
    # which names her.
    assert [(e["event"]["type"], e["stored"]) for e in events] == [
        ("arrival", True),
        ("departure", True),
    ]
    arrival, departure = (e["event"] for e in events)
    assert arrival["customer_id"] in (None, customer)
    assert departure["customer_id"] == customer
    assert arrival["visit_id"] == departure["visit_id"]
    stats = summary["stats"]
    assert stats["received"] == stats["processed"] == len(frames)
    assert (stats["dropped"], stats["rejected"]) == (0, 0)
    assert (stats["visits"], stats["stored"], stats["unstored"]) == (1, 2, 0)

    visits = query(server.data_dir, "SELECT customer_id FROM visits WHERE source = ?", "front-door")
    assert visits == [(customer,)]
    stored_ids = query(server.data_dir, "SELECT event_id FROM ingested_events")
    assert (events[0]["event"]["id"],) in stored_ids
    # The staff screens heard of it through the realtime bus.
    assert (published["type"], published["camera"], published["visit_id"]) == (
        "arrival",
        "front-door",
        arrival["visit_id"],
    )


def test_an_aisle_stream_stores_observations_and_skips_bad_frames(
    server: Server, testdata: Path
) -> None:
    frames = list(video_jpegs(testdata / THUMBS_UP_VIDEO, range(0, 195, 2)).values())
    token = register_camera(server.base, "gloves-cam", "aisle", aisle="Gloves")
    not_an_image = b"this is not a JPEG"
    too_large = b"\xff\xd8" + bytes(2 * 1024 * 1024)  # over camera_page.max_frame_bytes
    # The bad frames arrive among good ones; the stream goes on after them.
    sequence = [*frames[:10], not_an_image, *frames[10:20], too_large, *frames[20:]]
    replies: list[dict[str, Any]] = []
    with connect_camera(server.base, "gloves-cam") as camera:
        say_hello(camera, token)
        outcomes = [send_and_wait(camera, data, i, replies) for i, data in enumerate(sequence)]
        summary = stop(camera, replies)
        assert closed(camera)[0] == 1000

    rejected = [r for r in outcomes if r["type"] == "rejected"]
    assert [r["frame"] for r in rejected] == [10, 21]
    assert "not an image" in rejected[0]["reason"]
    assert "limit" in rejected[1]["reason"]
    assert sum(r["type"] == "frame" for r in outcomes) == len(frames)
    stats = summary["stats"]
    assert (stats["received"], stats["processed"], stats["rejected"]) == (
        len(sequence),
        len(frames),
        2,
    )

    stored = [r["event"] for r in replies if r["type"] == "event" and r["stored"]]
    assert stats["stored"] == len(stored) == stats["observations"] > 0
    assert stats["visits"] == 0  # an aisle camera reports what people feel, not visits
    expressions = query(
        server.data_dir,
        "SELECT count(*) FROM expression_observations o JOIN cameras c ON c.id = o.camera_id "
        "WHERE c.name = ?",
        "gloves-cam",
    )[0][0]
    gestures = [
        row[0]
        for row in query(
            server.data_dir,
            "SELECT o.gesture FROM gesture_observations o JOIN cameras c ON c.id = o.camera_id "
            "WHERE c.name = ?",
            "gloves-cam",
        )
    ]
    assert expressions + len(gestures) == len(stored)
    assert expressions > 0
    assert "thumbs_up" in gestures  # what the woman in the video does


def test_frames_are_refused_without_the_cameras_own_valid_token(server: Server) -> None:
    token = register_camera(server.base, "till", "entrance")
    other = register_camera(server.base, "stockroom", "entrance")

    def refusal(camera: str, hello: str | bytes) -> tuple[int | None, str | None]:
        with connect_camera(server.base, camera) as socket:
            socket.send(hello)
            return closed(socket)

    def hello(secret: str) -> str:
        return json.dumps({"type": "hello", "token": secret})

    assert refusal("till", hello("not-a-token")) == (
        4401,
        "the camera token is not valid (unknown or revoked)",
    )
    assert refusal("till", hello(other)) == (
        4403,
        "this token belongs to camera 'stockroom', not 'till'",
    )
    assert refusal("nowhere", hello(token)) == (4404, "camera 'nowhere' does not exist")
    code, reason = refusal("till", b"\xff\xd8 a frame before the token")
    assert code == 4400
    assert '"type": "hello"' in str(reason)

    cameras = httpx.get(f"{server.base}/api/v1/cameras").json()
    till = next(c["id"] for c in cameras if c["name"] == "till")
    disabled = httpx.patch(f"{server.base}/api/v1/cameras/{till}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert refusal("till", hello(token)) == (
        4403,
        "camera 'till' is disabled; enable it to record its events",
    )
    revoked = httpx.delete(f"{server.base}/api/v1/cameras/{till}/tokens")
    assert revoked.status_code == 204
    assert refusal("till", hello(token))[0] == 4401


def test_a_second_page_for_a_streaming_camera_is_refused(server: Server) -> None:
    token = register_camera(server.base, "fitting-1", "fitting_room")
    with connect_camera(server.base, "fitting-1") as first:
        say_hello(first, token)
        with connect_camera(server.base, "fitting-1") as second:
            second.send(json.dumps({"type": "hello", "token": token}))
            assert closed(second) == (
                4409,
                "camera 'fitting-1' is already streaming from another page; close that one first",
            )
        # The first page is unaffected by the refused one.
        replies: list[dict[str, Any]] = []
        ok, image = cv2.imencode(".png", np.zeros((64, 64, 3), dtype=np.uint8))
        assert ok
        assert send_and_wait(first, image.tobytes(), 0, replies)["type"] == "frame"
        stop(first, replies)
        assert closed(first)[0] == 1000
    # Once the first page has stopped, the camera is free again.
    with connect_camera(server.base, "fitting-1") as again:
        assert say_hello(again, token)["camera"] == "fitting-1"


def test_stopping_the_server_ends_the_stream_and_stores_its_visit(
    tmp_path: Path, testdata: Path
) -> None:
    data_dir = tmp_path / "server"
    process, base = start_server(data_dir)
    try:
        token = register_camera(base, "side-door", "entrance")
        frames = video_jpegs(testdata / THUMBS_UP_VIDEO, range(0, 40, 2))
        replies: list[dict[str, Any]] = []
        with connect_camera(base, "side-door") as camera:
            say_hello(camera, token)
            for sent, data in enumerate(frames.values()):
                send_and_wait(camera, data, sent, replies)
            process.terminate()  # SIGTERM, as a service manager stops the server
            code, _ = closed(camera)
        # uvicorn ends a graceful shutdown by re-raising the signal it caught.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    # The person still in view when the server stopped got their visit.
    assert code in (1001, 1012)  # going away / service restart
    (log,) = tmp_path.glob("server-*.log")
    assert "Application shutdown complete" in log.read_text()
    assert query(data_dir, "SELECT count(*) FROM visits WHERE source = ?", "side-door") == [(1,)]


@pytest.mark.parametrize(
    ("change", "close_code", "reason"),
    [
        ("revoke", 4401, "the camera token is not valid (unknown or revoked)"),
        ("disable", 4403, "camera 'shoes-disable' is disabled; enable it to record its events"),
    ],
)
def test_revoking_the_token_or_disabling_the_camera_ends_a_page_that_is_streaming(
    server: Server, testdata: Path, change: str, close_code: int, reason: str
) -> None:
    name = f"shoes-{change}"
    token = register_camera(server.base, name, "aisle", aisle=f"Shoes ({change})")
    cameras = httpx.get(f"{server.base}/api/v1/cameras").json()
    camera_id = next(c["id"] for c in cameras if c["name"] == name)
    frames = list(video_jpegs(testdata / THUMBS_UP_VIDEO, range(0, 195, 2)).values())
    replies: list[dict[str, Any]] = []
    with connect_camera(server.base, name) as camera:
        say_hello(camera, token)
        if change == "revoke":
            changed = httpx.delete(f"{server.base}/api/v1/cameras/{camera_id}/tokens")
            assert changed.status_code == 204
        else:
            changed = httpx.patch(
                f"{server.base}/api/v1/cameras/{camera_id}", json={"enabled": False}
            )
            assert changed.status_code == 200

        # Frames are still taken; the first event the camera reports is refused.
        def stream_all() -> None:
            for index, data in enumerate(frames):
                send_and_wait(camera, data, index, replies)

        with pytest.raises(ConnectionClosed):
            stream_all()
        assert (camera.close_code, camera.close_reason) == (close_code, reason)
    assert not [r for r in replies if r["type"] == "event" and r["stored"]]
    stored = query(
        server.data_dir,
        "SELECT count(*) FROM ingested_events e JOIN cameras c "
        "ON c.id = e.camera_id WHERE c.name = ?",
        name,
    )
    assert stored == [(0,)]


def test_the_camera_page_is_served_as_one_self_contained_file(server: Server) -> None:
    page = httpx.get(f"{server.base}/camera")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # It talks only to this server, and never passes its address (maybe a token) on.
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "/api/v1/ws/cameras/" in page.text
    assert "<script src" not in page.text  # nothing vendored, nothing fetched


def test_a_page_that_goes_without_stopping_still_gets_its_visit_stored(
    server: Server, testdata: Path
) -> None:
    token = register_camera(server.base, "back-door", "entrance")
    frames = video_jpegs(testdata / THUMBS_UP_VIDEO, range(0, 40, 2))
    replies: list[dict[str, Any]] = []
    with connect_camera(server.base, "back-door") as camera:
        say_hello(camera, token)
        for sent, data in enumerate(frames.values()):
            send_and_wait(camera, data, sent, replies)
    # The tab closed: the server ends the track on its own, after the socket is gone.
    wait_for(
        lambda: (
            query(server.data_dir, "SELECT count(*) FROM visits WHERE source = ?", "back-door")
            == [(1,)]
        ),
        60,
        "the visit of the page that went away was never stored",
    )
