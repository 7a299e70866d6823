"""``salesmigo camera``: run the pipeline next to a camera and send its events to the server.

Every event goes into a durable on-disk outbox first; a background deliverer sends the
outbox to the server in order and removes what the server acknowledged. While the server
is unreachable events wait on disk (and survive a restart of the agent); a wrong token or
an unknown camera stops the run with the server's reason; an event the server refuses is
kept as a dead letter in the outbox (`salesmigo outbox`) and the others go on.
"""

from __future__ import annotations

import enum
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from salesmigo.cli.context import cli_settings
from salesmigo.cli.output import JsonFlag, console, errors, fail, print_json

# The agent's modules (numpy, OpenCV, the models, the HTTP client) load when the command
# runs, not for --help.
if TYPE_CHECKING:
    from salesmigo.cameras.delivery import Deliverer, DeliveryStats
    from salesmigo.cameras.outbox import Outbox
    from salesmigo.cameras.pipeline import Event
    from salesmigo.cameras.remote_identify import RemoteIdentifier
    from salesmigo.cameras.sources import SourceFrame, StreamSource, UsbSource, VideoFileSource
    from salesmigo.cameras.worker import CameraWorker, WorkerStats

# Only the CLI reads the agent's token (EventSender is handed it), so its variable lives here:
# importing the delivery module for it would load the HTTP client and pydantic for --help.
TOKEN_ENV = "SALESMIGO_CAMERA_TOKEN"


class CameraRole(enum.StrEnum):
    entrance = "entrance"
    aisle = "aisle"
    fitting_room = "fitting_room"


SourceOption = Annotated[
    str,
    typer.Option(
        "--source",
        help="A video file, an rtsp:// or http(s):// stream, or usb:N.",
        show_default=False,
    ),
]
CameraOption = Annotated[
    str,
    typer.Option(
        "--camera", help="The camera's name as registered on the server.", show_default=False
    ),
]
ServerOption = Annotated[
    str,
    typer.Option(
        "--server", help="The server's base URL, e.g. http://shop:8000.", show_default=False
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        show_envvar=True,
        help="This camera's ingest token (prefer the environment variable: no shell history).",
        show_default=False,
    ),
]
OutboxOption = Annotated[
    Path | None,
    typer.Option(
        "--outbox",
        help="SQLite file of events waiting for the server "
        "(default: DATA_DIR/outbox/CAMERA.sqlite).",
        dir_okay=False,
        show_default=False,
    ),
]
AnnotateOption = Annotated[
    Path | None,
    typer.Option(
        "--annotate",
        help="Also write the frames with tracks and labels to this MP4 file.",
        dir_okay=False,
    ),
]
RoleOption = Annotated[
    CameraRole, typer.Option("--role", help="Where the camera hangs: what it reports.")
]
MaxWidthOption = Annotated[
    int, typer.Option("--max-width", min=160, help="Downscale wider frames to this width.")
]
FlushOption = Annotated[
    float,
    typer.Option(
        "--flush-timeout",
        min=0,
        help="At the end, seconds to wait for the server to take the queued events.",
    ),
]

RealtimeOption = Annotated[
    bool,
    typer.Option(
        "--realtime", help="Read a video file at its own frame rate, as a live camera would."
    ),
]

_POLL = 0.2  # seconds between progress updates


