"""The commands' Redis clients: the run layer's (:mod:`lobbysim.run.redis`), in the shape
the simulator takes them. A URL that cannot be used is one line (``RedisUnusable``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lobbysim.run import redis as run_redis

if TYPE_CHECKING:  # the simulator is imported by the commands that run it, not by --help
    from simulator.clients import RedisClients


def open_clients(url: str | None) -> RedisClients:
    """Sync and async clients for ``url``, or of an embedded Redis if ``url`` is None."""
    from simulator.clients import RedisClients

    clients = run_redis.open_clients(url, async_=True)
    return RedisClients(clients.async_, clients.sync, clients.where, clients.embedded, clients.url)


def open_embedded() -> RedisClients:
    """Sync and async clients of one new in-process Redis (needs the embedded extra)."""
    return open_clients(None)
