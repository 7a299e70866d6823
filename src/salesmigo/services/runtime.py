"""Everything a running Salesmigo holds: settings, database, gallery, vision pipeline."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from salesmigo.config import Settings
from salesmigo.gallery.gallery import Gallery
from salesmigo.gallery.persist import load_snapshot, save_snapshot
from salesmigo.realtime.bus import Bus, MemoryBus, open_bus
from salesmigo.services.gallery_sync import GallerySync
from salesmigo.store.db import create_db_engine, session_factory
from salesmigo.store.gallery_log import database_id, latest_revision
from salesmigo.store.migrate import upgrade_to_head
from salesmigo.store.repositories import TemplateRepository
from salesmigo.vision.attributes import AttributeEstimator
from salesmigo.vision.expression import ExpressionClassifier
from salesmigo.vision.hands import HandDetector
from salesmigo.vision.pipeline import FacePipeline
from salesmigo.vision.smoothing import TrackSmoothers

logger = logging.getLogger(__name__)

_LOAD_BATCH = 50_000


@dataclass
class Runtime:
    """Owned by one process (the API's lifespan or one CLI command) and closed by it.

    The gallery and the models load on first use, so commands that need neither (listing
    customers, importing an export) start fast even against millions of templates.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: Bus = field(default_factory=MemoryBus)
    _pipeline: FacePipeline | None = field(default=None, repr=False)
    owns_pipeline: bool = True
    _sync: GallerySync | None = field(default=None, repr=False)
    _snapshot_revision: int | None = field(default=None, repr=False)
    _expressions: ExpressionClassifier | None = field(default=None, repr=False)
    _hands: HandDetector | None = field(default=None, repr=False)
    _attributes: AttributeEstimator | None = field(default=None, repr=False)
    _gestures: TrackSmoothers[Hashable, str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _gesture_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pipeline(self) -> FacePipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = FacePipeline.default(self.settings.vision)
            return self._pipeline

    @property
    def expressions(self) -> ExpressionClassifier:
        with self._lock:
            if self._expressions is None:
                self._expressions = ExpressionClassifier(self.settings.models_dir)
            return self._expressions

    @property
    def attributes(self) -> AttributeEstimator | None:
        """Age and gender estimation, or None unless ``vision.attributes`` is on."""
        if not self.settings.vision.attributes:
            return None
        with self._lock:
            if self._attributes is None:
                self._attributes = AttributeEstimator(self.settings.models_dir)
            return self._attributes

    @property
    def hands(self) -> HandDetector:
        with self._lock:
            if self._hands is None:
                vision = self.settings.vision
                self._hands = HandDetector(
                    max_num_hands=vision.max_hands, model_complexity=vision.hand_model_complexity
                )
            return self._hands

    def smooth_gesture(self, person: Hashable, gesture: str | None) -> str | None:
        """A gesture once it has persisted over enough frames of ``person``, else None."""
        with self._gesture_lock:
            if self._gestures is None:
                vision = self.settings.vision
                self._gestures = TrackSmoothers(vision.gesture_min_frames, vision.gesture_window)
            return self._gestures.update(person, gesture)

    @property
    def gallery(self) -> Gallery:
        return self._gallery_sync().gallery

    def _gallery_sync(self) -> GallerySync:
        with self._lock:
            if self._sync is None:
                self._sync = self._load_gallery()
            return self._sync

    def gallery_changed(self) -> None:
        """Call after committing template changes: this process sees them at once."""
        if self._sync is not None:
            self._sync.catch_up()

    def follow_gallery_changes(self) -> None:
        """Load the gallery now and keep it in step with other processes (for servers)."""
        sync = self._gallery_sync()
        sync.start(self.engine)
        sync.gallery.start_search_helpers()

    @property
    def enrolment_models(self) -> list[str]:
        recognition = self.settings.recognition
        extra = [m for m in recognition.compatibility_models if m != recognition.default_model]
        return [recognition.default_model, *extra]

    def _load_gallery(self) -> GallerySync:
        with self.sessions() as session:
            this_database = database_id(session)
            latest = latest_revision(session)
        loaded = None
        if self.settings.gallery.persist:
            loaded = load_snapshot(
                self._snapshot_folder,
                database_id=this_database,
                matching_for=self.settings.matching_for,
                settings=self.settings.gallery,
            )
        if loaded is not None and loaded[1] <= latest:
            gallery, revision = loaded
            self._snapshot_revision = revision
        else:
            # The revision is read before the templates: a change committed during the
            # load is then replayed by catch_up (replaying is idempotent).
            gallery, revision = self._gallery_from_templates(), latest
        sync = GallerySync(
            self.sessions, gallery, revision, self.settings.gallery.sync_interval_seconds
        )
        sync.catch_up()
        return sync

    def _gallery_from_templates(self) -> Gallery:
        gallery = Gallery(self.settings.matching_for, self.settings.gallery)
        with self.sessions() as session:
            templates = TemplateRepository(session)
            for model in templates.count_by_model():
                for batch in templates.iter_batches(model, _LOAD_BATCH):
                    gallery.add_arrays(
                        model,
                        np.fromiter((row.template_id for row in batch), np.int64, len(batch)),
                        np.fromiter((row.customer_id for row in batch), np.int64, len(batch)),
                        np.stack([row.vector for row in batch]),
                    )
                logger.info("loaded %s %s templates into the gallery", gallery.size(model), model)
        return gallery

    @property
    def _snapshot_folder(self) -> Path:
        return self.settings.data_dir / "gallery"

    def close(self) -> None:
        sync = self._sync
        if sync is not None:
            sync.stop()
            if self.settings.gallery.persist and sync.revision != self._snapshot_revision:
                with self.sessions() as session:
                    this_database = database_id(session)
                save_snapshot(
                    sync.gallery,
                    self._snapshot_folder,
                    revision=sync.revision,
                    database_id=this_database,
                )
        if self._pipeline is not None and self.owns_pipeline:
            self._pipeline.close()
        if self._hands is not None:
            self._hands.close()
        self.bus.close()
        self.engine.dispose()


def open_runtime(settings: Settings, pipeline: FacePipeline | None = None) -> Runtime:
    """Open the database, bringing its schema up to date.

    ``pipeline`` lets several runtimes in one process (tests, tools) share loaded models.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.resolved_database_url)
    upgrade_to_head(engine)
    return Runtime(
        settings,
        engine,
        session_factory(engine),
        open_bus(settings.redis_url),
        pipeline,
        owns_pipeline=pipeline is None,
    )
