"""Salesmigo's store: SQLAlchemy models, repositories and Alembic migrations."""

from __future__ import annotations

import logging

# Alembic logs at INFO while merely being imported and at every migration step; the CLI
# logs at INFO, so without this each start would print a screenful. A level set
# explicitly by the application's logging configuration is left alone.
_alembic_logger = logging.getLogger("alembic")
if _alembic_logger.level == logging.NOTSET:
    _alembic_logger.setLevel(logging.WARNING)
