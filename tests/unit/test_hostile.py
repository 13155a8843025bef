"""A hostile pool on fakeredis (with Lua): keys of the wrong type, stale indexes, lost state,
old servers, and the inputs Redis itself would refuse."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
import redis

import lobbycore
from lobbycore import (
    AsyncLobbyStore,
    InvalidInput,
    LobbyError,
    LobbyStore,
    PoolNotFound,
    pool_prefix,
)
from lobbycore.audit import check, snapshot
from tests.damage import SCENARIOS, assert_fails_closed, dump, plant_each_key


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_wrong_type_key_anywhere_fails_closed(name: str) -> None:
    scenario, ttl = SCENARIOS[name]
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool=f"p-{name}", lobby_ttl=ttl)
    operation = scenario(store)
    outcomes, before = plant_each_key(client, store, operation)
    assert_fails_closed(outcomes)
    assert any(o.written for o in outcomes)
    # With the planted key gone, the same call runs and the pool audits clean.
    assert dump(client, store.pool) == before
    operation()
    assert check(snapshot(client, store.pool)).ok


def test_a_briefly_planted_key_never_overfills_a_lobby() -> None:
    # The case: a wrong-type key at the room index of a lobby about to fill made the
    # filling join fail after it had saved the lobby, leaving it listed as open; every later
    # join then landed in it: 10 users in a lobby of 4.
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="overfill", lobby_ttl=None)
    lobby = store.find_or_create_lobby("u0", 4)
    for i in (1, 2):
        store.find_or_create_lobby(f"u{i}", 4)
    room = f"{pool_prefix('overfill')}room:4:1"
    client.delete(room)
    client.sadd(room, "planted")
    with pytest.raises(Exception) as failed:
        store.find_or_create_lobby("u3", 4)
    client.delete(room)
    placed = [store.find_or_create_lobby(f"v{i}", 4) for i in range(7)]
    sizes = {lob.id: len(lob.users) for lob in snapshot(client, "overfill").lobbies.values()}
    assert max(sizes.values()) <= 4, sizes
    assert all(len(lob.users) <= 4 for lob in placed)
    assert store.lobby_of("u3") is None  # the failed join placed nobody
    assert store.get_lobby(lobby.id).users == ("u0", "u1", "u2", "v0")
    assert check(snapshot(client, "overfill")).ok
    assert isinstance(failed.value, lobbycore.PoolDamaged) and failed.value.key == room


def test_a_stale_open_entry_is_dropped_and_the_next_lobby_tried() -> None:
    # A full lobby listed as open (only damage can do that): a join re-checks the room on the
    # lobby itself, drops the entry and goes on.
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="stale", lobby_ttl=None)
    full = [store.find_or_create_lobby(u, 2) for u in ("a", "b")][-1]
    open_key = f"{pool_prefix('stale')}open:2"
    client.zadd(open_key, {full.id: 0})
    lobby = store.find_or_create_lobby("c", 2)
    assert lobby.id != full.id and lobby.users == ("c",)
    assert len(store.get_lobby(full.id).users) == 2
    assert full.id.encode() not in client.zrange(open_key, 0, -1)
    assert check(snapshot(client, "stale")).ok


def test_a_user_listed_in_a_lobby_is_not_added_to_it_again() -> None:
    # The index lost a user's entry (damage) while the lobby still lists them: the join must
    # not put them in that lobby a second time.
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="twice", lobby_ttl=None)
    store.find_or_create_lobby("a", 3)
    for key in client.scan_iter(match=f"{pool_prefix('twice')}u:*"):
        client.delete(key)
    lobby = store.find_or_create_lobby("a", 3)
    assert lobby.users == ("a",)
    lobbies = snapshot(client, "twice").lobbies.values()
    assert all(lob.users.count("a") <= 1 for lob in lobbies)


def test_a_malformed_lobby_value_is_damage_not_an_empty_lobby() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="malformed", lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 3)
    key = f"{pool_prefix('malformed')}l:{lobby.id}"
    client.set(key, "garbage")
    before = dump(client, "malformed")
    with pytest.raises(lobbycore.PoolDamaged) as info:
        store.find_or_create_lobby("b", 3)
    assert info.value.key == key
    assert dump(client, "malformed") == before


def test_an_unforeseen_error_reply_is_a_lobby_error() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="counters", lobby_ttl=None)
    store.find_or_create_lobby("a", 3)
    client.hset(f"{pool_prefix('counters')}stats", "joins", "many")
    before = dump(client, "counters")
    with pytest.raises(lobbycore.PoolDamaged):
        store.find_or_create_lobby("b", 3)
    assert dump(client, "counters") == before


# Lost state: the pool's epoch.
def test_a_flushed_pool_is_lost_state_not_an_empty_pool_with_unlimited_seats() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="flushed", lobby_ttl=None)
    store.set_seats(2)
    lobby = store.join_party(["a", "b"], 2)
    client.flushdb()
    for call in (
        lambda: store.book_ticket(lobby.id),
        lambda: store.find_or_create_lobby("c", 2),
        lambda: store.stats(),
        lambda: store.lobby_of("a"),
        lambda: store.events(),
        lambda: store.sweep_expired(),
        lambda: store.set_seats(5),
        lambda: store.leave_lobby("a"),
    ):
        with pytest.raises(lobbycore.PoolStateLost):
            call()
    assert client.dbsize() == 0  # nothing was written


def test_a_pool_whose_meta_alone_was_evicted_is_refused_to_a_new_store() -> None:
    client = fakeredis.FakeRedis()
    LobbyStore(client, pool="evicted", lobby_ttl=None).find_or_create_lobby("a", 2)
    client.delete(f"{pool_prefix('evicted')}meta")
    keys = client.dbsize()
    with pytest.raises(lobbycore.PoolStateLost, match=r"lobbycore 0\.1\.0 made the pool") as lost:
        LobbyStore(client, pool="evicted", lobby_ttl=None).find_or_create_lobby("b", 2)
    assert "other keys are there" in str(lost.value) and "\n" not in str(lost.value)
    assert client.dbsize() == keys  # nothing written, the pool not taken for a new one


def test_unlimited_inventory_is_stored_explicitly() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="explicit", lobby_ttl=None)
    store.set_seats(None)
    assert client.hget(f"{pool_prefix('explicit')}meta", "seats") == b"unlimited"
    assert store.seats_left() is None
    store.set_seats(3)
    assert store.seats_left() == 3


def test_sharded_pools_learn_one_epoch_per_shard() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="sharded", lobby_ttl=None, shards=3)
    store.set_seats(9)
    client.delete(f"{pool_prefix('sharded', 1, 3)}meta")
    with pytest.raises(lobbycore.PoolStateLost):
        store.stats()


# Supported servers.
class ReportsVersion(fakeredis.FakeRedis):
    """fakeredis has no INFO: this one answers INFO as a server of the given version and
    memory settings would."""

    def __init__(self, *args: Any, info: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._info = info

    def info(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._info


def every_operation(store: LobbyStore) -> None:
    store.set_seats(10)
    lobby = store.join_party(["a", "b"], 3)
    store.find_or_create_lobby("c", 3)
    store.leave_lobby("c")
    store.book_ticket(lobby.id)
    store.find_or_create_lobby("d", 3)
    store.sweep_expired()
    assert store.stats().bookings == 1
    assert [e.type for e in store.events()][:2] == ["created", "joined"]
    assert store.lobby_of("d") is not None


def test_redis_6_2_runs_every_operation() -> None:
    # fakeredis emulating 6.2 refuses 7.0-only options (PEXPIREAT ... NX, which joins used).
    client = ReportsVersion(version=(6, 2), info={"redis_version": "6.2.14", "maxmemory": 0})
    every_operation(LobbyStore(client, pool="six-two", lobby_ttl=60))


def test_redis_6_0_is_refused_before_anything_is_written() -> None:
    client = ReportsVersion(version=(6,), info={"redis_version": "6.0.20", "maxmemory": 0})
    store = LobbyStore(client, pool="six-oh", lobby_ttl=None)
    with pytest.raises(lobbycore.UnsafeServer, match=r"6\.0\.20.*6\.2"):
        store.find_or_create_lobby("a", 2)
    assert client.dbsize() == 0


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "allkeys-random"])
def test_an_evicting_policy_is_refused_unless_allowed(policy: str) -> None:
    info = {"redis_version": "7.2.4", "maxmemory": 1 << 30, "maxmemory_policy": policy}
    store = LobbyStore(ReportsVersion(info=info), pool="evicting", lobby_ttl=None)
    with pytest.raises(lobbycore.UnsafeServer, match=f"maxmemory-policy={policy}"):
        store.find_or_create_lobby("a", 2)
    allowed = LobbyStore(
        ReportsVersion(info=info), pool="evicting", lobby_ttl=None, allow_eviction=True
    )
    assert allowed.find_or_create_lobby("a", 2).users == ("a",)


def test_noeviction_or_no_memory_limit_is_accepted() -> None:
    for info in (
        {"redis_version": "7.0.15", "maxmemory": 1 << 30, "maxmemory_policy": "noeviction"},
        {"redis_version": "7.0.15", "maxmemory": 0, "maxmemory_policy": "allkeys-lru"},
    ):
        store = LobbyStore(ReportsVersion(info=info), pool="fine", lobby_ttl=None)
        assert store.find_or_create_lobby("a", 2).users == ("a",)


# Small ones.
def test_booking_ttl_none_is_refused() -> None:
    with pytest.raises(InvalidInput, match="booking_ttl"):
        LobbyStore(fakeredis.FakeRedis(), booking_ttl=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "after",
    ["18446744073709551616", "1-18446744073709551616", "18446744073709551615-18446744073709551615"],
)
def test_event_ids_redis_refuses_are_invalid_input(after: str) -> None:
    store = LobbyStore(fakeredis.FakeRedis(), pool="ids", lobby_ttl=None)
    with pytest.raises(InvalidInput):
        store.events(after=after)


def test_the_largest_valid_event_ids_are_accepted() -> None:
    store = LobbyStore(fakeredis.FakeRedis(), pool="ids", lobby_ttl=None)
    store.find_or_create_lobby("a", 2)
    assert store.events(after="18446744073709551615-18446744073709551614") == []
    assert store.events(after="18446744073709551615") == []


def test_events_name_a_bounded_number_of_users() -> None:
    store = LobbyStore(fakeredis.FakeRedis(), pool="big", lobby_ttl=None)
    users = [f"user-{i:03d}" for i in range(40)]
    lobby = store.join_party(users, 40)
    store.book_ticket(lobby.id)
    joined, booked = [e for e in store.events() if e.type in ("joined", "booked")]
    for event in (joined, booked):
        assert event.users == tuple(users[:16])
        assert event.more_users == 24


class CutOffOnce(fakeredis.FakeAsyncRedis):
    """A client whose first pipelined round trip is cut off, as by CLIENT KILL."""

    cut = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        if CutOffOnce.cut == 0 and len(pipe.command_stack) == 0:
            real_execute = pipe.execute

            async def execute(*a: Any, **kw: Any) -> Any:
                if CutOffOnce.cut == 0 and len(pipe.command_stack) > 1:
                    CutOffOnce.cut += 1
                    raise redis.ConnectionError("Connection closed by server.")
                return await real_execute(*a, **kw)

            pipe.execute = execute
        return pipe


def test_a_cut_off_pipelined_round_trip_is_retried_call_by_call() -> None:
    async def scenario() -> list[Any]:
        store = AsyncLobbyStore(CutOffOnce(), pool="cut", lobby_ttl=None)
        await store.stats()  # opens the pool
        return await asyncio.gather(
            *(store.find_or_create_lobby(f"u{i}", 4) for i in range(20)),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    assert CutOffOnce.cut == 1
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert sorted(u for r in results for u in r.users if len(r.users) == 4) == sorted(
        u for i in range(20) for u in [f"u{i}"]
    )


def test_script_errors_reach_async_callers_as_lobby_errors() -> None:
    async def scenario() -> None:
        client = fakeredis.FakeAsyncRedis()
        store = AsyncLobbyStore(client, pool="aerr", lobby_ttl=None)
        await store.find_or_create_lobby("a", 2)
        await client.delete(f"{pool_prefix('aerr')}events")
        await client.sadd(f"{pool_prefix('aerr')}events", "planted")
        with pytest.raises(LobbyError):
            await store.find_or_create_lobby("b", 2)

    asyncio.run(scenario())


def test_a_naive_pool_named_star_reads_only_itself() -> None:
    client = fakeredis.FakeRedis()
    other = lobbycore.NaiveLobbyStore(client, pool="other", lobby_ttl=None)
    star = lobbycore.NaiveLobbyStore(client, pool="*", lobby_ttl=None)
    other.find_or_create_lobby("x", 4)
    lobby = star.find_or_create_lobby("y", 4)
    assert lobby.users == ("y",)  # not put into the other pool's open lobby


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2@127.0.0.1:abc/0",
        "redis://u:hunter2@127.0.0.1:0x10/0",
        "redis://127.0.0.1:99999",
        "redis://127.0.0.1:-1",
        "redis://127.0.0.1:0",
        "redis://u:hunter2@[::1/0",
        "redis://",
        "redis://u:hunter2@:5/0",
        "redis://127.0.0.1:7000/abc",
        "redis://127.0.0.1:7000/99999999999999999999",
        "unix://",
        "http://127.0.0.1:7000",
    ],
)
def test_every_malformed_url_is_invalid_input_without_the_password(url: str) -> None:
    # cluster=False: no probe, so no connection is ever tried, whatever the URL.
    with pytest.raises(InvalidInput) as info:
        lobbycore.connect(url, cluster=False)
    assert "hunter2" not in str(info.value)


def test_sharded_events_ask_each_shard_for_its_share() -> None:
    from lobbycore._sharding import ShardedProtocol

    plan = ShardedProtocol("shares", None, shards=4).events(count=10)
    # The arguments end with the count, then the reply's byte bound (READ_REPLY_BYTES).
    assert [call.args[-2] for call in plan.calls] == [3, 3, 3, 3]


def test_a_large_lobby_keeps_its_users_in_order_through_joins_and_leaves() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="large", lobby_ttl=None)
    ids = [f"{i:03d}-" + "y" * 250 for i in range(60)]
    store.join_party(ids[:20], 60)  # 5 kB: later joins append
    for user in ids[20:40]:
        store.find_or_create_lobby(user, 60)
    store.join_party(ids[40:], 60)
    for gone in (ids[0], ids[33], ids[59]):
        store.leave_lobby(gone)
    lobby = store.lobby_of(ids[1])
    kept = [u for u in ids if u not in (ids[0], ids[33], ids[59])]
    assert lobby is not None and lobby.users == tuple(kept)
    assert snapshot(client, "large").lobbies[lobby.id].users == tuple(kept)
    assert check(snapshot(client, "large")).ok
    assert store.find_or_create_lobby(ids[0], 60).id == lobby.id  # room again


def test_set_seats_repairs_a_damaged_inventory() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="repair", lobby_ttl=None)
    store.set_seats(4)
    client.hset(f"{pool_prefix('repair')}meta", "seats", "lots")
    with pytest.raises(lobbycore.PoolDamaged, match="seats"):
        store.stats()
    store.set_seats(4)
    assert store.seats_left() == 4


def test_a_stale_room_entry_is_dropped_without_unlisting_an_open_lobby() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="room", lobby_ttl=None)
    lobby = store.join_party(["a", "b", "c"], 4)  # one place left
    room = f"{pool_prefix('room')}room:4:3"
    client.zadd(room, {lobby.id: 0})  # damage: listed with three places
    party = store.join_party(["d", "e"], 4)
    assert party.id != lobby.id
    assert lobby.id.encode() not in client.zrange(room, 0, -1)
    assert store.find_or_create_lobby("f", 4).id == lobby.id  # still listed as open
    assert check(snapshot(client, "room")).ok


def test_a_reader_never_makes_the_pool_it_reads() -> None:
    """``create_pool=False``: a follower of a pool that does not exist (a typo) writes
    nothing and is told so; once a writer made the pool, the same reader reads it."""
    client = fakeredis.FakeRedis()
    reader = LobbyStore(client, pool="later", lobby_ttl=None, create_pool=False)
    with pytest.raises(PoolNotFound):
        reader.events()
    assert client.dbsize() == 0
    LobbyStore(client, pool="later", lobby_ttl=None).find_or_create_lobby("ana", 2)
    assert [event.type for event in reader.events()][:2] == ["created", "joined"]


@pytest.mark.parametrize(
    ("operation", "counter"),
    [
        ("join", "joins"),
        ("fill", "full"),
        ("create", "lobbies"),
        ("create", "created"),
        ("leave", "leaves"),
        ("leave_last", "lobbies"),
        ("book", "bookings"),
        ("book", "booked_users"),
    ],
)
def test_a_counter_the_call_increments_must_be_an_integer(operation: str, counter: str) -> None:
    """Each call checks the counters it will increment (HINCRBY fails on any other value):
    a damaged one stops it before it writes; a damaged counter it does not touch does not."""
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="count", lobby_ttl=None)
    lobby = store.join_party(["a", "b"], 4)
    calls = {
        "join": lambda: store.find_or_create_lobby("c", 4),
        "fill": lambda: store.join_party(["c", "d"], 4),
        "create": lambda: store.find_or_create_lobby("c", 2),
        "leave": lambda: store.leave_lobby("a"),
        "leave_last": lambda: store.leave_lobby("b"),  # after "a" left: the lobby goes
        "book": lambda: store.book_ticket(lobby.id, "request"),
    }
    if operation == "leave_last":
        store.leave_lobby("a")
    stats = f"{pool_prefix('count')}stats"
    client.hset(stats, counter, "1.5")
    before = dump(client, "count")
    with pytest.raises(lobbycore.PoolDamaged, match=f"counter {counter} is not an integer"):
        calls[operation]()
    assert dump(client, "count") == before
    untouched = "expired_users"  # no call here expires a lobby
    client.hset(stats, mapping={counter: "0", untouched: "1.5"})
    calls[operation]()


# Another key layout: refused by name, never read as lost, new, or this layout's.
@pytest.mark.parametrize("found", ["1", "3"])
def test_a_pool_of_another_layout_is_refused_naming_both_versions(found: str) -> None:
    client = fakeredis.FakeRedis()
    prefix = pool_prefix("old")
    # A pool as layout 1 left it: meta without a layout field, counters in a stats hash.
    client.hset(f"{prefix}meta", mapping={"epoch": "01OLD", "seats": "unlimited", "wseq": "4"})
    if found != "1":
        client.hset(f"{prefix}meta", "layout", found)
    client.hset(f"{prefix}stats", mapping={"lobbies": "1", "joins": "1", "created": "1"})
    client.set(f"{prefix}seq", "1")
    before = dump(client, "old")
    for call in (
        lambda store: store.find_or_create_lobby("a", 4),
        lambda store: store.stats(),
        lambda store: store.set_seats(3),
        lambda store: store.sweep_expired(),
    ):
        with pytest.raises(lobbycore.LayoutMismatch) as raised:
            call(LobbyStore(client, pool="old", lobby_ttl=None))
        assert not isinstance(raised.value, lobbycore.PoolStateLost)
        assert (raised.value.found, raised.value.expected) == (found, "2")
        assert f"layout {found}" in str(raised.value) and "layout 2" in str(raised.value)
        assert "start a new pool" in str(raised.value)
        assert dump(client, "old") == before
