"""A video file turned into what Chromium's fake camera plays (Y4M), and where Chromium is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

CHROMIUM = Path("/usr/bin/chromium")

# Headless, no sandbox (tests run as root), nothing fetched from the network, and the
# camera replaced by a file, with the permission prompt answered "allow".
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def chromium() -> Path | None:
    """Debian's Chromium, where ./dev setup installs it; None if it is not there."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


def write_y4m(video: Path, target: Path, *, max_frames: int, width: int = 640) -> Path:
    """The first ``max_frames`` frames of ``video`` as a Y4M file (I420) ``width`` wide."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise OSError(f"OpenCV cannot open {video}")
    fps = round(capture.get(cv2.CAP_PROP_FPS)) or 25
    written = 0
    try:
        with target.open("wb") as out:
            while written < max_frames:
                ok, image = capture.read()
                if not ok:
                    break
                height = round(image.shape[0] * width / image.shape[1]) // 2 * 2  # I420: even
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                if written == 0:
                    out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
                out.write(b"FRAME\n")
                out.write(
                    np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)).tobytes()
                )
                written += 1
    finally:
        capture.release()
    if written == 0:
        raise OSError(f"{video} has no frames OpenCV can read")
    return target
