"""Reading one image from a multipart form, with the limits and errors every route shares."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile

from salesmigo.config import VisionSettings
from salesmigo.services.errors import InvalidInput
from salesmigo.vision.images import ImageError, decode_image
from salesmigo.vision.types import Frame


@dataclass(frozen=True)
class FormImage:
    frame: Frame
    fields: dict[str, str]


async def read_form_image(request: Request, vision: VisionSettings) -> FormImage:
    """The decoded ``image`` file of a multipart form and its text fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send a multipart form with an 'image' file")
    async with request.form(max_files=1, max_fields=10) as form:
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise InvalidInput("the form needs a file field named 'image'")
        # One byte past the limit is enough to know the file is too large.
        data = await image.read(vision.max_upload_bytes + 1)
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        frame = decode_image(
            data,
            max_bytes=vision.max_upload_bytes,
            max_pixels=vision.max_image_pixels,
            name=image.filename or "image",
        )
    except ImageError as error:
        raise InvalidInput(str(error)) from None
    return FormImage(frame, fields)
