"""The simulation's asyncio tasks: stopping them for sure, and what spares most of them.

Buyers are not a task and a timer each: one scheduler loop wakes once a tick, takes the
tick's arrivals from :class:`Arrivals` in one batch and the deadlines due from
:class:`Timers` (patience, checkout, book-after), and only a call to the store gets a task,
for as long as the call is in flight.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from typing import Any, Generic, TypeVar

STOP_RETRY_SECONDS = 0.5
"""Between two cancellations of a task that has not ended."""

T = TypeVar("T")


async def stop_all(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and wait until each has ended. A cancellation can be lost (Python
    3.11's timeouts may turn it into a TimeoutError, which a task counts as a Redis failure
    and carries on), so whatever is still running is cancelled again."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_RETRY_SECONDS)


class Arrivals:
    """A Poisson process of arrivals, read once a tick: how many fell due since the last
    read. Its clock is the caller's, so a tick that wakes late gets the arrivals of the
    time it missed (the offered rate is the rate asked for, however busy the loop)."""

    def __init__(self, rng: random.Random, now: float, rate: float) -> None:
        self._rng = rng
        self._next = now + rng.expovariate(rate)

    def due(self, now: float, rate: float) -> int:
        """Arrivals at ``rate`` per second up to ``now`` not yet taken."""
        count = 0
        while self._next <= now:
            count += 1
            self._next += self._rng.expovariate(rate)
        return count

    def skip(self, now: float, rate: float) -> None:
        """None arrive until ``now`` (paused): the next one comes as if the process started
        now (a Poisson process has no memory)."""
        if self._next <= now:
            self._next = now + self._rng.expovariate(rate)


class Timers(Generic[T]):
    """Deadlines in a heap, checked once a tick: no timer handle, no sleeping task each."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()  # equal deadlines fire in the order they were set

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, at: float, item: T) -> None:
        heapq.heappush(self._heap, (at, next(self._order), item))

    def due(self, now: float) -> list[T]:
        """The items whose deadline is ``now`` or earlier, each given once, earliest first."""
        heap, fired = self._heap, []
        while heap and heap[0][0] <= now:
            fired.append(heapq.heappop(heap)[2])
        return fired

    def clear(self) -> None:
        self._heap.clear()
