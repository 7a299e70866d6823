"""An API client per test on its own database (SQLite and PostgreSQL), sharing loaded models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from salesmigo.api.app import create_app
from salesmigo.config import Settings
from salesmigo.services.runtime import Runtime
from salesmigo.vision.pipeline import FacePipeline


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def client(settings: Settings, face_pipeline: FacePipeline) -> Iterator[TestClient]:
    with TestClient(create_app(settings, face_pipeline)) as test_client:
        yield test_client


@pytest.fixture
def runtime(client: TestClient) -> Runtime:
    state_runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return state_runtime


@pytest.fixture
def photo(testdata: Path) -> Callable[[str], tuple[str, bytes, str]]:
    def read(relative: str) -> tuple[str, bytes, str]:
        path = testdata / relative
        return (path.name, path.read_bytes(), "image/jpeg")

    return read


@pytest.fixture(scope="session")
def face_pipeline() -> Iterator[FacePipeline]:
    """The real detector and recognisers, loaded once per test worker."""
    pipeline = FacePipeline.default(Settings().vision)
    yield pipeline
    pipeline.close()
