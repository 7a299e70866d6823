"""``salesmigo config check``: validate the settings before anything starts."""

from __future__ import annotations

import os

import typer

from salesmigo.cli.output import console, fail

app = typer.Typer(help="Inspect and validate the SALESMIGO_* settings.", no_args_is_help=True)


@app.command()
def check() -> None:
    """Validate the settings; name each bad or unknown variable and exit 1 if any."""
    from salesmigo.config import SettingsError, load_settings, unknown_variables  # numpy: on use

    unknown = unknown_variables(dict(os.environ))
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    if unknown:
        fail("unknown setting(s): " + ", ".join(unknown) + " (check the spelling)")
    console.print("[green]settings are valid[/]")
    console.print_json(settings.model_dump_json())
