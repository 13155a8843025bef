"""The strategy -> store mapping, written once."""

from __future__ import annotations

from typing import Any

from ._aio import AsyncLobbyStore
from ._errors import InvalidInput
from ._naive import AsyncNaiveLobbyStore, NaiveLobbyStore
from ._store import LobbyStore
from ._validate import strategy_shards
from .defaults import DEFAULT_LOBBY_TTL, STRATEGIES
from .typing import AsyncStore, SyncStore


def _check(strategy: object, shards: int) -> None:
    if strategy not in STRATEGIES:
        raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    strategy_shards(strategy, shards)


def store_for(
    client: Any,
    strategy: str,
    *,
    pool: str,
    lobby_ttl: float | None = DEFAULT_LOBBY_TTL,
    shards: int = 1,
) -> SyncStore:
    """A sync store of ``strategy`` ("atomic" or "naive") over a redis-py client."""
    _check(strategy, shards)
    if strategy == "naive":
        return NaiveLobbyStore(client, pool=pool, lobby_ttl=lobby_ttl)
    return LobbyStore(client, pool=pool, lobby_ttl=lobby_ttl, shards=shards)


def async_store_for(
    client: Any,
    strategy: str,
    *,
    pool: str,
    lobby_ttl: float | None = DEFAULT_LOBBY_TTL,
    shards: int = 1,
) -> AsyncStore:
    """An asyncio store of ``strategy`` over a ``redis.asyncio`` client."""
    _check(strategy, shards)
    if strategy == "naive":
        return AsyncNaiveLobbyStore(client, pool=pool, lobby_ttl=lobby_ttl)
    return AsyncLobbyStore(client, pool=pool, lobby_ttl=lobby_ttl, shards=shards)
