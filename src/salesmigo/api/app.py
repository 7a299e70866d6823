"""The FastAPI app factory: nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from salesmigo import __version__
from salesmigo.api.errors import install_error_handlers
from salesmigo.api.routes import (
    camera_frames,
    camera_page,
    customers,
    events,
    frames,
    identify,
    live,
    places,
    sentiment,
)
from salesmigo.config import Settings, load_settings
from salesmigo.services.camera_streams import CameraStreams
from salesmigo.services.runtime import open_runtime
from salesmigo.vision.pipeline import FacePipeline


def create_app(settings: Settings | None = None, pipeline: FacePipeline | None = None) -> FastAPI:
    """Build the app; the database, gallery and models open in its lifespan, not here."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = open_runtime(resolved, pipeline)
        # A server answers from the gallery and must see other processes' enrolments.
        await run_in_threadpool(runtime.follow_gallery_changes)
        app.state.runtime = runtime
        streams = app.state.camera_streams = CameraStreams()
        try:
            yield
        finally:
            # Cameras still streaming end their tracks and store their last visits while
            # the database is still open.
            await run_in_threadpool(streams.close_all)
            runtime.close()

    app = FastAPI(
        title="Salesmigo",
        version=__version__,
        description="Recognise registered customers in store and tell the staff.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(customers.router, prefix="/api/v1")
    app.include_router(identify.router, prefix="/api/v1")
    app.include_router(places.router, prefix="/api/v1")
    app.include_router(sentiment.router, prefix="/api/v1")
    app.include_router(frames.router, prefix="/api/v1")
    app.include_router(events.router, prefix="/api/v1")
    app.include_router(live.router, prefix="/api/v1")
    app.include_router(camera_frames.router, prefix="/api/v1")
    app.include_router(camera_page.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
