from collections.abc import Callable

import numpy as np
import pytest

from salesmigo.evaluation.manifest import Pair
from salesmigo.evaluation.verify import (
    accuracy_at,
    best_threshold,
    distance,
    distinct_images,
    fold_of_each_pair,
    score_verification,
    ten_fold_accuracy,
)

RNG = np.random.default_rng(7)
SAME_CLOSE = [0.2 + 0.01 * i for i in range(50)]  # 0.20 .. 0.69
DIFFERENT_FAR = [0.8 + 0.01 * i for i in range(50)]  # 0.80 .. 1.29
SHARED = [float(x) for x in RNG.uniform(0, 1, 100)]


def _labelled(same: list[float], different: list[float]) -> tuple[list[float | None], list[bool]]:
    # Same pairs first, as in ../shared/testdata/pairs.tsv: interleaved folds must cope.
    return [*same, *different], [True] * len(same) + [False] * len(different)


@pytest.mark.parametrize(
    ("distances", "same", "expected_low", "expected_high"),
    [
        pytest.param(*_labelled(SAME_CLOSE, DIFFERENT_FAR), 1.0, 1.0, id="separable"),
        pytest.param(*_labelled(DIFFERENT_FAR, SAME_CLOSE), 0.0, 0.55, id="reversed"),
        pytest.param(*_labelled(SHARED[:50], SHARED[50:]), 0.25, 0.75, id="inseparable"),
        pytest.param(*_labelled([0.5] * 20, [0.5] * 20), 0.5, 0.5, id="all-equal"),
        pytest.param(
            *_labelled([*SAME_CLOSE[:45], 0.9, 0.95, 1.0, 1.05, 1.1], DIFFERENT_FAR),
            0.92,
            0.97,
            id="a-few-overlapping",
        ),
    ],
)
def test_ten_fold_accuracy(
    distances: list[float | None], same: list[bool], expected_low: float, expected_high: float
) -> None:
    assert expected_low <= ten_fold_accuracy(distances, same) <= expected_high


def test_pairs_without_a_distance_are_always_wrong() -> None:
    distances, same = _labelled(SAME_CLOSE, DIFFERENT_FAR)
    distances[0] = None  # a same pair
    distances[-1] = None  # a different pair: "not same" would be right by accident
    assert accuracy_at(distances, same, 0.75) == pytest.approx(98 / 100)
    assert ten_fold_accuracy(distances, same) == pytest.approx(0.98)


def test_all_missing_scores_zero() -> None:
    assert ten_fold_accuracy([None] * 12, [True, False] * 6) == 0.0


def test_best_threshold_lies_between_the_classes() -> None:
    threshold = best_threshold(*_labelled(SAME_CLOSE, DIFFERENT_FAR))
    assert max(SAME_CLOSE) < threshold < min(DIFFERENT_FAR)
    assert threshold == pytest.approx((max(SAME_CLOSE) + min(DIFFERENT_FAR)) / 2)


@pytest.mark.parametrize(
    ("distances", "same", "check"),
    [
        ([0.3, 0.4], [True, True], lambda t: t > 0.4),  # everything same
        ([0.3, 0.4], [False, False], lambda t: t <= 0.3),  # everything different
        ([0.3], [True], lambda t: t > 0.3),
        ([None, None], [True, False], lambda t: t == 0.0),
    ],
)
def test_best_threshold_edges(
    distances: list[float | None], same: list[bool], check: Callable[[float], bool]
) -> None:
    assert check(best_threshold(distances, same))


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.1, 0.5), (0.75, 1.0), (0.80, 1.0), (0.8000001, 0.99), (2.0, 0.5)],
)
def test_accuracy_at_threshold_uses_strictly_below(threshold: float, expected: float) -> None:
    distances, same = _labelled(SAME_CLOSE, DIFFERENT_FAR)
    assert accuracy_at(distances, same, threshold) == pytest.approx(expected)


def test_folds_are_interleaved() -> None:
    assert fold_of_each_pair(23).tolist() == [i % 10 for i in range(23)]
    assert fold_of_each_pair(3).tolist() == [0, 1, 2]  # fewer pairs than folds


def test_fewer_pairs_than_folds_still_scores() -> None:
    assert ten_fold_accuracy([0.1, 0.9, 0.2], [True, False, True]) == 1.0


@pytest.mark.parametrize(
    ("distances", "same"),
    [([], []), ([0.1], [True, False])],
)
def test_bad_input_raises(distances: list[float | None], same: list[bool]) -> None:
    with pytest.raises(ValueError, match=r"pairs|labels"):
        ten_fold_accuracy(distances, same)


def test_distance_is_plain_euclidean() -> None:
    a = np.array([3.0, 0.0], dtype=np.float32)
    b = np.array([0.0, 4.0], dtype=np.float32)
    assert distance(a, b) == pytest.approx(5.0)
    assert distance(a, None) is None


def test_score_verification_end_to_end() -> None:
    vectors = {
        "a1": np.array([0.0, 0.0], dtype=np.float32),
        "a2": np.array([0.1, 0.0], dtype=np.float32),
        "b1": np.array([1.0, 1.0], dtype=np.float32),
        "b2": np.array([1.0, 1.1], dtype=np.float32),
        "blank": None,
    }
    pairs = [
        Pair("a1", "a2", True),
        Pair("b1", "b2", True),
        Pair("a1", "b1", False),
        Pair("a2", "b2", False),
        Pair("a1", "blank", True),
    ]
    assert distinct_images(pairs) == ["a1", "a2", "b1", "b2", "blank"]
    report = score_verification(pairs, vectors, [10.0, 20.0], model="m", threshold=0.5)
    assert report.accuracy_at_threshold == pytest.approx(0.8)
    assert report.no_face == 1
    assert report.images == 5
    assert report.ms_per_image == pytest.approx(15.0)
    data = report.as_dict()
    for key in ("accuracy", "accuracy_at_threshold", "threshold", "pairs", "no_face"):
        assert key in data
    assert data["pairs"] == 5
    assert data["ms_per_image"] == 15.0
