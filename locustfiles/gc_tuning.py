"""The garbage collector during a run: full collections kept out of the measured path,
and counted (with the longest one's time) for the generator's log line."""

from __future__ import annotations

import gc
import time
from typing import Any

GC_YOUNG_THRESHOLD = 50_000


def freeze_gc() -> None:
    """Keep full collections out of the measured path.

    Everything alive after start-up (Locust, gevent, redis-py, the users) is moved to the
    permanent generation, so a full collection only walks what the run allocated since;
    and a larger first threshold makes the young collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    gc_watch.reset()
    if gc_watch not in gc.callbacks:
        gc.callbacks.append(gc_watch)


class GcWatch:
    """Counts the full collections of a run and times the longest (for the run's log)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.full = 0
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.full += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


gc_watch = GcWatch()


def on_spawning_complete(**_kwargs: Any) -> None:
    gc.freeze()  # the users, now that they all exist
