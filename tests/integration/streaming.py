"""Helpers for tests that stream camera frames to a real server over its WebSocket."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import cv2
import httpx2 as httpx
from websockets.sync.client import ClientConnection, connect

THUMBS_UP_VIDEO = (
    "mediapipe-samples/examples/gesture_recognizer/android/app/src/androidTest/assets/"
    "test_video.mp4"
)
REPLY_SECONDS = 120  # generous: two cores are shared with other test workers


def register_camera(base: str, name: str, role: str, *, aisle: str | None = None) -> str:
    """Create a camera (and its aisle) on the server; its new ingest token."""
    body: dict[str, Any] = {"name": name, "role": role}
    if aisle is not None:
        created = httpx.post(f"{base}/api/v1/aisles", json={"name": aisle})
        assert created.status_code == 201, created.text
        body["aisle_id"] = created.json()["id"]
    camera = httpx.post(f"{base}/api/v1/cameras", json=body)
    assert camera.status_code == 201, camera.text
    issued = httpx.post(f"{base}/api/v1/cameras/{camera.json()['id']}/tokens")
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["token"]
    return token


def frames_url(base: str, camera: str) -> str:
    return base.replace("http://", "ws://", 1) + f"/api/v1/ws/cameras/{camera}/frames"


def video_jpegs(video: Path, indexes: range) -> dict[int, bytes]:
    """The frames of ``video`` at ``indexes``, JPEG-encoded as the camera page sends them."""
    capture = cv2.VideoCapture(str(video))
    assert capture.isOpened(), f"OpenCV cannot open {video}"
    wanted = set(indexes)
    frames: dict[int, bytes] = {}
    index = 0
    try:
        while index <= max(indexes):
            ok, image = capture.read()
            if not ok:
                break
            if index in wanted:
                encoded_ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
                assert encoded_ok
                frames[index] = encoded.tobytes()
            index += 1
    finally:
        capture.release()
    assert len(frames) == len(wanted), f"{video} has fewer frames than the test needs"
    return frames


def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(socket.recv(timeout=REPLY_SECONDS))
    return message


def say_hello(socket: ClientConnection, token: str) -> dict[str, Any]:
    """Authenticate; the server's ``ready`` message."""
    socket.send(json.dumps({"type": "hello", "token": token}))
    ready = receive(socket)
    assert ready["type"] == "ready", ready
    return ready


def send_and_wait(
    socket: ClientConnection, data: bytes, index: int, replies: list[dict[str, Any]]
) -> dict[str, Any]:
    """Send frame number ``index`` and wait for its ``frame`` or ``rejected`` reply.

    One frame at a time, so none is dropped for being late and the test is
    deterministic; every reply that arrives meanwhile (events) goes into ``replies``.
    """
    socket.send(data)
    while True:
        reply = receive(socket)
        replies.append(reply)
        if reply["type"] in ("frame", "rejected") and reply["frame"] == index:
            return reply


def stop(socket: ClientConnection, replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Ask the server to end the camera's tracks; its summary (replies on the way kept)."""
    socket.send(json.dumps({"type": "stop"}))
    while True:
        reply = receive(socket)
        replies.append(reply)
        if reply["type"] == "summary":
            return reply


def connect_camera(base: str, camera: str) -> ClientConnection:
    return connect(frames_url(base, camera), open_timeout=30, max_size=None)


def query(data_dir: Path, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
    """Rows from the server's SQLite database."""
    with sqlite3.connect(data_dir / "salesmigo.db") as db:
        return db.execute(sql, parameters).fetchall()
