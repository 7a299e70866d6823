"""``salesmigo serve`` and ``salesmigo migrate``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salesmigo.cli.context import cli_settings
from salesmigo.cli.output import console, fail

if TYPE_CHECKING:
    from salesmigo.config import Settings

HostOption = Annotated[str | None, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[int | None, typer.Option(help="TCP port to listen on.", min=1, max=65535)]


def run_server(settings: Settings) -> None:
    import uvicorn  # the web stack loads for the commands that serve, not for --help

    from salesmigo.api.app import create_app

    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    except OSError as error:
        fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror}")


def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    settings = cli_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_server(settings.model_copy(update=overrides))


def migrate() -> None:
    """Bring the database schema up to date (serve does this on start too)."""
    from salesmigo.store.db import create_db_engine
    from salesmigo.store.migrate import current_revision, upgrade_to_head

    settings = cli_settings()
    engine = create_db_engine(settings.resolved_database_url)
    try:
        upgrade_to_head(engine)
        console.print(f"database is at revision {current_revision(engine)}")
    finally:
        engine.dispose()
