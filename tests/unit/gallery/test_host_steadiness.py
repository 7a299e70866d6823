"""Fixed work on both threads: the benchmark's measure of how steady the host is."""

from __future__ import annotations

from salesmigo.gallery.host_steadiness import arithmetic, fixed_work_rounds, steps_lasting


def test_the_same_steps_give_the_same_result_and_more_steps_another() -> None:
    assert arithmetic(1000) == arithmetic(1000)
    assert arithmetic(1000) != arithmetic(2000)


def test_longer_pieces_take_more_steps() -> None:
    assert steps_lasting(2.0) > steps_lasting(0.1) >= 1


def test_rounds_are_summarised_as_median_and_tail() -> None:
    rounds = fixed_work_rounds(0.05, rounds=40)

    assert rounds.p99_ms >= rounds.p50_ms > 0
