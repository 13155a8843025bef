"""A process's Redis client and lobby store for the run, and why they cannot be opened.

Every failure to open them (a bad URL, an unreachable server, a bad pool name) is a
``SetupError`` with a one-line reason, which never shows the URL's password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.cluster

from lobbycore import InvalidInput, LobbyError, check_naive_supported, store_for, unusable
from lobbycore.typing import SyncStore
from lobbysim.run.redis import open_clients

from .options import LobbySettings
from .pipeline import PipelinedLobbyStore

log = logging.getLogger("lobbysim")


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
    """Connect (the run layer's client: probed once, so the server answers, and its pool
    sized by the run layer's one rule) and build the store; SetupError otherwise."""
    with setup_errors(settings.redis_url):
        client = open_clients(settings.redis_url).sync
        if settings.strategy == "naive":
            check_naive_supported(client)  # before any user spawns: one line, not 100 % errors
        return client, _make_store(client, settings)


def _make_store(client: redis.Redis, settings: LobbySettings) -> SyncStore:
    """The pipelined store (on a cluster, batching each primary's calls), unless the
    per-call client was asked for or is needed: the naive store sends several plain
    commands per operation, and on a cluster lobbycore sends a call and its WAIT
    (--wait-replicas) to the call's node only with its per-call transport."""
    cluster = isinstance(client, redis.cluster.RedisCluster)
    per_call = (
        settings.strategy == "naive"
        or settings.client == "per-call"
        or (cluster and settings.wait_replicas > 0)
    )
    if isinstance(client, redis.cluster.RedisCluster):
        # The start-up line names the client asked for: say which one runs.
        log.info(
            "lobbysim: Redis Cluster of %d primaries: %s",
            len(client.get_primaries()),
            "per-call client" if per_call else "pipelined client, batched per primary",
        )
    if per_call:
        return store_for(
            client,
            settings.strategy,
            pool=settings.pool,
            lobby_ttl=settings.lobby_ttl,
            shards=settings.shards,
            wait_replicas=settings.wait_replicas,
            wait_timeout=settings.wait_timeout,
        )
    return PipelinedLobbyStore(
        client,
        pool=settings.pool,
        lobby_ttl=settings.lobby_ttl,
        shards=settings.shards,
        connections=settings.connections,
        wait_replicas=settings.wait_replicas,
        wait_timeout=settings.wait_timeout,
    )
