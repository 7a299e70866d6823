"""Messages for one WebSocket, put from any thread and sent by one task on the event loop.

A camera's worker threads produce replies; only the event loop may touch the socket. The
queue hands them over with ``call_soon_threadsafe`` and keeps per-frame messages bounded:
a page that reads slowly needs the newest boxes, not a backlog, so beyond ``capacity``
the oldest ``frame`` message goes. Events, rejections and the final close never do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any

from salesmigo.api.errors import status_of
from salesmigo.services.errors import SalesmigoError

Message = dict[str, Any]

# RFC 6455: a close frame carries at most 125 bytes, two of them the code.
MAX_REASON_BYTES = 123
INTERNAL_ERROR = 1011
INTERNAL_REASON = "the camera pipeline failed; the server log has the details"


@dataclass(frozen=True)
class Close:
    """Close the socket with this code and reason (a sentence for the page to show)."""

    code: int
    reason: str


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame, on a character boundary, marked with an ellipsis."""
    if len(text.encode()) <= MAX_REASON_BYTES:
        return text
    cut = text.encode()[: MAX_REASON_BYTES - len("…".encode())].decode(errors="ignore")
    return cut + "…"


def close_for(error: BaseException) -> Close:
    """How a socket closes on ``error``: 4000 + the HTTP status and the error's sentence for
    a user-caused error; 1011 and no details for anything else (they go to the log)."""
    if isinstance(error, SalesmigoError):
        return Close(4000 + status_of(error), close_reason(str(error)))
    return Close(INTERNAL_ERROR, INTERNAL_REASON)


def _droppable(item: Message | Close) -> bool:
    return isinstance(item, dict) and item.get("type") == "frame"


class ReplyQueue:
    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._loop = loop
        self.capacity = capacity
        self._items: deque[Message | Close] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, message: Message) -> None:
        """Queue ``message`` (from any thread)."""
        self._hand_over(message)

    def close(self, close: Close) -> None:
        """Queue the end of the conversation (from any thread): ``get`` returns it last."""
        self._hand_over(close)

    def _hand_over(self, item: Message | Close) -> None:
        # RuntimeError: the loop has closed, so the server stopped and the socket with it.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._append, item)

    def _append(self, item: Message | Close) -> None:
        self._items.append(item)
        if _droppable(item) and sum(map(_droppable, self._items)) > self.capacity:
            oldest = next(i for i in self._items if _droppable(i))
            self._items.remove(oldest)
            self.dropped += 1
        self._ready.set()

    async def get(self) -> Message | Close:
        """The oldest item, waiting for one."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()
