"""Alembic environment for Salesmigo, driven from salesmigo.store.migrate (no alembic.ini).

The caller passes an open connection in ``config.attributes["connection"]``; that is what
lets migrations run on an engine the application already created (and on a SQLite file the
caller holds a lock on). A bare ``sqlalchemy.url`` option works as well, for offline SQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from salesmigo.store.db import create_db_engine
from salesmigo.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("pass a connection in config.attributes or set sqlalchemy.url")
    engine = create_db_engine(url)
    try:
        with engine.connect() as owned:
            _run_with(owned)
            owned.commit()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
