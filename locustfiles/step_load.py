"""A step load: add it to a run with ``-f locustfiles/lobby.py,locustfiles/step_load.py``.

Kept out of lobby.py because Locust applies any shape class found in a locustfile, which
would override ``-u``/``-r``/``-t`` for every run.
"""

from __future__ import annotations

from locust import LoadTestShape

STEP_USERS = 50
STEP_SECONDS = 10
STEPS = 6


class StepLoad(LoadTestShape):
    """50 more users every 10 s for 6 steps (300 users), then stop."""

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        step = int(run_time // STEP_SECONDS) + 1
        if step > STEPS:
            return None
        return step * STEP_USERS, float(STEP_USERS)
