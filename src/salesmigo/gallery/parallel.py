"""Parts of one search run side by side: the calling thread takes one, helper threads the
others.

A search split in two parts lasts as long as its slower part plus the hand-offs: waking
a sleeping thread, and waking the caller again when it is done. ``concurrent.futures``
adds a future, a queue and a condition variable to each; a :class:`Helper` is woken and
waited for through two plain locks. On the project's 2-core machine a call that hands
one of two 67 us parts over took 116 us at the median through an executor and 89 us
through a helper; a fast-scan query at 1M templates, in interleaved blocks, 0.670
against 0.655 ms (p99 0.962 against 0.940).

Neither side goes to sleep at once: a helper polls for its next task for a while after
each one, and a caller polls for the helper's result before it sleeps on the lock
(gallery.spin, with the GIL released). Over four rounds of interleaved blocks, a
fast-scan query at 1M templates took 0.44-0.59 ms at the median against 0.49-0.61 for
sleeping at once (p99 0.74-1.38 against 0.81-1.54), at 100,000 0.18 against 0.25 ms.

A task can also be started unannounced (``Helper.start(task, announce=False)``, as
:func:`beside_a_helper` does): the helper is woken only when its caller raises
:attr:`Helper.announcement`, which compiled code does once it has let go of the GIL. A
polling helper that took its task up at once would otherwise find the GIL still held by
its caller, and sleep until it was free (25-45 us at 1M templates).

A helper serves one caller at a time. When every helper is busy, with another request's
search, the caller runs the part itself: the cores are busy anyway, and waiting for a
helper would only add the wait. A helper that is merely late is waited for, though: when
the host takes its vCPU away for milliseconds, a caller that took the part over left
every query in the meantime to run all its parts on one core, and p99 at 1M templates
got worse (0.70-1.02 ms against 0.62-1.15 waiting).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar, cast

import faiss
import numpy as np
from numpy.typing import NDArray

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_Ours = TypeVar("_Ours")
_Theirs = TypeVar("_Theirs")
# How long a helper polls for its next task before sleeping (long enough for a caller's
# next query to arrive, back to back), and a caller for a helper's result (longer than
# the gap between two parts of one search), in microseconds.
NEXT_TASK_POLL_US = 150
RESULT_POLL_US = 2000


class Helper:
    """A thread that runs one task at a time for whoever started it."""

    def __init__(self, name: str) -> None:
        from salesmigo.gallery import spin  # numba: imported once helpers are needed

        spin.compile_now()
        self._wait_for = spin.wait_for
        self._count_then_wait_for = spin.count_then_wait_for
        self._next_task_polls = spin.polls_for(NEXT_TASK_POLL_US)
        self._result_polls = spin.polls_for(RESULT_POLL_US)
        self._started = np.zeros(1, dtype=np.int64)  # tasks started and finished, counted
        self._finished = np.zeros(1, dtype=np.int64)  # for the other side to poll
        self._tasks = 0  # tasks given, announced or not
        self._free = threading.Lock()  # held from start to finish by the task's caller
        self._go = threading.Lock()
        self._go.acquire()
        self._done = threading.Lock()
        self._done.acquire()
        self._task: Callable[[], object] | None = None
        self._outcome: object = None
        self._error: BaseException | None = None
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def start(self, task: Callable[[], object], *, announce: bool = True) -> bool:
        """Begin ``task`` on this helper's thread, unless it is busy (then False). With
        ``announce=False``, a helper polling for its next task takes it up only once the
        caller raises :attr:`announcement` by one (a sleeping one is woken now)."""
        if not self._free.acquire(blocking=False):
            return False
        self._task = task
        self._tasks += 1
        if announce:
            self._started[0] = self._tasks
        self._go.release()
        return True

    @property
    def announcement(self) -> NDArray[np.int64]:
        """The count an unannounced task's caller raises by one, from compiled code once
        it has released the GIL (see :meth:`start`)."""
        return self._started

    def finish(self) -> object:
        """What the started task returned, once it has (its exception raised here)."""
        self._wait_for(self._finished, self._tasks, self._result_polls)
        self._done.acquire()
        # A caller that failed before announcing its task leaves the count behind, and
        # the helper would poll for the wrong count from then on.
        self._started[0] = self._tasks
        outcome, error = self._outcome, self._error
        self._task = self._outcome = self._error = None
        self._free.release()
        if error is not None:
            raise error
        return outcome

    def _serve(self) -> None:
        faiss.omp_set_num_threads(1)  # the parallelism is ours (gallery.kernels)
        served = 0
        while True:
            self._go.acquire()
            task = self._task
            assert task is not None
            try:
                self._outcome = task()
            except BaseException as error:  # handed to the caller by finish()
                self._error = error
            self._done.release()
            served += 1
            # The caller polls for the count, then needs the GIL: counted once this
            # thread has let go of it (see gallery.spin).
            self._count_then_wait_for(
                self._finished, self._started, served + 1, self._next_task_polls
            )


_helpers: list[Helper] = []
_helpers_lock = threading.Lock()


def helpers() -> list[Helper]:
    """One helper per core but the caller's, started on first use in each process."""
    with _helpers_lock:
        if not _helpers:
            count = max(1, (os.cpu_count() or 2) - 1)
            _helpers.extend(Helper(f"gallery-helper-{number}") for number in range(count))
        return _helpers


