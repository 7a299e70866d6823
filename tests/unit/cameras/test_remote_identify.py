"""Identification over HTTP while the server cannot be reached: no answer, not "unknown"."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from salesmigo.cameras.identity_vote import IdentificationUnavailable
from salesmigo.cameras.remote_identify import RemoteIdentifier


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connections are refused


def test_an_unreachable_server_raises_instead_of_answering_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    identify = RemoteIdentifier(f"http://127.0.0.1:{closed_port()}", timeout=5)
    vectors = [np.zeros(128, np.float32)]
    try:
        for _ in range(3):
            with pytest.raises(IdentificationUnavailable):
                identify(vectors)
    finally:
        identify.close()
    warnings = [r for r in caplog.records if "cannot identify" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per call
    assert identify([]) == []
