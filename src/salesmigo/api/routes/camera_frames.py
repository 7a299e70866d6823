"""``WS /api/v1/ws/cameras/{name}/frames``: a browser camera page streams its frames here.

The conversation, JSON text unless said otherwise:

1. page → ``{"type": "hello", "token": "<camera token>"}`` first, within
   ``camera_page.hello_seconds`` (a browser cannot set an Authorization header on a
   WebSocket, and a token in the URL would end up in access logs);
2. server → ``{"type": "ready", "camera", "role", "fps", "max_width", "max_frame_bytes"}``
   once the camera's pipeline is loaded;
3. page → binary messages, each one JPEG or PNG frame; server → per processed frame
   ``{"type": "frame", "frame": n, "width", "height", "faces": [...], "stats": {...}}``
   (``n`` counts the binary messages from 0), ``{"type": "rejected", "frame": n,
   "reason"}`` for a frame too large or not an image, ``{"type": "event", "event",
   "stored"}`` for each visit or observation stored;
4. page → ``{"type": "stop"}``: the server ends the camera's tracks (their visits are
   stored), answers ``{"type": "summary", "stats"}`` and closes with 1000.

Closing without ``stop`` ends the tracks too. Refusals close with 4000 + the HTTP status
and a sentence: 4400 no hello, 4401 bad token, 4403 another camera's token or a disabled
camera, 4404 unknown camera, 4408 no hello in time, 4409 already streaming from another
page; 1011 when the pipeline fails (details in the server log only).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from salesmigo.api.socket_replies import Close, ReplyQueue, close_for, close_reason
from salesmigo.config import CameraPageSettings
from salesmigo.services.camera_streams import CameraStream, CameraStreams, authorise_stream
from salesmigo.services.errors import SalesmigoError
from salesmigo.services.runtime import Runtime

logger = logging.getLogger(__name__)

router = APIRouter(tags=["camera page"])

HELLO = 'the first message must be {"type": "hello", "token": "<camera token>"}'
BAD_REQUEST = 4400
TIMEOUT = 4408
NORMAL = 1000


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.close = Close(code, close_reason(reason))


class _Ending(enum.Enum):
    STOP = "the page asked to stop"
    GONE = "the page went away"


@router.websocket("/ws/cameras/{camera_name:path}/frames")
async def camera_frames(websocket: WebSocket, camera_name: str) -> None:
    """Frames of one camera in, what it sees out; see the module docstring."""
    runtime: Runtime = websocket.app.state.runtime
    streams: CameraStreams = websocket.app.state.camera_streams
    page = runtime.settings.camera_page
    # Accept first: a refusal before accepting reaches a browser as a bare failure, with
    # neither code nor reason to show.
    await websocket.accept()
    replies = ReplyQueue(asyncio.get_running_loop())
    try:
        token = await _hello(websocket, page.hello_seconds)
        camera = await run_in_threadpool(authorise_stream, runtime, camera_name, token)
        stream = streams.open(
            runtime, camera, token, replies.put, lambda error: replies.close(close_for(error))
        )
    except _Refused as refusal:
        await _close(websocket, refusal.close)
        return
    except SalesmigoError as error:
        await _close(websocket, close_for(error))
        return
    except WebSocketDisconnect:
        return
    try:
        await _serve(websocket, streams, stream, replies, page)
    finally:
        await run_in_threadpool(streams.release, stream)


async def _hello(websocket: WebSocket, seconds: float) -> str:
    """The token from the page's first message."""
    try:
        message = await asyncio.wait_for(websocket.receive(), seconds)
    except TimeoutError:
        raise _Refused(TIMEOUT, f"no hello within {seconds:g} s; {HELLO}") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    try:
        hello = json.loads(message.get("text") or "")
    except ValueError:
        hello = None
    token = hello.get("token") if isinstance(hello, dict) and hello.get("type") == "hello" else None
    if not isinstance(token, str) or not token.strip():
        raise _Refused(BAD_REQUEST, HELLO)
    return token.strip()


async def _serve(
    websocket: WebSocket,
    streams: CameraStreams,
    stream: CameraStream,
    replies: ReplyQueue,
    page: CameraPageSettings,
) -> None:
    try:
        await run_in_threadpool(stream.start)
    except Exception as error:
        if not isinstance(error, SalesmigoError):
            logger.exception("camera %s: the pipeline did not start", stream.camera.name)
        await _close(websocket, close_for(error))
        return
    ready = {
        "type": "ready",
        "camera": stream.camera.name,
        "role": stream.camera.role,
        "fps": page.fps,
        "max_width": page.max_width,
        "max_frame_bytes": page.max_frame_bytes,
    }
    try:
        await websocket.send_json(ready)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the page left while the models loaded
    receiver = asyncio.create_task(_receive(websocket, stream, replies))
    sender = asyncio.create_task(_send(websocket, replies))
    try:
        done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done and _ending(receiver) is _Ending.STOP:
            # Released before the page hears "stopped": it may reconnect at once.
            stats = await run_in_threadpool(streams.release, stream)
            replies.put({"type": "summary", "stats": stats.as_json()})
            replies.close(Close(NORMAL, "stopped by the page"))
            ending = await sender  # every reply queued before the close goes out first
        else:
            ending = sender.result() if sender in done else None
        if ending is not None:
            await _close(websocket, ending)
    finally:
        receiver.cancel()
        sender.cancel()


def _ending(receiver: asyncio.Task[_Ending]) -> _Ending:
    """Why the receiving task ended; a socket that failed under it has gone too."""
    error = receiver.exception()
    if error is not None:
        logger.info("camera socket ended: %s", error)
        return _Ending.GONE
    return receiver.result()


async def _receive(websocket: WebSocket, stream: CameraStream, replies: ReplyQueue) -> _Ending:
    """Frames to the stream until the page stops or goes."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return _Ending.GONE
        data = message.get("bytes")
        if data is not None:
            stream.push(data)
            continue
        try:
            request = json.loads(message.get("text") or "")
        except ValueError:
            request = None
        if isinstance(request, dict) and request.get("type") == "stop":
            return _Ending.STOP
        replies.put(
            {
                "type": "error",
                "detail": 'send frames as binary messages, or {"type": "stop"} to end',
            }
        )


async def _send(websocket: WebSocket, replies: ReplyQueue) -> Close | None:
    """Replies to the page until a close is queued (returned) or the page goes (None)."""
    while True:
        item = await replies.get()
        if isinstance(item, Close):
            return item
        try:
            await websocket.send_json(item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return None


async def _close(websocket: WebSocket, close: Close) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the page left
        await websocket.close(close.code, close.reason)
