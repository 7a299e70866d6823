"""Turning uploaded photos into face templates, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from salesmigo.services.errors import PhotoProblem, PhotosRejected
from salesmigo.services.runtime import Runtime
from salesmigo.vision.images import ImageError, decode_image
from salesmigo.vision.types import Face, FaceEmbedding


@dataclass(frozen=True)
class Photo:
    """An uploaded file: the name the user gave it and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class PhotoFace:
    """The one face of an enrolment photo, described by every enrolment model."""

    photo: str
    face: Face
    embeddings: list[FaceEmbedding]


def faces_for_enrolment(runtime: Runtime, photos: Sequence[Photo]) -> list[PhotoFace]:
    """One face per photo, or PhotosRejected naming every unusable photo and why.

    Every photo is checked before anything is stored, so one bad photo cannot leave a
    customer half-enrolled.
    """
    vision = runtime.settings.vision
    models = runtime.enrolment_models
    found: list[PhotoFace] = []
    problems: list[PhotoProblem] = []
    for photo in photos:
        try:
            frame = decode_image(
                photo.data, max_bytes=vision.max_upload_bytes, max_pixels=vision.max_image_pixels
            )
        except ImageError as error:
            problems.append(PhotoProblem(photo.name, str(error)))
            continue
        analysis = runtime.pipeline.analyse(frame, models[0])
        if len(analysis.faces) > 1:
            problems.append(
                PhotoProblem(
                    photo.name,
                    f"{len(analysis.faces)} faces found; use a photo that shows only the customer",
                )
            )
        elif not analysis.faces:
            reason = "no face found"
            if analysis.rejected:
                reason = f"no usable face ({analysis.rejected[0].reason})"
            problems.append(PhotoProblem(photo.name, reason))
        else:
            face = analysis.faces[0]
            extra = [runtime.pipeline.embed(frame, face.detection, m) for m in models[1:]]
            found.append(PhotoFace(photo.name, face, [face.embedding, *extra]))
    if problems:
        raise PhotosRejected(problems)
    return found
