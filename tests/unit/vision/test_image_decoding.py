"""decode_image / load_image: every refusal is a sentence a person can act on."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.vision.images import ImageError, decode_image, load_image

Array = NDArray[Any]

MB = 1024 * 1024
MAX_BYTES, MAX_PIXELS = 15 * MB, 40_000_000
LIMITS = {"max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS}


def encode(image: Array, extension: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(extension, image)
    assert ok
    return buffer.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming a huge size, with no pixel data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(chunk[4:]))


def colour_image(height: int = 40, width: int = 60) -> Array:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 0] = 200  # blue in BGR
    image[:, : width // 2, 2] = 100
    return image


@pytest.mark.parametrize(
    ("data", "limits", "message"),
    [
        pytest.param(b"", LIMITS, "is empty", id="empty"),
        pytest.param(
            b"\0" * int(20.1 * MB), LIMITS, "is 20.1 MB; the limit is 15 MB.", id="too-many-bytes"
        ),
        pytest.param(b"hello, not an image", LIMITS, "is not an image", id="text"),
        pytest.param(
            encode(colour_image(), ".jpg")[:200], LIMITS, "is not an image", id="truncated-jpeg"
        ),
        pytest.param(
            encode(colour_image(100, 100)),
            {"max_bytes": MB, "max_pixels": 5000},
            "is 100x100 pixels (0.0 megapixels); the limit is 0.0 megapixels.",
            id="too-many-pixels-png",
        ),
        pytest.param(
            encode(colour_image(100, 100), ".jpg"),
            {"max_bytes": MB, "max_pixels": 5000},
            "is 100x100 pixels",
            id="too-many-pixels-jpeg",
        ),
        pytest.param(
            encode(colour_image(100, 100), ".bmp"),
            {"max_bytes": MB, "max_pixels": 5000},
            "is 100x100 pixels",
            id="too-many-pixels-after-decode",
        ),
        pytest.param(
            png_header_only(100_000, 100_000),
            LIMITS,
            "is 100000x100000 pixels (10000.0 megapixels); the limit is 40.0 megapixels.",
            id="decompression-bomb-header",
        ),
    ],
)
def test_decode_refuses_with_a_sentence(data: bytes, limits: dict[str, int], message: str) -> None:
    with pytest.raises(ImageError, match=r"^the file ") as caught:
        decode_image(data, max_bytes=limits["max_bytes"], max_pixels=limits["max_pixels"])
    assert message in str(caught.value)


def test_error_names_the_upload() -> None:
    with pytest.raises(ImageError, match=r"^photo\.jpg is empty"):
        decode_image(b"", name="photo.jpg", max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp", ".webp"])
def test_colour_images_decode_to_bgr(extension: str) -> None:
    original = colour_image()
    frame = decode_image(encode(original, extension), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert frame.shape == (40, 60, 3)
    assert frame.dtype == np.uint8
    # Lossy formats move single pixels around an edge; channel means show the order is kept.
    means = frame.reshape(-1, 3).mean(axis=0)
    assert np.allclose(means, original.reshape(-1, 3).mean(axis=0), atol=3)


def test_grayscale_becomes_three_channels() -> None:
    grey = np.full((20, 30), 77, dtype=np.uint8)
    frame = decode_image(encode(grey), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert frame.shape == (20, 30, 3)
    assert (frame == 77).all()


def test_alpha_is_composited_over_white() -> None:
    bgra = np.zeros((10, 10, 4), dtype=np.uint8)
    bgra[:, :5] = (255, 0, 0, 255)  # opaque blue
    bgra[:, 5:] = (0, 0, 0, 0)  # fully transparent black
    frame = decode_image(encode(bgra), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert frame.shape == (10, 10, 3)
    assert (frame[:, :5] == (255, 0, 0)).all()
    assert (frame[:, 5:] == 255).all()


def test_sixteen_bit_png_keeps_its_high_byte() -> None:
    deep = np.full((8, 8, 3), 0xABCD, dtype=np.uint16)
    frame = decode_image(encode(deep), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert frame.dtype == np.uint8
    assert (frame == 0xAB).all()


def test_load_image_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    path.write_bytes(encode(colour_image()))
    assert load_image(path, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS).shape == (40, 60, 3)


def test_load_image_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nowhere.jpg", max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


def test_load_image_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


def test_load_image_checks_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(b"\0" * 2048)
    with pytest.raises(ImageError, match=r"big\.jpg is 0 MB; the limit is 0 MB"):
        load_image(path, max_bytes=1024, max_pixels=100)
