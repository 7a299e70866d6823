"""Entry point: assembles the command groups, each defined in its own module."""

from __future__ import annotations

import logging

import typer

from salesmigo.cli import config_cmd

app = typer.Typer(
    name="salesmigo",
    help="Salesmigo: recognise registered customers in store and tell the staff.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
