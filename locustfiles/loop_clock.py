"""Locust's ``-t`` timer starts on gevent's loop clock, which moves only when the loop runs.

Importing the scenarios and the ``init`` listeners block the loop for seconds on a busy
machine; a ``-t 3s`` timer set right after would count from before them and end the run
almost at once. Bringing the loop's clock to now at ``init`` makes ``-t`` count from there.
"""

from __future__ import annotations

from typing import Any

import gevent


def catch_up(**_kwargs: Any) -> None:
    """An ``events.init`` listener: the loop's clock set to now."""
    gevent.get_hub().loop.update_now()
