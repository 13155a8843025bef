"""How every command opens Redis: a URL through ``lobbycore.connect``, or an embedded server.

A URL that is malformed, unreachable or refused is a UsageError in one line, in the words
Locust's scenarios use too (``lobbycore._connect.unusable``), no secret in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio

from lobbycore import InvalidInput, connect, redact_url, unusable
from lobbycore.admin import count_pool_keys

from ._common import UsageError, one_line

if TYPE_CHECKING:  # the simulator is imported by the commands that run it, not by --help
    from simulator.clients import RedisClients

ASYNC_CONNECTIONS = 64
EMBEDDED = "embedded in-process Redis (fakeredis + Lua)"


def _unusable(url: str, exc: Exception) -> UsageError:
    return UsageError(unusable(exc, url))


def open_sync(url: str) -> Any:
    """A sync client for ``url`` (a cluster client if the server is a cluster node), pinged."""
    try:
        client = connect(url)
        client.ping()
    except (InvalidInput, redis.RedisError) as exc:
        raise _unusable(url, exc) from None
    return client


def open_embedded() -> RedisClients:
    """Sync and async clients of one new in-process Redis (needs the embedded extra)."""
    import fakeredis

    from simulator.clients import RedisClients

    server = fakeredis.FakeServer()
    return RedisClients(
        # A blocking pool makes excess concurrent calls wait for a connection, not fail.
        async_client=fakeredis.FakeAsyncRedis(
            server=server,
            connection_pool_class=redis.asyncio.BlockingConnectionPool,
            max_connections=ASYNC_CONNECTIONS,
        ),
        sync_client=fakeredis.FakeRedis(server=server),
        where=EMBEDDED,
        embedded=True,
    )


def open_clients(url: str | None) -> RedisClients:
    """Sync and async clients for ``url``, or of an embedded Redis if ``url`` is None."""
    from simulator.clients import RedisClients

    if url is None:
        return open_embedded()
    sync_client = open_sync(url)
    cluster = not isinstance(sync_client, redis.Redis)
    try:
        async_client = connect(
            url,
            asyncio=True,
            cluster=cluster,
            blocking_pool=not cluster,
            max_connections=ASYNC_CONNECTIONS,
        )
    except (InvalidInput, redis.RedisError) as exc:
        raise _unusable(url, exc) from None
    return RedisClients(async_client, sync_client, f"Redis at {redact_url(url)}", False, url)


def claim_pool(client: Any, pool: str, *, reuse: bool, where: str) -> bool:
    """Whether this run owns ``pool`` (it held no key, in either strategy's layout), so may
    delete or reset it. A pool already holding keys is someone else's: refused unless
    ``reuse`` (``--reuse-pool``), and then never deleted."""
    try:
        held = sum(count_pool_keys(client, pool, naive=naive) for naive in (False, True))
    except redis.RedisError as exc:
        raise UsageError(f"cannot read pool {pool!r} on {where}: {one_line(exc)}") from None
    if held and not reuse:
        raise UsageError(
            f"pool {pool!r} already holds {held} keys on {where}; choose another --pool, "
            "or pass --reuse-pool to run in it (its keys are then never deleted)"
        )
    return held == 0
