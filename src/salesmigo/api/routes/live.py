"""A WebSocket that streams what the cameras see, as it is stored."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from salesmigo.services.live import EVENTS_TOPIC
from salesmigo.services.runtime import Runtime

router = APIRouter(tags=["live"])

_POLL_SECONDS = 0.1


@router.websocket("/ws/events")
async def stream_events(websocket: WebSocket) -> None:
    """Every visit, expression and gesture event as JSON, from the moment of connecting."""
    runtime: Runtime = websocket.app.state.runtime
    subscription = runtime.bus.subscribe(EVENTS_TOPIC)
    await websocket.accept()
    try:
        while True:
            for message in subscription.drain():
                await websocket.send_json(message)
            # Polling a local queue keeps blocking reads (and threads) off the event loop.
            await asyncio.sleep(_POLL_SECONDS)
    except WebSocketDisconnect:
        pass
    finally:
        subscription.close()
