"""A capacity step's CPU is counted over its measured window only: the sampling intervals
between the window's bounds, never the warm-up before it or the stop after it."""

from __future__ import annotations

import pytest

from lobbysim.cli.capacity.measure import Sample, window


def sample(at: float, redis_cpu: float, calls: int, generator_cpu: float) -> Sample:
    return Sample(
        at=at, redis_cpu=(redis_cpu,), redis_wait=(0.0,), script_calls=(calls,),
        commands=calls * 2, generator={1234: (generator_cpu, 0.0)}, machine=(0, 100),
    )  # fmt: skip


def run() -> list[Sample]:
    """A step sampled every 0.5 s for 6 s: a costly start-up (1 s of Redis CPU and 2 s of
    Locust CPU for 100 joins in its first second), then 1,000 joins/s costing Redis 0.1 s
    and Locust 0.2 s of CPU per second, then a stop that costs Locust 1 s."""
    samples = [sample(0.0, 0.0, 0, 0.0), sample(0.5, 0.5, 50, 1.0), sample(1.0, 1.0, 100, 2.0)]
    for i in range(1, 9):  # 1.5 .. 5.0: steady
        samples.append(sample(1.0 + 0.5 * i, 1.0 + 0.05 * i, 100 + 500 * i, 2.0 + 0.1 * i))
    last = samples[-1]
    samples.append(
        sample(5.5, last.redis_cpu[0], last.script_calls[0], last.generator[1234][0] + 1)
    )
    return samples


def test_only_the_intervals_inside_the_window_count() -> None:
    measured = window(run(), opens=1.0, closes=5.0)
    assert measured is not None
    assert measured.seconds == pytest.approx(4.0)
    assert measured.script_calls == 4000
    assert measured.redis_cpu == pytest.approx(0.4)  # 100 µs per join, not the start-up's
    assert measured.busiest_cpu == pytest.approx(0.1)
    assert measured.generator_cpu == pytest.approx(0.8)  # the stop's second is left out
    assert measured.primaries_used == 1


def test_an_interval_that_straddles_a_bound_is_left_out() -> None:
    measured = window(run(), opens=1.2, closes=4.8)
    assert measured is not None
    assert measured.seconds == pytest.approx(3.0)  # 1.5 .. 4.5
    assert measured.script_calls == 3000


def test_a_window_no_interval_fits_in_measures_nothing() -> None:
    assert window(run(), opens=2.1, closes=2.4) is None
    assert window(run(), opens=7.0, closes=9.0) is None
    assert window(run()[:1], opens=0.0, closes=9.0) is None
