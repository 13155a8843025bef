"""Live metrics with bounded memory: per-second rate meters and a latency histogram."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class RateMeter:
    """Events per second, bucketed by whole seconds; keeps the last ``keep`` seconds."""

    def __init__(self, keep: int = 120, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._keep = keep
        self._buckets: deque[tuple[int, int]] = deque()  # (second, count)
        self.total = 0

    def add(self, n: int = 1, *, rated: bool = True) -> None:
        """Count ``n`` events now; ``rated=False``: in the total only (events read late, whose
        time is not now)."""
        self.total += n
        if not rated:
            return
        second = int(self._clock())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1] = (second, self._buckets[-1][1] + n)
        else:
            self._buckets.append((second, n))
            while len(self._buckets) > self._keep:
                self._buckets.popleft()

    def history(self, seconds: int) -> list[float]:
        """Counts of the last ``seconds`` whole seconds, oldest first (the current one excluded)."""
        now = int(self._clock())
        counts = dict(self._buckets)
        return [float(counts.get(s, 0)) for s in range(now - seconds, now)]

    def rate(self, window: int = 5) -> float:
        return sum(self.history(window)) / window


class LatencyHistogram:
    """Log-spaced buckets from 10 µs to ~100 s: percentiles without keeping every sample."""

    LOW_MS = 0.01
    GROWTH = 1.1

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0

    def _bucket(self, ms: float) -> int:
        return 0 if ms <= self.LOW_MS else int(math.log(ms / self.LOW_MS, self.GROWTH)) + 1

    def record(self, ms: float) -> None:
        bucket = self._bucket(ms)
        self._counts[bucket] = self._counts.get(bucket, 0) + 1
        self.count += 1

    def percentile(self, p: float) -> float:
        """Upper edge of the bucket holding the p-th percentile (ms); 0 with no samples."""
        if not self.count:
            return 0.0
        rank = math.ceil(self.count * p / 100)
        seen = 0
        for bucket in sorted(self._counts):
            seen += self._counts[bucket]
            if seen >= rank:
                return self.LOW_MS * self.GROWTH**bucket
        return 0.0  # unreachable


LIMIT_SHARE = 0.1
"""Served below offered by more than this share of it (and by LIMIT_FLOOR): not keeping up."""
LIMIT_FLOOR = 3.0
"""Arrivals/s: below this gap, the few arrivals whose join spans a second's edge."""


@dataclass(frozen=True)
class Load:
    """The arrivals asked for against those served, over the last few seconds."""

    rate: float
    """Arrivals/s asked for (the setting)."""
    offered: float
    """Arrivals/s the schedule made (each one a buyer or a party)."""
    served: float
    """Arrivals/s whose join Redis answered."""
    behind: bool
    """Served fell short of offered: the demo cannot keep up with the rate asked for."""


def load_of(rate: float, offered: RateMeter, served: RateMeter, window: int = 5) -> Load:
    """Offered against served over the last ``window`` whole seconds."""
    asked, done = offered.rate(window), served.rate(window)
    behind = asked - done > max(LIMIT_FLOOR, LIMIT_SHARE * asked)
    return Load(rate, asked, done, behind)


@dataclass
class Metrics:
    joins: RateMeter = field(default_factory=RateMeter)
    """Buyers joined (a party's each)."""
    offered: RateMeter = field(default_factory=RateMeter)
    """Arrivals the schedule made (a party is one), kept up with or not."""
    served: RateMeter = field(default_factory=RateMeter)
    """Arrivals whose join Redis answered."""
    leaves: RateMeter = field(default_factory=RateMeter)
    bookings: RateMeter = field(default_factory=RateMeter)
    expired: RateMeter = field(default_factory=RateMeter)
    join_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    seats_left: int | None = None
    errors: int = 0
