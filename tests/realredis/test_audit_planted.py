"""Each pool-level check of the audit, shown to fire on a defect planted in Redis.

Every test runs on fakeredis and on a private redis-server: a busy pool (joins, a party,
a leave, bookings, a sold-out booking, lobbies that expired and were swept) audits clean,
then one defect is planted and the audit names it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis.asyncio

from lobbycore import LobbyStore, NaiveLobbyStore, SoldOut
from lobbycore._keys import PoolKeys, sub_pools
from lobbycore.audit import (
    PoolLayout,
    Violation,
    async_pool_layouts,
    async_snapshot,
    check,
    pool_layouts,
    snapshot,
)
from lobbysim.testing import RedisServer

SEATS = 40
TTL = 60.0
SHORT_TTL = 0.05


@pytest.fixture(params=["fakeredis", "redis-server"])
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Callable[[], Any]]]:
    """A sync client of one server (fakeredis, or the private redis-server), and a maker of
    asyncio clients of it (one per event loop)."""
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        yield fakeredis.FakeRedis(server=server), lambda: fakeredis.FakeAsyncRedis(server=server)
        return
    real: RedisServer = request.getfixturevalue("redis_server")
    client = real.client()
    try:
        yield client, lambda: redis.asyncio.Redis(host="127.0.0.1", port=real.port)
    finally:
        client.close()


@pytest.fixture
def client(servers: tuple[Any, Callable[[], Any]]) -> Any:
    return servers[0]


def busy_pool(client: Any, pool: str, shards: int = 1) -> dict[str, Any]:
    """A pool through every kind of operation; what the tests plant defects next to."""
    store = LobbyStore(client, pool=pool, lobby_ttl=TTL, shards=shards)
    store.set_seats(SEATS)
    lobbies = [store.find_or_create_lobby(f"u{i}", 3) for i in range(14)]
    if shards == 1:
        store.join_party(["p1", "p2"], 4)
    store.leave_lobby("u0")
    store.leave_lobby("u13")  # alone in its lobby: the lobby goes with them
    booked = {x.id for x in lobbies if x.is_full}
    for lobby_id in booked:
        store.book_ticket(lobby_id)
    big = [store.find_or_create_lobby(f"b{i}", 50) for i in range(45)][-1]
    with pytest.raises(SoldOut):
        store.book_ticket(big.id)
    short = LobbyStore(client, pool=pool, lobby_ttl=SHORT_TTL, shards=shards)
    for i in range(4):
        short.find_or_create_lobby(f"e{i}", 7)
    time.sleep(SHORT_TTL * 3)
    assert short.sweep_expired() >= 1
    open_lobby = store.find_or_create_lobby("o1", 5)
    return {"store": store, "open": open_lobby, "big": big}


def audit(client: Any, pool: str, shards: int = 1, initial: int | None = SEATS) -> set[str]:
    """The audit's findings, as "kind: detail" lines."""
    report = check(snapshot(client, pool, shards=shards), initial_seats=initial)
    return {str(f) for f in report.findings}


def fires(client: Any, pool: str, kind: Violation, words: str, shards: int = 1) -> None:
    found = audit(client, pool, shards)
    assert found, "the planted defect went unnoticed"
    assert all(line.startswith(f"{kind}:") for line in found), found
    assert any(words in line for line in found), found


def test_a_busy_pool_audits_clean(client: Any, pool_name: str) -> None:
    busy_pool(client, pool_name)
    snap = snapshot(client, pool_name)
    assert snap.stats and snap.stats["expired"] >= 1 and snap.stats["leaves"] == 2
    assert snap.expiry_index and snap.room_index and snap.exists
    assert check(snap, initial_seats=SEATS).ok, check(snap, initial_seats=SEATS).findings


# -- seat accounting ---------------------------------------------------------------------------


def test_a_lost_inventory_is_found_when_the_initial_count_is_given(
    client: Any, pool_name: str
) -> None:
    busy_pool(client, pool_name)
    client.hdel(
        PoolKeys.for_pool(pool_name).meta, "seats"
    )  # eviction, a restart: reads as unlimited
    assert audit(client, pool_name, initial=None) == set()  # without the count, nothing to say
    fires(client, pool_name, Violation.OVERSELL, "reads as unlimited")


def test_seats_that_do_not_add_up_are_found(client: Any, pool_name: str) -> None:
    busy_pool(client, pool_name)
    client.hincrby(PoolKeys.for_pool(pool_name).meta, "seats", 3)  # seats given back by no one
    fires(client, pool_name, Violation.OVERSELL, f"{SEATS} seats - ")


