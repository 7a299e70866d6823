"""How the pipeline benchmark summarises first-event latencies."""

from __future__ import annotations

from salesmigo.cameras.bench_latency import percentiles


def test_percentiles_take_the_slower_neighbour_with_few_people() -> None:
    # With 5 people the p95 is the slowest: nobody's wait is averaged away.
    assert percentiles([120.0, 80.0, 300.0, 150.0, 95.0]) == {
        "p50": 120.0,
        "p95": 300.0,
        "max": 300.0,
        "people": 5,
    }
    many = percentiles([float(n) for n in range(1, 101)])
    assert (many["p50"], many["p95"], many["people"]) == (51.0, 96.0, 100)


def test_no_people_means_no_latency() -> None:
    assert percentiles([]) == {"p50": None, "p95": None, "max": None, "people": 0}
