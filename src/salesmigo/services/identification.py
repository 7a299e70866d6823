"""Who is in this photo: 1:N search, visits, and the self-upgrade of legacy customers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from salesmigo.gallery.decision import Identification
from salesmigo.services.errors import InvalidInput
from salesmigo.services.runtime import Runtime
from salesmigo.store.gallery_log import record_added
from salesmigo.store.models import Customer, FaceTemplate, TemplateOrigin, Visit
from salesmigo.store.types import utcnow
from salesmigo.vision.types import Face, Frame, RejectedFace

logger = logging.getLogger(__name__)

LEGACY_MODEL = "dlib"


@dataclass(frozen=True)
class IdentifiedFace:
    face: Face | None  # None when the caller sent a bare descriptor
    identification: Identification
    customer_name: str | None
    upgraded: bool = False


@dataclass(frozen=True)
class FrameIdentification:
    faces: list[IdentifiedFace]
    rejected: list[RejectedFace]


def identify_frame(runtime: Runtime, frame: Frame, source: str | None) -> FrameIdentification:
    """Identify every usable face in a frame, largest first; record a visit per match."""
    model = runtime.settings.recognition.default_model
    analysis = runtime.pipeline.analyse(frame, model)
    results: list[tuple[Face, Identification, bool]] = []
    for face in analysis.faces:
        identification = runtime.gallery.identify(model, face.embedding.vector)
        upgraded = False
        if identification.decision == "unknown":
            legacy = _identify_legacy_only(runtime, frame, face)
            if legacy is not None:
                identification, upgraded = legacy, True
        results.append((face, identification, upgraded))
    names = _record(runtime, [(f, i) for f, i, _ in results], source)
    faces = [
        IdentifiedFace(face, ident, names.get(ident.matched_customer_id or -1), upgraded)
        for face, ident, upgraded in results
    ]
    return FrameIdentification(faces, analysis.rejected)


def identify_descriptor(
    runtime: Runtime, descriptor: list[float], source: str | None
) -> IdentifiedFace:
    """Search a face-api.js descriptor (dlib's network) against the dlib templates."""
    vector = np.asarray(descriptor, dtype=np.float32)
    if vector.shape != (128,) or not np.all(np.isfinite(vector)):
        raise InvalidInput("descriptor must be 128 finite numbers (a face-api.js descriptor)")
    identification = runtime.gallery.identify(LEGACY_MODEL, vector)
    names = _record(runtime, [(None, identification)], source)
    return IdentifiedFace(None, identification, names.get(identification.matched_customer_id or -1))


def identify_descriptors(
    runtime: Runtime, model: str, descriptors: list[list[float]]
) -> list[IdentifiedFace]:
    """Search many descriptors of one model at once (a camera agent's faces); no visits.

    Visits from cameras arrive as events, with arrival and departure, so none is
    recorded here.
    """
    if model not in runtime.enrolment_models:
        known = ", ".join(runtime.enrolment_models)
        raise InvalidInput(f"model must be one of {known}; got {model!r}")
    vectors = np.asarray(descriptors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != 128 or not np.all(np.isfinite(vectors)):
        raise InvalidInput("descriptors must be lists of 128 finite numbers")
    results = runtime.gallery.identify_batch(model, vectors)
    names = _record(runtime, [(None, result) for result in results], None)
    return [
        IdentifiedFace(None, result, names.get(result.matched_customer_id or -1))
        for result in results
    ]


def _identify_legacy_only(runtime: Runtime, frame: Frame, face: Face) -> Identification | None:
    """A match through dlib templates for a customer who has no default-model template yet.

    Such a customer came from the 2022 prototype: the default model cannot know them, so
    dlib decides, and the photo that matched becomes their first default-model template.
    The default model stays the authority for everyone else.
    """
    default_model = runtime.settings.recognition.default_model
    gallery = runtime.gallery
    # Linear in the customers, once per unknown face; fine for an API photo, but a gallery
    # of millions would want a count of legacy-only customers kept by the gallery instead.
    legacy_only = gallery.customer_set(LEGACY_MODEL) - gallery.customer_set(default_model)
    if not legacy_only:
        return None
    embedding = runtime.pipeline.embed(frame, face.detection, LEGACY_MODEL)
    identification = gallery.identify(LEGACY_MODEL, embedding.vector)
    customer_id = identification.matched_customer_id
    if customer_id is None or customer_id not in legacy_only:
        return None
    with runtime.sessions.begin() as session:
        template = FaceTemplate.from_vector(
            face.embedding.vector,
            model=face.embedding.model,
            model_version=face.embedding.model_version,
            origin=TemplateOrigin.AUTO_UPGRADE,
            customer_id=customer_id,
            detection_score=face.detection.score,
        )
        session.add(template)
        session.flush()
        record_added(session, [template])
    runtime.gallery_changed()
    logger.info("customer %s upgraded from legacy templates to %s", customer_id, default_model)
    return identification


def _record(
    runtime: Runtime, results: list[tuple[Face | None, Identification]], source: str | None
) -> dict[int, str]:
    """Names of the matched customers; a visit per match when the caller named a source."""
    matched = [i for _, i in results if i.matched_customer_id is not None]
    if not matched:
        return {}
    seen_at = utcnow()
    with runtime.sessions.begin() as session:
        names: dict[int, str] = {}
        for identification in matched:
            customer_id = identification.matched_customer_id
            assert customer_id is not None
            customer = session.get(Customer, customer_id)
            if customer is None:  # erased between the search and now
                continue
            names[customer_id] = customer.name
            if source:
                session.add(
                    Visit(
                        customer_id=customer_id,
                        source=source,
                        occurred_at=seen_at,
                        distance=identification.distance,
                    )
                )
        return names
