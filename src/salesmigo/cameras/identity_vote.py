"""Who is this track? Identify its best few faces, vote, and stop once sure.

Identification is injected (``Identify``) so a camera agent can search a local gallery or
ask the server; nothing here touches the database. Everything except IdentityVoter's state
is a pure function, tested without models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from salesmigo.vision.types import Vector

# One (customer id or None, distance or None) per vector, in order.
IdentifyResult = tuple[int | None, float | None]
Identify = Callable[[Sequence[Vector]], list[IdentifyResult]]


class IdentificationUnavailable(Exception):
    """Identification could not run (the server is unreachable): no answer, not "unknown".

    Raised by an ``Identify``; the voter records no vote, keeps the faces for a later try
    and marks the track unidentified until a try succeeds.
    """


@dataclass(frozen=True)
class VoteSettings:
    min_faces: int = 2  # faces a track needs before its first identification...
    first_after_frames: int = 4  # ...unless it has been seen this many frames (one will do)
    min_votes: int = 2  # matches for the same customer needed to name the track
    retry_every_frames: int = 15  # an undecided track is asked again this often at most
    max_attempts: int = 4  # after this many, an undecided track stays unknown for good
    stranger_votes: int = 3  # this many faces matching no one, and none matching: a stranger


@dataclass(frozen=True)
class VoteOutcome:
    """The decision over all votes so far."""

    customer_id: int | None
    distance: float | None  # the best distance among the winning votes
    confident: bool  # True: settled, stop identifying (a customer won, or a clear stranger)


def tally(
    results: Sequence[IdentifyResult], min_votes: int, stranger_votes: int | None = None
) -> VoteOutcome:
    """Decide from every identification of one track so far.

    A customer is named when they have at least ``min_votes`` matches and strictly more
    than every other customer *and* than the faces that matched no one: a stranger who
    looked like a customer in one frame of five stays a stranger. With one face in all,
    one match is enough only if ``min_votes`` is 1.

    A track whose faces matched no one at all, ``stranger_votes`` times or more, is a
    settled stranger (customer None, confident): identifying more of their faces would
    cost an embedding each and is unlikely to change the answer.
    """
    matches = Counter(cid for cid, _ in results if cid is not None)
    unknown = sum(1 for cid, _ in results if cid is None)
    if not matches:
        stranger = stranger_votes is not None and unknown >= stranger_votes
        return VoteOutcome(None, None, stranger)
    (best, votes), *rest = matches.most_common()
    runner_up = rest[0][1] if rest else 0
    if votes < min_votes or votes <= runner_up or votes <= unknown:
        return VoteOutcome(None, None, False)
    distances = [d for cid, d in results if cid == best and d is not None]
    return VoteOutcome(best, min(distances) if distances else None, True)


def should_identify(
    *,
    confident: bool,
    attempts: int,
    last_attempt_frame: int | None,
    frame_index: int,
    faces: int,
    new_faces: int,
    track_age: int,
    settings: VoteSettings,
) -> bool:
    """Is it time to identify this track now?

    Never once it is confidently identified, or after ``max_attempts``. The first time when
    it has ``min_faces`` faces, or at least one face and ``first_after_frames`` of age (a
    person who shows one good face and turns away is still identified). After that only
    when better faces arrived (``new_faces``) and ``retry_every_frames`` have passed.
    """
    if confident or attempts >= settings.max_attempts or faces == 0:
        return False
    if attempts == 0 or last_attempt_frame is None:
        return faces >= settings.min_faces or track_age >= settings.first_after_frames
    if new_faces == 0:
        return False
    return frame_index - last_attempt_frame >= settings.retry_every_frames


@dataclass
class TrackIdentity:
    """The identification state of one track."""

    results: list[IdentifyResult] = field(default_factory=list)
    voted_frames: set[int] = field(default_factory=set)  # faces already sent, by frame
    attempts: int = 0
    last_attempt_frame: int | None = None
    outcome: VoteOutcome = field(default_factory=lambda: VoteOutcome(None, None, False))
    unavailable_until: int = -1  # frame index: identification failed; wait before retrying

    @property
    def identified(self) -> bool:
        """False while no identification has answered for this track (an outage)."""
        return self.attempts > 0

    @property
    def settled(self) -> bool:
        """No more identification will change this track's identity."""
        return self.outcome.confident

    def decided(self, settings: VoteSettings) -> bool:
        """Confident, or out of attempts: fit to report (a visit, an observation) as is."""
        return self.outcome.confident or self.attempts >= settings.max_attempts


class IdentityVoter:
    """Runs ``identify`` on a track's not-yet-voted best faces when should_identify says so."""

    def __init__(self, identify: Identify, settings: VoteSettings | None = None) -> None:
        self.identify = identify
        self.settings = settings or VoteSettings()
        self.calls = 0  # identify() calls
        self.vectors = 0  # faces identified

    def maybe_identify(
        self,
        state: TrackIdentity,
        faces: Sequence[tuple[int, Vector]],
        frame_index: int,
        track_age: int,
    ) -> bool:
        """Identify ``faces`` (frame index, descriptor) not yet voted on, if due; True if run."""
        fresh = [(frame, vector) for frame, vector in faces if frame not in state.voted_frames]
        due = should_identify(
            confident=state.outcome.confident,
            attempts=state.attempts,
            last_attempt_frame=state.last_attempt_frame,
            frame_index=frame_index,
            faces=len(faces),
            new_faces=len(fresh),
            track_age=track_age,
            settings=self.settings,
        )
        if not due or not fresh or frame_index < state.unavailable_until:
            return False
        try:
            results = self.identify([vector for _, vector in fresh])
        except IdentificationUnavailable:
            # No vote: these faces stay unvoted and are sent again when it works again.
            state.unavailable_until = frame_index + self.settings.retry_every_frames
            return False
        if len(results) != len(fresh):
            raise ValueError(
                f"identify returned {len(results)} results for {len(fresh)} faces; "
                "it must return one per face"
            )
        self.calls += 1
        self.vectors += len(fresh)
        state.results.extend(results)
        state.voted_frames.update(frame for frame, _ in fresh)
        state.attempts += 1
        state.last_attempt_frame = frame_index
        state.outcome = tally(state.results, self.settings.min_votes, self.settings.stranger_votes)
        return True
