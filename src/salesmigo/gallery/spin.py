"""Waiting for another thread without going to sleep, and without holding the GIL.

A thread that sleeps on a lock is slow to run again once the lock is released: on the
project's 2-vCPU virtual machines an idle vCPU halts, and waking it took 30-60 us. A
search split between the calling thread and a helper (gallery.parallel) waits twice a
query, the helper for its part and the caller for the helper's result, so at 1M
templates that was a sixth of a fast-scan query. :func:`wait_for` polls a counter
instead, for a bounded number of polls, with the GIL released (so the thread it waits
for can run Python meanwhile), yielding the core between polls to anything else that
is ready to run. A poll took about 0.5 us here, and may take a fifth of that on a host
without a hypervisor between the process and the core: callers give a time, which
:func:`polls_for` turns into polls at the rate measured once per process.

Compiled by numba, imported only when helper threads are first started: the poll loop
must run outside the interpreter, and ``sched_yield`` (called through ctypes) is an
opaque call that makes every poll read the counter from memory again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from functools import cache

import numba
import numpy as np
from numpy.typing import NDArray

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_sched_yield = _libc.sched_yield
_sched_yield.restype = ctypes.c_int
_sched_yield.argtypes = []


@numba.njit(nogil=True)  # not cached: numba cannot cache a call through ctypes
def wait_for(counter: NDArray[np.int64], value: int, polls: int) -> bool:
    """Whether ``counter[0]`` reached ``value`` within ``polls`` polls."""
    for _ in range(polls):
        if counter[0] >= value:
            return True
        _sched_yield()
    return bool(counter[0] >= value)


@numba.njit(nogil=True)
def count_then_wait_for(
    count: NDArray[np.int64], counter: NDArray[np.int64], value: int, polls: int
) -> bool:
    """Add one to ``count[0]``, then :func:`wait_for`: the count is raised only once
    the GIL is released, so whoever polls it and then needs the GIL finds it free (a
    thread waiting for the GIL sleeps, and is as slow to wake as any other)."""
    count[0] += 1
    return wait_for(counter, value, polls)


def polls_for(microseconds: float) -> int:
    """About how many polls of :func:`wait_for` take this long here (at least one)."""
    return max(1, round(microseconds * _polls_per_microsecond()))


@cache
def _polls_per_microsecond() -> float:
    """Measured once: the fastest of a few runs of polls on a counter nobody raises."""
    counter, polls = np.zeros(1, dtype=np.int64), 2000
    wait_for(counter, 1, 1)  # compiled before it is timed
    fastest = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        wait_for(counter, 1, polls)
        fastest = min(fastest, time.perf_counter() - began)
    return polls / max(fastest * 1e6, 1e-3)


def compile_now() -> None:
    """Compile both functions and time the polls (a fraction of a second) before a
    search needs them."""
    _polls_per_microsecond()
    count_then_wait_for(np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), 1, 1)


__all__ = ["compile_now", "count_then_wait_for", "polls_for", "wait_for"]
