"""A process's Redis client and lobby store for the run, and why they cannot be opened.

Every failure to open them (a bad URL, an unreachable server, a bad pool name) is a
``SetupError`` with a one-line reason, which never shows the URL's password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.cluster

from lobbycore import (
    InvalidInput,
    LobbyError,
    check_naive_supported,
    connect,
    store_for,
    unusable,
)
from lobbycore.typing import SyncStore

from .options import LobbySettings
from .pipeline import PipelinedLobbyStore

# Users of the per-call client (and of the naive store) wait for a free connection, up to
# redis-py's 20 s, instead of failing as redis-py's default pool does once it holds 100.
# The cap keeps a process from opening one connection per user.
PER_CALL_CONNECTIONS = 256


class SetupError(Exception):
    """The options cannot be used (bad Redis URL, unreachable server, pool name taken)."""


@contextmanager
def setup_errors(redis_url: str) -> Iterator[None]:
    """Turn any failure of the block into a SetupError with a one-line, redacted reason."""
    try:
        yield
    except SetupError:
        raise
    except InvalidInput as exc:
        raise SetupError(str(exc)) from None  # already names the (redacted) URL
    except redis.RedisError as exc:  # the lobbysim commands' words (a refused password, ...)
        raise SetupError(unusable(exc, redis_url)) from None
    except LobbyError as exc:  # the naive strategy on a server without KEYS, say
        raise SetupError(str(exc)) from None
    except Exception as exc:  # lobbycore's validation of the pool name, say
        raise SetupError(" ".join(str(exc).split())) from None


def open_store(settings: LobbySettings) -> tuple[redis.Redis, SyncStore]:
    """Connect (checking the server answers) and build the store; SetupError otherwise."""
    with setup_errors(settings.redis_url):
        client = connect(
            settings.redis_url, blocking_pool=True, max_connections=PER_CALL_CONNECTIONS
        )
        client.ping()
        if settings.strategy == "naive":
            check_naive_supported(client)  # before any user spawns: one line, not 100 % errors
        return client, _make_store(client, settings)


def _make_store(client: redis.Redis, settings: LobbySettings) -> SyncStore:
    """The pipelined store, unless the per-call client was asked for or is needed: the
    naive store sends several plain commands per operation, and a cluster client routes
    each call to its own node."""
    if (
        settings.strategy == "naive"
        or settings.client == "per-call"
        or isinstance(client, redis.cluster.RedisCluster)
    ):
        return store_for(
            client,
            settings.strategy,
            pool=settings.pool,
            lobby_ttl=settings.lobby_ttl,
            shards=settings.shards,
        )
    return PipelinedLobbyStore(
        client,
        pool=settings.pool,
        lobby_ttl=settings.lobby_ttl,
        shards=settings.shards,
        connections=settings.connections,
    )
