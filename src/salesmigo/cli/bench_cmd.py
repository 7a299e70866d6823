"""``salesmigo bench gallery``: how fast and how exact the face gallery is, by size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from salesmigo.cli.output import JsonFlag, console, errors, fail, print_json
from salesmigo.gallery.benchmark_report import (
    DEFAULT_SIZES,
    LATENCY_QUERIES,
    RECALL_QUERIES,
    TEN_MILLION,
    goals,
    markdown_table,
)

app = typer.Typer(help="Benchmarks, with baselines measured in the same run.", no_args_is_help=True)


def _sizes(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in value.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter("a comma-separated list of integers, e.g. 10000,100000") from None
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter("sizes must be positive integers")
    return sizes


@app.command()
def gallery(
    sizes: Annotated[
        str,
        typer.Option(help="Gallery sizes (templates), comma-separated."),
    ] = ",".join(str(s) for s in DEFAULT_SIZES),
    include_10m: Annotated[
        bool,
        typer.Option(
            "--include-10m",
            help="Add 10,000,000 templates (exact only; ~22.5 GB of memory at peak).",
        ),
    ] = False,
    queries: Annotated[
        int, typer.Option(min=10, help="Queries for recall and batches.")
    ] = RECALL_QUERIES,
    latency_queries: Annotated[
        int,
        typer.Option(
            min=10, help="Timed single queries (the approximate indexes time at least 2,000)."
        ),
    ] = LATENCY_QUERIES,
    no_ann: Annotated[
        bool, typer.Option("--no-ann", help="Skip the approximate (fast-scan) index.")
    ] = False,
    no_hnsw: Annotated[
        bool,
        typer.Option("--no-hnsw", help="Skip the faiss HNSW comparison (minutes to build at 1M)."),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic descriptors.")] = 0,
    work_dir: Annotated[
        Path | None, typer.Option(help="Where snapshots are written while measuring.")
    ] = None,
    json_output: JsonFlag = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (for the README).")
    ] = False,
) -> None:
    """Exact and approximate search against the prototype's loop, faiss flat and faiss HNSW,
    on realistic descriptors.

    Progress goes to stderr; with --json, stdout holds only the JSON list (one object per
    size). Latencies are per single query; batch_qps is queries per second in batches of
    256. See benchmarks/README.md for every key.
    """
    from salesmigo.gallery.benchmark import BenchmarkConfig, run_benchmark  # faiss: on use

    chosen = _sizes(sizes)
    if include_10m:
        chosen = (*chosen, TEN_MILLION)
    config = BenchmarkConfig(
        sizes=chosen,
        recall_queries=queries,
        latency_queries=latency_queries,
        seed=seed,
        ann=not no_ann,
        hnsw=not no_hnsw,
        work_dir=work_dir,
    )
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def report(message: str) -> None:
            bar.update(task, description=message)
            bar.console.log(message, highlight=False)

        try:
            results = run_benchmark(config, report)
        except (ValueError, MemoryError) as error:
            fail(str(error))
    if json_output:
        print_json(results)
    elif markdown:
        typer.echo(markdown_table(results))
    else:
        console.print(_table(results))
    for line in goals(results):
        errors.print(line, highlight=False)


def _table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Face gallery, 128-D templates (ms per single query)")
    columns = [
        ("size", "size"),
        ("exact p50", "exact_p50_ms"),
        ("exact p99", "exact_p99_ms"),
        ("faiss flat p50", "faiss_flat_1t_p50_ms"),
        ("ratio", "ratio_vs_faiss_flat"),
        ("batch q/s", "batch_qps"),
        ("fast-scan p50", "ann_p50_ms"),
        ("fast-scan p99", "ann_p99_ms"),
        ("fixed work p99", "host_fixed_work_p99_ms"),  # the host's own tail, as long
        ("recall@1", "ann_recall_at_1"),
        ("HNSW p99", "hnsw_p99_ms"),
        ("HNSW recall@1", "hnsw_recall_at_1"),
        ("prototype", "prototype_ms"),
        ("speed-up", "speedup_vs_prototype"),
        ("B/template", "bytes_per_template"),
        ("load s", "exact_load_s"),
    ]
    for title, _ in columns:
        table.add_column(title, justify="right")
    for result in results:
        table.add_row(
            *("—" if result.get(key) is None else f"{result[key]:,}" for _, key in columns)
        )
    return table
