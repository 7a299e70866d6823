"""Opening the embedded runtime for one command, with operator-friendly failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from salesmigo.cli.output import fail
from salesmigo.services.errors import SalesmigoError

# The settings (pydantic, numpy) and the runtime (database, gallery, faiss) load only when a
# command uses them, not for --help.
if TYPE_CHECKING:
    from salesmigo.config import Settings
    from salesmigo.services.runtime import Runtime


def cli_settings() -> Settings:
    from salesmigo.config import SettingsError, load_settings  # numpy: on use

    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error))


@contextmanager
def cli_runtime(settings: Settings | None = None) -> Iterator[Runtime]:
    """The runtime for a command; user errors become a sentence and exit code 1."""
    from sqlalchemy.exc import OperationalError

    from salesmigo.services.runtime import open_runtime

    resolved = settings or cli_settings()
    try:
        runtime = open_runtime(resolved)
    except OperationalError as error:
        fail(f"cannot open the database {resolved.resolved_database_url}: {error.orig}")
    try:
        yield runtime
    except SalesmigoError as error:
        fail(str(error))
    finally:
        runtime.close()
