"""A step load: add it to a run with ``-f locustfiles/lobby.py,locustfiles/step_load.py``.

Kept out of lobby.py because Locust applies any shape class found in a locustfile, which
would override ``-u``/``-r``/``-t`` for every run.
"""

from __future__ import annotations

from locust import LoadTestShape

STEPS = 6
DEFAULT_USERS = 300
DEFAULT_SECONDS = 60.0


class StepLoad(LoadTestShape):
    """Six equal steps up to ``-u`` users (default 300), spread over ``-t`` (default 60 s),
    then stop: with ``-u 500 -t 30s``, 83 more users every 5 s."""

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        users = (options.num_users if options else None) or DEFAULT_USERS
        seconds = (options.run_time if options else None) or DEFAULT_SECONDS
        step_seconds = seconds / STEPS
        step = int(self.get_run_time() // step_seconds) + 1
        if step > STEPS:
            return None
        target = round(users * step / STEPS)
        return target, float(max(1, round(users / STEPS / min(1.0, step_seconds))))
