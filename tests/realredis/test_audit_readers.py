"""The audit's sync and async readers read the same pool the same way on a real server,
after a concurrent run, for both layouts and a sharded pool; the admin tools clean up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis.asyncio

from lobbycore import AsyncLobbyStore, AsyncNaiveLobbyStore, Lobby, LobbyNotFound, SoldOut
from lobbycore.admin import async_delete_pool, delete_pool
from lobbycore.audit import (
    PoolSnapshot,
    async_read_lobbies,
    async_snapshot,
    check,
    read_lobbies,
    snapshot,
)
from lobbysim.testing import RedisServer

T = TypeVar("T")
BUYERS = 400


async def load(store: Any) -> None:
    """Buyers join at once in lobbies of 3; every other full lobby is booked."""
    await store.set_seats(10_000)
    lobbies = await asyncio.gather(
        *(store.find_or_create_lobby(f"buyer-{i}", 3) for i in range(BUYERS))
    )
    full = sorted({lobby.id for lobby in lobbies if lobby.is_full})
    for lobby_id in full[::2]:
        with contextlib.suppress(LobbyNotFound, SoldOut):  # the naive store races itself
            await store.book_ticket(lobby_id)
    # Under that race the naive store may answer no full lobby at all: one buyer at a time
    # fills one for sure (each sequential join adds a user somewhere), so every pool read
    # below holds a booking.
    for i in range(BUYERS * 3):
        lobby = await store.find_or_create_lobby(f"late-{i}", 3)
        if lobby.is_full:
            await store.book_ticket(lobby.id)
            break


async def with_async_client(server: RedisServer, work: Callable[[Any], Awaitable[T]]) -> T:
    # A blocking pool: the naive store sends every join's reads at once.
    pool = redis.asyncio.BlockingConnectionPool(port=server.port, max_connections=64)
    aclient = redis.asyncio.Redis(connection_pool=pool)
    try:
        return await work(aclient)
    finally:
        await aclient.aclose()
        await pool.disconnect()


@pytest.mark.parametrize(
    ("naive", "shards"), [(False, 1), (True, 1), (False, 4)], ids=["lobbycore", "naive", "sharded"]
)
def test_sync_and_async_snapshots_are_identical(
    redis_server: RedisServer, pool_name: str, naive: bool, shards: int
) -> None:
    def store_on(aclient: Any) -> Any:
        if naive:
            return AsyncNaiveLobbyStore(aclient, pool=pool_name)
        return AsyncLobbyStore(aclient, pool=pool_name, lobby_ttl=None, shards=shards)

    async def read_and_delete(aclient: Any) -> tuple[PoolSnapshot, dict[str, Lobby], int]:
        snap = await async_snapshot(aclient, pool_name, naive=naive, shards=shards)
        lobbies = await async_read_lobbies(aclient, pool_name, naive=naive, shards=shards)
        return (
            snap,
            lobbies,
            await async_delete_pool(aclient, pool_name, naive=naive, shards=shards),
        )

    asyncio.run(with_async_client(redis_server, lambda aclient: load(store_on(aclient))))
    client = redis_server.client()
    sync = snapshot(client, pool_name, naive=naive, shards=shards)
    sync_lobbies = read_lobbies(client, pool_name, naive=naive, shards=shards)
    assert sync.lobbies and sync.bookings and sync_lobbies == sync.lobbies
    # Nothing writes to the pool between the sync and the async reads.
    async_snap, async_lobbies, deleted = asyncio.run(
        with_async_client(redis_server, read_and_delete)
    )
    assert async_snap == sync and async_lobbies == sync_lobbies
    if not naive:
        assert check(sync).ok, check(sync).findings[:5]
    assert deleted > 0 and delete_pool(client, pool_name, naive=naive, shards=shards) == 0
    assert snapshot(client, pool_name, naive=naive, shards=shards).lobbies == {}
