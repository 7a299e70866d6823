"""Timing helpers of the gallery benchmark: which searches run, on what, in which order."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.latency import Search, paired


def test_paired_searches_take_turns_a_block_at_a_time_each_warmed_first() -> None:
    queries = np.arange(7, dtype=np.float32).reshape(7, 1)
    calls: list[tuple[str, int]] = []

    def search(name: str) -> Search:
        def run(query: NDArray[np.float32]) -> object:
            calls.append((name, int(query[0])))
            return None

        return run

    first, second = paired(search("a"), search("b"), queries, block=3, warmup=2)

    warm_up = [("a", 0), ("b", 0), ("a", 1), ("b", 1)]

    def turn(name: str, timed: tuple[int, ...]) -> list[tuple[str, int]]:
        return [(name, 0), (name, 1)] + [(name, q) for q in timed]  # untimed ones first

    turns = (
        turn("a", (0, 1, 2))
        + turn("b", (0, 1, 2))
        + turn("b", (3, 4, 5))
        + turn("a", (3, 4, 5))
        + turn("a", (6,))
        + turn("b", (6,))
    )
    assert calls == warm_up + turns
    assert 0 <= first.p50_ms <= first.p99_ms
    assert 0 <= second.p50_ms <= second.p99_ms
