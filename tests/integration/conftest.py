"""Fixtures for tests that use real models and the shared third-party test images."""

from __future__ import annotations

from pathlib import Path

import pytest

# ../shared/testdata next to the repository: third-party photos that must never be copied
# into this (public) repository, so tests read them in place.
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip("../shared/testdata is absent: real-image tests need it")
    return TESTDATA
