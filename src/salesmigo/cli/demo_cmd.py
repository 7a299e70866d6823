"""``salesmigo demo``: a store with customers, served on the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from salesmigo.cli.context import cli_runtime, cli_settings
from salesmigo.cli.output import console
from salesmigo.cli.serve_cmd import HostOption, PortOption, run_server
from salesmigo.evaluation.manifest import DatasetFileError

if TYPE_CHECKING:
    from salesmigo.services.demo import DemoStore

DEFAULT_TESTDATA = Path("../shared/testdata")


def _instructions(base: str, store: DemoStore | None) -> str:
    lines = [
        f"API docs:   {base}/docs",
        f"Customers:  curl -s {base}/api/v1/customers",
    ]
    if store and store.probe:
        lines.append(f"Identify:   curl -s -F image=@{store.probe} {base}/api/v1/identify")
    if store and store.stranger:
        lines.append(f"A stranger: curl -s -F image=@{store.stranger} {base}/api/v1/identify")
    if store and store.probe:
        lines.append(
            f"A camera:   curl -s -F image=@{store.probe} {base}/api/v1/cameras/1/frames"
            "   (1 = entrance, 2 = shoes aisle; see /api/v1/cameras)"
        )
    lines.append(f"Live:       websocket {base.replace('http', 'ws')}/api/v1/ws/events")
    lines.append(
        f"Webcam:     {base}/camera?camera=entrance   (its token: salesmigo cameras token entrance)"
    )
    lines.append("CLI:        salesmigo customers list   |   salesmigo identify PHOTO")
    return "\n".join(lines)


def demo(
    testdata: Annotated[
        Path, typer.Option(help="Photos to enrol demo customers from (MANIFEST.tsv inside).")
    ] = DEFAULT_TESTDATA,
    host: HostOption = None,
    port: PortOption = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Build the demo store, then exit.")
    ] = False,
) -> None:
    """Enrol demo customers from the shared test photos, then serve the API."""
    from salesmigo.services.demo import build_demo_store, demo_identities  # models: on use

    settings = cli_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    store: DemoStore | None = None
    if (testdata / "MANIFEST.tsv").exists():
        try:
            total = len(demo_identities(testdata)[0])
        except DatasetFileError as error:
            console.print(f"[yellow]not enrolling demo customers: {error}[/]")
            total = 0
        if total:
            with cli_runtime(settings) as runtime, Progress(console=console) as progress:
                task = progress.add_task("enrolling demo customers", total=total)

                def advance(label: str) -> None:
                    progress.update(task, advance=1, description=f"enrolling {label}")

                store = build_demo_store(runtime, testdata.resolve(), advance)
            console.print(
                f"demo store: {len(store.enrolled)} customer(s) enrolled now, "
                f"{store.already_present} already there, {store.legacy_imported} imported "
                f"from the 2022 prototype's export"
                + (f"; no usable face for {', '.join(store.skipped)}" if store.skipped else ""),
                soft_wrap=True,
            )
    else:
        console.print(
            f"[yellow]{testdata} has no MANIFEST.tsv: starting with an empty store. "
            "Enrol customers with `salesmigo enrol` or POST /api/v1/customers.[/]"
        )
    base = f"http://{settings.host}:{settings.port}"
    console.rule("Salesmigo demo")
    # soft_wrap keeps each command on one line, so it can be copied whole.
    console.print(_instructions(base, store), soft_wrap=True, highlight=False)
    console.print(f"Data folder: {settings.data_dir.resolve()}", soft_wrap=True)
    if not no_serve:
        run_server(settings)
