"""Turning uploaded bytes or files into frames, with errors a person can act on."""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.types import Frame

logger = logging.getLogger(__name__)

_MB = 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageError(ValueError):
    """An image could not be used; the message is a sentence to show to the person who sent it."""


def _megabytes(size: int) -> str:
    return f"{size / _MB:.1f}".removesuffix(".0") + " MB"


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height read from a PNG or JPEG header, or None for other formats.

    Reading the header first means a small file that would decode to billions of pixels
    (a decompression bomb) is refused before OpenCV allocates memory for it.
    """
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        at = 2
        while at + 9 <= len(data):
            if data[at] != 0xFF:
                return None
            marker = data[at + 1]
            if marker == 0xFF:  # fill byte before a marker
                at += 1
                continue
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                return int(width), int(height)
            (length,) = struct.unpack(">H", data[at + 2 : at + 4])
            at += 2 + int(length)
    return None


def _too_many_pixels(name: str, width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"{name} is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
        f"the limit is {max_pixels / 1e6:.1f} megapixels."
    )


def _to_bgr8(image: NDArray[Any]) -> Frame:
    """Bring any decoded layout (grey, grey+alpha, BGRA, 16-bit) to 8-bit BGR."""
    if image.dtype == np.uint16:  # 16-bit PNG: keep the high byte
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"images with {image.dtype} samples are not supported.")
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    channels = image.shape[2]
    if channels == 1:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if channels == 3:
        return np.ascontiguousarray(image, dtype=np.uint8)
    if channels == 4:
        # Composite transparent parts over white, as a browser shows them, rather than
        # dropping alpha and exposing whatever colour the transparent pixels happen to hold.
        colour = image[:, :, :3].astype(np.float32)
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        blended = colour * alpha + 255.0 * (1.0 - alpha)
        bgr: Frame = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return bgr
    raise ImageError(f"images with {channels} colour channels are not supported.")


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, name: str = "the file") -> Frame:
    """Decode an encoded image (JPEG, PNG, WebP, BMP, ...) to an 8-bit BGR frame.

    Raises ImageError, whose message names ``name``, when the data is empty, too large,
    not an image, or has more than ``max_pixels`` pixels.
    """
    if not data:
        raise ImageError(f"{name} is empty (0 bytes).")
    if len(data) > max_bytes:
        raise ImageError(
            f"{name} is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}."
        )
    size = _header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise _too_many_pixels(name, size[0], size[1], max_pixels)

    buffer = np.frombuffer(data, dtype=np.uint8)
    # PNG is the one common format that carries alpha, so it is read unchanged and
    # composited; everything else goes through IMREAD_COLOR, which also applies the
    # EXIF orientation phone cameras write into JPEGs.
    flags = cv2.IMREAD_UNCHANGED if data.startswith(_PNG_SIGNATURE) else cv2.IMREAD_COLOR
    try:
        decoded = cv2.imdecode(buffer, flags)
    except cv2.error as error:
        logger.info("OpenCV could not decode %s: %s", name, error)
        decoded = None
    if decoded is None or decoded.size == 0:
        raise ImageError(f"{name} is not an image OpenCV can read (JPEG, PNG, WebP or BMP).")
    height, width = decoded.shape[:2]
    if width * height > max_pixels:
        raise _too_many_pixels(name, width, height, max_pixels)
    return _to_bgr8(np.asarray(decoded))


def load_image(path: Path, *, max_bytes: int, max_pixels: int) -> Frame:
    """Read and decode an image file; see decode_image for the errors."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            # Refuse before reading a huge file into memory.
            raise ImageError(f"{path} is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image file.") from None
    except PermissionError:
        raise ImageError(f"{path} cannot be read: permission denied.") from None
    return decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, name=str(path))


def rgb_copy(frame: Frame) -> NDArray[np.uint8]:
    """The RGB copy of a BGR frame that mediapipe graphs take, after checking its shape."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR frame, got {frame.dtype} {frame.shape}")
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), dtype=np.uint8)
