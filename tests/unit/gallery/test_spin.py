"""Polling a counter another thread raises, with the GIL released."""

from __future__ import annotations

import threading

import numpy as np

from salesmigo.gallery.spin import count_then_wait_for, polls_for, wait_for


def test_a_counter_already_there_is_not_waited_for() -> None:
    counter = np.array([3], dtype=np.int64)

    assert wait_for(counter, 2, 0)
    assert wait_for(counter, 3, 1)


def test_a_counter_nobody_raises_runs_out_of_polls() -> None:
    counter = np.zeros(1, dtype=np.int64)

    assert not wait_for(counter, 1, 1000)


def test_a_counter_raised_by_another_thread_is_seen_while_polling() -> None:
    counter = np.zeros(1, dtype=np.int64)
    polling = threading.Event()
    seen: list[bool] = []

    def poll() -> None:
        polling.set()
        seen.append(wait_for(counter, 1, 200_000_000))  # minutes of polls: ends when seen

    poller = threading.Thread(target=poll)
    poller.start()
    polling.wait()
    counter[0] = 1  # the poller holds no GIL: this thread runs while it polls
    poller.join(timeout=60)

    assert not poller.is_alive()
    assert seen == [True]


def test_counting_then_waiting_raises_the_count_first() -> None:
    count = np.array([4], dtype=np.int64)
    counter = np.array([1], dtype=np.int64)

    assert not count_then_wait_for(count, counter, 2, 10)
    assert count_then_wait_for(count, counter, 1, 10)
    assert count[0] == 6


def test_a_longer_time_is_more_polls_and_any_time_at_least_one() -> None:
    assert polls_for(0) == 1
    assert 1 <= polls_for(10) <= polls_for(1000) <= polls_for(100_000)
