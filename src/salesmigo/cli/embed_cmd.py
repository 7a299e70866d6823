"""``salesmigo embed``: one JSON line per face image of a manifest, for offline analysis."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesmigo.cli.context import cli_settings
from salesmigo.cli.evaluate import (
    RootOption,
    check_root,
    describer,
    open_pipeline,
    progress_bar,
)
from salesmigo.cli.output import errors, fail, print_json
from salesmigo.evaluation.manifest import DatasetFileError, read_manifest, rows_of_kind

if TYPE_CHECKING:  # numpy, OpenCV and the models load when the command runs, not for --help
    from salesmigo.evaluation.embed import ExpressionReader

EMBEDDED_KINDS = ("identity", "expression")


def embed(
    manifest: Annotated[
        Path,
        typer.Option(
            "--manifest", help="MANIFEST.tsv: tab-separated, header with path, kind, label."
        ),
    ],
    root: RootOption,
) -> None:
    """Print the largest face of each identity/expression image as a JSON line on stdout.

    Each line: path, found, model, descriptor (the default recogniser's), box [x, y, w, h],
    det_score, expressions (the seven expression probabilities of the face; null if the
    expression model is not installed) and ms. A missing or unreadable file gives
    found=false and a warning on stderr; the command goes on.
    """
    from salesmigo.evaluation.embed import embed_record

    settings = cli_settings()
    try:
        rows = rows_of_kind(read_manifest(manifest), *EMBEDDED_KINDS)
    except DatasetFileError as error:
        fail(str(error))
    check_root(root)
    model = settings.recognition.default_model
    reader = _expression_reader(settings.models_dir)
    with open_pipeline(settings, model) as pipeline, progress_bar() as progress:
        task = progress.add_task(f"{model}: embedding", total=len(rows))
        describe = describer(pipeline, root, settings, model, progress, task, reader)
        for row in rows:
            print_json(embed_record(row.path, describe(row.path)))


def _expression_reader(models_dir: Path) -> ExpressionReader | None:
    """The expression model, or None (expressions stay null) with a warning if not installed."""
    from salesmigo.vision.embedders import ModelUnavailableError
    from salesmigo.vision.expression import ExpressionClassifier

    try:
        return ExpressionClassifier(models_dir)
    except ModelUnavailableError as error:
        errors.print(f"[yellow]warning:[/] {error} Expressions will be null.", highlight=False)
        return None
