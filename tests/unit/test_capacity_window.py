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


# The Locust side of the window (capacity_window.py) imports Locust, which patches the process
# it runs in: it is exercised in a subprocess of its own.
WINDOW_SCRIPT = r"""
import json, sys
from locustfiles.capacity_window import STEP_NAME, Window

def worker(clock, joins):
    # A worker's window on its own clock: warm-up 1 s, 4 s measured, from `clock`.
    w = Window(warmup=1.0, length=4.0)
    w.start(clock)
    for at, ms, failed in joins:
        w.record(clock + at, ms, 0, failed)
    return w

master = Window(warmup=1.0, length=4.0)
master.start(100.0)  # its window: 101 .. 105 on its clock
# Two workers, their clocks far from the master's and each other's (other machines); they
# started their runs 0.3 s and 0.5 s after the master, and report at master time 106.
a = worker(5000.3, [(0.5, 1.0, False), (1.5, 9.6, False), (2.0, 10.4, True), (5.5, 99.0, False)])
b = worker(-7.5, [(1.2, 0.25, False), (4.9, 10.412, False)])
master.add("a", a.report(5000.3 + 5.7), 106.0)
master.add("b", b.report(-7.5 + 5.5), 106.0)
json.dump(master.result(), sys.stdout)
"""


def test_the_master_merges_its_workers_windows_in_us_on_its_own_clock() -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", WINDOW_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    # Joins inside each worker's window only (a's at 0.5 s is in its warm-up, at 5.5 s after
    # its window), every figure in µs, unrounded: 9.6 ms and 10.4 ms are not both "10".
    assert (result["requests"], result["failures"]) == (4, 1)
    # Locust's ranks (p50: the 3rd of 4), HDR's precision (within 0.1 % above 2,048 µs).
    assert result["p50_us"] == pytest.approx(10_400, rel=1e-3)
    assert result["p99_us"] == result["max_us"] == pytest.approx(10_412, rel=1e-3)
    # The master's window is what its workers' windows share, on the master's clock (each
    # worker's bounds placed from the moment it reported): a opens at 101.3, b at 101.5; b
    # closes at 105.5 and a at 105.3.
    assert result["opens"] == pytest.approx(101.5) and result["closes"] == pytest.approx(105.3)
    assert result["seconds"] == pytest.approx(4.0)
