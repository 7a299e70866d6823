"""``salesmigo import-legacy FILE``: bring over the 2022 prototype's customers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from salesmigo.cli.context import cli_runtime
from salesmigo.cli.output import JsonFlag, console, fail, print_json
from salesmigo.services.errors import InvalidInput


def import_legacy(
    export: Annotated[Path, typer.Argument(help="The prototype's customers JSON export.")],
    as_json: JsonFlag = False,
) -> None:
    """Import customers with their face-api.js descriptors as dlib-model templates.

    They are recognised through dlib until their first confident match, which adds a
    default-model template from that photo. Customers already present (same e-mail) are
    skipped, so importing twice is harmless.
    """
    # the database and the gallery load when the command runs, not for --help
    from salesmigo.services.legacy import import_customers, parse_export

    try:
        legacy = parse_export(export)
    except InvalidInput as error:
        fail(f"nothing was imported: {error}")
    with cli_runtime() as runtime, Progress(console=console, transient=True) as progress:
        task = progress.add_task("importing", total=len(legacy))
        report = import_customers(runtime, legacy, lambda: progress.advance(task))
    if as_json:
        print_json(
            {
                "imported": report.imported,
                "skipped_existing": report.skipped_existing,
                "templates": report.templates,
            }
        )
        return
    console.print(f"imported {report.imported} customer(s) with {report.templates} template(s)")
    if report.skipped_existing:
        console.print("already present, skipped: " + ", ".join(report.skipped_existing))
