"""The camera pipeline with real models on the shared test videos."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from salesmigo.cameras.annotate import AnnotatedVideoWriter, pipeline_labels
from salesmigo.cameras.configured import configured_pipeline
from salesmigo.cameras.events import GestureEvent, VisitArrivalEvent, VisitDepartureEvent
from salesmigo.cameras.identity_vote import IdentifyResult
from salesmigo.cameras.pipeline import CameraPipeline, Event, PipelineSettings, Role
from salesmigo.cameras.sources import SourceFrame, VideoFileSource
from salesmigo.cameras.worker import CameraWorker, WorkerStats
from salesmigo.config import Settings
from salesmigo.vision.expression import ExpressionClassifier
from salesmigo.vision.hands import HandDetector
from salesmigo.vision.types import Vector

pytestmark = pytest.mark.integration

FACES_VIDEO = "openmpf/trunk/mpf-system-tests/src/test/resources/samples/face/video_01.mp4"
THUMBS_VIDEO = (
    "mediapipe-samples/examples/gesture_recognizer/android/app/src/androidTest/assets/"
    "test_video.mp4"
)


@dataclass
class Run:
    events: list[Event]
    stats: WorkerStats
    pipeline: CameraPipeline
    identified: list[int]


def run(path: Path, role: Role, annotated: Path | None = None) -> Run:
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    identified: list[int] = []

    def identify(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        identified.append(len(vectors))
        return [(None, None) for _ in vectors]  # an empty gallery: everyone is a stranger

    events: list[Event] = []
    pipeline = CameraPipeline.with_models(
        identify, PipelineSettings(role=role, camera="test"), on_event=events.append
    )
    writer = AnnotatedVideoWriter(annotated, 25.0) if annotated else None

    def on_frame(frame: SourceFrame, result: object) -> None:
        if writer is not None:
            writer.write(frame.image, pipeline_labels(pipeline))

    source = VideoFileSource(path, max_width=640)
    try:
        stats = CameraWorker(source, pipeline, name=role, on_frame=on_frame).start().join(120)
    finally:
        pipeline.close()
        if writer is not None:
            writer.close()
    return Run(events, stats, pipeline, identified)


@pytest.fixture(scope="module")
def entrance(testdata: Path) -> Run:
    return run(testdata / FACES_VIDEO, "entrance")


def test_an_entrance_reports_one_arrival_and_one_departure_per_track(entrance: Run) -> None:
    assert entrance.stats.processed == 90
    assert entrance.stats.dropped == 0
    assert entrance.stats.tracks >= 2
    arrivals = [e for e in entrance.events if isinstance(e, VisitArrivalEvent)]
    departures = {e.visit_id: e for e in entrance.events if isinstance(e, VisitDepartureEvent)}
    assert arrivals
    assert {e.type for e in entrance.events} == {"arrival", "departure"}
    tracks = [a.track_id for a in arrivals]
    assert len(tracks) == len(set(tracks))  # one visit per track
    assert len(arrivals) <= entrance.stats.tracks
    assert set(departures) == {a.visit_id for a in arrivals}
    for arrival in arrivals:
        departure = departures[arrival.visit_id]
        assert entrance.events.index(arrival) < entrance.events.index(departure)
        assert departure.arrived_at == arrival.arrived_at <= departure.departed_at
        assert arrival.customer_id is None  # the gallery is empty


def test_identification_runs_on_few_faces_not_on_every_frame(entrance: Run) -> None:
    faces_identified = sum(entrance.identified)
    assert 0 < len(entrance.identified) < entrance.stats.processed / 4
    assert faces_identified < entrance.stats.processed / 2
    assert entrance.pipeline.stats.embeddings < entrance.stats.processed


def test_the_thumbs_up_video_yields_a_gesture_for_one_track(testdata: Path, tmp_path: Path) -> None:
    annotated = tmp_path / "annotated.mp4"
    aisle = run(testdata / THUMBS_VIDEO, "aisle", annotated)
    gestures = [e for e in aisle.events if isinstance(e, GestureEvent)]
    assert "thumbs_up" in {g.gesture for g in gestures}
    assert len({g.track_id for g in gestures if g.gesture == "thumbs_up"}) == 1
    # An aisle counts no visits.
    assert not any(isinstance(e, VisitArrivalEvent | VisitDepartureEvent) for e in aisle.events)
    assert any(e.type == "expression" for e in aisle.events)
    # Bounded observations: a handful of events, not one per frame.
    assert len(aisle.events) < aisle.stats.processed / 5
    capture = cv2.VideoCapture(str(annotated))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == aisle.stats.processed
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
    capture.release()


def test_a_configured_pipeline_follows_the_settings_tree(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        vision={"max_hands": 1, "camera_expression_crop": "landmarks", "min_face_size": 48},
        cameras={"arrival_window_seconds": 0.5, "visit_period_seconds": 60},
    )
    pipeline = configured_pipeline(settings, lambda vectors: [], role="aisle", camera="aisle 3")
    try:
        assert pipeline.settings.camera == "aisle 3"
        assert pipeline.settings.arrival_window == 0.5
        assert pipeline.settings.visit_period == 60
        assert pipeline.settings.min_face_size == 48
        assert isinstance(pipeline.expressions, ExpressionClassifier)
        assert pipeline.expressions.crop == "landmarks"
        assert isinstance(pipeline.hands, HandDetector)
        assert pipeline.hands.max_num_hands == 1
    finally:
        pipeline.close()
