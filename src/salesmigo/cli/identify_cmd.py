"""``salesmigo identify IMAGE...``: who is in these photos?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from salesmigo.cli.context import cli_runtime
from salesmigo.cli.output import JsonFlag, console, errors, print_json

# The services and the vision stack (database, faiss, OpenCV, the models) load when the
# command runs, not for --help.
if TYPE_CHECKING:
    from salesmigo.services.identification import FrameIdentification, IdentifiedFace
    from salesmigo.vision.images import ImageError

    Outcome = FrameIdentification | ImageError


def _face_json(face: IdentifiedFace) -> dict[str, object]:
    result = face.identification
    customer_id = result.matched_customer_id
    return {
        "box": face.face.detection.box.as_list() if face.face else None,
        "decision": result.decision,
        "customer": {"id": customer_id, "name": face.customer_name}
        if customer_id is not None
        else None,
        "distance": result.distance,
        "runner_up_distance": result.runner_up_distance,
        "model": result.model,
    }


def _as_json(path: Path, outcome: Outcome) -> dict[str, object]:
    from salesmigo.vision.images import ImageError

    if isinstance(outcome, ImageError):
        return {"image": str(path), "error": str(outcome)}
    return {
        "image": str(path),
        "faces": [_face_json(face) for face in outcome.faces],
        "rejected": [
            {"box": r.detection.box.as_list(), "reason": r.reason} for r in outcome.rejected
        ],
    }


def _distance(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _table(outcomes: list[tuple[Path, Outcome]]) -> Table:
    from salesmigo.vision.images import ImageError

    table = Table("image", "face box", "decision", "customer", "distance", "runner-up")
    for path, outcome in outcomes:
        if isinstance(outcome, ImageError):
            table.add_row(str(path), "", "[red]error[/]", str(outcome), "", "")
            continue
        if not outcome.faces:
            table.add_row(str(path), "", "no face", "", "", "")
        for face in outcome.faces:
            result = face.identification
            table.add_row(
                str(path),
                str(face.face.detection.box.as_list()) if face.face else "",
                result.decision,
                f"{face.customer_name} (#{result.matched_customer_id})"
                if result.matched_customer_id
                else "",
                _distance(result.distance),
                _distance(result.runner_up_distance),
            )
        for rejected in outcome.rejected:
            table.add_row(
                str(path),
                str(rejected.detection.box.as_list()),
                "rejected",
                rejected.reason,
                "",
                "",
            )
    return table


def identify(
    images: Annotated[list[Path], typer.Argument(help="Photos to search the gallery for.")],
    source: Annotated[
        str | None, typer.Option(help="Record a visit per match at this camera or place.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Identify every face in each image (with --json: a list with one object per image)."""
    from salesmigo.services.identification import identify_frame
    from salesmigo.vision.images import ImageError, load_image

    outcomes: list[tuple[Path, Outcome]] = []
    with cli_runtime() as runtime:
        vision = runtime.settings.vision
        for path in images:
            try:
                frame = load_image(
                    path, max_bytes=vision.max_upload_bytes, max_pixels=vision.max_image_pixels
                )
            except ImageError as error:
                errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
                outcomes.append((path, error))
                continue
            outcomes.append((path, identify_frame(runtime, frame, source)))
    if as_json:
        print_json([_as_json(path, outcome) for path, outcome in outcomes])
    else:
        console.print(_table(outcomes))
    if any(isinstance(outcome, ImageError) for _, outcome in outcomes):
        raise typer.Exit(1)