def test_negative_seats_are_found_without_the_initial_count(client: Any, pool_name: str) -> None:
    busy_pool(client, pool_name)
    client.hset(PoolKeys.for_pool(pool_name).meta, "seats", -2)
    assert any("seats left is -2" in line for line in audit(client, pool_name, initial=None))


def test_a_shard_that_lost_its_inventory_is_found(client: Any, pool_name: str) -> None:
    busy_pool(client, pool_name, shards=3)
    assert audit(client, pool_name, shards=3) == set()
    client.hdel(sub_pools(pool_name, 3)[1].meta, "seats")
    fires(client, pool_name, Violation.OVERSELL, "unlimited in shards [1]", shards=3)


# -- stats counters ----------------------------------------------------------------------------

COUNTER_DEFECTS = [
    ("bookings", 1, "stats bookings="),
    ("booked_users", -1, "stats booked_users="),
    ("lobbies", 1, "stats lobbies="),
    ("full", 1, "stats full="),
    ("joins", 1, "stats joins-leaves-booked_users-expired_users="),
    ("expired_users", 2, "stats joins-leaves-booked_users-expired_users="),
    ("created", -50, "not within 0..leaves"),
]


@pytest.mark.parametrize(("counter", "delta", "words"), COUNTER_DEFECTS)
def test_a_counter_out_of_step_is_found(
    client: Any, pool_name: str, counter: str, delta: int, words: str
) -> None:
    busy_pool(client, pool_name)
    client.hincrby(PoolKeys.for_pool(pool_name).stats, counter, delta)
    fires(client, pool_name, Violation.INDEX_MISMATCH, words)


def test_lost_counters_are_found(client: Any, pool_name: str) -> None:
    busy_pool(client, pool_name)
    client.delete(PoolKeys.for_pool(pool_name).stats)
    fires(client, pool_name, Violation.INDEX_MISMATCH, "stats lobbies=0")


# -- the room and expiry indexes ---------------------------------------------------------------

IndexDefect = Callable[[Any, PoolKeys, dict[str, Any]], None]
INDEX_DEFECTS: dict[str, tuple[IndexDefect, str]] = {
    "room entry missing": (
        lambda c, k, p: c.zrem(k.room(5, 4), p["open"].id),
        "is missing from room:5:4",
    ),
    "room entry in the wrong bucket": (
        lambda c, k, p: c.zadd(k.room(5, 2), {p["open"].id: 1}),
        "room:5:2 lists lobby",
    ),
    "room entry of a missing lobby": (
        lambda c, k, p: c.zadd(k.room(3, 1), {"01GHOST": 1}),
        "room:3:1 lists lobby 01GHOST (absent)",
    ),
    "open entry under another capacity": (
        lambda c, k, p: c.zadd(k.open(6), {p["open"].id: 1}),
        "open:6 lists lobby",
    ),
    "expiry entry missing": (
        lambda c, k, p: c.zrem(k.expiry, p["open"].id),
        "the expiry index lacks it",
    ),
    "expiry entry with another deadline": (
        lambda c, k, p: c.zadd(k.expiry, {p["open"].id: 12345}),
        "the expiry index says 12345",
    ),
    "expiry entry of a missing lobby": (
        lambda c, k, p: c.zadd(k.expiry, {"01GHOST": 12345}),
        "lists lobby 01GHOST, which does not exist",
    ),
}


@pytest.mark.parametrize("defect", INDEX_DEFECTS)
def test_an_index_out_of_step_is_found(client: Any, pool_name: str, defect: str) -> None:
    parts = busy_pool(client, pool_name)
    plant, words = INDEX_DEFECTS[defect]
    plant(client, PoolKeys.for_pool(pool_name), parts)
    fires(client, pool_name, Violation.INDEX_MISMATCH, words)


def test_an_expiry_entry_of_a_lobby_without_deadline_is_found(client: Any, pool_name: str) -> None:
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 3)
    assert audit(client, pool_name, initial=None) == set()
    client.zadd(PoolKeys.for_pool(pool_name).expiry, {lobby.id: 99})
    found = audit(client, pool_name, initial=None)
    assert found == {
        f"index_mismatch: the expiry index lists lobby {lobby.id}, which has no deadline"
    }


# -- a pool that is not there ------------------------------------------------------------------


