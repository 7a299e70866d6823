"""How steady the machine is: the gallery benchmark's baseline for tail latency.

On a shared host (the vCPUs of a virtual machine) a fixed amount of arithmetic does not
take a fixed time: the hypervisor takes a vCPU away now and then, and other tenants slow
the cores they share. A fast-scan search at 1M templates is split over both threads and
waits for the slower of the two, so its p99 carries the host's tail as well as its own.
To show how much of it is the host's, the benchmark times fixed work beside it: pieces
of arithmetic on registers only (nothing to wait for in memory, no locks, the GIL
released), one on each thread at once, each round as long as its slower piece. A search
whose p99 is near this one's, for pieces of its own median length, has little tail of its
own left to remove.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from salesmigo.gallery.latency import Latency, summary
from salesmigo.gallery.rerank_kernel import compiled

THREADS = 2
ROUNDS = 2000
# Steps timed to size the pieces: long enough for a clock reading's own cost to vanish.
_CALIBRATION_STEPS = 1 << 18
_CALIBRATION_RUNS = 5


@compiled
def arithmetic(steps: int) -> float:
    """``steps`` dependent multiply-adds: the same work every time, and none that the
    compiler can skip or vectorise (each step needs the one before)."""
    value = 1.0
    for step in range(steps):
        value = value * 0.999999 + step * 1e-9
    return value


def steps_lasting(milliseconds: float) -> int:
    """About how many :func:`arithmetic` steps take this long on one idle thread (the
    median of a few timed runs)."""
    arithmetic(1)  # compiled (or loaded from numba's cache) before anything is timed
    runs = []
    for _ in range(_CALIBRATION_RUNS):
        began = time.perf_counter()
        arithmetic(_CALIBRATION_STEPS)
        runs.append(time.perf_counter() - began)
    per_step = float(np.median(runs)) / _CALIBRATION_STEPS
    return max(1, round(milliseconds / 1e3 / per_step))


def fixed_work_rounds(piece_ms: float, rounds: int = ROUNDS) -> Latency:
    """p50 and p99 of rounds of ``piece_ms`` of arithmetic on each of ``THREADS``
    threads at once, a round lasting as long as its slowest piece."""
    steps = steps_lasting(piece_ms)
    times = np.empty((THREADS, rounds))
    start_together = threading.Barrier(THREADS)

    def work(slot: int) -> None:
        for round_number in range(rounds):
            start_together.wait()
            began = time.perf_counter()
            arithmetic(steps)
            times[slot, round_number] = time.perf_counter() - began

    others = [threading.Thread(target=work, args=(slot,)) for slot in range(1, THREADS)]
    for thread in others:
        thread.start()
    work(0)
    for thread in others:
        thread.join()
    return summary(times.max(axis=0))


__all__ = ["ROUNDS", "THREADS", "arithmetic", "fixed_work_rounds", "steps_lasting"]
