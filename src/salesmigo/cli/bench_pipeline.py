"""``salesmigo bench pipeline``: the camera pipeline's frames per second, stage costs and
first-event latency, against the per-frame pipeline without tracking, in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from salesmigo.cameras.bench import (
    GOAL_FPS_1CORE,
    GOAL_LATENCY_P95_MS,
    GOAL_SPEEDUP,
    BenchConfig,
    run_benchmark,
)
from salesmigo.cli.bench_cmd import app
from salesmigo.cli.output import JsonFlag, console, errors, fail, print_json


@app.command()
def pipeline(
    video: Annotated[
        Path, typer.Option("--video", help="A video file (e.g. one of ../shared/testdata).")
    ],
    max_width: Annotated[
        int, typer.Option(min=64, help="Frames wider than this are shrunk to it.")
    ] = 640,
    repeat: Annotated[int, typer.Option(min=1, help="Play the video this many times.")] = 1,
    latency_plays: Annotated[
        int,
        typer.Option(
            min=1, help="Plays at the video's own frame rate for the latency (more people)."
        ),
    ] = 5,
    json_output: JsonFlag = False,
) -> None:
    """Tracked pipeline on one core and on two vs everything-on-every-frame on one core.

    Each measurement runs in its own process pinned to its cores, with models loaded before
    the clock starts. Keys: fps_1core, fps_2core, baseline_fps_1core, stage_ms (mean ms
    per call of decode, detect, embed, expression, hands, ...), first_event_latency_ms
    (p50, p95, max over the people of an entrance camera fed at the video's frame rate: from
    the frame a person first appears in to their arrival event on the server's bus).
    """
    if not video.is_file():
        fail(f"no video file at {video}; pass --video with the path of a video")
    with errors.status("measuring (four runs: 1 core, 2 cores, baseline, arrival latency)"):
        try:
            config = BenchConfig(
                video, max_width=max_width, repeat=repeat, latency_plays=latency_plays
            )
            results = run_benchmark(config)
        except RuntimeError as error:
            fail(str(error))
    if json_output:
        print_json(results)
    else:
        console.print(_table(results))
    met = "met" if results["goals"]["met"] else "NOT met"
    errors.print(
        f"goals ({GOAL_FPS_1CORE:g} fps on one core, {GOAL_SPEEDUP:g}x the baseline, "
        f"first event p95 <= {GOAL_LATENCY_P95_MS:g} ms): {met}",
        highlight=False,
    )


def _table(results: dict[str, Any]) -> Table:
    table = Table(title=f"Camera pipeline on {Path(results['video']).name}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("frames", "fps_1core", "fps_2core", "baseline_fps_1core", "speedup_1core"):
        table.add_row(key, str(results.get(key)))
    latency = results["first_event_latency_ms"]
    table.add_row(
        "first_event_latency_ms",
        f"p50 {latency['p50']}  p95 {latency['p95']}  ({latency['people']} people)",
    )
    for stage, ms in results["stage_ms"].items():
        table.add_row(f"{stage} ms", f"{ms:.2f}")
    return table
