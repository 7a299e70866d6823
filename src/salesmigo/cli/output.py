"""What every command uses to talk to the operator: one console, one way to fail."""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer
from rich.console import Console

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a sentence for the operator (no stack trace) and exit non-zero."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: object) -> None:
    # Plain print: Rich would wrap long lines and break machine-readable output.
    typer.echo(json.dumps(value, ensure_ascii=False))


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
