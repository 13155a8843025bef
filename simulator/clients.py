"""Redis clients for the simulator and the CLI: a URL, or an embedded in-process Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from lobbycore import InvalidInput, connect, redact_url

ASYNC_CONNECTIONS = 64
EMBEDDED = "embedded in-process Redis (fakeredis + Lua)"


class ConnectError(Exception):
    """The URL is malformed or the server cannot be reached (message is one line, redacted)."""


@dataclass(frozen=True)
class RedisClients:
    async_client: Any
    sync_client: Any
    where: str
    """What to show the user: the redacted URL, or that Redis is embedded."""
    embedded: bool


def open_clients(url: str | None) -> RedisClients:
    # A blocking pool makes excess concurrent calls wait for a connection instead of failing.
    if url is None:
        import fakeredis

        server = fakeredis.FakeServer()
        return RedisClients(
            fakeredis.FakeAsyncRedis(
                server=server,
                connection_pool_class=redis.asyncio.BlockingConnectionPool,
                max_connections=ASYNC_CONNECTIONS,
            ),
            fakeredis.FakeRedis(server=server),
            EMBEDDED,
            True,
        )
    try:
        sync_client = connect(url)
        sync_client.ping()
        cluster = not isinstance(sync_client, redis.Redis)
        async_client = connect(
            url,
            asyncio=True,
            cluster=cluster,
            blocking_pool=not cluster,
            max_connections=ASYNC_CONNECTIONS,
        )
    except (InvalidInput, redis.RedisError) as exc:
        detail = " ".join(str(exc).split()).replace(url, redact_url(url))
        raise ConnectError(f"cannot use Redis at {redact_url(url)}: {detail}") from None
    return RedisClients(async_client, sync_client, f"Redis at {redact_url(url)}", False)
