"""``salesmigo outbox list|show|requeue|drop``: the events a camera agent's server refused.

A camera agent moves an event the server refuses for good (HTTP 400, 409, 413 or 422:
something about the event itself) to the dead letters of its outbox file, logs the
server's reason and goes on with the next event. These commands let an operator see why,
put events back in the queue once the cause is fixed (the running agent, or its next run,
sends them), or drop them for good. They are safe while the agent runs: every change is
one SQLite transaction on the same file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from salesmigo.cli.camera_cmd import default_outbox
from salesmigo.cli.context import cli_settings
from salesmigo.cli.output import JsonFlag, console, fail, print_json

if TYPE_CHECKING:  # the outbox (pydantic, the event models) loads on use, not for --help
    from salesmigo.cameras.outbox import DeadLetter, Outbox

app = typer.Typer(
    help="Events the server refused, kept in a camera agent's outbox: list, show, requeue, drop.",
    no_args_is_help=True,
)

OutboxPath = Annotated[
    Path | None,
    typer.Option(
        "--outbox",
        help="The agent's outbox file (as given to `salesmigo camera --outbox`).",
        dir_okay=False,
        show_default=False,
    ),
]
CameraName = Annotated[
    str | None,
    typer.Option(
        "--camera",
        help="Instead of --outbox: the camera whose default outbox (DATA_DIR/outbox/) to use.",
        show_default=False,
    ),
]
Seqs = Annotated[
    list[int] | None,
    typer.Argument(help="Dead-letter numbers, as `salesmigo outbox list` shows them."),
]
AllFlag = Annotated[bool, typer.Option("--all", help="Every dead letter.")]


@contextmanager
def _open(path: Path | None, camera: str | None) -> Iterator[Outbox]:
    from salesmigo.cameras.outbox import Outbox

    if (path is None) == (camera is None):
        fail("name the outbox: pass --outbox PATH or --camera NAME (one of them)")
    chosen = path if path is not None else default_outbox(cli_settings().data_dir, str(camera))
    if not chosen.is_file():
        fail(f"there is no outbox at {chosen}")
    try:
        box = Outbox(chosen)
    except sqlite3.DatabaseError as error:
        fail(f"{chosen} is not a camera outbox: {error}")
    try:
        yield box
    finally:
        box.close()


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _as_json(letter: DeadLetter) -> dict[str, object]:
    return {
        "seq": letter.seq,
        "event_id": letter.event_id,
        "type": letter.type,
        "queued_at": _when(letter.queued_at),
        "failed_at": _when(letter.failed_at),
        "status": letter.status,
        "reason": letter.reason,
    }


def _chosen(box: Outbox, seqs: list[int] | None, every: bool) -> list[int]:
    """The dead letters to act on; fails, changing nothing, on a number that is not one."""
    known = [letter.seq for letter in box.dead_letters()]
    if every:
        if seqs:
            fail("pass dead-letter numbers or --all, not both")
        return known
    if not seqs:
        fail("pass the dead-letter numbers to act on (see `salesmigo outbox list`), or --all")
    unknown = sorted(set(seqs) - set(known))
    if unknown:
        fail(
            f"no dead letter numbered {', '.join(map(str, unknown))} in {box.path}; "
            "nothing was changed (see `salesmigo outbox list`)"
        )
    return list(dict.fromkeys(seqs))


@app.command("list")
def list_letters(
    outbox: OutboxPath = None, camera: CameraName = None, as_json: JsonFlag = False
) -> None:
    """The refused events, oldest first, with the server's reason."""
    with _open(outbox, camera) as box:
        letters = box.dead_letters()
        pending = box.pending()
    if as_json:
        print_json({"pending": pending, "dead_letters": [_as_json(x) for x in letters]})
        return
    table = Table("seq", "type", "event id", "refused at", "status", "reason")
    for letter in letters:
        status = str(letter.status) if letter.status is not None else "-"
        table.add_row(
            str(letter.seq),
            letter.type,
            letter.event_id,
            _when(letter.failed_at),
            status,
            letter.reason,
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s); {pending} event(s) waiting to be sent")


@app.command()
def show(
    seq: Annotated[int, typer.Argument(help="The dead letter's number.")],
    outbox: OutboxPath = None,
    camera: CameraName = None,
) -> None:
    """One refused event in full (JSON), with the server's reason."""
    with _open(outbox, camera) as box:
        found = [letter for letter in box.dead_letters() if letter.seq == seq]
    if not found:
        fail(f"no dead letter numbered {seq}; see `salesmigo outbox list`")
    letter = found[0]
    try:
        event: object = json.loads(letter.body)
    except ValueError:
        event = letter.body
    print_json({**_as_json(letter), "event": event})


@app.command()
def requeue(
    seqs: Seqs = None, every: AllFlag = False, outbox: OutboxPath = None, camera: CameraName = None
) -> None:
    """Put refused events back at the end of the queue (after fixing what the server said)."""
    with _open(outbox, camera) as box:
        done = box.requeue(_chosen(box, seqs, every))
    console.print(f"requeued {len(done)} event(s); the agent sends them after those waiting")


def _confirmed(question: str) -> bool:
    try:
        return typer.confirm(question)
    except typer.Abort:  # no terminal to answer from (a script): the answer is no
        return False


@app.command()
def drop(
    seqs: Seqs = None,
    every: AllFlag = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    outbox: OutboxPath = None,
    camera: CameraName = None,
) -> None:
    """Delete refused events for good (they are never sent)."""
    with _open(outbox, camera) as box:
        chosen = _chosen(box, seqs, every)
        if chosen and not yes and not _confirmed(f"delete {len(chosen)} event(s) for good?"):
            fail("nothing was dropped (pass --yes to drop without being asked)")
        done = box.drop(chosen)
    console.print(f"dropped {len(done)} event(s)")
