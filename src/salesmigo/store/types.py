"""Column types and value codecs shared by the models and the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Templates are stored as raw float32 little-endian bytes: compact (512 bytes for 128-D),
# identical on every backend and readable by numpy without parsing.
VECTOR_DTYPE = np.dtype("<f4")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always goes in and comes out as an aware UTC datetime.

    SQLite has no time zone support and returns naive values; PostgreSQL returns values in
    the session's TimeZone. Normalising both here means callers never compare naive with
    aware datetimes. Naive input is refused because its zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC time")
        value = value.astimezone(UTC)
        # SQLite's DATETIME formatter ignores tzinfo, so hand it the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def encode_vector(vector: ArrayLike) -> bytes:
    """One-dimensional finite floats to float32 little-endian bytes."""
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"a template vector must be 1-D and non-empty, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("a template vector must not contain NaN or infinity")
    return array.astype(VECTOR_DTYPE, copy=False).tobytes()


def decode_vector(data: bytes) -> NDArray[np.float32]:
    """The inverse of encode_vector, as a writable native-order float32 array."""
    if len(data) % VECTOR_DTYPE.itemsize:
        raise ValueError(f"{len(data)} bytes is not a whole number of float32 values")
    return np.frombuffer(data, dtype=VECTOR_DTYPE).astype(np.float32)
