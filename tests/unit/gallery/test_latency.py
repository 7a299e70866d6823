"""Timing helpers of the gallery benchmark: which searches run, on what, in which order."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from salesmigo.gallery.latency import Search, paired


def test_paired_searches_take_turns_a_block_at_a_time_on_every_query() -> None:
    queries = np.arange(7, dtype=np.float32).reshape(7, 1)
    calls: list[tuple[str, int]] = []

    def search(name: str) -> Search:
        def run(query: NDArray[np.float32]) -> object:
            calls.append((name, int(query[0])))
            return None

        return run

    first, second = paired(search("a"), search("b"), queries, block=3)

    warm_up = [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    turns = (
        [("a", q) for q in (0, 1, 2)]
        + [("b", q) for q in (0, 1, 2)]
        + [("b", q) for q in (3, 4, 5)]
        + [("a", q) for q in (3, 4, 5)]
        + [("a", 6), ("b", 6)]
    )
    assert calls == warm_up + turns
    assert 0 <= first.p50_ms <= first.p99_ms
    assert 0 <= second.p50_ms <= second.p99_ms
