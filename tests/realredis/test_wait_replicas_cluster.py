"""Durability (``wait_replicas``) on a real Redis Cluster: 3 primaries, each with a replica,
and a pool split in 3 shards, one on each primary. Each writing call's WAIT goes to the
primary that ran it (each primary counts its own); with one replica frozen (SIGSTOP: it
acknowledges nothing) a write to that primary's shard raises NotConfirmed, never succeeds,
while writes to the other shards are confirmed; a stale slot map (a MOVED reply) is
refreshed and the round sent again to the owner."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from lobbycore import AsyncLobbyStore, Lobby, LobbyStore, NotConfirmed, pool_prefix
from lobbysim.testing import RedisClusterProcesses, RedisServer

from .test_wait_replicas import paused

SHARDS = 3
TIMEOUT = 1.0  # seconds: a confirmed write on a loaded CI machine took more than 0.2


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    processes = RedisClusterProcesses(3, replicas=1)
    try:
        yield processes.start()
    finally:
        processes.close()


def spread_pool(client: RedisCluster, name: str) -> tuple[str, list[int]]:
    """A pool named after ``name`` whose 3 shards live on 3 different primaries; their
    primaries' ports, by shard."""
    for i in range(200):
        pool = f"{name}-{i}"
        owners = [
            client.get_node_from_key(pool_prefix(pool, shard, SHARDS) + "stats").port
            for shard in range(SHARDS)
        ]
        if len(set(owners)) == SHARDS:
            return pool, owners
    raise AssertionError("no pool name spreads its shards over every primary")


def users_by_shard(store: LobbyStore | AsyncLobbyStore, per_shard: int) -> list[list[str]]:
    """``per_shard`` user ids living in each shard of ``store``'s pool."""
    users: list[list[str]] = [[] for _ in range(SHARDS)]
    i = 0
    while min(map(len, users)) < per_shard:
        shard = users[store.shard_of(f"u{i}")]
        if len(shard) < per_shard:
            shard.append(f"u{i}")
        i += 1
    return users


def waits(cluster: RedisClusterProcesses) -> dict[int, int]:
    """How many WAITs each node has run (INFO commandstats), by port."""
    counts = {}
    for node in cluster.nodes:
        with node.client(socket_timeout=10) as client:
            stats = client.info("commandstats")
        counts[node.port] = int(stats.get("cmdstat_wait", {}).get("calls", 0))
    return counts


def replica_of(cluster: RedisClusterProcesses, port: int) -> RedisServer:
    return cluster.replica_of(next(node for node in cluster.nodes if node.port == port))


def test_each_write_waits_on_its_own_primary_and_a_frozen_replica_fails_only_its_shard(
    cluster: RedisClusterProcesses,
) -> None:
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10)
    pool, owners = spread_pool(client, "wc")
    store = LobbyStore(
        client, pool=pool, lobby_ttl=None, shards=SHARDS, wait_replicas=1, wait_timeout=TIMEOUT
    )
    users = users_by_shard(store, 7)
    store.set_seats(100)

    def fill(shard: int, ids: list[str], written: Counter[int]) -> None:
        for user in ids:
            lobby = store.find_or_create_lobby(user, 2)
            written[owners[shard]] += 1
            if lobby.is_full:
                assert store.book_ticket(lobby.id, f"r-{user}").users == lobby.users
                written[owners[shard]] += 1

    # Each primary's first call of a script finds it unloaded and sends it again as EVAL
    # (a second round, a second WAIT): so one lobby per shard first, not counted.
    for shard, ids in enumerate(users):
        fill(shard, ids[:2], Counter())
    before = waits(cluster)
    written: Counter[int] = Counter()
    for shard, ids in enumerate(users):
        fill(shard, ids[2:6], written)
    assert store.stats().bookings == 3 * SHARDS
    after = waits(cluster)
    # One WAIT per writing call, on the primary of the call's shard; none anywhere else.
    assert {port: after[port] - before[port] for port in after} == {
        port: written[port] for port in after
    }
    assert [written[port] for port in owners] == [6, 6, 6]

    # Shard 0's primary gets no acknowledgement from its replica: its writes are refused as
    # successes; the other shards' are confirmed.
    with paused(replica_of(cluster, owners[0])):
        with pytest.raises(NotConfirmed) as raised:
            store.find_or_create_lobby(users[0][6], 2)
        assert (raised.value.acknowledged_by, raised.value.wanted) == (0, 1)
        assert isinstance(raised.value.result, Lobby)
        assert raised.value.result.users[-1] == users[0][6]
        for shard in (1, 2):
            assert store.find_or_create_lobby(users[shard][6], 2).users[-1] == users[shard][6]
    # Back: the same call again (safe to replay) is confirmed, with the same answer.
    assert store.find_or_create_lobby(users[0][6], 2) == raised.value.result
    client.close()


