from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import make_url
from sqlalchemy.engine import Dialect

from salesmigo.store.types import UTCDateTime, decode_vector, encode_vector


def test_vector_codec_is_float32_little_endian() -> None:
    vector = np.array([1.0, -2.5, 3.25], dtype=np.float32)
    data = encode_vector(vector)
    assert data == np.array([1.0, -2.5, 3.25], dtype="<f4").tobytes()
    decoded = decode_vector(data)
    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, vector)
    decoded[0] = 9.0  # a copy, not a view on the bytes
    assert np.array_equal(decode_vector(data), vector)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 3), dtype=np.float32),
        np.zeros(0, dtype=np.float32),
        np.array([1.0, np.nan], dtype=np.float32),
        np.array([np.inf], dtype=np.float32),
    ],
    ids=["2-d", "empty", "nan", "inf"],
)
def test_vector_codec_refuses_what_is_not_a_template(bad: NDArray[np.float32]) -> None:
    with pytest.raises(ValueError, match="template vector"):
        encode_vector(bad)


def test_decode_refuses_a_partial_float() -> None:
    with pytest.raises(ValueError, match="float32"):
        decode_vector(b"\x00\x00\x00")


def _dialect(url: str) -> Dialect:
    return make_url(url).get_dialect()()


SQLITE = _dialect("sqlite://")
POSTGRESQL = _dialect("postgresql+psycopg://")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), SQLITE)


def test_aware_datetimes_are_stored_as_utc() -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2024, 6, 1, 14, 0, tzinfo=paris)
    column = UTCDateTime()
    assert column.process_bind_param(local, SQLITE) == datetime(2024, 6, 1, 12, 0)
    assert column.process_bind_param(local, POSTGRESQL) == datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert column.process_result_value(datetime(2024, 6, 1, 12, 0), SQLITE) == (
        datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    )
