"""Everything a running Salesmigo holds: settings, database, gallery, vision pipeline."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from salesmigo.config import Settings
from salesmigo.gallery.gallery import Gallery, Template
from salesmigo.store.db import create_db_engine, session_factory
from salesmigo.store.migrate import upgrade_to_head
from salesmigo.store.repositories import TemplateRepository
from salesmigo.vision.pipeline import FacePipeline

logger = logging.getLogger(__name__)

_LOAD_BATCH = 10_000


@dataclass
class Runtime:
    """Owned by one process (the API's lifespan or one CLI command) and closed by it."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    gallery: Gallery
    _pipeline: FacePipeline | None = field(default=None, repr=False)
    owns_pipeline: bool = True
    _pipeline_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pipeline(self) -> FacePipeline:
        """Models load on first use, so commands that never look at a face start fast."""
        with self._pipeline_lock:
            if self._pipeline is None:
                self._pipeline = FacePipeline.default(self.settings.vision)
            return self._pipeline

    @property
    def enrolment_models(self) -> list[str]:
        recognition = self.settings.recognition
        extra = [m for m in recognition.compatibility_models if m != recognition.default_model]
        return [recognition.default_model, *extra]

    def close(self) -> None:
        if self._pipeline is not None and self.owns_pipeline:
            self._pipeline.close()
        self.engine.dispose()


def open_runtime(settings: Settings, pipeline: FacePipeline | None = None) -> Runtime:
    """Migrate the database to the current schema and load every template into the gallery.

    ``pipeline`` lets several runtimes in one process (tests, tools) share loaded models.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.resolved_database_url)
    upgrade_to_head(engine)
    sessions = session_factory(engine)
    gallery = Gallery(settings.matching_for)
    with sessions() as session:
        templates = TemplateRepository(session)
        for model in templates.count_by_model():
            for batch in templates.iter_batches(model, _LOAD_BATCH):
                gallery.add(
                    Template(template_id, customer_id, model, vector)
                    for template_id, customer_id, vector in batch
                )
            logger.info("loaded %s %s templates into the gallery", gallery.size(model), model)
    return Runtime(settings, engine, sessions, gallery, pipeline, owns_pipeline=pipeline is None)
