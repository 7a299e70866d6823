from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from salesmigo.store.db import create_db_engine, normalize_database_url, session_factory


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://postgres@db:5432/shop", "postgresql+psycopg"),
        ("postgres://postgres@db/shop", "postgresql+psycopg"),
        ("postgresql+psycopg://postgres@db/shop", "postgresql+psycopg"),
        ("sqlite:///data/salesmigo.db", "sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg3(url: str, driver: str) -> None:
    assert normalize_database_url(url).drivername == driver


def test_plain_postgresql_url_gets_an_engine_on_psycopg() -> None:
    engine = create_db_engine("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_sqlite_file_engine_creates_the_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert path.exists()
    finally:
        engine.dispose()


def _value_from_other_thread(engine: Engine) -> object:
    results: list[object] = []

    def work() -> None:
        with engine.connect() as connection:
            results.append(connection.execute(text("SELECT value FROM t")).scalar())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return results[0]


@pytest.mark.parametrize("file_backed", [True, False], ids=["file", "memory"])
def test_sqlite_engine_is_usable_from_another_thread(tmp_path: Path, file_backed: bool) -> None:
    url = f"sqlite:///{tmp_path / 'threads.db'}" if file_backed else "sqlite://"
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (value INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (42)"))
        # FastAPI's thread pool: a connection made on one thread, used on another.
        assert _value_from_other_thread(engine) == 42
    finally:
        engine.dispose()


def test_sessions_keep_attributes_after_commit(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert session_factory(engine).kw["expire_on_commit"] is False
    finally:
        engine.dispose()
