"""``GET /camera``: the browser camera page (a phone, tablet or laptop becomes a camera)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["camera page"])

# The page is one file with its script inline; it talks only to this server.
_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; media-src 'self' blob: mediastream:; img-src 'self' data:"
    ),
    # The token may be in the page's address; never send it on as a referrer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@cache
def _page() -> str:
    return files("salesmigo.web").joinpath("camera.html").read_text(encoding="utf-8")


@router.get("/camera", response_class=HTMLResponse)
def camera_page() -> HTMLResponse:
    """Open in a browser on the device whose camera should watch: it asks for the camera's
    name and ingest token (or takes `?camera=NAME#token=TOKEN`), then streams frames to
    `WS /api/v1/ws/cameras/{name}/frames` and draws what the server sees."""
    return HTMLResponse(_page(), headers=_HEADERS)
