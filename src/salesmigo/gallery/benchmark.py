"""The gallery benchmark behind ``salesmigo bench gallery`` and ``benchmarks/gallery.py``.

For each gallery size it measures, on synthetic descriptors with the structure of real
ones (see ``synthetic``):

* exact search: p50/p99 ms of a single query (default threads and one thread), batched
  queries per second, build time (loading the templates in 50,000-row batches, as the
  runtime does), snapshot load time and memory per template;
* the approximate (fast-scan) index: the same latencies, build time, load time, memory,
  and recall@1 against exact (the top *customer* agrees), on enrolled people and
  strangers alike, with a sweep over its candidate count at the largest size;
* baselines measured in the same run: (a) the 2022 prototype's algorithm (see
  ``prototype``: its per-record loop, run under Node.js as the prototype ran it), measured
  at ``prototype_size`` and extrapolated linearly (its cost is linear in the records),
  (b) faiss ``IndexFlatL2`` used directly, (c) a faiss HNSW graph (``IndexHNSWSQ``,
  M=32) used directly, the approximate index this one replaced, up to ``HNSW_MAX_SIZE``,
  and (d) faiss ``IndexPQFastScan`` used directly over one code per person: the bare scan
  inside the fast-scan index, without its exact re-ranking;

and, beside the fast-scan index, how steady the machine is (``host_steadiness``): p50 and
p99 of fixed arithmetic lasting the index's median, on both threads at once.

Galleries are prefixes of one synthetic gallery, and both indexes grow from one size to
the next, so the largest build is paid once. Timings on a shared machine are noisy:
compare the ratios, which are measured side by side.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from salesmigo.config import GallerySettings, ModelMatching, SFaceMatching
from salesmigo.gallery.benchmark_report import (
    APPROXIMATE_LATENCY_QUERIES,
    DEFAULT_SIZES,
    LATENCY_QUERIES,
    RECALL_QUERIES,
)
from salesmigo.gallery.customer_codes import new_code_index
from salesmigo.gallery.exact import ExactIndex
from salesmigo.gallery.fastscan import CANDIDATES, SHORTLIST, FastScanIndex
from salesmigo.gallery.gallery import Gallery
from salesmigo.gallery.host_steadiness import fixed_work_rounds
from salesmigo.gallery.index import CustomerHit, SearchIndex
from salesmigo.gallery.kernels import one_omp_thread
from salesmigo.gallery.latency import (
    Latency,
    batched,
    in_single_thread,
    latencies,
    paired,
)
from salesmigo.gallery.persist import load_snapshot, save_snapshot
from salesmigo.gallery.prototype import PrototypeTiming, time_prototype
from salesmigo.gallery.synthetic import FaceSpace, SyntheticGallery, SyntheticQueries

# The approximate index is measured up to here (10M is an exact-only memory check).
ANN_MAX_SIZE = 2_000_000
# A faiss HNSW graph of 1M templates takes minutes to build on 2 cores; not beyond that.
HNSW_MAX_SIZE = 1_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 512
LOAD_BATCH = 50_000
MODEL = "sface"
CANDIDATE_SWEEP = (64, 128, 256, 512, 1024)
# The bare faiss scan beside the fast-scan index (codes like its customer codes) is
# trained on this many of them.
BARE_SCAN_SAMPLE = 65_536
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchmarkConfig:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    recall_queries: int = RECALL_QUERIES
    latency_queries: int = LATENCY_QUERIES
    batch_size: int = 256
    prototype_size: int = 10_000
    prototype_queries: int = 30
    seed: int = 0
    ann: bool = True
    hnsw: bool = True
    candidate_sweep: tuple[int, ...] = CANDIDATE_SWEEP
    work_dir: Path | None = None


@dataclass
class _State:
    """What carries over from one size to the next."""

    exact: ExactIndex
    ann: FastScanIndex | None
    exact_build_s: float = 0.0
    ann_build_s: float = 0.0
    loaded: int = 0
    prototype: PrototypeTiming | None = None
    prototype_ms: float = 0.0
    hnsw: faiss.Index | None = None
    hnsw_build_s: float = 0.0


def run_benchmark(
    config: BenchmarkConfig, progress: Progress = lambda _: None
) -> list[dict[str, Any]]:
    """One result object per size (see ``benchmarks/README.md`` for the keys)."""
    sizes = tuple(sorted(set(config.sizes)))
    if not sizes or sizes[0] < 1:
        raise ValueError("sizes must be positive")
    space = FaceSpace(config.seed)
    progress(f"generating {sizes[-1]:,} synthetic templates")
    everything = space.gallery(sizes[-1])
    matching = SFaceMatching()
    state = _State(ExactIndex(everything.vectors.shape[1]), None)
    results = []
    with tempfile.TemporaryDirectory(dir=config.work_dir) as work:
        for size in sizes:
            gallery = everything.prefix(size)
            queries = space.queries(gallery, config.recall_queries)
            results.append(
                _measure(size, gallery, queries, state, config, matching, Path(work), progress)
            )
            gc.collect()
    return results


def _measure(
    size: int,
    gallery: SyntheticGallery,
    queries: SyntheticQueries,
    state: _State,
    config: BenchmarkConfig,
    matching: ModelMatching,
    work: Path,
    progress: Progress,
) -> dict[str, Any]:
    progress(f"{size:,}: loading the exact index")
    start = state.loaded
    began = time.perf_counter()
    for batch in range(start, size, LOAD_BATCH):
        stop = min(size, batch + LOAD_BATCH)
        state.exact.add(
            gallery.template_ids[batch:stop],
            gallery.customer_ids[batch:stop],
            gallery.vectors[batch:stop],
        )
    state.exact_build_s += time.perf_counter() - began
    latency_set = queries.vectors[: config.latency_queries]

    progress(f"{size:,}: exact search, and faiss IndexFlatL2 beside it")
    flat = faiss.IndexFlatL2(gallery.vectors.shape[1])
    flat.add(gallery.vectors)
    # Taking turns (gallery.latency.paired), so both see the same load on a shared machine.
    exact, flat_1t = paired(
        lambda q: state.exact.nearest_customers(q), lambda q: _flat_one_thread(flat, q), latency_set
    )
    few = latency_set[: max(20, config.latency_queries // 4)]  # two threads are slow here
    flat_default = latencies(lambda q: flat.search(q[None], 2), few)
    flat.reset()
    exact_1t = in_single_thread(
        lambda: latencies(lambda q: state.exact.nearest_customers(q), latency_set)
    )
    truth, batch_qps = batched(state.exact, queries.vectors, config.batch_size)
    batch_qps_1t = in_single_thread(
        lambda: batched(state.exact, queries.vectors, config.batch_size)[1]
    )

    progress(f"{size:,}: snapshot of the exact index")
    exact_load_s, exact_file = _snapshot_round_trip(state.exact, work)

    if state.prototype is None or size <= config.prototype_size:
        progress(f"{min(size, config.prototype_size):,}: the prototype's loop")
        state.prototype = _prototype(gallery, queries, config, matching)
    prototype_ms = state.prototype.ms_per_query * size / state.prototype.records
    state.prototype_ms = prototype_ms

    result: dict[str, Any] = {
        "size": size,
        "exact_p50_ms": round(exact.p50_ms, 3),
        "exact_p99_ms": round(exact.p99_ms, 3),
        "ann_p50_ms": None,
        "ann_p99_ms": None,
        "ann_recall_at_1": None,
        "batch_qps": round(batch_qps, 1),
        "prototype_ms": round(prototype_ms, 2),
        "speedup_vs_prototype": round(prototype_ms / exact.p50_ms, 1),
        "batch_speedup_vs_prototype": round(prototype_ms * batch_qps / 1000, 1),
        "ratio_vs_faiss_flat": round(exact.p50_ms / flat_1t.p50_ms, 3),
        "bytes_per_template": round(state.exact.nbytes / size, 1),
        "exact_1t_p50_ms": round(exact_1t.p50_ms, 3),
        "exact_1t_p99_ms": round(exact_1t.p99_ms, 3),
        "batch_qps_1t": round(batch_qps_1t, 1),
        "faiss_flat_p50_ms": round(flat_default.p50_ms, 3),
        "faiss_flat_p99_ms": round(flat_default.p99_ms, 3),
        "faiss_flat_1t_p50_ms": round(flat_1t.p50_ms, 3),
        "faiss_flat_1t_p99_ms": round(flat_1t.p99_ms, 3),
        "exact_build_s": round(state.exact_build_s, 2),
        "exact_load_s": round(exact_load_s, 3),
        "exact_snapshot_mb": round(exact_file / 1e6, 1),
        "prototype_measured_at": state.prototype.records,
        "prototype_measured_ms": round(state.prototype.ms_per_query, 2),
        "prototype_runtime": state.prototype.runtime,
    }
    if config.ann and size <= ANN_MAX_SIZE:
        result.update(_measure_ann(size, gallery, queries, truth, state, config, work, progress))
    if config.hnsw and size <= HNSW_MAX_SIZE:
        result.update(_measure_hnsw(size, gallery, queries, truth, state, config, progress))
    state.loaded = size
    return result


def _measure_ann(
    size: int,
    gallery: SyntheticGallery,
    queries: SyntheticQueries,
    truth: list[list[CustomerHit]],
    state: _State,
    config: BenchmarkConfig,
    work: Path,
    progress: Progress,
) -> dict[str, Any]:
    progress(f"{size:,}: encoding the fast-scan index")
    began = time.perf_counter()
    if state.ann is None:
        state.ann = FastScanIndex(gallery.vectors.shape[1])
    for batch in range(state.loaded, size, LOAD_BATCH):
        stop = min(size, batch + LOAD_BATCH)
        state.ann.add(
            gallery.template_ids[batch:stop],
            gallery.customer_ids[batch:stop],
            gallery.vectors[batch:stop],
        )
    state.ann_build_s += time.perf_counter() - began
    ann_index = state.ann
    latency_set = _approximate_timed(queries, config)
    ann, bare = _beside_bare_scan(gallery, ann_index, latency_set, progress)
    progress(f"{size:,}: fixed work of the same length on both threads (the host's tail)")
    host = fixed_work_rounds(ann.p50_ms)
    ann_1t = in_single_thread(
        lambda: latencies(lambda q: ann_index.nearest_customers(q), latency_set)
    )
    found, ann_qps = batched(ann_index, queries.vectors, config.batch_size)
    recall, enrolled_recall, agreement = _agreement(found, truth, queries)
    sweep = []
    if size == max(s for s in config.sizes if s <= ANN_MAX_SIZE):
        for candidates in config.candidate_sweep:
            ann_index.candidates = candidates
            swept = latencies(lambda q: ann_index.nearest_customers(q), latency_set)
            swept_recall = _agreement(
                batched(ann_index, queries.vectors, config.batch_size)[0], truth, queries
            )[0]
            sweep.append(
                {
                    "candidates": candidates,
                    "p50_ms": round(swept.p50_ms, 3),
                    "p99_ms": round(swept.p99_ms, 3),
                    "recall_at_1": round(swept_recall, 4),
                }
            )
            progress(
                f"{size:,}: candidates={candidates} p99 {swept.p99_ms:.2f} ms, "
                f"recall@1 {swept_recall:.4f}"
            )
        ann_index.candidates = CANDIDATES
    progress(f"{size:,}: snapshot of the fast-scan index")
    ann_load_s, ann_file = _snapshot_round_trip(ann_index, work)
    prototype_ms = state.prototype_ms
    result: dict[str, Any] = {
        "ann_p50_ms": round(ann.p50_ms, 3),
        "ann_speedup_vs_prototype": round(prototype_ms / ann.p50_ms, 1),
        "ann_p99_ms": round(ann.p99_ms, 3),
        "ann_recall_at_1": round(recall, 4),
        "faiss_fastscan_p50_ms": None if bare is None else round(bare.p50_ms, 3),
        "faiss_fastscan_p99_ms": None if bare is None else round(bare.p99_ms, 3),
        "ann_ratio_vs_faiss_fastscan": None if bare is None else round(ann.p50_ms / bare.p50_ms, 3),
        "host_fixed_work_p50_ms": round(host.p50_ms, 3),
        "host_fixed_work_p99_ms": round(host.p99_ms, 3),
        "ann_1t_p50_ms": round(ann_1t.p50_ms, 3),
        "ann_1t_p99_ms": round(ann_1t.p99_ms, 3),
        "ann_batch_qps": round(ann_qps, 1),
        "ann_batch_speedup_vs_prototype": round(prototype_ms * ann_qps / 1000, 1),
        "ann_recall_at_1_enrolled": round(enrolled_recall, 4),
        "ann_decision_agreement": round(agreement, 4),
        "ann_candidates": CANDIDATES,
        "ann_shortlist": SHORTLIST,
        "ann_build_s": round(state.ann_build_s, 2),
        "ann_load_s": round(ann_load_s, 3),
        "ann_snapshot_mb": round(ann_file / 1e6, 1),
        "ann_bytes_per_template": round(ann_index.nbytes / size, 1),
    }
    if sweep:
        result["ann_sweep"] = sweep
    return result


def _beside_bare_scan(
    gallery: SyntheticGallery,
    index: FastScanIndex,
    queries: NDArray[np.float32],
    progress: Progress,
) -> tuple[Latency, Latency | None]:
    """Single-query latencies of the fast-scan index and, once it scans codes, of faiss
    ``IndexPQFastScan`` used directly over as many codes of the same kind and layout (one
    per person, ``customer_codes.new_code_index``), taking turns: the scan alone, without
    re-ranking, so a reader sees how much of the index's time and tail is the scan's."""
    search = index.nearest_customers
    if not index.coded:
        progress(f"{len(gallery):,}: fast-scan search (exact below its training size)")
        return latencies(search, queries), None
    progress(f"{len(gallery):,}: fast-scan search, and a bare faiss fast-scan beside it")
    bare = new_code_index(gallery.centres.shape[1])
    sample = np.random.default_rng(0).permutation(len(gallery.centres))[:BARE_SCAN_SAMPLE]
    with one_omp_thread():
        bare.train(gallery.centres[np.sort(sample)])
        bare.add(gallery.centres)

    def scan(query: NDArray[np.float32]) -> object:
        with one_omp_thread():  # one query: faiss's best here, as for IndexFlatL2
            return bare.search(query[None], CANDIDATES)

    return paired(search, scan, queries)


def _measure_hnsw(
    size: int,
    gallery: SyntheticGallery,
    queries: SyntheticQueries,
    truth: list[list[CustomerHit]],
    state: _State,
    config: BenchmarkConfig,
    progress: Progress,
) -> dict[str, Any]:
    """faiss HNSW (8-bit codes) called directly: the graph the fast-scan index replaced.
    Like the gallery's indexes, it grows from one size to the next."""
    progress(f"{size:,}: building a faiss HNSW graph for comparison")
    if state.hnsw is None:
        dimension = gallery.vectors.shape[1]
        state.hnsw = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_8bit_uniform, HNSW_M)  # type: ignore[arg-type]
        state.hnsw.train(np.array([[-1.0] * dimension, [1.0] * dimension], dtype=np.float32))
        state.hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph = state.hnsw
    began = time.perf_counter()
    graph.add(gallery.vectors[graph.ntotal : size])
    state.hnsw_build_s += time.perf_counter() - began
    params = faiss.SearchParametersHNSW(efSearch=HNSW_EF_SEARCH)  # type: ignore[attr-defined]

    def search(query: NDArray[np.float32]) -> object:
        with one_omp_thread():
            return graph.search(query[None], 1, params=params)

    latency = latencies(search, _approximate_timed(queries, config))
    _, nodes = graph.search(queries.vectors, 1, params=params)
    found = [
        [CustomerHit(int(gallery.customer_ids[node]), 0.0)] if node >= 0 else []
        for node in nodes[:, 0].tolist()
    ]
    recall, enrolled_recall, _ = _agreement(found, truth, queries)
    return {
        "hnsw_p50_ms": round(latency.p50_ms, 3),
        "hnsw_p99_ms": round(latency.p99_ms, 3),
        "hnsw_recall_at_1": round(recall, 4),
        "hnsw_recall_at_1_enrolled": round(enrolled_recall, 4),
        "hnsw_build_s": round(state.hnsw_build_s, 2),
    }


