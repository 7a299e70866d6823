"""One camera's frames in, visit / expression / gesture events out, one frame at a time.

Per frame: detect faces (cheap: BlazeFace, a few ms) and update the tracker. The costly
stages run per *track*, not per frame:

* embedding: only while a track's identity is undecided, at most every ``embed_every``
  frames and only for a face better (face_quality) than the worst of its best few; once
  decided, every ``refresh_every`` frames to keep its descriptor fresh for re-attachment;
* identification: on the best few faces, by vote (identity_vote), then never again;
* expression (aisle, fitting room): every ``expression_every`` frames per track;
* hands (aisle, fitting room): every ``hands_every`` frames while anyone is in view.

Visits (entrance cameras only, cameras.visits): an arrival as soon as the track's identity
is decided or ``arrival_window`` seconds after the person first appeared, whichever comes
first; the departure, with the same visit id, when the track ends (or a new visit after
``visit_period``). One visit per customer per period.

Expressions and gestures are smoothed per track (vision.smoothing) and reported when a
label is confirmed, so each change is one event, not one per frame.

Identification is injected (``identify``): this module never touches the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from salesmigo.cameras.embed_lane import EmbeddingLane
from salesmigo.cameras.events import (
    ExpressionEvent,
    GestureEvent,
    VisitArrivalEvent,
    VisitDepartureEvent,
)
from salesmigo.cameras.identity_vote import (
    Identify,
    IdentityVoter,
    TrackIdentity,
    VoteSettings,
)
from salesmigo.cameras.sources import SourceFrame
from salesmigo.cameras.tracker import Track, Tracker, TrackerSettings, face_quality
from salesmigo.cameras.visits import TrackVisit, VisitBook, VisitRules
from salesmigo.vision.expression_labels import EXPRESSION_LABELS, most_likely_expression
from salesmigo.vision.gesture_labels import Gesture
from salesmigo.vision.gestures import classify
from salesmigo.vision.hand_links import link_hands
from salesmigo.vision.hands import Hand
from salesmigo.vision.smoothing import TrackSmoothers
from salesmigo.vision.types import Box, DetectedFace, ExpressionCrop, Frame, Vector

logger = logging.getLogger(__name__)

Role = Literal["entrance", "aisle", "fitting_room"]
Event = VisitArrivalEvent | VisitDepartureEvent | ExpressionEvent | GestureEvent
EventSink = Callable[[Event], None]


class Detector(Protocol):
    def detect(self, frame: Frame) -> list[DetectedFace]: ...


class Embedder(Protocol):
    def embed(self, frame: Frame, face: DetectedFace) -> object: ...


class ExpressionReader(Protocol):
    def probabilities(self, frame: Frame, face: DetectedFace) -> NDArray[np.float32]: ...


class HandFinder(Protocol):
    def detect(self, frame: Frame) -> list[Hand]: ...


class LandmarkRefiner(Protocol):
    def refine(self, frame: Frame, box: Box) -> NDArray[np.float32] | None: ...


@dataclass(frozen=True)
class PipelineSettings:
    role: Role = "entrance"
    camera: str = "camera"
    visit_period: float = 300.0  # seconds
    arrival_window: float = 0.1  # seconds: latest arrival report after a person appears
    min_track_frames: int = 3
    min_face_size: int = 32  # narrower faces are tracked but never embedded
    min_detection_score: float = 0.6
    min_quality: float = 0.05
    embed_every: int = 3
    # Until a track's first identification: its first faces, closer together, so that the
    # first vote lands inside the arrival window (frames 0 and 1, collected by frame 2 from
    # the embedding lane: 80 ms at 25 fps).
    first_embed_every: int = 1
    max_embeddings: int = 8  # per undecided track
    # Embedding costs ten detections: one per frame at most, so that a group walking in
    # together does not stall the camera, and every arrival is reported within about one
    # frame of its window (with 2 per frame, p95 on video_01 was 260-290 ms; with 1,
    # 230 ms; the faces of a group are embedded in turn, the least known first).
    max_embeddings_per_frame: int = 1
    refresh_every: int = 150  # frames between descriptor refreshes of a decided track
    expression_every: int = 5
    hands_every: int = 4
    expression_min_frames: int = 2
    expression_window: int = 3
    gesture_min_frames: int = 3
    gesture_window: int = 5
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    vote: VoteSettings = field(default_factory=VoteSettings)

    @property
    def observing(self) -> bool:
        return self.role != "entrance"

    @property
    def visit_rules(self) -> VisitRules:
        return VisitRules(self.visit_period, self.arrival_window, self.min_track_frames)


# -- decisions, pure -------------------------------------------------------------------------


def should_embed(
    *,
    decided: bool,
    embeddings: int,
    last_embed_frame: int | None,
    frame_index: int,
    settings: PipelineSettings,
    first_vote: bool = False,
) -> bool:
    """Is this track's face worth embedding on this frame (before the quality gate)?

    ``first_vote``: the track has not been identified yet (first_embed_every applies).
    """
    if last_embed_frame is None:
        return True
    since = frame_index - last_embed_frame
    if decided:
        return since >= settings.refresh_every
    every = settings.first_embed_every if first_vote else settings.embed_every
    return embeddings < settings.max_embeddings and since >= every


def observation_due(last_frame: int | None, frame_index: int, every: int) -> bool:
    """Run a per-track reading (expression) on this frame?"""
    return last_frame is None or frame_index - last_frame >= every


# -- the loop --------------------------------------------------------------------------------


@dataclass
class _TrackState:
    identity: TrackIdentity
    visit: TrackVisit
    first_wall: float = 0.0  # perf_counter when the track began: for visit_latencies
    embeddings: int = 0
    last_embed_frame: int | None = None
    last_expression_frame: int | None = None
    probabilities: dict[str, float] = field(default_factory=dict)


@dataclass
class PipelineStats:
    frames: int = 0
    tracks: int = 0
    visits: int = 0
    observations: int = 0
    embeddings: int = 0
    identify_calls: int = 0
    identified_faces: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    stage_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: int = 0
    # Seconds of processing from a track's first frame to its arrival event.
    visit_latencies: list[float] = field(default_factory=list)

    def record(self, stage: str, seconds: float) -> None:
        """One call of ``stage`` that took ``seconds``."""
        self.stage_seconds[stage] += seconds
        self.stage_calls[stage] += 1

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per call of each stage."""
        return {
            stage: 1000 * seconds / max(1, self.stage_calls[stage])
            for stage, seconds in self.stage_seconds.items()
        }


