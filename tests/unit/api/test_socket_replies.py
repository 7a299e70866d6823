from __future__ import annotations

import asyncio
import threading

import pytest

from salesmigo.api.socket_replies import (
    MAX_REASON_BYTES,
    Close,
    ReplyQueue,
    close_for,
    close_reason,
)
from salesmigo.services.errors import Conflict, Forbidden, NotFound, Unauthorized


def test_a_short_reason_is_kept_whole() -> None:
    assert close_reason("the camera token is not valid") == "the camera token is not valid"


def test_a_long_reason_is_cut_to_fit_a_close_frame_on_a_character_boundary() -> None:
    reason = close_reason("camera 'é" + "é" * 100 + "' is disabled")
    assert len(reason.encode()) <= MAX_REASON_BYTES
    assert reason.endswith("…")
    assert reason.startswith("camera 'éé")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Unauthorized("bad token"), 4401),
        (Forbidden("another camera's token"), 4403),
        (NotFound("no such camera"), 4404),
        (Conflict("disabled"), 4409),
    ],
)
def test_user_errors_close_with_4000_plus_their_http_status(error: Exception, code: int) -> None:
    assert close_for(error) == Close(code, str(error))


def test_other_errors_close_as_internal_without_details() -> None:
    close = close_for(RuntimeError("/secret/path/model.onnx is corrupt"))
    assert close.code == 1011
    assert "secret" not in close.reason


def test_only_the_oldest_frame_messages_are_dropped() -> None:
    async def scenario() -> list[object]:
        replies = ReplyQueue(asyncio.get_running_loop(), capacity=2)
        replies.put({"type": "frame", "frame": 0})
        replies.put({"type": "event", "n": 1})
        for index in range(1, 4):
            replies.put({"type": "frame", "frame": index})
        replies.close(Close(1000, "done"))
        await asyncio.sleep(0)  # the puts are handed over through the loop
        got: list[object] = [await replies.get() for _ in range(4)]
        assert replies.dropped == 2
        return got

    assert asyncio.run(scenario()) == [
        {"type": "event", "n": 1},
        {"type": "frame", "frame": 2},
        {"type": "frame", "frame": 3},
        Close(1000, "done"),
    ]


def test_replies_put_from_another_thread_reach_the_loop() -> None:
    async def scenario() -> object:
        replies = ReplyQueue(asyncio.get_running_loop())
        worker = threading.Thread(target=replies.put, args=({"type": "event"},))
        worker.start()
        got = await asyncio.wait_for(replies.get(), 10)
        worker.join()
        return got

    assert asyncio.run(scenario()) == {"type": "event"}


def test_a_put_after_the_loop_closed_is_ignored() -> None:
    loop = asyncio.new_event_loop()
    replies = ReplyQueue(loop)
    loop.close()
    replies.put({"type": "frame"})  # the server stopped: nothing to send to, no error
