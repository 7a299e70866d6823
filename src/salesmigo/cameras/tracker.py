"""One track per person across frames: IoU first, face descriptors to re-attach, pure numpy.

Matching is greedy by cost (scipy's Hungarian solver is not installed, and with the handful
of people a camera sees at once greedy gives the same answer): every (track, detection) pair
whose boxes overlap by at least ``min_iou`` is a candidate with cost ``1 - IoU``; the
cheapest pair is taken first, then the cheapest among the rest, and so on.

Embedding a face costs ten times more than detecting it, so descriptors are not computed
for every detection. They are asked for lazily (``describe``), only for detections that
no box overlap explains while a track that has a descriptor is missing: someone who walked
behind a pillar, or moved too far between two processed frames, gets their track back
instead of a new one (which would mean a second identification and a second visit).

Each track also keeps the descriptors of its best few faces by quality (face_quality):
identification votes over those, not over whatever frame came first.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from salesmigo.vision.types import Box, DetectedFace, Frame, Vector

# -- face quality ----------------------------------------------------------------------------

# A face this wide (pixels) or wider gets the full size score: SFace reads 112 x 112 crops.
FULL_SIZE = 112
# Variance of the Laplacian (grey levels squared) at which sharpness scores one half.
SHARPNESS_HALF = 100.0
# Side of the square the face is resized to before measuring sharpness, so that a large face
# is not judged sharper just for having more pixels.
SHARPNESS_SIDE = 64


def size_score(box: Box) -> float:
    """0..1: how close the face is to the size the recogniser reads."""
    return min(1.0, max(0, min(box.width, box.height)) / FULL_SIZE)


def frontalness(landmarks: NDArray[np.float32]) -> float:
    """0..1 from the 5 ArcFace-order landmarks: 1 when the nose is midway between the eyes.

    A turned head moves the nose towards one eye; the score is the shorter eye-to-nose
    horizontal distance over the longer one (in the eyes' own frame, so head roll does not
    count), and also falls when the eyes are closer than the nose is below them (a head
    turned far or tilted down).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[0] < 3:
        return 0.0
    right_eye, left_eye, nose = points[0, :2], points[1, :2], points[2, :2]
    axis = left_eye - right_eye
    eye_distance = float(np.hypot(axis[0], axis[1]))
    if eye_distance < 1e-6:
        return 0.0
    unit = axis / eye_distance
    along = float(np.dot(nose - right_eye, unit))
    to_right, to_left = along, eye_distance - along
    if to_right <= 0 or to_left <= 0:
        return 0.0  # nose outside the eyes: a profile
    return min(to_right, to_left) / max(to_right, to_left)


def sharpness(frame: Frame, box: Box) -> float:
    """Variance of the Laplacian of the face, resized to a fixed side (grey levels squared)."""
    crop = frame[box.y : box.y + box.height, box.x : box.x + box.width]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_quality(frame: Frame, face: DetectedFace) -> float:
    """0..1: how good this face is for identification (size x frontalness x sharpness).

    A product, so a face bad in any one respect (tiny, in profile or blurred) scores low.
    """
    sharp = sharpness(frame, face.box)
    sharp_score = sharp / (sharp + SHARPNESS_HALF)
    return size_score(face.box) * frontalness(face.landmarks) * sharp_score


