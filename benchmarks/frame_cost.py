"""What expressions and gestures add to a frame with one face and one hand, on one core.

``python benchmarks/frame_cost.py [--image PATH] [--passes 200] [--json]``

The process pins itself to one core and sizes every native thread pool (OpenMP, OpenBLAS,
OpenCV, threadpoolctl's view of BLAS) to one thread before any model loads; mediapipe's own
threads then share that core too. The measuring is ``salesmigo.evaluation.frame_cost``; see
README.md beside this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

# Set before numpy, OpenCV or mediapipe load their thread pools (they read these once).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

TESTDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"
# One person, face and thumbs-up hand in view, 640 x 521: a camera frame's worth of pixels.
DEFAULT_IMAGE = (
    "mediapipe-samples/examples/gesture_recognizer/android/app/src/androidTest/assets/"
    "hand_thumb_up.jpg"
)


def _one_core() -> str:
    """Pin this process to one core it may use; which one, for the report."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"core {core}"


def main(
    image: Annotated[
        Path | None,
        typer.Option(help="A frame with one face and one hand (default: a public test image)."),
    ] = None,
    passes: Annotated[int, typer.Option(help="Timed passes over the frame.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    pinned = _one_core()
    import cv2
    from threadpoolctl import threadpool_limits

    from salesmigo.cameras.configured import configured_pipeline
    from salesmigo.config import Settings
    from salesmigo.evaluation.frame_cost import BUDGET_MS, measure_frame_cost
    from salesmigo.vision.gestures import classify
    from salesmigo.vision.images import load_image

    cv2.setNumThreads(1)
    path = image if image is not None else TESTDATA / DEFAULT_IMAGE
    frame = load_image(path, max_bytes=50 * 1024 * 1024, max_pixels=100_000_000)
    with threadpool_limits(limits=1):
        # An aisle camera's own models, as the configured settings set them up.
        pipeline = configured_pipeline(Settings(), lambda faces: [], role="aisle", camera="bench")
        detector, expressions, hands = pipeline.detector, pipeline.expressions, pipeline.hands
        if expressions is None or hands is None:
            raise SystemExit("an aisle camera's pipeline came without expressions or hands")
        try:
            cost = measure_frame_cost(frame, detector, expressions, hands, classify, passes=passes)
        finally:
            pipeline.close()
    result: dict[str, object] = {
        "image": str(path),
        "frame": f"{frame.shape[1]}x{frame.shape[0]}",
        "cpu": pinned,
    }
    result.update(cost.as_dict())
    if as_json:
        print(json.dumps(result))
        return
    print(f"{path.name} ({result['frame']}), {cost.faces} face(s), {cost.hands} hand(s), {pinned}")
    header = ("wall median", "wall p95", "CPU median", "CPU p95")
    print(f"{'per frame, ms':34} " + " ".join(f"{name:>11}" for name in header))
    stages = [
        ("face detection (baseline)", "detection"),
        ("expression (crop, network)", "expression"),
        ("gestures (Hands, rules)", "gestures"),
        ("expression + gestures", "added"),
    ]
    for name, stage in stages:
        wall, cpu = getattr(cost.wall, stage), getattr(cost.cpu, stage)
        print(
            f"{name:34} {wall.median_ms:12.1f} {wall.p95_ms:9.1f} "
            f"{cpu.median_ms:11.1f} {cpu.p95_ms:8.1f}"
        )
    verdict = "within" if cost.within_budget else "OVER"
    print(
        f"detection + both = {cost.wall.ratio:.1f}x detection alone (CPU: {cost.cpu.ratio:.1f}x); "
        f"median wall clock {verdict} the {BUDGET_MS:.0f} ms budget ({passes} passes)"
    )


if __name__ == "__main__":
    typer.run(main)
