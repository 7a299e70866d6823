"""Fixtures shared by the whole suite.

`database_url` runs a test once on SQLite and once on PostgreSQL, each time against a
database of its own, so tests can run in parallel (pytest -n) without seeing each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from salesmigo.store.db import create_db_engine, session_factory
from salesmigo.store.migrate import upgrade_to_head

# The maintenance database of the PostgreSQL server the tests create their databases on.
POSTGRES_ADMIN_URL = os.environ.get(
    "SALESMIGO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the server's maintenance database (CREATE/DROP DATABASE)."""
    engine = create_engine(
        POSTGRES_ADMIN_URL,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        message = (
            f"PostgreSQL is not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string()}: "
            f"{error.orig}"
        )
        if _in_ci():
            pytest.fail(f"{message} (CI is set, so PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"{message} (start PostgreSQL or set SALESMIGO_TEST_POSTGRES_URL)")
    yield engine
    engine.dispose()


@contextmanager
def _postgres_database(admin: Engine) -> Iterator[URL]:
    name = f"salesmigo_test_{uuid.uuid4().hex}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name)
    finally:
        with admin.connect() as connection:
            # FORCE ends connections a failed test may have leaked.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database owned by this test, on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'salesmigo.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin_engine")
    with _postgres_database(admin) as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's database, migrated to the newest revision."""
    engine = create_db_engine(database_url)
    try:
        upgrade_to_head(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database; uncommitted work is rolled back afterwards."""
    with session_factory(migrated_engine)() as session:
        yield session
