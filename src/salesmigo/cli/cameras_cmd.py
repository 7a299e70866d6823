"""``salesmigo cameras add|list|token|revoke``: set up cameras and their agents' tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from salesmigo.cli.context import cli_runtime
from salesmigo.cli.output import JsonFlag, console, fail, print_json

# The services and the database (SQLAlchemy, Alembic, faiss) load when a command runs, not
# for --help.
if TYPE_CHECKING:
    from salesmigo.services.runtime import Runtime

app = typer.Typer(
    help="Cameras and the tokens their agents send events with.", no_args_is_help=True
)


def _camera_id(runtime: Runtime, name: str) -> int:
    from sqlalchemy import select

    from salesmigo.store.models import Camera

    with runtime.sessions() as session:
        found = session.scalar(select(Camera.id).where(Camera.name == name))
    if found is None:
        fail(f"camera {name!r} does not exist; see `salesmigo cameras list`")
    return found


@app.command()
def add(
    name: str,
    role: Annotated[str, typer.Option(help="entrance, aisle or fitting_room")] = "entrance",
    aisle: Annotated[str | None, typer.Option(help="Aisle name; created if new.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a camera (and its aisle if it does not exist yet)."""
    from sqlalchemy import select

    from salesmigo.services import places
    from salesmigo.store.models import Aisle

    with cli_runtime() as runtime:
        aisle_id = None
        if aisle:
            with runtime.sessions() as session:
                aisle_id = session.scalar(select(Aisle.id).where(Aisle.name == aisle))
            if aisle_id is None:
                aisle_id = places.create_aisle(runtime, {"name": aisle}).id
        camera = places.create_camera(
            runtime, {"name": name, "role": role, "aisle_id": aisle_id, "enabled": True}
        )
    if as_json:
        print_json({"id": camera.id, "name": camera.name, "role": camera.role})
    else:
        console.print(f"camera {camera.id} {camera.name!r} ({camera.role}) added")


@app.command("list")
def list_cameras(as_json: JsonFlag = False) -> None:
    """List the cameras."""
    from salesmigo.services import places

    with cli_runtime() as runtime:
        cameras = places.list_cameras(runtime)
    if as_json:
        print_json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "role": c.role,
                    "aisle_id": c.aisle_id,
                    "enabled": c.enabled,
                }
                for c in cameras
            ]
        )
        return
    table = Table("id", "name", "role", "aisle", "enabled")
    for c in cameras:
        table.add_row(
            str(c.id), c.name, c.role, str(c.aisle_id or ""), "yes" if c.enabled else "no"
        )
    console.print(table)


@app.command()
def token(name: str) -> None:
    """Issue a token for the camera's agent (shown once; only its hash is kept)."""
    from salesmigo.services import camera_tokens

    with cli_runtime() as runtime:
        issued = camera_tokens.issue_token(runtime, _camera_id(runtime, name))
    typer.echo(issued)


@app.command()
def revoke(name: str) -> None:
    """Revoke every token of the camera."""
    from salesmigo.services import camera_tokens

    with cli_runtime() as runtime:
        count = camera_tokens.revoke_tokens(runtime, _camera_id(runtime, name))
    console.print(f"revoked {count} token(s) of camera {name!r}")
