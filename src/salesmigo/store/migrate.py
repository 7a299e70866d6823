"""Run the store's Alembic migrations from code: at server start, from the CLI, in tests.

No alembic.ini is needed: the configuration is built here and the migration scripts ship
inside the package, so an installed wheel can migrate its own database.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from salesmigo.store.db import create_db_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant works; it only has to be the same for every Salesmigo process.
_PG_MIGRATION_LOCK_KEY = 0x5A1E5_0001


def alembic_config(connection: Connection | None = None) -> Config:
    # stdout is swallowed: commands such as `current` print, and the CLI owns stdout.
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Salesmigo."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


@contextmanager
def _engine_for(target: Engine | str) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = create_db_engine(target)
    try:
        yield engine
    finally:
        engine.dispose()


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _lock_for_migration(connection: Connection) -> None:
    """Serialise concurrent upgrades (several server processes starting at once).

    The lock is held until the surrounding transaction ends, and the second process then
    sees the first one's revision and has nothing left to do.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
        )
    elif dialect == "sqlite":
        # pysqlite would otherwise run each DDL statement in autocommit mode; an explicit
        # write transaction makes the upgrade atomic and waits out another upgrader.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_to_head(target: Engine | str) -> None:
    """Bring the database at `target` (an engine or a URL) to the newest revision.

    Safe to call on every start: an up-to-date database is left untouched.
    """
    with _engine_for(target) as engine, engine.connect() as connection:
        with connection.begin():
            _lock_for_migration(connection)
            before = _revision_of(connection)
            command.upgrade(alembic_config(connection), "head")
            after = _revision_of(connection)
        if before != after:
            logger.info("database migrated from revision %s to %s", before or "(empty)", after)
        else:
            logger.debug("database already at revision %s", after)


def current_revision(target: Engine | str) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    with _engine_for(target) as engine, engine.connect() as connection:
        return _revision_of(connection)
