"""The Locust client's latency histograms (locustfiles/latency.py): µs figures, Locust's
percentile ranks, a worker's report to its master and back, merged as if one process."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from locustfiles.latency import (
    AGGREGATED,
    FIELDS,
    HIGHEST_US,
    PERCENTILES,
    Latencies,
    line,
    write_csv,
)


def locust_rank_values(micros: list[int]) -> dict[str, int]:
    """Each figure as Locust picks it (the call ranked int(count * fraction) + 1), exactly."""
    ordered = sorted(micros)
    count = len(ordered)
    figures = {name: ordered[min(count, int(count * f) + 1) - 1] for name, f in PERCENTILES.items()}
    return {"count": count, **figures, "max": ordered[-1]}


def latencies_of(seconds: list[float], name: str = "join") -> Latencies:
    latencies = Latencies()
    for value in seconds:
        latencies.record(name, value)
    return latencies


def test_below_2048_us_every_figure_is_exact_and_ranked_as_locust_ranks() -> None:
    rng = random.Random(7)
    micros = [rng.randint(0, 2047) for _ in range(2_003)]
    summary = latencies_of([m / 1e6 for m in micros]).summary()
    assert summary["join"] == locust_rank_values(micros)
    assert list(summary["join"]) == list(FIELDS)


def test_above_2048_us_a_figure_is_the_top_of_its_bucket_within_a_thousandth() -> None:
    rng = random.Random(8)
    micros = [int(rng.expovariate(1 / 5_000)) + 2_048 for _ in range(5_000)]
    figures = latencies_of([m / 1e6 for m in micros]).summary()["join"]
    for name, exact in locust_rank_values(micros).items():
        value = figures[name]
        assert value is not None
        if name == "count":
            assert value == exact
        else:
            assert exact <= value <= exact * 1.001 + 1, (name, value, exact)


def test_seconds_are_rounded_to_the_nearest_microsecond() -> None:
    summary = latencies_of([0.0000014, 0.0000016, 0.0012344]).summary()["join"]
    assert summary["p50"] == 2 and summary["max"] == 1234


def test_out_of_range_latencies_are_clamped_never_dropped() -> None:
    # Locust counts every call: a histogram that dropped one would disagree with its count.
    summary = latencies_of([-0.001, -0.002, 2 * HIGHEST_US / 1e6]).summary()["join"]
    assert summary["count"] == 3
    assert summary["p50"] == 0
    assert summary["max"] is not None and HIGHEST_US <= summary["max"] <= HIGHEST_US * 1.001


def test_workers_reports_merge_into_the_figures_of_one_process() -> None:
    rng = random.Random(9)
    calls = [(rng.choice(["join", "leave"]), rng.expovariate(1 / 0.003)) for _ in range(6_000)]
    workers = [Latencies(), Latencies(), Latencies()]
    alone, master = Latencies(), Latencies()
    for i, (name, seconds) in enumerate(calls):
        workers[i % 3].record(name, seconds)
        alone.record(name, seconds)
        if i % 1000 == 999:  # a report every so often: each carries only what is new
            for worker in workers:
                master.add_report(worker.take_report())
    for worker in workers:
        master.add_report(worker.take_report())
    merged = master.summary()
    assert merged == alone.summary()
    assert list(merged) == ["join", "leave", AGGREGATED]
    assert merged[AGGREGATED]["count"] == len(calls)
    assert merged["join"]["count"] == sum(1 for name, _ in calls if name == "join")


def test_a_report_survives_encoding_and_starts_the_worker_afresh() -> None:
    worker = latencies_of([0.0005, 0.0021, 0.0133], name="join (open)")
    before = worker.summary()
    report = worker.take_report()
    assert set(report) == {"join (open)"} and all(isinstance(v, bytes) for v in report.values())
    assert worker.take_report() == {}  # sent once: the next report has only newer calls
    decoded = Latencies()
    decoded.add_report(report)
    assert decoded.summary() == before


def test_no_call_gives_a_zero_count_and_no_figure() -> None:
    summary = Latencies().summary()
    assert summary == {AGGREGATED: {field: (0 if field == "count" else None) for field in FIELDS}}
    assert line(summary).endswith(" count=0 p50=n/a p90=n/a p95=n/a p99=n/a p99.9=n/a max=n/a")


def test_reset_forgets_the_last_run() -> None:
    latencies = latencies_of([0.001, 0.002])
    latencies.reset()
    assert latencies.summary()[AGGREGATED]["count"] == 0


def test_the_line_and_the_csv_carry_the_same_figures(tmp_path: Path) -> None:
    latencies = latencies_of([0.0001, 0.0002, 0.0003])
    latencies.record("leave", 0.0004)
    summary = latencies.summary()
    assert line(summary) == (
        "lobbysim latency: unit=us from=intended_send "
        "count=4 p50=300 p90=400 p95=400 p99=400 p99.9=400 max=400"
    )
    path = tmp_path / "run_latency_us.csv"
    write_csv(path, summary)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["Name"] for row in rows] == ["join", "leave", AGGREGATED]
    assert list(rows[0]) == ["Name", "count", "p50", "p90", "p95", "p99", "p99.9", "max"]
    for row in rows:
        assert {k: int(v) for k, v in row.items() if k != "Name"} == summary[row["Name"]]
