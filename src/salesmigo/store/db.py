"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

logger = logging.getLogger(__name__)

# How long a SQLite writer waits for another writer before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
_WAL_SWITCH_ATTEMPTS = 20


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
        # First: switching to WAL takes a lock, and without a busy timeout a connection
        # that meets another one doing the same fails at once with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        _use_wal(cursor)
        # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database file to WAL, which lets readers work while a writer writes.

    WAL is stored in the file, so only the first connection ever switches. That switch
    needs a lock for which SQLite does not always call the busy handler: connections
    opening a new file at once (several processes starting) can see "database is
    locked" and retry briefly instead.
    """
    for attempt in range(_WAL_SWITCH_ATTEMPTS):
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == _WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are returned by the API)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
