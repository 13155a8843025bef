"""Stopping the simulation's asyncio tasks, for sure."""

from __future__ import annotations

import asyncio
from typing import Any

STOP_RETRY_SECONDS = 0.5
"""Between two cancellations of a task that has not ended."""


async def stop_all(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and wait until each has ended. A cancellation can be lost (Python
    3.11's timeouts may turn it into a TimeoutError, which a task counts as a Redis failure
    and carries on), so whatever is still running is cancelled again."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_RETRY_SECONDS)
