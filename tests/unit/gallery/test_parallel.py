"""Parts of a search side by side: helper threads and the calling thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import faiss
import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.gallery.kernels import one_omp_thread
from salesmigo.gallery.parallel import Helper, beside_a_helper, helpers, in_parallel


@pytest.fixture(autouse=True)
def two_threads_allowed() -> Iterator[None]:
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    yield
    faiss.omp_set_num_threads(previous)


def _thread_of(item: int) -> tuple[int, str]:
    return item * 10, threading.current_thread().name


def test_parts_come_back_in_order_from_a_helper_and_the_calling_thread() -> None:
    found = in_parallel(_thread_of, [1, 2])

    assert [value for value, _ in found] == [10, 20]
    assert found[0][1].startswith("gallery-helper-")
    assert found[1][1] == threading.current_thread().name


def test_parts_beyond_the_free_helpers_run_in_the_calling_thread() -> None:
    items = list(range(len(helpers()) + 3))

    found = in_parallel(_thread_of, items)

    assert [value for value, _ in found] == [item * 10 for item in items]
    assert found[-1][1] == found[-2][1] == threading.current_thread().name


def test_a_busy_helper_is_not_waited_for() -> None:
    release = threading.Event()
    helper = Helper("busy-helper")
    assert helper.start(release.wait)
    try:
        assert not helper.start(lambda: None)
    finally:
        release.set()
        assert helper.finish() is True
    assert helper.start(lambda: "again")
    assert helper.finish() == "again"


def test_one_thread_allowed_runs_every_part_in_the_calling_thread() -> None:
    with one_omp_thread():
        found = in_parallel(_thread_of, [1, 2, 3])

    assert {name for _, name in found} == {threading.current_thread().name}


def _failing_on(bad: int) -> Callable[[int], int]:
    def part(item: int) -> int:
        if item == bad:
            raise ValueError(f"part {item} failed")
        return item

    return part


def test_a_helpers_error_reaches_the_caller_and_the_helper_stays_usable() -> None:
    # The first part goes to a helper, the last stays in the calling thread.
    with pytest.raises(ValueError, match="part 1 failed"):
        in_parallel(_failing_on(1), [1, 2])

    assert in_parallel(_failing_on(1), [3, 4]) == [3, 4]


def test_the_callers_error_still_frees_the_helpers() -> None:
    with pytest.raises(ValueError, match="part 2 failed"):
        in_parallel(_failing_on(2), [1, 2])

    assert all(helper.start(lambda: None) for helper in helpers())
    for helper in helpers():
        helper.finish()


def _announcing(value: int) -> Callable[[NDArray[np.int64]], tuple[int, str]]:
    def ours(announce: NDArray[np.int64]) -> tuple[int, str]:
        announce += 1  # compiled code does this with the GIL released
        return _thread_of(value)

    return ours


def test_beside_a_helper_runs_theirs_on_a_helper_and_ours_here() -> None:
    for _ in range(3):  # announced tasks, one after another
        ours, theirs = beside_a_helper(_announcing(1), lambda: _thread_of(2))

        assert ours == (10, threading.current_thread().name)
        assert theirs[0] == 20
        assert theirs[1].startswith("gallery-helper-")


def test_a_task_never_announced_still_runs_and_later_ones_are_announced() -> None:
    ours, theirs = beside_a_helper(lambda announce: "not announced", lambda: _thread_of(2))
    assert (ours, theirs[0]) == ("not announced", 20)  # woken through its lock instead

    helper = helpers()[0]
    assert helper.start(lambda: "next", announce=False)
    helper.announcement[0] += 1
    assert helper.finish() == "next"


def test_with_one_thread_allowed_theirs_runs_here_after_ours() -> None:
    order: list[str] = []

    def ours(announce: NDArray[np.int64]) -> str:
        order.append("ours")
        return threading.current_thread().name

    def theirs() -> str:
        order.append("theirs")
        return threading.current_thread().name

    with one_omp_thread():
        found = beside_a_helper(ours, theirs)

    assert found == (threading.current_thread().name,) * 2
    assert order == ["ours", "theirs"]


def test_an_error_in_ours_still_frees_the_helper() -> None:
    def ours(announce: NDArray[np.int64]) -> None:
        raise ValueError("ours failed")

    with pytest.raises(ValueError, match="ours failed"):
        beside_a_helper(ours, lambda: None)

    assert all(helper.start(lambda: None) for helper in helpers())
    for helper in helpers():
        helper.finish()
