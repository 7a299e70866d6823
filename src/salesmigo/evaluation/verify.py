"""1:1 verification scores in the LFW style: is this pair the same person?

A pair is predicted "same" iff the distance between its two descriptors is *below* the
threshold (the rule the gallery applies). A pair whose distance is ``None`` (no face was
found in one of its images) is wrong whatever the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from salesmigo.evaluation.manifest import Pair

FOLDS = 10

_Floats = NDArray[np.float64]
_Bools = NDArray[np.bool_]


def _arrays(distances: Sequence[float | None], same: Sequence[bool]) -> tuple[_Floats, _Bools]:
    if len(distances) != len(same):
        raise ValueError(f"{len(distances)} distances but {len(same)} same/different labels")
    values = np.array([np.nan if d is None else d for d in distances], dtype=np.float64)
    return values, np.asarray(same, dtype=np.bool_)


def _correct(values: _Floats, labels: _Bools, threshold: float) -> _Bools:
    # NaN < threshold is False, so NaN pairs must be ruled wrong explicitly.
    with np.errstate(invalid="ignore"):
        predicted_same = values < threshold
    result: _Bools = (predicted_same == labels) & ~np.isnan(values)
    return result


def accuracy_at(distances: Sequence[float | None], same: Sequence[bool], threshold: float) -> float:
    """Share of pairs decided right with ``distance < threshold`` meaning "same person"."""
    values, labels = _arrays(distances, same)
    if not len(values):
        raise ValueError("no pairs to score")
    return float(_correct(values, labels, threshold).mean())


def _best_threshold(values: _Floats, labels: _Bools) -> float:
    valid = ~np.isnan(values)
    values, labels = values[valid], labels[valid]
    if not len(values):
        return 0.0  # nothing to learn from: call every pair "different"
    unique = np.unique(values)  # sorted
    if len(unique) == 1:
        low_gap = high_gap = max(abs(float(unique[0])) * 1e-6, 1e-9)
    else:
        low_gap = float(unique[1] - unique[0]) / 2
        high_gap = float(unique[-1] - unique[-2]) / 2
    # Below everything, between each two neighbouring distances, above everything.
    candidates = np.concatenate(
        [[unique[0] - low_gap], (unique[:-1] + unique[1:]) / 2, [unique[-1] + high_gap]]
    )
    same_sorted = np.sort(values[labels])
    different_sorted = np.sort(values[~labels])
    same_below = np.searchsorted(same_sorted, candidates, side="left")
    different_at_or_above = len(different_sorted) - np.searchsorted(
        different_sorted, candidates, side="left"
    )
    correct = same_below + different_at_or_above
    best = np.flatnonzero(correct == correct.max())
    # Ties: the middle one of the best candidates, away from both ends of the plateau.
    return float(candidates[best[len(best) // 2]])


def best_threshold(distances: Sequence[float | None], same: Sequence[bool]) -> float:
    """The threshold that decides the most of these pairs right.

    Candidates are the midpoints between neighbouring distinct distances, plus one just
    below the smallest and one just above the largest; among equally good candidates the
    middle one is taken. Pairs without a distance are ignored (they are wrong anyway).
    With no distance at all the threshold is 0 (everything "different").
    """
    return _best_threshold(*_arrays(distances, same))


def fold_of_each_pair(count: int, folds: int = FOLDS) -> NDArray[np.int64]:
    """Fold number of each pair: interleaved, pair i goes to fold ``i % folds``.

    Interleaving (rather than contiguous blocks) keeps same and different pairs spread over
    every fold even when a file lists all same pairs first, as ../shared/testdata/pairs.tsv
    does; with contiguous blocks most folds would hold one class only.
    """
    return np.arange(count, dtype=np.int64) % max(1, min(folds, count))


def ten_fold_accuracy(
    distances: Sequence[float | None], same: Sequence[bool], folds: int = FOLDS
) -> float:
    """LFW-style cross-validated accuracy.

    Pairs are dealt into ``folds`` interleaved folds (see fold_of_each_pair; fewer folds if
    there are fewer pairs). For each fold the threshold is chosen by best_threshold on the
    other folds and tested on the held-out fold; the result is the mean of the fold
    accuracies. With a single fold (one pair) the threshold is chosen on that fold itself.
    """
    values, labels = _arrays(distances, same)
    if not len(values):
        raise ValueError("no pairs to score")
    fold = fold_of_each_pair(len(values), folds)
    accuracies = []
    for held_out in np.unique(fold):
        test = fold == held_out
        train = ~test if (~test).any() else test
        threshold = _best_threshold(values[train], labels[train])
        accuracies.append(float(_correct(values[test], labels[test], threshold).mean()))
    return float(np.mean(accuracies))


def distance(a: NDArray[np.float32] | None, b: NDArray[np.float32] | None) -> float | None:
    """Euclidean distance between two descriptors as the embedder returned them, or None."""
    if a is None or b is None:
        return None
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def distinct_images(pairs: Sequence[Pair]) -> list[str]:
    """Every image named by the pairs, once each, in order of first appearance."""
    return list(dict.fromkeys(path for pair in pairs for path in (pair.path_a, pair.path_b)))


@dataclass(frozen=True)
class VerificationReport:
    model: str
    accuracy: float
    accuracy_at_threshold: float
    threshold: float
    pairs: int
    images: int
    no_face: int
    ms_per_image: float

    def as_dict(self) -> dict[str, object]:
        """The JSON the ``eval verify --json`` command prints."""
        return {
            "accuracy": round(self.accuracy, 4),
            "accuracy_at_threshold": round(self.accuracy_at_threshold, 4),
            "threshold": self.threshold,
            "pairs": self.pairs,
            "no_face": self.no_face,
            "ms_per_image": round(self.ms_per_image, 2),
            "model": self.model,
            "images": self.images,
        }


def score_verification(
    pairs: Sequence[Pair],
    descriptors: Mapping[str, NDArray[np.float32] | None],
    milliseconds: Sequence[float],
    *,
    model: str,
    threshold: float,
) -> VerificationReport:
    """Score pairs from one descriptor per image (None: no face found).

    ``milliseconds`` holds the detect+embed time of each analysed image.
    """
    distances = [distance(descriptors[p.path_a], descriptors[p.path_b]) for p in pairs]
    same = [pair.same for pair in pairs]
    return VerificationReport(
        model=model,
        accuracy=ten_fold_accuracy(distances, same),
        accuracy_at_threshold=accuracy_at(distances, same, threshold),
        threshold=threshold,
        pairs=len(pairs),
        images=len(descriptors),
        no_face=sum(1 for vector in descriptors.values() if vector is None),
        ms_per_image=float(np.mean(milliseconds)) if len(milliseconds) else 0.0,
    )
