"""``salesmigo eval verify / identify``: score the face pipeline on labelled test images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from numpy.typing import NDArray
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from salesmigo.cli.output import console, errors, fail, print_json
from salesmigo.config import Settings, SettingsError, load_settings
from salesmigo.evaluation.embed import FaceDescription, describe_image
from salesmigo.evaluation.identify import evaluate_identification, split_identities
from salesmigo.evaluation.manifest import DatasetFileError, read_manifest, read_pairs
from salesmigo.evaluation.verify import distinct_images, score_verification
from salesmigo.vision.embedders import ModelUnavailableError
from salesmigo.vision.pipeline import FacePipeline

app = typer.Typer(
    help="Score the face pipeline on labelled images (accuracy, false matches, speed).",
    no_args_is_help=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of a table.")
]
RootOption = Annotated[
    Path, typer.Option("--root", help="Folder the image paths in the file are relative to.")
]


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error))


def check_root(root: Path) -> None:
    if not root.exists():
        fail(f"the data folder {root} does not exist.")
    if not root.is_dir():
        fail(f"the data folder {root} is a file, not a folder.")


def progress_bar() -> Progress:
    """A transient progress bar on stderr that leaves stdout to the results."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
        redirect_stdout=False,
    )


@contextmanager
def open_pipeline(settings: Settings, model: str) -> Iterator[FacePipeline]:
    """The default pipeline, ``model`` loaded up front so loading is not timed; closed after."""
    pipeline = FacePipeline.default(settings.vision)
    try:
        try:
            pipeline.embedder(model)
        except (ModelUnavailableError, ValueError) as error:
            fail(str(error))
        yield pipeline
    finally:
        pipeline.close()


def describer(
    pipeline: FacePipeline,
    root: Path,
    settings: Settings,
    model: str,
    progress: Progress,
    task: TaskID,
) -> Callable[[str], FaceDescription]:
    """Describe ``root / path``, warn on stderr about unreadable files, advance the bar."""

    def describe(path: str) -> FaceDescription:
        description = describe_image(pipeline, root / path, model, settings.vision)
        if description.error is not None:
            progress.console.print(
                f"[yellow]warning:[/] {description.error} (counted as no face)", highlight=False
            )
        progress.advance(task)
        return description

    return describe


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


@app.command()
def verify(
    pairs: Annotated[
        Path, typer.Option("--pairs", help="TSV with the header: path_a, path_b, same (1 or 0).")
    ],
    root: RootOption,
    json: JsonOption = False,
) -> None:
    """10-fold verification accuracy (LFW protocol) of the default recogniser on image pairs.

    Folds are interleaved (pair i is in fold i mod 10). Each distinct image is analysed
    once; when the live quality gate rejects every face, the largest one is still used.
    """
    settings = settings_or_fail()
    try:
        pair_list = read_pairs(pairs)
    except DatasetFileError as error:
        fail(str(error))
    check_root(root)
    model = settings.recognition.default_model
    images = distinct_images(pair_list)
    descriptors: dict[str, NDArray[np.float32] | None] = {}
    milliseconds: list[float] = []
    with open_pipeline(settings, model) as pipeline, progress_bar() as progress:
        task = progress.add_task(f"{model}: embedding", total=len(images))
        describe = describer(pipeline, root, settings, model, progress, task)
        for path in images:
            description = describe(path)
            descriptors[path] = description.vector
            if description.error is None:
                milliseconds.append(description.ms)
    report = score_verification(
        pair_list,
        descriptors,
        milliseconds,
        model=model,
        threshold=settings.matching_for(model).threshold,
    )
    if json:
        print_json(report.as_dict())
        return
    table = Table(title=f"Verification ({model})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("10-fold accuracy", _percent(report.accuracy))
    table.add_row(
        f"accuracy at threshold {report.threshold:.2f}", _percent(report.accuracy_at_threshold)
    )
    table.add_row("pairs / distinct images", f"{report.pairs} / {report.images}")
    table.add_row("images with no face", str(report.no_face))
    table.add_row("ms per image (detect + embed)", f"{report.ms_per_image:.1f}")
    console.print(table)


@app.command()
def identify(
    manifest: Annotated[
        Path,
        typer.Option(
            "--manifest", help="MANIFEST.tsv: tab-separated, header with path, kind, label."
        ),
    ],
    root: RootOption,
    json: JsonOption = False,
) -> None:
    """1:N identification: rank-1 rate, and how often strangers are matched as customers.

    Identities (rows of kind "identity") sorted by label alternate: enrolled, stranger,
    enrolled, ... Each enrolled identity's first image enrols it into an in-memory gallery
    and its other images are probes; stranger images must come out "unknown".
    """
    settings = settings_or_fail()
    try:
        rows = read_manifest(manifest)
    except DatasetFileError as error:
        fail(str(error))
    check_root(root)
    split = split_identities(rows)
    if not split.enrolled:
        fail(f"the manifest {manifest} has no rows of kind 'identity'.")
    model = settings.recognition.default_model
    total = sum(len(identity.images) for identity in [*split.enrolled, *split.strangers])
    with open_pipeline(settings, model) as pipeline, progress_bar() as progress:
        task = progress.add_task(f"{model}: identifying", total=total)
        describe = describer(pipeline, root, settings, model, progress, task)
        report = evaluate_identification(
            split, lambda path: describe(path).vector, settings.matching_for, model
        )
    if json:
        print_json(report.as_dict())
        return
    table = Table(title=f"Identification ({model}, threshold {report.threshold:.2f})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("rank-1 (probes matched to the right customer)", _percent(report.rank1))
    table.add_row("false-match rate (strangers matched)", _percent(report.false_match_rate))
    table.add_row("unknown recall (strangers left unknown)", _percent(report.unknown_recall))
    table.add_row("identities enrolled", str(report.enrolled))
    table.add_row("enrolment failed (no face)", str(len(report.enrol_failed)))
    table.add_row("probe images", str(report.probes))
    table.add_row("stranger identities / images", f"{report.strangers} / {report.stranger_images}")
    table.add_row("images with no face", str(report.no_face))
    console.print(table)
    if report.enrol_failed:
        errors.print(
            "could not enrol (no face): " + ", ".join(report.enrol_failed), highlight=False
        )