# -- boxes -----------------------------------------------------------------------------------


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    left, top = max(a.x, b.x), max(a.y, b.y)
    right = min(a.x + a.width, b.x + b.width)
    bottom = min(a.y + a.height, b.y + b.height)
    if right <= left or bottom <= top:
        return 0.0
    inter = (right - left) * (bottom - top)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def greedy_match(cost: NDArray[np.float64], max_cost: float) -> list[tuple[int, int]]:
    """(row, column) pairs, cheapest first, each row and column used once, cost <= max_cost."""
    if cost.size == 0:
        return []
    rows, cols = np.nonzero(cost <= max_cost)
    order = np.argsort(cost[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for k in order:
        row, col = int(rows[k]), int(cols[k])
        if row in used_rows or col in used_cols:
            continue
        used_rows.add(row)
        used_cols.add(col)
        pairs.append((row, col))
    return pairs


def cosine_distance(a: Vector, b: Vector) -> float:
    """1 - cosine similarity: 0 same direction, 1 unrelated, 2 opposite."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0:
        return 1.0
    return 1.0 - float(np.dot(a, b)) / norm


# -- tracks ----------------------------------------------------------------------------------


@dataclass(order=True)
class ScoredFace:
    """A face descriptor kept by a track, ordered by quality (for the best-K heap)."""

    quality: float
    frame_index: int
    vector: Vector = field(compare=False)


@dataclass
class Track:
    """A person followed across frames."""

    id: str
    box: Box
    first_seen: float  # seconds on the source's clock
    last_seen: float
    first_frame: int
    last_frame: int
    hits: int = 1
    misses: int = 0
    best_faces: list[ScoredFace] = field(default_factory=list)  # a min-heap by quality
    descriptor: Vector | None = None  # mean of the best faces' unit vectors
    last_detection: DetectedFace | None = None

    @property
    def age(self) -> int:
        """Frames since the track started (1 on its first frame)."""
        return self.last_frame - self.first_frame + 1

    def worst_kept_quality(self, keep: int) -> float:
        """The quality a new face must beat to be kept (0 while fewer than ``keep`` faces)."""
        if len(self.best_faces) < keep:
            return 0.0
        return self.best_faces[0].quality

    def add_face(self, vector: Vector, quality: float, frame_index: int, keep: int) -> bool:
        """Keep ``vector`` if it is among the ``keep`` best faces; True if kept."""
        unit = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(unit))
        if norm > 0:
            unit = unit / norm
        face = ScoredFace(quality, frame_index, unit)
        if len(self.best_faces) < keep:
            heapq.heappush(self.best_faces, face)
        elif quality > self.best_faces[0].quality:
            heapq.heapreplace(self.best_faces, face)
        else:
            return False
        mean = np.mean([f.vector for f in self.best_faces], axis=0)
        self.descriptor = np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), np.float32)
        return True

    def best_vectors(self) -> list[Vector]:
        """The kept descriptors, best quality first."""
        return [f.vector for f in sorted(self.best_faces, reverse=True)]


@dataclass(frozen=True)
class TrackerSettings:
    min_iou: float = 0.2  # boxes overlapping less are not the same person by position
    max_descriptor_distance: float = 0.35  # cosine distance to re-attach a missing track
    max_misses: int = 15  # processed frames a track may go unseen before it ends
    keep_faces: int = 3  # best faces kept per track


@dataclass(frozen=True)
class TrackerUpdate:
    """What one frame did: a track for each detection, and the tracks that ended."""

    assigned: list[Track]  # one per detection, in detection order
    new: list[Track]
    ended: list[Track]


# Descriptor of detection i, computed only on demand; None when it cannot be described.
Describe = Callable[[int], Vector | None]


class Tracker:
    """Assigns detections to tracks frame by frame. Not thread-safe: one per camera."""

    def __init__(self, settings: TrackerSettings | None = None, prefix: str = "t") -> None:
        self.settings = settings or TrackerSettings()
        self.prefix = prefix
        self._ids = itertools.count(1)
        self.tracks: list[Track] = []
        self.started = 0

    def update(
        self,
        detections: Sequence[DetectedFace],
        frame_index: int,
        timestamp: float,
        describe: Describe | None = None,
    ) -> TrackerUpdate:
        """Match this frame's detections to tracks, start new ones, end the long-missing."""
        settings = self.settings
        tracks = self.tracks
        cost = np.ones((len(tracks), len(detections)), dtype=np.float64)
        for row, track in enumerate(tracks):
            for col, detection in enumerate(detections):
                cost[row, col] = 1.0 - iou(track.box, detection.box)
        pairs = greedy_match(cost, 1.0 - settings.min_iou)

        matched_tracks = {row for row, _ in pairs}
        matched_dets = {col for _, col in pairs}
        lost = [
            row
            for row, t in enumerate(tracks)
            if row not in matched_tracks and t.descriptor is not None
        ]
        loose = [col for col in range(len(detections)) if col not in matched_dets]
        if describe is not None and lost and loose:
            pairs.extend(self._match_descriptors(lost, loose, describe))

        assigned: list[Track | None] = [None] * len(detections)
        for row, col in pairs:
            track = tracks[row]
            detection = detections[col]
            track.box = detection.box
            track.last_detection = detection
            track.last_seen = timestamp
            track.last_frame = frame_index
            track.hits += 1
            track.misses = 0
            assigned[col] = track

        seen = {id(t) for t in assigned if t is not None}
        ended: list[Track] = []
        kept: list[Track] = []
        for track in tracks:
            if id(track) not in seen:
                track.misses += 1
                if track.misses > settings.max_misses:
                    ended.append(track)
                    continue
            kept.append(track)

        new: list[Track] = []
        for col, detection in enumerate(detections):
            if assigned[col] is None:
                track = Track(
                    id=f"{self.prefix}{next(self._ids)}",
                    box=detection.box,
                    first_seen=timestamp,
                    last_seen=timestamp,
                    first_frame=frame_index,
                    last_frame=frame_index,
                    last_detection=detection,
                )
                new.append(track)
                assigned[col] = track
        self.tracks = kept + new
        self.started += len(new)
        return TrackerUpdate([t for t in assigned if t is not None], new, ended)

    def _match_descriptors(
        self, lost: list[int], loose: list[int], describe: Describe
    ) -> list[tuple[int, int]]:
        vectors = {col: describe(col) for col in loose}
        cost = np.full((len(lost), len(loose)), np.inf)
        for i, row in enumerate(lost):
            descriptor = self.tracks[row].descriptor
            assert descriptor is not None
            for j, col in enumerate(loose):
                vector = vectors[col]
                if vector is not None:
                    cost[i, j] = cosine_distance(descriptor, vector)
        found = greedy_match(cost, self.settings.max_descriptor_distance)
        return [(lost[i], loose[j]) for i, j in found]

    def end_all(self) -> list[Track]:
        """End every track (the source has ended); returns them."""
        ended, self.tracks = self.tracks, []
        return ended
