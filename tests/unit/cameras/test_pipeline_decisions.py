from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from salesmigo.cameras.events import VisitArrivalEvent, VisitDepartureEvent
from salesmigo.cameras.identity_vote import (
    IdentificationUnavailable,
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
    observation_due,
    should_embed,
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
    ("decided", "embeddings", "last", "frame", "first_vote", "expected"),
    [
        (False, 0, None, 0, False, True),
        (False, 1, 10, 12, False, False),  # embed_every 3
        (False, 1, 10, 13, False, True),
        (False, 1, 10, 10, True, False),  # before the first vote: first_embed_every 1
        (False, 1, 10, 11, True, True),
        (False, 8, 10, 20, False, False),  # max_embeddings
        (True, 3, 10, 100, False, False),  # decided: only refresh
        (True, 3, 10, 160, False, True),
    ],
)
def test_should_embed(
    decided: bool,
    embeddings: int,
    last: int | None,
    frame: int,
    first_vote: bool,
    expected: bool,
) -> None:
    result = should_embed(
        decided=decided,
        embeddings=embeddings,
        last_embed_frame=last,
        frame_index=frame,
        settings=SETTINGS,
        first_vote=first_vote,
    )
    assert result is expected


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


def test_an_entrance_reports_a_known_customer_early_and_their_dwell_at_the_end() -> None:
    calls: list[int] = []

    def identify(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        calls.append(len(vectors))
        return [(42, 0.6) for _ in vectors]

    embedder = FakeEmbedder()
    events: list[Event] = []
    # Frames here are 0.1 s apart: a long window lets the vote settle before it closes.
    settings = PipelineSettings(arrival_window=1.0, tracker=TrackerSettings(max_misses=3))
    pipeline = CameraPipeline(
        FakeDetector(5, 60), embedder, identify, settings, on_event=events.append
    )
    published_at: list[int] = []
    for frame in frames(80):
        if pipeline.process(frame):
            published_at.append(frame.index)
    pipeline.flush()
    assert [e.type for e in events] == ["arrival", "departure"]
    arrival, departure = events
    assert isinstance(arrival, VisitArrivalEvent)
    assert isinstance(departure, VisitDepartureEvent)
    # Faces of frames 5 and 6 (first_embed_every 1), each taken from the embedding lane at
    # the next frame, settle the vote at frame 7: reported at once.
    assert published_at[0] == 7
    assert arrival.customer_id == departure.customer_id == 42
    assert arrival.visit_id == departure.visit_id
    assert arrival.distance == pytest.approx(0.6)
    assert (departure.departed_at - departure.arrived_at).total_seconds() == pytest.approx(5.4)
    assert departure.arrived_at == arrival.arrived_at
    assert len(calls) == 1
    assert embedder.calls <= 3
    assert pipeline.summary()["tracks"] == 1
    assert pipeline.summary()["visits"] == 1
    assert pipeline.summary()["events"] == 2


def test_an_undecided_stranger_arrives_when_the_window_ends_and_leaves_anonymous() -> None:
    pipeline = CameraPipeline(
        FakeDetector(0, 30), FakeEmbedder(), lambda vs: [(None, None) for _ in vs]
    )
    arrived: list[int] = []
    events: list[Event] = []
    for frame in frames(30):
        produced = pipeline.process(frame)
        if produced:
            arrived.append(frame.index)
        events += produced
    events += pipeline.flush()
    assert [e.type for e in events] == ["arrival", "departure"]
    # Frames are 0.1 s apart: 0.15 s after the first appearance is frame 2.
    assert arrived == [2]
    assert all(e.customer_id is None for e in events)
    assert pipeline.voter.calls <= VoteSettings().max_attempts


def test_a_customer_named_after_an_anonymous_arrival_is_named_at_departure() -> None:
    poor: list[IdentifyResult] = [(None, None), (None, None)]
    answers = iter([poor])

    def identify(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        first = next(answers, None)  # the first faces are poor; later ones match
        return first if first is not None else [(42, 0.6) for _ in vectors]

    settings = PipelineSettings(vote=VoteSettings(retry_every_frames=2, min_votes=2))
    pipeline = CameraPipeline(FakeDetector(0, 40), FakeEmbedder(), identify, settings)
    events = [e for frame in frames(40) for e in pipeline.process(frame)] + pipeline.flush()
    assert [(e.type, e.customer_id) for e in events] == [("arrival", None), ("departure", 42)]


class CrowdDetector:
    """Three faces side by side, from the first frame on."""

    def detect(self, frame: Frame) -> list[DetectedFace]:
        faces = []
        for x in (10, 140, 270):
            marks = np.array(
                [[x + 30, 90], [x + 70, 90], [x + 50, 110], [x + 38, 130], [x + 62, 130]]
            )
            faces.append(DetectedFace(Box(x, 60, 100, 100), 0.95, marks.astype(np.float32)))
        return faces


def test_a_group_arriving_together_is_embedded_a_few_faces_per_frame() -> None:
    embedder = FakeEmbedder()
    pipeline = CameraPipeline(
        CrowdDetector(), embedder, lambda vs: [(None, None) for _ in vs], PipelineSettings()
    )
    per_frame = []
    for frame in frames(6):
        before = embedder.calls
        pipeline.process(frame)
        per_frame.append(embedder.calls - before)
    # max_embeddings_per_frame (1): one face a frame, the least known first, so the
    # others wait a frame each and no frame pays for three embeddings.
    assert per_frame[:3] == [1, 1, 1]
    assert max(per_frame) <= 1
    assert all(len(t.best_faces) >= 1 for t in pipeline.active_tracks)


def test_an_observing_camera_needs_expression_and_hand_models() -> None:
    with pytest.raises(ValueError, match="expressions"):
        CameraPipeline(
            FakeDetector(0, 1), FakeEmbedder(), lambda vs: [], PipelineSettings(role="aisle")
        )


def test_an_outage_is_no_vote_and_its_faces_are_identified_when_it_ends() -> None:
    down = True
    sent: list[int] = []

    def identify(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        if down:
            raise IdentificationUnavailable("connection refused")
        sent.extend(int(v[0]) for v in vectors)
        return [(7, 0.5) for _ in vectors]

    voter = IdentityVoter(identify, VOTE)
    state = TrackIdentity()
    faces = [(0, np.array([0.0], np.float32)), (1, np.array([1.0], np.float32))]
    assert not voter.maybe_identify(state, faces, 1, 2)
    assert (state.attempts, state.results, state.identified) == (0, [], False)
    down = False
    assert not voter.maybe_identify(state, faces, 5, 6)  # waits retry_every_frames
    assert voter.maybe_identify(state, faces, 11, 12)
    assert sent == [0, 1]  # the faces of the outage, identified now
    assert (state.outcome.customer_id, state.identified) == (7, True)


def test_a_visit_during_an_outage_is_unidentified_not_a_stranger() -> None:
    def unreachable(vectors: Sequence[Vector]) -> list[IdentifyResult]:
        raise IdentificationUnavailable("connection refused")

    pipeline = CameraPipeline(FakeDetector(0, 30), FakeEmbedder(), unreachable)
    events = [e for frame in frames(30) for e in pipeline.process(frame)] + pipeline.flush()
    assert [e.type for e in events] == ["arrival", "departure"]
    for event in events:
        assert isinstance(event, VisitArrivalEvent | VisitDepartureEvent)
        assert (event.customer_id, event.identified) == (None, False)
