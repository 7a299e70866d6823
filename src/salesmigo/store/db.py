"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

logger = logging.getLogger(__name__)

# How long a SQLite writer waits for another writer before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_database_url(url: str | URL) -> URL:
    """Parse a URL and pin PostgreSQL to psycopg 3, the only PostgreSQL driver installed."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_path(url: URL) -> Path:
    assert url.database is not None
    # With ?uri=true the database is a "file:" URI rather than a plain path.
    database = url.database.removeprefix("file:") if url.query.get("uri") else url.database
    return Path(database).expanduser()


def create_db_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for `url` with the per-connection settings Salesmigo relies on."""
    parsed = normalize_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed, echo=echo)
    # pre_ping survives PostgreSQL restarts and idle-connection reaping by proxies.
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _create_sqlite_engine(url: URL, *, echo: bool) -> Engine:
    kwargs: dict[str, Any] = {
        # FastAPI runs sync endpoints in a thread pool; the pool hands a connection to one
        # thread at a time, so sqlite3's same-thread guard only gets in the way.
        "connect_args": {"check_same_thread": False},
        "echo": echo,
    }
    if _is_memory_sqlite(url):
        # Each new connection to :memory: is a new empty database; share a single one.
        kwargs["poolclass"] = StaticPool
    else:
        _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    logger.debug("SQLite engine for %s", url.database or ":memory:")
    return engine


def _configure_sqlite_connection(
    dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry
) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the dashboard read while a camera worker writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are returned by the API)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
