"""The 2022 prototype's matcher, run the way the prototype ran it: the benchmark's baseline.

The prototype (Node.js) kept every descriptor in a shared ``Float32Array`` and, for each
query, looped over the records in a worker thread: copy the record's 128 values into a new
array, measure the distance with face-api.js's ``euclideanDistance`` (arrays, ``map``,
``reduce``), keep the best, stop at the first record under the threshold.
``prototype_loop.js`` is that algorithm written for this benchmark; it runs under the
``node`` on PATH on the very records and queries the benchmark uses. The prototype also
logged a line per record; that is left out, which flatters the prototype.

Without Node.js the same loop runs in Python with one ``np.linalg.norm`` per record, which
is about four times *faster* than the prototype's own loop (so ratios against it
understate the speed-up); ``runtime`` says which one ran.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

LOOP_SCRIPT = Path(__file__).with_name("prototype_loop.js")
_TIMEOUT_S = 600

Runtime = Literal["node", "python"]


@dataclass(frozen=True)
class PrototypeTiming:
    """Mean milliseconds per query of the prototype's loop over ``records`` records."""

    records: int
    ms_per_query: float
    runtime: Runtime


def time_prototype(
    records: NDArray[np.float32], queries: NDArray[np.float32], threshold: float
) -> PrototypeTiming:
    """Run the prototype's loop for each query over ``records``; Node.js when available."""
    records = np.ascontiguousarray(records, dtype="<f4")
    queries = np.ascontiguousarray(queries, dtype="<f4")
    node = shutil.which("node")
    if node is None:
        return PrototypeTiming(len(records), _python_loop(records, queries, threshold), "python")
    with tempfile.TemporaryDirectory(prefix="salesmigo-prototype-") as folder:
        records_path, queries_path = Path(folder) / "records.f32", Path(folder) / "queries.f32"
        records.tofile(records_path)
        queries.tofile(queries_path)
        finished = subprocess.run(
            [node, str(LOOP_SCRIPT), str(records_path), str(queries_path), repr(threshold)],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    if finished.returncode != 0:
        raise RuntimeError(f"the prototype's loop failed under Node.js: {finished.stderr.strip()}")
    times = json.loads(finished.stdout)
    if len(times) != len(queries):
        raise RuntimeError("the prototype's loop timed a different number of queries")
    return PrototypeTiming(len(records), float(np.mean(times)), "node")


def _python_loop(
    records: NDArray[np.float32], queries: NDArray[np.float32], threshold: float
) -> float:
    def match(query: NDArray[np.float32]) -> int | None:
        for number, descriptor in enumerate(records):
            if float(np.linalg.norm(descriptor - query)) < threshold:
                return number
        return None

    times = []
    for query in queries:
        began = time.perf_counter()
        match(query)
        times.append(time.perf_counter() - began)
    return float(np.mean(times) * 1e3)
