"""The gallery benchmark's results as people read them: a Markdown table and the goals."""

from __future__ import annotations

from typing import Any

# The gallery sizes a default run measures, and the one behind --include-10m.
DEFAULT_SIZES = (10_000, 100_000, 300_000, 1_000_000)
TEN_MILLION = 10_000_000
# Queries for recall: about 500 are strangers, whose nearest customer is the hard part, so
# recall@1 near 0.99 is known to about +-0.001 (1,000 queries left it +-0.003).
RECALL_QUERIES = 5000
# Single queries timed: exact search is slow enough at 1M that 200 take seconds; the
# approximate indexes, whose p99 is a goal, time at least 2,000, so that p99 is their 20th
# slowest rather than the 5th of 500 (on a shared host, a handful of queries held up by
# another tenant moved it by half a millisecond from run to run).
LATENCY_QUERIES = 200
APPROXIMATE_LATENCY_QUERIES = 2000

_MARKDOWN_COLUMNS = (
    ("size", "size"),
    ("exact p50 ms", "exact_p50_ms"),
    ("exact p99 ms", "exact_p99_ms"),
    ("exact 1-thread p50", "exact_1t_p50_ms"),
    ("faiss flat 1-thread p50", "faiss_flat_1t_p50_ms"),
    ("faiss flat default p50", "faiss_flat_p50_ms"),
    ("ratio vs faiss flat", "ratio_vs_faiss_flat"),
    ("batch q/s", "batch_qps"),
    ("batch q/s 1-thread", "batch_qps_1t"),
    ("fast-scan p50 ms", "ann_p50_ms"),
    ("fast-scan p99 ms", "ann_p99_ms"),
    ("fast-scan 1-thread p50", "ann_1t_p50_ms"),
    ("faiss fast-scan alone p50", "faiss_fastscan_p50_ms"),
    ("faiss fast-scan alone p99", "faiss_fastscan_p99_ms"),
    ("fast-scan ratio vs faiss fast-scan alone", "ann_ratio_vs_faiss_fastscan"),
    ("fixed work as long, both threads, p50", "host_fixed_work_p50_ms"),
    ("fixed work as long, both threads, p99", "host_fixed_work_p99_ms"),
    ("fast-scan recall@1", "ann_recall_at_1"),
    ("fast-scan recall@1 enrolled", "ann_recall_at_1_enrolled"),
    ("fast-scan decisions as exact", "ann_decision_agreement"),
    ("fast-scan batch q/s", "ann_batch_qps"),
    ("faiss HNSW p50 ms", "hnsw_p50_ms"),
    ("faiss HNSW p99 ms", "hnsw_p99_ms"),
    ("faiss HNSW recall@1", "hnsw_recall_at_1"),
    ("prototype ms", "prototype_ms"),
    ("speed-up vs prototype (exact)", "speedup_vs_prototype"),
    ("speed-up vs prototype (fast-scan)", "ann_speedup_vs_prototype"),
    ("speed-up vs prototype (exact, batched)", "batch_speedup_vs_prototype"),
    ("speed-up vs prototype (fast-scan, batched)", "ann_batch_speedup_vs_prototype"),
    ("exact B/template", "bytes_per_template"),
    ("fast-scan B/template", "ann_bytes_per_template"),
    ("exact build s", "exact_build_s"),
    ("fast-scan build s", "ann_build_s"),
    ("faiss HNSW build s", "hnsw_build_s"),
    ("exact load s", "exact_load_s"),
    ("fast-scan load s", "ann_load_s"),
)


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, one column per size."""
    lines = [
        "| | " + " | ".join(f"{r['size']:,}" for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for title, key in _MARKDOWN_COLUMNS[1:]:
        cells = ["—" if r.get(key) is None else f"{r[key]:,}" for r in results]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    sweeps = [r for r in results if r.get("ann_sweep")]
    for result in sweeps:
        lines += [
            "",
            f"Fast-scan at {result['size']:,} by customers proposed by the codes (their"
            f" closest {result['ann_shortlist']} centroids then measured over all their"
            " templates):",
            "",
            "| candidates | p50 ms | p99 ms | recall@1 |",
            "|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {s['candidates']} | {s['p50_ms']} | {s['p99_ms']} | {s['recall_at_1']} |"
            for s in result["ann_sweep"]
        ]
    return "\n".join(lines)


def goals(results: list[dict[str, Any]]) -> list[str]:
    """The issue's goals, each with the measured figure and whether it is met."""
    by_size = {r["size"]: r for r in results}
    lines = []

    def check(label: str, ok: bool, figure: str) -> None:
        lines.append(f"{'met' if ok else 'NOT met'}: {label} ({figure})")

    million = by_size.get(1_000_000)
    if million is not None:
        check(
            "1M exact p50 <= 25 ms",
            million["exact_p50_ms"] <= 25,
            f"{million['exact_p50_ms']} ms",
        )
        check(
            "1M exact within 1.2x of faiss flat",
            million["ratio_vs_faiss_flat"] <= 1.2,
            f"{million['ratio_vs_faiss_flat']}x",
        )
        if million.get("ann_p99_ms") is not None:
            check(
                "1M approximate p99 <= 1 ms with recall@1 >= 0.99",
                million["ann_p99_ms"] <= 1 and million["ann_recall_at_1"] >= 0.99,
                f"p99 {million['ann_p99_ms']} ms, recall@1 {million['ann_recall_at_1']};"
                f" fixed work of its median on both threads: p99"
                f" {million.get('host_fixed_work_p99_ms')} ms",
            )
        check(
            "1M exact <= 600 bytes per template",
            million["bytes_per_template"] <= 600,
            f"{million['bytes_per_template']} B",
        )
    at_300k = by_size.get(300_000)
    if at_300k is not None:
        for key, how in (
            ("speedup_vs_prototype", "exact, single query"),
            ("ann_speedup_vs_prototype", "fast-scan, single query"),
            ("batch_speedup_vs_prototype", "exact, batched"),
            ("ann_batch_speedup_vs_prototype", "fast-scan, batched"),
        ):
            if at_300k.get(key) is not None:
                check(
                    f">= 1000x faster than the prototype at 300k ({how})",
                    at_300k[key] >= 1000,
                    f"{at_300k[key]}x",
                )
    return lines
