from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from salesmigo.store.db import create_db_engine
from salesmigo.store.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from salesmigo.store.models import Base

TABLES = {"customers", "face_templates", "visits"}


def test_revisions_are_numbered_in_order() -> None:
    assert head_revision() == "0005"


def test_upgrade_creates_the_schema_on_an_empty_database(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade_to_head(engine)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_accepts_a_url(database_url: str) -> None:
    upgrade_to_head(database_url)
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    try:
        upgrade_to_head(engine)
        assert current_revision(engine) == head_revision()
        assert current_revision(database_url) == head_revision()
    finally:
        engine.dispose()


def test_migrations_match_the_models_exactly(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_back(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert not TABLES & set(inspect(migrated_engine).get_table_names())
    upgrade_to_head(migrated_engine)
    assert current_revision(migrated_engine) == head_revision()


def test_concurrent_upgrades_do_not_collide(database_url: str) -> None:
    # Several server processes may start at once on a fresh database.
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            upgrade_to_head(database_url)
        except BaseException as error:  # collected and re-raised by the test thread
            errors.append(error)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(database_url) == head_revision()


def test_alembic_stays_quiet_at_info(
    database_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level("INFO"):
        upgrade_to_head(database_url)
    assert not [record for record in caplog.records if record.name.startswith("alembic")]
    assert "migrated" in caplog.text
    assert capsys.readouterr().out == ""
