"""The strategy -> store mapping, written once."""

from __future__ import annotations

from typing import Any

from ._aio import AsyncLobbyStore
from ._errors import InvalidInput
from ._naive import AsyncNaiveLobbyStore, NaiveLobbyStore
from ._store import LobbyStore
from ._validate import strategy_shards, strategy_wait
from .defaults import DEFAULT_LOBBY_TTL, DEFAULT_WAIT_REPLICAS, DEFAULT_WAIT_TIMEOUT, STRATEGIES
from .typing import AsyncStore, SyncStore


def _check(strategy: object, shards: int, wait_replicas: int) -> None:
    if strategy not in STRATEGIES:
        raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    strategy_shards(strategy, shards)
    strategy_wait(strategy, wait_replicas)


def store_for(
    client: Any,
    strategy: str,
    *,
    pool: str,
    lobby_ttl: float | None = DEFAULT_LOBBY_TTL,
    shards: int = 1,
    wait_replicas: int = DEFAULT_WAIT_REPLICAS,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> SyncStore:
    """A sync store of ``strategy`` ("atomic" or "naive") over a redis-py client."""
    _check(strategy, shards, wait_replicas)
    if strategy == "naive":
        return NaiveLobbyStore(client, pool=pool, lobby_ttl=lobby_ttl)
    return LobbyStore(
        client,
        pool=pool,
        lobby_ttl=lobby_ttl,
        shards=shards,
        wait_replicas=wait_replicas,
        wait_timeout=wait_timeout,
    )


def async_store_for(
    client: Any,
    strategy: str,
    *,
    pool: str,
    lobby_ttl: float | None = DEFAULT_LOBBY_TTL,
    shards: int = 1,
    wait_replicas: int = DEFAULT_WAIT_REPLICAS,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> AsyncStore:
    """An asyncio store of ``strategy`` over a ``redis.asyncio`` client."""
    _check(strategy, shards, wait_replicas)
    if strategy == "naive":
        return AsyncNaiveLobbyStore(client, pool=pool, lobby_ttl=lobby_ttl)
    return AsyncLobbyStore(
        client,
        pool=pool,
        lobby_ttl=lobby_ttl,
        shards=shards,
        wait_replicas=wait_replicas,
        wait_timeout=wait_timeout,
    )