def test_a_stale_slot_map_is_refreshed_and_the_write_waits_on_the_owner(
    cluster: RedisClusterProcesses,
) -> None:
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10)
    pool, owners = spread_pool(client, "wm")
    store = LobbyStore(
        client, pool=pool, lobby_ttl=None, shards=SHARDS, wait_replicas=1, wait_timeout=TIMEOUT
    )
    users = users_by_shard(store, 2)
    store.find_or_create_lobby(users[0][0], 2)
    # The client believes shard 0's slot lives on shard 1's primary (as after a failover
    # or a resharding it has not seen): that node answers MOVED.
    slot = client.keyslot(pool_prefix(pool, 0, SHARDS) + "stats")
    wrong = client.get_node(host="127.0.0.1", port=owners[1])
    client.nodes_manager.slots_cache[slot] = [wrong]
    before = waits(cluster)
    lobby = store.find_or_create_lobby(users[0][1], 2)
    assert lobby.users == (users[0][0], users[0][1])
    after = waits(cluster)
    assert after[owners[0]] - before[owners[0]] == 1  # the write's WAIT, on its primary
    assert client.get_node_from_key(pool_prefix(pool, 0, SHARDS) + "stats").port == owners[0]
    client.close()


def test_async_store_waits_on_each_primary_and_a_frozen_replica_fails_only_its_shard(
    cluster: RedisClusterProcesses,
) -> None:
    sync_client = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10)
    pool, owners = spread_pool(sync_client, "wa")
    sync_client.close()

    async def run() -> tuple[list[object], list[object]]:
        client = AsyncRedisCluster(host="127.0.0.1", port=cluster.ports[1], socket_timeout=10)
        store = AsyncLobbyStore(
            client, pool=pool, lobby_ttl=None, shards=SHARDS, wait_replicas=1,
            wait_timeout=TIMEOUT,
        )  # fmt: skip
        users = users_by_shard(store, 9)
        for ids in users:  # each primary loads the join script (see the sync test)
            await store.find_or_create_lobby(ids[8], 4)
        before.update(waits(cluster))
        healthy = await asyncio.gather(
            *(store.find_or_create_lobby(u, 4) for ids in users for u in ids[:4]),
            return_exceptions=True,
        )
        with paused(replica_of(cluster, owners[0])):
            frozen = await asyncio.gather(
                *(store.find_or_create_lobby(u, 4) for ids in users for u in ids[4:8]),
                return_exceptions=True,
            )
        await client.aclose()
        return healthy, frozen

    before: dict[int, int] = {}
    healthy, frozen = asyncio.run(run())
    after = waits(cluster)
    assert all(isinstance(o, Lobby) for o in healthy), healthy
    # Shard 0's four writes are not confirmed (each with its result); the others are.
    assert [type(o).__name__ for o in frozen] == ["NotConfirmed"] * 4 + ["Lobby"] * 8, frozen
    # Every writing call waited once, on its shard's primary.
    assert [after[port] - before[port] for port in owners] == [8, 8, 8]
    assert sum(after.values()) - sum(before.values()) == 24
