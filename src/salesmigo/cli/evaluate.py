"""``salesmigo eval verify / identify / expressions / gestures``: score the vision pipeline
on labelled test images."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from salesmigo.cli.context import cli_settings
from salesmigo.cli.output import console, errors, fail, print_json
from salesmigo.evaluation.classification import ClassificationReport, L, LabelledRow, Sample
from salesmigo.evaluation.manifest import (
    DatasetFileError,
    ManifestRow,
    read_manifest,
    read_pairs,
)

# numpy, OpenCV, the models and the gallery load when a command runs, not for --help.
if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from salesmigo.config import Settings
    from salesmigo.evaluation.embed import ExpressionReader, FaceDescription
    from salesmigo.vision.pipeline import FacePipeline
    from salesmigo.vision.types import ExpressionCrop, Frame

# What a model predicts for one image, and the sample scored from it.
P = TypeVar("P")
S = TypeVar("S")

app = typer.Typer(
    help="Score the face pipeline on labelled images (accuracy, false matches, speed).",
    no_args_is_help=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of a table.")
]
ManifestOption = Annotated[
    Path,
    typer.Option("--manifest", help="MANIFEST.tsv: tab-separated, header with path, kind, label."),
]
RootOption = Annotated[
    Path, typer.Option("--root", help="Folder the image paths in the file are relative to.")
]


class CropChoice(StrEnum):
    """The expression crops ``eval expressions --crop`` can measure (vision.expression)."""

    landmarks = "landmarks"
    box = "box"
    aligned = "aligned"


CROP_MODES: dict[CropChoice, ExpressionCrop] = {
    CropChoice.landmarks: "landmarks",
    CropChoice.box: "box",
    CropChoice.aligned: "aligned",
}


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
    from salesmigo.vision.embedders import ModelUnavailableError
    from salesmigo.vision.pipeline import FacePipeline

    pipeline = FacePipeline.default(settings.vision)
    try:
        try:
            pipeline.embedder(model)
        except (ModelUnavailableError, ValueError) as error:
            fail(str(error))
        yield pipeline
    finally:
        pipeline.close()


def warn_not_read(progress: Progress, error: object, found: str) -> None:
    """Say on stderr, above the bar, that an image could not be read and counts as having
    no ``found`` (face, hand). Not wrapped, so the file's path stays whole."""
    progress.console.print(
        f"[yellow]warning:[/] {error} (counted as no {found})", highlight=False, soft_wrap=True
    )


def describer(
    pipeline: FacePipeline,
    root: Path,
    settings: Settings,
    model: str,
    progress: Progress,
    task: TaskID,
    expression_reader: ExpressionReader | None = None,
) -> Callable[[str], FaceDescription]:
    """Describe ``root / path``, warn on stderr about unreadable files, advance the bar."""
    from salesmigo.evaluation.embed import describe_image

    def describe(path: str) -> FaceDescription:
        description = describe_image(
            pipeline, root / path, model, settings.vision, expression_reader
        )
        if description.error is not None:
            warn_not_read(progress, description.error, "face")
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
    from salesmigo.evaluation.verify import distinct_images, score_verification

    settings = cli_settings()
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
    manifest: ManifestOption,
    root: RootOption,
    json: JsonOption = False,
) -> None:
    """1:N identification: rank-1 rate, and how often strangers are matched as customers.

    Identities (rows of kind "identity") sorted by label alternate: enrolled, stranger,
    enrolled, ... Each enrolled identity's first image enrols it into an in-memory gallery
    and its other images are probes; stranger images must come out "unknown".
    """
    from salesmigo.evaluation.identify import evaluate_identification, split_identities

    settings = cli_settings()
    split = split_identities(manifest_rows(manifest, root))
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


def manifest_rows(manifest: Path, root: Path) -> list[ManifestRow]:
    """The manifest's rows, after checking the data folder; one sentence and exit if not."""
    try:
        rows = read_manifest(manifest)
    except DatasetFileError as error:
        fail(str(error))
    check_root(root)
    return rows


