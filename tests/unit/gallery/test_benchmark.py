"""The benchmark runs end to end on tiny sizes and reports every documented key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesmigo.cli.main import app
from salesmigo.gallery.benchmark import BenchmarkConfig, run_benchmark
from salesmigo.gallery.benchmark_report import goals, markdown_table

REQUIRED_KEYS = {
    "size",
    "exact_p50_ms",
    "exact_p99_ms",
    "ann_p50_ms",
    "ann_p99_ms",
    "ann_recall_at_1",
    "batch_qps",
    "prototype_ms",
    "speedup_vs_prototype",
    "ratio_vs_faiss_flat",
    "bytes_per_template",
}


def test_run_benchmark_reports_every_key(tmp_path: Path) -> None:
    config = BenchmarkConfig(
        sizes=(4500, 1500),  # the larger one trains the fast-scan codes
        recall_queries=60,
        latency_queries=20,
        prototype_size=1000,
        prototype_queries=5,
        candidate_sweep=(64,),
        work_dir=tmp_path,
    )
    messages: list[str] = []
    results = run_benchmark(config, messages.append)
    assert [r["size"] for r in results] == [1500, 4500]
    for result in results:
        assert result.keys() >= REQUIRED_KEYS
        assert 0 <= result["ann_recall_at_1"] <= 1
        assert result["prototype_measured_at"] == 1000
    assert results[1]["prototype_ms"] == pytest.approx(results[0]["prototype_ms"] * 3, abs=0.03)
    # The bare faiss scan is measured only where the index scans codes.
    assert results[0]["faiss_fastscan_p50_ms"] is None
    assert results[1]["faiss_fastscan_p99_ms"] >= results[1]["faiss_fastscan_p50_ms"] > 0
    assert results[1]["ann_ratio_vs_faiss_fastscan"] > 0
    for result in results:
        assert result["host_fixed_work_p99_ms"] >= result["host_fixed_work_p50_ms"] > 0
    assert results[1]["ann_sweep"][0]["candidates"] == 64
    assert 0 <= results[1]["hnsw_recall_at_1"] <= 1
    assert messages
    assert list(tmp_path.iterdir()) == []
    assert "| exact p50 ms |" in markdown_table(results)
    assert goals(results) == []  # none of the goal sizes was run


def test_cli_json_prints_only_the_list_on_stdout(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "gallery",
            "--sizes",
            "1200",
            "--queries",
            "40",
            "--latency-queries",
            "10",
            "--no-ann",
            "--no-hnsw",
            "--work-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (only,) = json.loads(result.stdout)
    assert only["size"] == 1200
    assert only["ann_recall_at_1"] is None


def test_cli_refuses_bad_sizes() -> None:
    result = CliRunner().invoke(app, ["bench", "gallery", "--sizes", "ten"])
    assert result.exit_code != 0