def test_a_pool_that_is_not_there_says_where_its_name_is(
    servers: tuple[Any, Callable[[], Any]], pool_name: str
) -> None:
    client, async_client = servers
    busy_pool(client, pool_name, shards=3)
    NaiveLobbyStore(client, pool=f"{pool_name}-n").find_or_create_lobby("a", 2)
    # Another pool whose name extends this one's past a '#' is not this pool in shards.
    LobbyStore(client, pool=f"{pool_name}#2", lobby_ttl=None, shards=4).find_or_create_lobby("a", 2)
    assert snapshot(client, pool_name, shards=3).exists
    for shards in (1, 2, 5):
        missing = snapshot(client, pool_name, shards=shards)
        verdict = check(missing)
        # No finding, and no pass either: a pool with no key is a verdict over nothing.
        assert not missing.exists and not verdict.findings and not verdict.ok
        assert verdict.checked_nothing and verdict.summary().startswith("ok=false violations=0")
        assert verdict.summary().endswith(" checked=nothing")
    assert not snapshot(client, pool_name, naive=True).exists
    assert pool_layouts(client, pool_name) == (PoolLayout(shards=3),)

    async def read_async() -> None:
        aclient = async_client()
        try:
            assert await async_pool_layouts(aclient, pool_name) == (PoolLayout(shards=3),)
            assert not (await async_snapshot(aclient, pool_name)).exists
        finally:
            await aclient.aclose()

    asyncio.run(read_async())
    assert pool_layouts(client, f"{pool_name}-n") == (PoolLayout(naive=True),)
    assert pool_layouts(client, f"{pool_name}-typo") == ()
    assert [x.flags for x in pool_layouts(client, f"{pool_name}#2")] == ["--shards 4"]
    # A pool holding only its inventory (set, never joined) exists.
    LobbyStore(client, pool=f"{pool_name}-seats", lobby_ttl=None).set_seats(5)
    assert snapshot(client, f"{pool_name}-seats").exists
    assert pool_layouts(client, f"{pool_name}-seats") == (PoolLayout(),)


# -- on a Redis Cluster: the probes SCAN every primary, INFO is read per node ------------------


def test_on_a_cluster_a_pool_not_found_and_the_memory_policy_of_every_node() -> None:
    from redis.cluster import RedisCluster

    from lobbycore.audit import memory_policies
    from lobbysim.testing import RedisClusterProcesses
    from tests.cli import lobbysim

    processes = RedisClusterProcesses(3)
    try:
        cluster = processes.start()
        client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        busy_pool(client, "spread", shards=6)
        assert audit(client, "spread", shards=6) == set()
        assert pool_layouts(client, "spread") == (PoolLayout(shards=6),)
        assert not snapshot(client, "spread").exists
        policies = memory_policies(client)
        assert len(policies) >= 3 and {p.policy for p in policies} == {"noeviction"}
        url = f"redis://127.0.0.1:{cluster.ports[0]}/0"
        result = lobbysim("audit", "--redis-url", url, "--pool", "spread", "--shards", "3")
        assert result.returncode == 4, result.stdout + result.stderr
        assert (
            result.stdout == "lobbysim audit: pool 'spread' not found (it exists with --shards 6)\n"
        )
        result = lobbysim(
            "audit",
            "--redis-url",
            url,
            "--pool",
            "spread",
            "--shards",
            "6",
            "--initial-seats",
            "40",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines()[-1].endswith("maxmemory_policy=noeviction")
        client.close()
    finally:
        processes.close()


def test_a_lobby_listed_by_another_shard_is_found(client: Any, pool_name: str) -> None:
    parts = busy_pool(client, pool_name, shards=3)
    lobby_id = parts["open"].id
    other = sub_pools(pool_name, 3)[(int(lobby_id.rsplit(".", 1)[1]) + 1) % 3]
    client.zadd(other.room(5, 4), {lobby_id: 1})
    fires(client, pool_name, Violation.INDEX_MISMATCH, "of another shard is in shard", shards=3)


def test_a_lobby_value_that_is_not_a_lobby_is_not_taken_for_no_lobby(
    client: Any, pool_name: str
) -> None:
    parts = busy_pool(client, pool_name)
    client.set(PoolKeys.for_pool(pool_name).lobby(parts["open"].id), "garbage")
    found = audit(client, pool_name)
    assert any(line.startswith("index_mismatch: stats lobbies=") for line in found), found
    assert any(f"lists lobby {parts['open'].id} (absent)" in line for line in found), found
