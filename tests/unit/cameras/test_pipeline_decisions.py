from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from salesmigo.cameras.events import VisitEvent
from salesmigo.cameras.identity_vote import (
    IdentifyResult,
    IdentityVoter,
    TrackIdentity,
    VoteSettings,
    should_identify,
    tally,
)
from salesmigo.cameras.pipeline import (
    CameraPipeline,
    Event,
    PipelineSettings,
    is_repeat_visit,
    observation_due,
    should_embed,
    visit_due,
)
from salesmigo.cameras.sources import SourceFrame
from salesmigo.cameras.tracker import TrackerSettings
from salesmigo.vision.types import Box, DetectedFace, Frame, Vector

SETTINGS = PipelineSettings()
VOTE = VoteSettings(min_faces=2, first_after_frames=4, min_votes=2, retry_every_frames=10)


@pytest.mark.parametrize(
    ("results", "customer", "confident"),
    [
        ([], None, False),
        ([(None, None), (None, None)], None, False),
        ([(7, 0.8)], None, False),  # one vote is not enough
        ([(7, 0.8), (7, 0.7)], 7, True),
        ([(7, 0.8), (7, 0.7), (None, None), (None, None)], None, False),  # as many strangers
        ([(7, 0.8), (7, 0.7), (8, 0.6), (8, 0.9)], None, False),  # a tie
        ([(7, 0.8), (7, 0.7), (7, 0.9), (8, 0.6), (None, None)], 7, True),
    ],
)
def test_tally(results: list[IdentifyResult], customer: int | None, confident: bool) -> None:
    outcome = tally(results, min_votes=2)
    assert (outcome.customer_id, outcome.confident) == (customer, confident)


@pytest.mark.parametrize(("unknown", "settled"), [(2, False), (3, True), (5, True)])
def test_a_track_matching_no_one_often_enough_is_a_settled_stranger(
    unknown: int, settled: bool
) -> None:
    outcome = tally([(None, None)] * unknown, min_votes=2, stranger_votes=3)
    assert outcome.customer_id is None
    assert outcome.confident is settled
    assert not tally([(None, None)] * 3 + [(7, 0.9)], 2, 3).confident


def test_tally_reports_the_best_distance_of_the_winner() -> None:
    assert tally([(7, 0.8), (7, 0.7), (8, 0.1)], 2).distance == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"confident": True}, False),
        ({"attempts": 4}, False),
        ({"faces": 0, "new_faces": 0}, False),
        ({"faces": 1, "new_faces": 1, "track_age": 2}, False),  # too early with one face
        ({"faces": 1, "new_faces": 1, "track_age": 4}, True),  # one face, but seen long enough
        ({"faces": 2, "new_faces": 2, "track_age": 2}, True),
        ({"attempts": 1, "last_attempt_frame": 95, "new_faces": 1}, False),  # too soon
        ({"attempts": 1, "last_attempt_frame": 90, "new_faces": 1}, True),
        ({"attempts": 1, "last_attempt_frame": 50, "new_faces": 0}, False),  # nothing new
    ],
)
def test_should_identify(kwargs: dict[str, object], expected: bool) -> None:
    arguments: dict[str, object] = {
        "confident": False,
        "attempts": 0,
        "last_attempt_frame": None,
        "frame_index": 100,
        "faces": 3,
        "new_faces": 3,
        "track_age": 10,
        "settings": VOTE,
    }
    arguments.update(kwargs)
    assert should_identify(**arguments) is expected  # type: ignore[arg-type]