def _forget_helpers() -> None:
    _helpers.clear()  # a forked child has none of the parent's threads


os.register_at_fork(after_in_child=_forget_helpers)


def _threads_allowed() -> bool:
    """More than one thread (``faiss.omp_get_max_threads()``, 1 under ``threadpoolctl``
    limits)."""
    return max(1, faiss.omp_get_max_threads()) > 1


def in_parallel(function: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """``function`` over ``items``, side by side on free helpers and the calling thread
    when more than one thread is allowed (:func:`_threads_allowed`), else one after
    another in the calling thread."""
    if not _threads_allowed() or len(items) < 2:
        return [function(item) for item in items]
    started: dict[int, Helper] = {}
    free = iter(helpers())
    for at, item in enumerate(items[:-1]):
        helper = next((h for h in free if h.start(partial(function, item))), None)
        if helper is None:
            break
        started[at] = helper
    results: dict[int, _Result] = {}
    errors: list[BaseException] = []
    try:
        for at, item in enumerate(items):
            if at not in started:
                results[at] = function(item)
    finally:
        for at, helper in started.items():  # every helper finished and freed, come what may
            try:
                results[at] = cast(_Result, helper.finish())
            except BaseException as error:
                errors.append(error)
    if errors:
        raise errors[0]
    return [results[at] for at in range(len(items))]


# Counters to raise when there is no helper to announce a task to (beside_a_helper).
NO_ANNOUNCEMENT = np.zeros(0, dtype=np.int64)


def beside_a_helper(
    ours: Callable[[NDArray[np.int64]], _Ours], theirs: Callable[[], _Theirs]
) -> tuple[_Ours, _Theirs]:
    """``ours`` on the calling thread while ``theirs`` runs on a free helper, both
    results. ``ours`` is given the counters to raise by one, from compiled code once it
    has released the GIL, to announce ``theirs`` (see :meth:`Helper.start`): empty when
    only one thread is allowed or every helper is busy, and ``theirs`` then runs after
    ``ours`` on the calling thread."""
    helper = None
    if _threads_allowed():
        helper = next((h for h in helpers() if h.start(theirs, announce=False)), None)
    if helper is None:
        return ours(NO_ANNOUNCEMENT), theirs()
    try:
        own = ours(helper.announcement)
    finally:  # the helper finished and freed, come what may
        outcome = helper.finish()
    return own, cast(_Theirs, outcome)


__all__ = ["NO_ANNOUNCEMENT", "Helper", "beside_a_helper", "helpers", "in_parallel"]