def classified_rows(
    manifest: Path,
    root: Path,
    pick: Callable[[list[ManifestRow]], tuple[list[LabelledRow[L]], int]],
    *,
    kind: str,
    wanted: str,
) -> tuple[list[LabelledRow[L]], int]:
    """The rows ``pick`` keeps and how many it ignored; fails when it keeps none."""
    labelled, ignored = pick(manifest_rows(manifest, root))
    if not labelled:
        fail(f"the manifest {manifest} has no rows of kind '{kind}' labelled with {wanted}.")
    return labelled, ignored


def classify_images(
    rows: Sequence[LabelledRow[L]],
    root: Path,
    settings: Settings,
    predict: Callable[[Frame], tuple[P | None, float]],
    to_sample: Callable[[LabelledRow[L], P | None], S],
    *,
    task: str,
    found: str,
    time_misses: bool,
) -> tuple[list[S], list[float]]:
    """One sample per row, made by ``to_sample`` from the row and its prediction (None where
    nothing is ``found`` or the file cannot be read, with a warning on stderr), and the ms
    of each prediction, under a progress bar. Predictions that found nothing are timed only
    if ``time_misses``."""
    from salesmigo.vision.images import ImageError, load_image

    samples: list[S] = []
    milliseconds: list[float] = []
    with progress_bar() as progress:
        task_id = progress.add_task(task, total=len(rows))
        for row in rows:
            try:
                frame = load_image(
                    root / row.path,
                    max_bytes=settings.vision.max_upload_bytes,
                    max_pixels=settings.vision.max_image_pixels,
                )
            except ImageError as error:
                warn_not_read(progress, error, found)
                samples.append(to_sample(row, None))
            else:
                predicted, elapsed = predict(frame)
                samples.append(to_sample(row, predicted))
                if predicted is not None or time_misses:
                    milliseconds.append(elapsed)
            progress.advance(task_id)
    return samples, milliseconds


def per_class_table(
    report: ClassificationReport[L],
    found: str,
    columns: Sequence[L],
    heading: Callable[[L], str],
) -> Table:
    """Per-class accuracy, images, no-detection count and a confusion row over ``columns``."""
    classes = Table(
        title=f"Per class (rows: true label; columns: predicted, images with a {found})"
    )
    classes.add_column("label")
    classes.add_column("accuracy", justify="right")
    classes.add_column("images", justify="right")
    classes.add_column(f"no {found}", justify="right")
    for label in columns:
        classes.add_column(heading(label), justify="right")
    for truth, score in report.per_class.items():
        counts = [str(report.confusion[truth][label]) for label in columns]
        classes.add_row(
            str(truth),
            _percent(score.accuracy),
            str(score.images),
            str(score.no_detection),
            *counts,
        )
    return classes


@app.command()
def gestures(
    manifest: ManifestOption,
    root: RootOption,
    json: JsonOption = False,
) -> None:
    """Hand gestures: accuracy, per-class accuracy, confusion, images with no hand found.

    Uses rows of kind "gesture" whose label is one of thumbs_up, thumbs_down, victory,
    open_palm, fist, pointing_up, none, or a dataset name mapped to one (like, dislike,
    peace, palm, one, no_gesture, ...); other labels are ignored. Accuracies are over the
    images where a hand was found; the goal accuracy is over the first five gestures.
    """
    # Loaded when the command runs (HandDetector too: tests replace it with a fake).
    import numpy as np

    from salesmigo.evaluation.gestures import (
        GESTURE_KIND,
        GOAL_GESTURES,
        gesture_rows,
        predict_gesture,
        score_gestures,
    )
    from salesmigo.vision.hands import HandDetector

    settings = cli_settings()
    labelled, ignored = classified_rows(
        manifest,
        root,
        gesture_rows,
        kind=GESTURE_KIND,
        wanted="one of the seven gestures (or a dataset label mapped to one)",
    )
    try:
        detector = HandDetector(static_image_mode=True)
    except (ImportError, RuntimeError) as error:
        fail(f"the hand landmark model cannot be loaded: {error}")
    with closing(detector):
        detector.detect(np.zeros((64, 64, 3), dtype=np.uint8))  # start-up is not timed
        samples, milliseconds = classify_images(
            labelled,
            root,
            settings,
            lambda frame: predict_gesture(detector, frame),
            Sample.of,
            task="hands: classifying",
            found="hand",
            time_misses=True,
        )
    report = score_gestures(samples, milliseconds, ignored=ignored)
    if json:
        print_json(report.as_dict())
        return
    goal = ", ".join(gesture.value for gesture in GOAL_GESTURES)
    table = Table(title="Hand gestures")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("accuracy (images with a hand)", _percent(report.accuracy))
    table.add_row(f"accuracy over {goal}", _percent(report.goal_accuracy))
    table.add_row("hand found", _percent(report.hand_found_rate))
    table.add_row("images / with no hand", f"{report.images} / {report.no_hand}")
    table.add_row("rows ignored (other labels)", str(report.ignored))
    table.add_row("ms per image (hands + classification)", f"{report.ms_per_image:.1f}")
    console.print(table)
    predicted_labels = [
        label
        for label in dict.fromkeys(p for row in report.confusion.values() for p in row)
        if any(row[label] for row in report.confusion.values())
    ]
    console.print(per_class_table(report, "hand", predicted_labels, lambda label: label.value))