class CameraPipeline:
    """Tracks people in one camera's frames and reports events. Not thread-safe: one per camera."""

    def __init__(
        self,
        detector: Detector,
        embedder: Embedder,
        identify: Identify,
        settings: PipelineSettings | None = None,
        *,
        expressions: ExpressionReader | None = None,
        hands: HandFinder | None = None,
        refiner: LandmarkRefiner | None = None,
        on_event: EventSink | None = None,
        track_prefix: str | None = None,
    ) -> None:
        self.settings = settings or PipelineSettings()
        if self.settings.observing and (expressions is None or hands is None):
            raise ValueError(
                f"a {self.settings.role} camera reads expressions and gestures: pass "
                "`expressions` and `hands`"
            )
        self.detector = detector
        self.embedder = embedder
        self.expressions = expressions
        self.hands = hands
        self.refiner = refiner
        self.on_event = on_event
        prefix = track_prefix if track_prefix is not None else f"{self.settings.camera}-"
        self.tracker = Tracker(self.settings.tracker, prefix=prefix)
        self.voter = IdentityVoter(identify, self.settings.vote)
        self.stats = PipelineStats()
        self._states: dict[str, _TrackState] = {}
        self._visits = VisitBook(self.settings.visit_rules)
        self._expression_smoothers: TrackSmoothers[str, str] = TrackSmoothers(
            self.settings.expression_min_frames, self.settings.expression_window
        )
        self._gesture_smoothers: TrackSmoothers[str, Gesture] = TrackSmoothers(
            self.settings.gesture_min_frames, self.settings.gesture_window
        )
        self._last_hands_frame: int | None = None
        # Embeddings run beside the loop, one frame behind it (cameras.embed_lane); the
        # tracker's in-line ones share the models with the lane, hence the lock.
        self._embed_lock = threading.Lock()
        self._lane = EmbeddingLane(self._descriptor, name=self.settings.camera)

    @classmethod
    def with_models(
        cls,
        identify: Identify,
        settings: PipelineSettings | None = None,
        *,
        models_root: Path | None = None,
        embedding_model: str = "sface",
        hand_model_complexity: Literal[0, 1] = 0,
        max_hands: int = 2,
        expression_crop: ExpressionCrop = "box",
        on_event: EventSink | None = None,
    ) -> CameraPipeline:
        """The default models: BlazeFace (YuNet landmarks only for faces being embedded),
        ``embedding_model``, and for aisle / fitting-room cameras FaceExpressionNet on
        ``expression_crop`` and mediapipe Hands in video mode (tracking hands between
        frames, no padded retry).
        """
        from salesmigo.vision.detect import MediapipeFaceDetector, YuNetLandmarks
        from salesmigo.vision.embedders import create_embedder

        settings = settings or PipelineSettings()
        expressions: ExpressionReader | None = None
        hands: HandFinder | None = None
        if settings.observing:
            from salesmigo.vision.expression import ExpressionClassifier
            from salesmigo.vision.hands import HandDetector

            expressions = ExpressionClassifier(models_root, crop=expression_crop)
            hands = HandDetector(
                max_num_hands=max_hands,
                static_image_mode=False,
                model_complexity=hand_model_complexity,
                retry=False,
            )
        return cls(
            MediapipeFaceDetector(refine_landmarks=False),
            create_embedder(embedding_model),
            identify,
            settings,
            expressions=expressions,
            hands=hands,
            refiner=YuNetLandmarks(),
            on_event=on_event,
        )

    def close(self) -> None:
        """Release the detectors' native resources."""
        for part in (self.detector, self.hands):
            close = getattr(part, "close", None)
            if callable(close):
                close()

    # -- timing

    def _timed(self, stage: str, started: float) -> None:
        self.stats.record(stage, time.perf_counter() - started)

    # -- per frame

    def process(self, frame: SourceFrame) -> list[Event]:
        """Process one frame; the events it produced (also sent to ``on_event``)."""
        events: list[Event] = []
        image, index = frame.image, frame.index
        self.stats.frames += 1

        started = time.perf_counter()
        detections = [
            d for d in self.detector.detect(image) if d.score >= self.settings.min_detection_score
        ]
        self._timed("detect", started)

        cache: dict[int, Vector] = {}

        def describe(i: int) -> Vector | None:
            if not self._embeddable(detections[i]):
                return None
            vector = self._embed(image, detections[i])
            cache[i] = vector
            return vector

        started = time.perf_counter()
        update = self.tracker.update(detections, index, frame.timestamp, describe)
        self._timed("track", started)
        self.stats.tracks += len(update.new)

        for track in update.new:
            self._states[track.id] = _TrackState(
                identity=TrackIdentity(),
                visit=TrackVisit(frame.timestamp, frame.captured_at, frame.captured_at),
                first_wall=time.perf_counter(),
            )

        for track in update.assigned:
            self._states[track.id].visit.seen(frame.captured_at)
        if self.settings.role == "entrance":
            # An arrival whose window has closed needs nothing from this frame: report it
            # before this frame's embeddings, which can take longer than the window itself.
            early = [e for t in self.tracker.tracks for e in self._arrival(t, frame.timestamp)]
            self._publish(early)
        else:
            early = []
        self._collect_embeddings()

        budget = self.settings.max_embeddings_per_frame
        # Tracks with the fewest faces first: the budget goes where identity is least known.
        order = sorted(range(len(detections)), key=lambda i: len(update.assigned[i].best_faces))
        for i in order:
            detection, track = detections[i], update.assigned[i]
            state = self._states[track.id]
            if self._maybe_embed(image, index, i, detection, track, state, cache, budget > 0):
                budget -= 1
            started = time.perf_counter()
            faces = [(f.frame_index, f.vector) for f in track.best_faces]
            if self.voter.maybe_identify(state.identity, faces, index, track.age):
                self._timed("identify", started)

        if self.settings.observing:
            events += self._observe(
                image, index, list(zip(detections, update.assigned, strict=True))
            )

        for track in update.ended:
            events += self._end(track)
        if self.settings.role == "entrance":
            for track in self.tracker.tracks:
                events += self._visit_events(track, frame.timestamp, ended=False)
        self._publish(events)
        return early + events

    def flush(self) -> list[Event]:
        """End every track (the source ended or the worker stops): their last visits."""
        self._collect_embeddings()
        events: list[Event] = []
        for track in self.tracker.end_all():
            events += self._end(track)
        self._publish(events)
        return events

    @property
    def active_tracks(self) -> list[Track]:
        return list(self.tracker.tracks)

    def identity_of(self, track_id: str) -> int | None:
        state = self._states.get(track_id)
        return None if state is None else state.identity.outcome.customer_id

    def expression_of(self, track_id: str) -> str | None:
        return self._expression_smoothers.current(track_id)

    def gesture_of(self, track_id: str) -> str | None:
        gesture = self._gesture_smoothers.current(track_id)
        return None if gesture is None else str(gesture)

    # -- stages

    def _embeddable(self, detection: DetectedFace) -> bool:
        return detection.box.width >= self.settings.min_face_size

    def _embed(self, image: Frame, detection: DetectedFace) -> Vector:
        """One face's descriptor, in line (the tracker needs it for this frame)."""
        started = time.perf_counter()
        vector = self._descriptor(image, detection)
        self.stats.embeddings += 1
        self._timed("embed", started)
        return vector

    def _descriptor(self, image: Frame, detection: DetectedFace) -> Vector:
        """Refined landmarks, then the embedding; from the frame loop or the lane's thread."""
        with self._embed_lock:
            if self.refiner is not None:
                landmarks = self.refiner.refine(image, detection.box)
                if landmarks is not None:
                    detection = DetectedFace(detection.box, detection.score, landmarks)
            embedding = self.embedder.embed(image, detection)
        vector = getattr(embedding, "vector", embedding)
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def _collect_embeddings(self) -> None:
        """The previous frame's faces from the lane into their tracks (waiting for them)."""
        keep = self.settings.tracker.keep_faces
        for face in self._lane.collect():
            self.stats.embeddings += 1
            self.stats.record("embed", face.seconds)
            face.track.add_face(face.vector, face.quality, face.frame_index, keep)

    def _maybe_embed(
        self,
        image: Frame,
        index: int,
        i: int,
        detection: DetectedFace,
        track: Track,
        state: _TrackState,
        cache: dict[int, Vector],
        may_embed: bool,
    ) -> bool:
        """Keep this face for the track's vote if it is worth it; True if it costs an
        embedding (sent to the lane, the track gets it at the next frame).

        A face the tracker embedded already (``cache``) is free; another is embedded only
        when ``may_embed`` (the frame's budget is not spent).
        """
        if not self._embeddable(detection):
            return False
        due = should_embed(
            decided=state.identity.decided(self.settings.vote),
            embeddings=state.embeddings,
            last_embed_frame=state.last_embed_frame,
            frame_index=index,
            settings=self.settings,
            first_vote=state.identity.attempts == 0,
        )
        if not due and i not in cache:
            return False
        if i not in cache and not may_embed:
            return False
        started = time.perf_counter()
        quality = face_quality(image, detection)
        self._timed("quality", started)
        keep = self.settings.tracker.keep_faces
        poor = quality < self.settings.min_quality or quality <= track.worst_kept_quality(keep)
        if poor and not state.identity.decided(self.settings.vote):
            return False
        state.last_embed_frame = index
        vector = cache.get(i)
        if vector is not None:
            track.add_face(vector, quality, index, keep)
            return False
        self._lane.submit(image, detection, track, quality, index)
        state.embeddings += 1
        return True

    def _observe(
        self, image: Frame, index: int, present: list[tuple[DetectedFace, Track]]
    ) -> list[Event]:
        assert self.expressions is not None
        assert self.hands is not None
        events: list[Event] = []
        for detection, track in present:
            state = self._states[track.id]
            if not self._embeddable(detection):
                continue
            if not observation_due(
                state.last_expression_frame, index, self.settings.expression_every
            ):
                continue
            started = time.perf_counter()
            values = self.expressions.probabilities(image, detection)
            self._timed("expression", started)
            state.last_expression_frame = index
            probabilities: dict[str, float] = {
                label: float(v) for label, v in zip(EXPRESSION_LABELS, values, strict=True)
            }
            state.probabilities = probabilities
            label = most_likely_expression(probabilities)
            if self._expression_smoothers.update(track.id, label) is not None:
                events.append(
                    ExpressionEvent(
                        occurred_at=state.visit.last_at,
                        label=label,
                        probabilities=probabilities,
                        **self._who(track, state),
                    )
                )
        if present and observation_due(self._last_hands_frame, index, self.settings.hands_every):
            self._last_hands_frame = index
            events += self._gestures(image, present)
        self.stats.observations += len(events)
        return events

    def _gestures(self, image: Frame, present: list[tuple[DetectedFace, Track]]) -> list[Event]:
        assert self.hands is not None
        started = time.perf_counter()
        found = self.hands.detect(image)
        self._timed("hands", started)
        links = link_hands([h.box for h in found], [d.box for d, _ in present])
        best: dict[int, tuple[Gesture, float]] = {}
        for hand, link in zip(found, links, strict=True):
            if link is None:
                continue
            gesture, confidence = classify(hand)
            if gesture == Gesture.NONE:
                continue
            if link not in best or confidence > best[link][1]:
                best[link] = (gesture, confidence)
        events: list[Event] = []
        for position, (_, track) in enumerate(present):
            seen = best.get(position)
            confirmed = self._gesture_smoothers.update(track.id, seen[0] if seen else None)
            if confirmed is not None and seen is not None:
                state = self._states[track.id]
                events.append(
                    GestureEvent(
                        occurred_at=state.visit.last_at,
                        gesture=str(confirmed),
                        confidence=min(1.0, max(0.0, seen[1])),
                        **self._who(track, state),
                    )
                )
        return events

    def _who(self, track: Track, state: _TrackState) -> dict[str, object]:
        outcome = state.identity.outcome
        return {
            "track_id": track.id,
            "customer_id": outcome.customer_id,
            "distance": outcome.distance,
        }

    def _end(self, track: Track) -> list[Event]:
        events: list[Event] = []
        state = self._states.get(track.id)
        if state is not None and self.settings.role == "entrance":
            if not state.identity.settled:
                # A last chance for faces gathered since the last vote.
                faces = [(f.frame_index, f.vector) for f in track.best_faces]
                self.voter.maybe_identify(state.identity, faces, track.last_frame, track.age)
            events += self._visit_events(track, track.last_seen, ended=True)
        self._states.pop(track.id, None)
        self._expression_smoothers.forget(track.id)
        self._gesture_smoothers.forget(track.id)
        return events

    def _arrival(self, track: Track, now: float) -> list[Event]:
        state = self._states[track.id]
        identity = state.identity
        events = self._visits.arrival_if_due(
            track.id, state.visit, identity.outcome, now, identified=identity.identified
        )
        self._count_visits(state, events)
        return list(events)

    def _visit_events(self, track: Track, now: float, *, ended: bool) -> list[Event]:
        state = self._states[track.id]
        outcome = state.identity.outcome
        events = self._arrival(track, now)
        left = self._visits.departure_if_due(
            track.id,
            state.visit,
            outcome,
            now,
            ended=ended,
            identified=state.identity.identified,
        )
        self._count_visits(state, left)
        return events + left

    def _count_visits(self, state: _TrackState, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, VisitArrivalEvent):
                self.stats.visits += 1
                self.stats.visit_latencies.append(time.perf_counter() - state.first_wall)
            else:
                state.first_wall = time.perf_counter()  # the next visit window starts now

    def _publish(self, events: Sequence[Event]) -> None:
        self.stats.events += len(events)
        if self.on_event is None:
            return
        for event in events:
            try:
                self.on_event(event)
            except Exception:  # a failing sink must not stop the camera
                logger.exception("event sink failed on a %s event", event.type)

    def summary(self) -> dict[str, int]:
        return {
            "frames": self.stats.frames,
            "tracks": self.stats.tracks,
            "visits": self.stats.visits,
            "events": self.stats.events,
            "observations": self.stats.observations,
            "embeddings": self.stats.embeddings,
            "identify_calls": self.voter.calls,
            "identified_faces": self.voter.vectors,
        }