def default_outbox(data_dir: Path, camera: str) -> Path:
    """A file name for `camera` that is safe on every file system."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", camera).strip("._") or "camera"
    return data_dir / "outbox" / f"{safe}.sqlite"


def _frame_count(source: VideoFileSource | StreamSource | UsbSource) -> int | None:
    """How many frames a video file holds (for the progress bar); None for live sources."""
    from salesmigo.cameras.sources import VideoFileSource

    if not isinstance(source, VideoFileSource):
        return None
    import cv2

    capture = cv2.VideoCapture(str(source.path))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return count if count > 0 else None


def camera(
    source: SourceOption,
    camera: CameraOption,
    server: ServerOption,
    token: TokenOption = None,
    outbox: OutboxOption = None,
    annotate: AnnotateOption = None,
    role: RoleOption = CameraRole.entrance,
    max_width: MaxWidthOption = 640,
    flush_timeout: FlushOption = 60.0,
    realtime: RealtimeOption = False,
    as_json: JsonFlag = False,
) -> None:
    """Run the camera pipeline here and send its events to the server."""
    if not token:
        fail(f"no camera token: set {TOKEN_ENV} (or pass --token)")
    if not server.startswith(("http://", "https://")):
        fail(f"--server must be an http:// or https:// URL, not {server!r}")
    outbox_path = outbox or default_outbox(cli_settings().data_dir, camera)

    from salesmigo.cameras.delivery import Deliverer, EventSender
    from salesmigo.cameras.outbox import Outbox
    from salesmigo.cameras.remote_identify import RemoteIdentifier
    from salesmigo.cameras.sources import SourceError, open_source

    try:
        frames = open_source(source, max_width=max_width, realtime=realtime)
    except SourceError as error:
        fail(str(error))
    try:
        box = Outbox(outbox_path)
    except Exception as error:
        fail(f"cannot open the outbox {outbox_path}: {error}")
    left_over = box.pending()
    if left_over:
        errors.print(f"{left_over} event(s) from an earlier run wait in {outbox_path}")
    sender = EventSender(server, camera, token)
    deliverer = Deliverer(box, sender).start()
    try:
        _run(
            frames,
            box,
            deliverer,
            RemoteIdentifier(server),
            camera,
            role,
            annotate,
            flush_timeout,
            as_json,
        )
    finally:
        deliverer.stop()
        sender.close()
        box.close()


def _run(
    source: VideoFileSource | StreamSource | UsbSource,
    box: Outbox,
    deliverer: Deliverer,
    identify: RemoteIdentifier,
    camera: str,
    role: CameraRole,
    annotate: Path | None,
    flush_timeout: float,
    as_json: bool,
) -> None:
    from salesmigo.cameras.annotate import AnnotatedVideoWriter, pipeline_labels
    from salesmigo.cameras.configured import configured_pipeline
    from salesmigo.cameras.sources import VideoFileSource
    from salesmigo.cameras.worker import CameraWorker

    lost: list[str] = []
    produced = 0

    def on_event(event: Event) -> None:
        nonlocal produced
        produced += 1
        try:
            box.put(event)
        except Exception as error:  # the disk is full or the file is gone: say so loudly
            lost.append(f"{event.type} {event.id}: {error}")
            raise

    # Progress and status go to stderr, so that --json leaves stdout to the summary.
    with errors.status("loading models"):
        pipeline = configured_pipeline(
            cli_settings(), identify, role=role.value, camera=camera, on_event=on_event
        )
    fps = source.fps if isinstance(source, VideoFileSource) else 25.0
    writer = AnnotatedVideoWriter(annotate, fps=fps) if annotate else None
    write_lock = threading.Lock()

    def on_frame(frame: SourceFrame, _result: object) -> None:
        if writer is not None:
            with write_lock:
                writer.write(frame.image, pipeline_labels(pipeline))

    total = _frame_count(source)
    worker = CameraWorker(source, pipeline, name=camera, on_frame=on_frame)
    interrupted = False
    try:
        worker.start()
        interrupted = _watch(worker, deliverer, total)
        stats = worker.stop() if interrupted or deliverer.error else worker.join()
    finally:
        pipeline.close()
        identify.close()
        if writer is not None:
            writer.close()
    if worker.error is not None:
        errors.print(f"[bold red]the camera pipeline failed:[/] {worker.error}")
    flushed = deliverer.error is None and _flush(deliverer, box, flush_timeout)
    if as_json:
        print_json(_summary_json(stats, produced, deliverer.stats, box.pending()))
    else:
        _summary(stats, deliverer.stats, box.pending(), box.path, annotate)
    if lost:
        errors.print(f"[bold red]{len(lost)} event(s) could not be queued:[/] {lost[0]}")
    if deliverer.error is not None:
        fail(f"delivery stopped: {deliverer.error}")
    refused = deliverer.stats.dead_lettered
    if refused:
        fail(
            f"the server refused {refused} event(s); they are kept as dead letters in "
            f"{box.path}: see `salesmigo outbox list --outbox {box.path}`"
        )
    if interrupted:
        raise typer.Exit(130)
    if not flushed:
        fail(
            f"{box.pending()} event(s) not yet delivered wait in {box.path}; "
            f"they are sent on the next run (last error: {deliverer.stats.last_error})"
        )
    if worker.error is not None or lost:
        raise typer.Exit(1)


def _watch(worker: CameraWorker, deliverer: Deliverer, total: int | None) -> bool:
    """Show progress until the source ends; True if the operator pressed Ctrl-C."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames" if total else "{task.completed} frames"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=errors, transient=False) as progress:
            task = progress.add_task(worker.name, total=total, status="")
            while worker.running:
                if deliverer.error is not None:
                    break
                stats = worker.stats()
                sent = deliverer.stats
                progress.update(
                    task,
                    completed=stats.processed,
                    status=(
                        f"{stats.fps:5.1f} fps  visits {stats.visits}  "
                        f"obs {stats.observations}  sent {sent.delivered}"
                        + (f"  retrying ({sent.retries})" if sent.last_error else "")
                    ),
                )
                time.sleep(_POLL)
            progress.update(task, completed=worker.stats().processed)
    except KeyboardInterrupt:
        errors.print("interrupted: stopping the camera, queued events stay on disk")
        return True
    return False


def _flush(deliverer: Deliverer, box: Outbox, timeout: float) -> bool:
    if box.pending() == 0:
        return True
    try:
        with console.status(f"delivering {box.pending()} queued event(s)"):
            return deliverer.flush(timeout)
    except KeyboardInterrupt:
        return False


def _summary_json(
    stats: WorkerStats, produced: int, sent: DeliveryStats, pending: int
) -> dict[str, object]:
    return {
        "frames": stats.frames,
        "processed": stats.processed,
        "dropped": stats.dropped,
        "tracks": stats.tracks,
        "visits": stats.visits,
        "observations": stats.observations,
        "events": produced,  # an entrance visit is two: its arrival and its departure
        "fps": round(stats.fps, 2),
        "delivered": sent.delivered,
        "duplicates": sent.duplicates,
        "retries": sent.retries,
        "dead_lettered": sent.dead_lettered,
        "pending": pending,
    }


def _summary(
    stats: WorkerStats,
    sent: DeliveryStats,
    pending: int,
    outbox_path: Path,
    annotate: Path | None,
) -> None:
    table = Table("", "", show_header=False, box=None)
    table.add_row("frames", f"{stats.processed} processed of {stats.frames} read")
    if stats.dropped:
        table.add_row("dropped", f"{stats.dropped} frame(s) not processed")
    table.add_row("tracks", str(stats.tracks))
    table.add_row("visits", str(stats.visits))
    table.add_row("observations", str(stats.observations))
    table.add_row("speed", f"{stats.fps:.1f} fps over {stats.seconds:.1f} s")
    table.add_row(
        "delivered",
        f"{sent.delivered} event(s) ({sent.duplicates} already stored), {sent.retries} retries",
    )
    if sent.dead_lettered:
        table.add_row("refused", f"{sent.dead_lettered} kept as dead letters")
    table.add_row("pending", f"{pending} in {outbox_path}")
    if annotate is not None:
        table.add_row("annotated", str(annotate))
    console.print(table)
