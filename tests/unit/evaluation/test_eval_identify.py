from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.config import ModelMatching
from salesmigo.evaluation.identify import (
    Identity,
    ProbeOutcome,
    StrangerOutcome,
    evaluate_identification,
    false_match_rate,
    rank1,
    split_identities,
    unknown_recall,
)
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.gallery.decision import Identification

MATCHING = ModelMatching(threshold=0.5, margin=0.05)


def _rows(*spec: tuple[str, str]) -> list[ManifestRow]:
    return [ManifestRow(path, "identity", label) for label, path in spec]


def test_every_second_identity_in_label_order_is_a_stranger() -> None:
    rows = [
        *_rows(("dave", "d1"), ("alice", "a1"), ("carol", "c1"), ("bob", "b1"), ("alice", "a2")),
        ManifestRow("smile.jpg", "expression", "happy"),
        *_rows(("erin", "e1"), ("dave", "d2")),
    ]
    split = split_identities(rows)
    assert split.enrolled == [
        Identity("alice", ("a1", "a2")),
        Identity("carol", ("c1",)),
        Identity("erin", ("e1",)),
    ]
    assert split.strangers == [Identity("bob", ("b1",)), Identity("dave", ("d1", "d2"))]


def test_split_of_nothing() -> None:
    split = split_identities([ManifestRow("smile.jpg", "expression", "happy")])
    assert split.enrolled == []
    assert split.strangers == []


def _match(customer: int) -> Identification:
    return Identification("match", customer, 0.1, None, "m")


def _unknown(nearest: int | None = 1) -> Identification:
    return Identification("unknown", nearest, 0.9, None, "m")


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        ([], None),
        ([ProbeOutcome("p", 1, _match(1))], 1.0),
        ([ProbeOutcome("p", 1, _match(2))], 0.0),  # the wrong customer
        ([ProbeOutcome("p", 1, _unknown(1))], 0.0),  # nearest is right but not a match
        ([ProbeOutcome("p", 1, None)], 0.0),  # no face
        ([ProbeOutcome("p", None, _match(1))], 0.0),  # never enrolled
        (
            [
                ProbeOutcome("p1", 1, _match(1)),
                ProbeOutcome("p2", 2, _match(2)),
                ProbeOutcome("p3", 2, None),
                ProbeOutcome("p4", 3, _unknown()),
            ],
            0.5,
        ),
    ],
)
def test_rank1(probes: Sequence[ProbeOutcome], expected: float | None) -> None:
    assert rank1(probes) == expected


@pytest.mark.parametrize(
    ("decisions", "false_matches", "unknowns"),
    [
        ([], None, None),
        ([_unknown()], 0.0, 1.0),
        ([_match(3)], 1.0, 0.0),
        ([None], 0.0, 1.0),  # no face: correctly unknown
        ([_match(1), _unknown(), None, _unknown(None)], 0.25, 0.75),
    ],
)
def test_stranger_rates(
    decisions: list[Identification | None], false_matches: float | None, unknowns: float | None
) -> None:
    strangers = [StrangerOutcome(f"s{i}", d) for i, d in enumerate(decisions)]
    assert false_match_rate(strangers) == false_matches
    assert unknown_recall(strangers) == unknowns


def _vector(*values: float) -> NDArray[np.float32]:
    return np.array(values, dtype=np.float32)


def test_evaluate_identification_with_fake_descriptors() -> None:
    rows = _rows(
        ("alice", "a1"),
        ("alice", "a2"),
        ("alice", "a3-noface"),
        ("bob", "b1"),  # stranger
        ("bob", "b2-noface"),  # stranger, no face: counts as unknown
        ("carol", "c1-noface"),  # cannot be enrolled
        ("carol", "c2"),
        ("dave", "d1"),  # stranger, looks like alice
        ("erin", "e1"),
        ("erin", "e2"),
    )
    vectors: dict[str, NDArray[np.float32] | None] = {
        "a1": _vector(0, 0),
        "a2": _vector(0.1, 0),
        "a3-noface": None,
        "b1": _vector(5, 5),
        "b2-noface": None,
        "c1-noface": None,
        "c2": _vector(3, 0),
        "d1": _vector(0, 0.2),
        "e1": _vector(0, 3),
        "e2": _vector(0, 3.2),
    }
    described: list[str] = []

    def describe(path: str) -> NDArray[np.float32] | None:
        described.append(path)
        return vectors[path]

    report = evaluate_identification(
        split_identities(rows), describe, lambda model: MATCHING, "fake"
    )
    assert sorted(described) == sorted(vectors)  # each image once
    assert report.enrolled == 2
    assert report.enrol_failed == ["carol"]
    # probes: a2 right, a3 no face, c2 not enrolled, e2 right
    assert report.probes == 4
    assert report.rank1 == pytest.approx(0.5)
    assert report.strangers == 2
    assert report.stranger_images == 3
    assert report.false_match_rate == pytest.approx(1 / 3)  # d1 taken for alice
    assert report.unknown_recall == pytest.approx(2 / 3)
    assert report.no_face == 3
    data = report.as_dict()
    for key in ("rank1", "false_match_rate", "unknown_recall", "enrolled", "probes"):
        assert key in data
    assert data["enrol_failed"] == 1
    assert data["threshold"] == 0.5
    assert data["model"] == "fake"