# -- measurements ----------------------------------------------------------------------


def _approximate_timed(queries: SyntheticQueries, config: BenchmarkConfig) -> NDArray[np.float32]:
    """The queries an approximate index is timed on, one at a time."""
    return queries.vectors[: max(config.latency_queries, APPROXIMATE_LATENCY_QUERIES)]


def _flat_one_thread(flat: faiss.IndexFlatL2, query: NDArray[np.float32]) -> object:
    """faiss ``IndexFlatL2`` as a user would call it for one query, on one thread (its best
    here: with OpenMP's two threads on a shared 2-core machine it is several times slower).
    """
    with one_omp_thread():
        return flat.search(query[None], 2)


def _agreement(
    found: list[list[CustomerHit]], truth: list[list[CustomerHit]], queries: SyntheticQueries
) -> tuple[float, float, float]:
    """recall@1 (top customer as exact), the same on enrolled people, decision agreement."""
    matching = SFaceMatching()
    same = np.array(
        [
            bool(f) and bool(t) and f[0].customer_id == t[0].customer_id
            for f, t in zip(found, truth, strict=True)
        ]
    )
    enrolled = queries.true_customer_ids > 0
    decisions = np.array(
        [
            _decision(f, matching) == _decision(t, matching)
            for f, t in zip(found, truth, strict=True)
        ]
    )
    return (
        float(same.mean()),
        float(same[enrolled].mean()) if enrolled.any() else 1.0,
        float(decisions.mean()),
    )


