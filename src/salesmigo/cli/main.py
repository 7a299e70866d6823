"""Entry point: assembles the command groups, each defined in its own module."""

from __future__ import annotations

import logging

import typer

from salesmigo.cli import (
    bench_cmd,
    bench_pipeline,  # noqa: F401  (registers `bench pipeline` on bench_cmd.app)
    camera_cmd,
    cameras_cmd,
    config_cmd,
    customers_cmd,
    demo_cmd,
    embed_cmd,
    evaluate,
    identify_cmd,
    legacy_cmd,
    models_cmd,
    outbox_cmd,
    serve_cmd,
)

app = typer.Typer(
    name="salesmigo",
    help="Salesmigo: recognise registered customers in store and tell the staff.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(customers_cmd.app, name="customers")
app.add_typer(cameras_cmd.app, name="cameras")
app.command()(serve_cmd.serve)
app.command()(serve_cmd.migrate)
app.command()(demo_cmd.demo)
app.command()(customers_cmd.enrol)
app.command()(identify_cmd.identify)
app.command("import-legacy")(legacy_cmd.import_legacy)
app.add_typer(evaluate.app, name="eval")
app.add_typer(bench_cmd.app, name="bench")
app.command("embed")(embed_cmd.embed)
app.command("camera")(camera_cmd.camera)
app.add_typer(outbox_cmd.app, name="outbox")
app.add_typer(models_cmd.app, name="models")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