def test_voter_stops_once_confident_and_never_resends_a_face() -> None:
    sent: list[int] = []

    def identify(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        sent.extend(int(v[0]) for v in vectors)
        return [(7, 0.5) for _ in vectors]

    voter = IdentityVoter(identify, VOTE)
    state = TrackIdentity()
    faces = [(0, np.array([0.0], np.float32)), (1, np.array([1.0], np.float32))]
    assert voter.maybe_identify(state, faces, 1, 2)
    assert state.outcome.customer_id == 7
    assert state.settled
    more = [*faces, (50, np.array([50.0], np.float32))]
    assert not voter.maybe_identify(state, more, 60, 60)
    assert sent == [0, 1]
    assert voter.calls == 1


def test_voter_rejects_a_wrong_number_of_results() -> None:
    voter = IdentityVoter(lambda vectors: [], VOTE)
    with pytest.raises(ValueError, match="one per face"):
        voter.maybe_identify(TrackIdentity(), [(0, np.zeros(1, np.float32))] * 2, 5, 5)


@pytest.mark.parametrize(
    ("decided", "embeddings", "last", "frame", "expected"),
    [
        (False, 0, None, 0, True),
        (False, 1, 10, 12, False),  # embed_every 3
        (False, 1, 10, 13, True),
        (False, 8, 10, 20, False),  # max_embeddings
        (True, 3, 10, 100, False),  # decided: only refresh
        (True, 3, 10, 160, True),
    ],
)
def test_should_embed(
    decided: bool, embeddings: int, last: int | None, frame: int, expected: bool
) -> None:
    result = should_embed(
        decided=decided,
        embeddings=embeddings,
        last_embed_frame=last,
        frame_index=frame,
        settings=SETTINGS,
    )
    assert result is expected


@pytest.mark.parametrize(
    ("ended", "frames", "started", "now", "expected"),
    [
        (True, 2, 0.0, 1.0, False),  # too short to be a person
        (True, 3, 0.0, 1.0, True),
        (False, 100, 0.0, 299.0, False),
        (False, 100, 0.0, 300.0, True),  # the period elapsed
    ],
)
def test_visit_due(ended: bool, frames: int, started: float, now: float, expected: bool) -> None:
    result = visit_due(ended=ended, frames_seen=frames, started=started, now=now, settings=SETTINGS)
    assert result is expected


def test_is_repeat_visit() -> None:
    assert not is_repeat_visit(None, 10.0, 0.0, SETTINGS)
    assert not is_repeat_visit(7, 10.0, None, SETTINGS)
    assert is_repeat_visit(7, 10.0, 0.0, SETTINGS)
    assert not is_repeat_visit(7, 400.0, 0.0, SETTINGS)


def test_observation_due() -> None:
    assert observation_due(None, 0, 5)
    assert not observation_due(10, 14, 5)
    assert observation_due(10, 15, 5)


# -- the loop with fake models ---------------------------------------------------------------


class FakeDetector:
    """One face moving right, present in frames [start, stop)."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop
        self.frame = -1

    def detect(self, frame: Frame) -> list[DetectedFace]:
        self.frame += 1
        if not self.start <= self.frame < self.stop:
            return []
        x = 50 + 2 * self.frame
        marks = np.array([[x + 30, 90], [x + 70, 90], [x + 50, 110], [x + 38, 130], [x + 62, 130]])
        return [DetectedFace(Box(x, 60, 100, 100), 0.95, marks.astype(np.float32))]


class FakeEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def embed(self, frame: Frame, face: DetectedFace) -> Vector:
        self.calls += 1
        return np.array([1.0, 0.0, 0.0], dtype=np.float32)


def frames(count: int) -> list[SourceFrame]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (240, 400, 3), dtype=np.uint8)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [SourceFrame(image, i, i / 10, start + timedelta(seconds=i / 10)) for i in range(count)]


def test_an_entrance_reports_one_visit_per_person_with_few_identifications() -> None:
    calls: list[int] = []

    def identify(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        calls.append(len(vectors))
        return [(42, 0.6) for _ in vectors]

    embedder = FakeEmbedder()
    events: list[Event] = []
    settings = PipelineSettings(tracker=TrackerSettings(max_misses=3))
    pipeline = CameraPipeline(
        FakeDetector(5, 60), embedder, identify, settings, on_event=events.append
    )
    for frame in frames(80):
        pipeline.process(frame)
    pipeline.flush()
    assert len(events) == 1
    visit = events[0]
    assert isinstance(visit, VisitEvent)
    assert visit.customer_id == 42
    assert visit.distance == pytest.approx(0.6)
    assert visit.departed_at is not None
    assert (visit.departed_at - visit.arrived_at).total_seconds() == pytest.approx(5.4)
    assert len(calls) == 1
    assert embedder.calls <= 3
    assert pipeline.summary()["tracks"] == 1


def test_an_unknown_person_is_counted_as_an_anonymous_visit() -> None:
    pipeline = CameraPipeline(
        FakeDetector(0, 30), FakeEmbedder(), lambda vs: [(None, None) for _ in vs]
    )
    events = [e for frame in frames(30) for e in pipeline.process(frame)] + pipeline.flush()
    assert len(events) == 1
    assert events[0].customer_id is None
    assert pipeline.voter.calls <= VoteSettings().max_attempts


def test_an_observing_camera_needs_expression_and_hand_models() -> None:
    with pytest.raises(ValueError, match="expressions"):
        CameraPipeline(
            FakeDetector(0, 1), FakeEmbedder(), lambda vs: [], PipelineSettings(role="aisle")
        )
