"""The audit's checks, each shown to fire on a pool that breaks it."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest

from lobbycore import Booking, Lobby, LobbyStore, NaiveLobbyStore
from lobbycore._keys import PoolKeys, join_users, lobby_value
from lobbycore.admin import async_delete_pool, delete_pool
from lobbycore.audit import (
    POOL_CHECKS,
    History,
    PoolSnapshot,
    Violation,
    async_read_lobbies,
    async_snapshot,
    check,
    read_lobbies,
    snapshot,
)
from lobbycore.audit import _readers as readers
from lobbycore.defaults import READ_REPLY_BYTES

A, B = "01ARZ3NDEKTSV4RRFFQ69G5FA0", "01ARZ3NDEKTSV4RRFFQ69G5FB0"


def lobby(lobby_id: str, *users: str, max_users: int = 3) -> Lobby:
    return Lobby(id=lobby_id, session_id="s", users=users, max_users=max_users, created_at=1)


def booking(lobby_id: str, *users: str, request_id: str = "r") -> Booking:
    return Booking(
        lobby_id=lobby_id, session_id="s", users=users, booked_at=2, request_id=request_id
    )


def snap(
    *lobbies: Lobby,
    index: dict[str, str] | None = None,
    bookings: tuple[Booking, ...] = (),
    seats: int | None = None,
    open_index: dict[int, set[str]] | None = None,
) -> PoolSnapshot:
    return PoolSnapshot({x.id: x for x in lobbies}, index, open_index, list(bookings), seats)


def kinds(report) -> set[str]:  # type: ignore[no-untyped-def]
    return set(report.counts())


def test_clean() -> None:
    history = History()
    history.joined(["a", "b"], lobby(A, "a", "b"))
    report = check(snap(lobby(A, "a", "b"), index={"a": A, "b": A}, open_index={3: {A}}), history)
    assert report.ok and report.summary().startswith("ok=true violations=0")
    assert all(f"{kind}=0" in report.summary() for kind in POOL_CHECKS)


def test_over_capacity() -> None:
    assert kinds(check(snap(lobby(A, "a", "b", "c", "d")))) == {Violation.OVER_CAPACITY}


def test_user_in_two_lobbies() -> None:
    assert Violation.USER_IN_TWO_LOBBIES in kinds(check(snap(lobby(A, "a"), lobby(B, "a"))))
    history = History()
    history.joined(["a"], lobby(A, "a"))
    assert kinds(check(snap(lobby(B, "a")), history)) >= {
        Violation.USER_IN_TWO_LOBBIES,
        Violation.LOST_JOIN,
    }


def test_lost_join() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    assert kinds(check(snap(lobby(A, "b")), history)) == {Violation.LOST_JOIN}
    history.booked(booking(A, "b"))
    assert Violation.LOST_JOIN in kinds(check(snap(), history))


def test_expired_lobby_is_not_a_lost_join() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    assert check(snap(), history, expired_lobbies=[A]).ok


def test_lost_leave() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    history.left("a")
    assert kinds(check(snap(lobby(A, "a")), history)) == {Violation.LOST_LEAVE}


def test_double_booking() -> None:
    assert kinds(check(snap(bookings=(booking(A, "a"), booking(A, "a"))))) == {
        Violation.DOUBLE_BOOKING
    }
    history = History()
    history.joined(["a"], lobby(A, "a"))
    history.booked(booking(A, "a", request_id="r1"))
    history.booked(booking(A, "a", request_id="r2"))
    assert Violation.DOUBLE_BOOKING in kinds(check(snap(bookings=(booking(A, "a"),)), history))


def test_lost_booking() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    history.booked(booking(A, "a"))
    assert kinds(check(snap(), history)) == {Violation.LOST_BOOKING}


def test_index_mismatch() -> None:
    assert kinds(check(snap(lobby(A, "a"), index={"a": B}, open_index={3: {A}}))) == {
        Violation.INDEX_MISMATCH
    }
    assert kinds(check(snap(index={"ghost": A}, open_index={}))) == {Violation.INDEX_MISMATCH}
    assert kinds(check(snap(lobby(A, "a"), index={"a": A}, open_index={}))) == {
        Violation.INDEX_MISMATCH
    }


def test_oversell() -> None:
    assert kinds(check(snap(seats=-1))) == {Violation.OVERSELL}
    sold = (booking(A, "a", "b"),)
    assert kinds(check(snap(bookings=sold, seats=1), initial_seats=2)) == {Violation.OVERSELL}
    assert check(snap(bookings=sold, seats=0), initial_seats=2).ok


def test_snapshot_reads_a_store_pool_with_awkward_names() -> None:
    client = fakeredis.FakeRedis()
    pool = "shop*[1]?"
    store = LobbyStore(client, pool=pool, lobby_ttl=None)
    other = LobbyStore(client, pool="shop", lobby_ttl=None)
    joined = store.join_party(["x", "y"], 3)
    other.find_or_create_lobby("z", 3)
    result = snapshot(client, pool)
    assert list(result.lobbies.values()) == [joined]
    assert result.user_index == {"x": joined.id, "y": joined.id}
    assert result.open_index == {3: {joined.id}}


# -- the readers: one set of plans, run by the sync and the async driver ---------------------


def fill(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> None:
    """A pool with open, full and booked lobbies, a leave, parties and a seat count."""
    store: Any = (
        NaiveLobbyStore(client, pool=pool)
        if naive
        else LobbyStore(client, pool=pool, lobby_ttl=None, shards=shards)
    )
    store.set_seats(100)
    lobbies = [store.find_or_create_lobby(f"u{i}", 3) for i in range(20)]
    if not naive and shards == 1:
        store.join_party(["p1", "p2"], 4)
    for capacity in (5, 6, 7):
        store.find_or_create_lobby(f"alone-{capacity}", capacity)
    store.leave_lobby("u0")
    for lobby in {x.id: x for x in lobbies if x.is_full}.values():
        store.book_ticket(lobby.id)


FLAVOURS = [(2, False), (3, True)]


@pytest.mark.parametrize(("protocol", "decode"), FLAVOURS)
@pytest.mark.parametrize(
    ("naive", "shards"), [(False, 1), (True, 1), (False, 3)], ids=["lobbycore", "naive", "sharded"]
)
# A bound of 100 bytes: one lobby per GET, two set members per ZRANGE, one stream entry per
# XRANGE page; every read is split, and the pieces must add up to the same pool.
@pytest.mark.parametrize("bound", [READ_REPLY_BYTES, 100], ids=["bound-default", "bound-100"])
def test_sync_and_async_readers_agree(
    monkeypatch: pytest.MonkeyPatch,
    protocol: int,
    decode: bool,
    naive: bool,
    shards: int,
    bound: int,
) -> None:
    monkeypatch.setattr(readers, "READ_REPLY_BYTES", bound)  # small pages exercise the paging
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server, protocol=protocol, decode_responses=decode)
    aclient = fakeredis.FakeAsyncRedis(server=server, protocol=protocol, decode_responses=decode)
    fill(client, "agree", naive=naive, shards=shards)
    fill(client, "other", naive=naive, shards=shards)  # another pool: never read

    async def read_async() -> tuple[PoolSnapshot, dict[str, Lobby]]:
        snap = await async_snapshot(aclient, "agree", naive=naive, shards=shards)
        return snap, await async_read_lobbies(aclient, "agree", naive=naive, shards=shards)

    sync = snapshot(client, "agree", naive=naive, shards=shards)
    async_snap, async_lobbies = asyncio.run(read_async())
    assert sync == async_snap
    assert read_lobbies(client, "agree", naive=naive, shards=shards) == async_lobbies
    assert async_lobbies == sync.lobbies
    assert sync.lobbies and len(sync.bookings) >= 5
    assert sum(len(b.users) for b in sync.bookings) + sync.seats_left == 100  # type: ignore[operator]
    assert (sync.user_index is None) == naive
    if not naive:
        assert check(sync, initial_seats=100).ok


def test_each_pool_check_fires_on_a_defect_planted_in_redis() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    store = LobbyStore(client, pool="planted", lobby_ttl=None)
    store.set_seats(10)
    full = store.join_party(["a", "b"], 2)
    store.book_ticket(full.id)
    keys = PoolKeys.for_pool("planted")
    crowded = lobby(A, "x", "y", "z", max_users=2)
    client.set(keys.lobby(A), lobby_value(crowded))  # over capacity, and in no index
    client.set(keys.lobby(B), lobby_value(lobby(B, "x", max_users=3)))  # x in two lobbies
    client.xadd(keys.bookings, {"lobby": full.id, "users": join_users(["a", "b"])})
    client.hset(keys.meta, "seats", -1)
    for read in (
        snapshot(client, "planted"),
        asyncio.run(async_snapshot(fakeredis.FakeAsyncRedis(server=server), "planted")),
    ):
        assert set(check(read, initial_seats=10).counts()) == {
            Violation.OVER_CAPACITY,
            Violation.USER_IN_TWO_LOBBIES,
            Violation.DOUBLE_BOOKING,
            Violation.INDEX_MISMATCH,
            Violation.OVERSELL,
        }


@pytest.mark.parametrize(("naive", "shards"), [(False, 1), (True, 1), (False, 3)])
def test_delete_pool_deletes_that_pool_only(naive: bool, shards: int) -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    for pool in ("gone", "gone*", "kept"):
        fill(client, pool, naive=naive, shards=shards)
    fill(client, "gone", naive=not naive)  # the same name in the other layout stays
    before = set(client.keys("*"))
    assert delete_pool(client, "gone", naive=naive, shards=shards) > 0
    assert snapshot(client, "gone", naive=naive, shards=shards).lobbies == {}
    left = set(client.keys("*"))
    assert left < before and snapshot(client, "kept", naive=naive, shards=shards).lobbies
    assert snapshot(client, "gone*", naive=naive, shards=shards).lobbies
    assert snapshot(client, "gone", naive=not naive).lobbies
    aclient = fakeredis.FakeAsyncRedis(server=server)
    assert asyncio.run(async_delete_pool(aclient, "kept", naive=naive, shards=shards)) > 0
    assert snapshot(client, "kept", naive=naive, shards=shards).lobbies == {}
    assert asyncio.run(async_delete_pool(aclient, "kept", naive=naive, shards=shards)) == 0


# -- pool layouts, the memory policy ----------------------------------------------------------


def test_shard_count_of_reads_only_keys_of_that_pool_in_shards() -> None:
    from lobbycore._keys import pool_prefix, shard_count_of

    assert shard_count_of("p", pool_prefix("p", 2, 3) + "stats") == 3
    assert shard_count_of("p", pool_prefix("p#1", 0, 2) + "stats") is None  # pool "p#1"
    assert shard_count_of("p", pool_prefix("p") + "stats") is None  # unsharded
    assert shard_count_of("p", "lobbysim:s3:{p#3}:stats") is None  # no shard 3 of 3
    assert shard_count_of("p", "lobbysim:sx:{p#0}:stats") is None
    assert shard_count_of("p*", pool_prefix("p*", 0, 2) + "l:x") == 2


def test_the_memory_policy_of_each_node_and_its_warning() -> None:
    from lobbycore.audit import MemoryPolicy, memory_policies

    class Cluster:
        def info(self, section: str) -> dict[str, dict[str, object]]:
            return {
                "n1": {"maxmemory_policy": "noeviction", "maxmemory": 0},
                "n2": {"maxmemory_policy": "volatile-lru", "maxmemory": 100},
            }

    policies = memory_policies(Cluster())
    assert policies == (MemoryPolicy("noeviction", 0), MemoryPolicy("volatile-lru", 100))
    assert policies[0].warning() is None
    assert "with maxmemory=100 it can evict" in (policies[1].warning() or "")
    assert memory_policies(fakeredis.FakeRedis()) == ()  # no INFO: the policy is unknown


def test_a_snapshot_refuses_a_name_no_pool_can_have() -> None:
    from lobbycore import InvalidInput

    with pytest.raises(InvalidInput):
        snapshot(fakeredis.FakeRedis(), "p{x}")
    with pytest.raises(InvalidInput):
        snapshot(fakeredis.FakeRedis(), "p", shards=0)


@pytest.mark.parametrize("bad", ["\0x|y", "\0s|four|1|0|0\0a", "\0"])
def test_a_cut_short_lobby_value_is_reported_not_a_crash(bad: str) -> None:
    """A value that starts like a lobby but is not one (cut short, another writer's) must not
    stop the audit: it reads as no lobby, and the indexes and counters that count it say so."""
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="cut", lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 2)
    keys = PoolKeys.for_pool("cut")
    client.set(keys.lobby(lobby.id), bad)
    client.hset(keys.stats, "joins", "many")  # a counter that is not a number, too
    report = check(snapshot(client, "cut"))
    assert not report.ok
    assert report.counts()[Violation.INDEX_MISMATCH] > 0