@app.command()
def expressions(
    manifest: ManifestOption,
    root: RootOption,
    json: JsonOption = False,
    crop: Annotated[
        CropChoice,
        typer.Option(
            "--crop",
            help="What the network reads: face-api.js's landmark box from FaceMesh (default; "
            "the detector's box where FaceMesh finds no face), the detector's box, or the "
            "5-point aligned crop.",
        ),
    ] = CropChoice.landmarks,
) -> None:
    """Facial expressions: accuracy, per-class accuracy, confusion, images with no face.

    Uses rows of kind "expression" labelled neutral, happy, sad, angry, fearful, disgusted
    or surprised (or a synonym such as normal or surprise); other labels are ignored. The
    largest face of each image is classified; accuracies are over the images with a face.
    "Happy vs not happy" asks whether happy is more likely than not (p(happy) > 0.5), not
    whether it is the most likely of the seven. "ms per face" times the expression model
    alone (landmarks, crop, resize, network).
    """
    # Loaded when the command runs, as the hand detector in `gestures` is.
    from salesmigo.evaluation.expressions import (
        EXPRESSION_KIND,
        ExpressionSample,
        expression_rows,
        predict_expression,
        score_expressions,
    )
    from salesmigo.vision.detect import MediapipeFaceDetector
    from salesmigo.vision.embedders import ModelUnavailableError
    from salesmigo.vision.expression import ExpressionClassifier
    from salesmigo.vision.expression_labels import HAPPY_PROBABILITY

    settings = cli_settings()
    labelled, ignored = classified_rows(
        manifest,
        root,
        expression_rows,
        kind=EXPRESSION_KIND,
        wanted="one of the seven expressions",
    )
    try:
        classifier = ExpressionClassifier(settings.models_dir, crop=CROP_MODES[crop])
    except ModelUnavailableError as error:
        fail(str(error))
    with closing(MediapipeFaceDetector()) as detector, closing(classifier):
        samples, milliseconds = classify_images(
            labelled,
            root,
            settings,
            lambda frame: predict_expression(detector, classifier, frame),
            ExpressionSample.read,
            task="expressions: classifying",
            found="face",
            time_misses=False,
        )
    report = score_expressions(samples, milliseconds, ignored=ignored)
    if json:
        print_json({**report.as_dict(), "crop": crop.value})
        return
    table = Table(title=f"Facial expressions ({classifier.model_version}, {crop.value} crop)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "accuracy (images with a face)",
        f"{_percent(report.accuracy)} ({report.correct} of {report.detected})",
    )
    table.add_row(
        f"happy vs not happy (p(happy) > {HAPPY_PROBABILITY})",
        f"{_percent(report.happy_accuracy)} ({report.happy_correct} of {report.detected})",
    )
    table.add_row("images / with no face", f"{report.images} / {report.no_face}")
    table.add_row("rows ignored (other labels)", str(report.ignored))
    table.add_row("ms per face (expression model)", f"{report.ms_per_face:.1f}")
    console.print(table)
    labels = list(next(iter(report.confusion.values()), {}))
    console.print(per_class_table(report, "face", labels, lambda label: label[:5]))