def _decision(hits: list[CustomerHit], matching: ModelMatching) -> int | None:
    if not hits or hits[0].distance >= matching.threshold:
        return None
    if len(hits) > 1 and hits[1].distance - hits[0].distance < matching.margin:
        return None
    return hits[0].customer_id


def _snapshot_round_trip(index: SearchIndex, work: Path) -> tuple[float, int]:
    """Seconds to load a snapshot of a gallery holding ``index``, and the file's size."""
    kind = index.kind
    gallery = Gallery.from_indexes(_matching, GallerySettings(index=kind), {MODEL: index})
    folder = work / kind
    path = save_snapshot(gallery, folder, revision=1, database_id="benchmark")
    size = path.stat().st_size
    began = time.perf_counter()
    loaded = load_snapshot(
        folder,
        database_id="benchmark",
        matching_for=_matching,
        settings=GallerySettings(index=kind),
    )
    seconds = time.perf_counter() - began
    if loaded is None or loaded[0].size(MODEL) != len(index):
        raise RuntimeError("the snapshot did not load back")
    del loaded
    path.unlink()
    return seconds, size


def _matching(model: str) -> ModelMatching:
    return SFaceMatching()


def _prototype(
    gallery: SyntheticGallery,
    queries: SyntheticQueries,
    config: BenchmarkConfig,
    matching: ModelMatching,
) -> PrototypeTiming:
    """The 2022 prototype's matcher over the first ``prototype_size`` records."""
    size = min(len(gallery), config.prototype_size)
    # Queries of people within the measured records, so early exits happen as they would:
    # the cost is the mean over the query mix (a match stops the loop at that person's
    # first record under the threshold; a stranger runs through every record).
    present = (queries.true_customer_ids == 0) | (
        queries.true_customer_ids <= int(gallery.customer_ids[size - 1])
    )
    chosen = queries.vectors[present][: config.prototype_queries]
    return time_prototype(gallery.vectors[:size], chosen, matching.threshold)
