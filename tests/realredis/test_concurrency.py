"""Every guarantee under real concurrency against a private real redis-server.

Each test that shows lobbycore keeps a guarantee has a twin that runs the same harness
against the naive store and requires the check to find violations: a check that cannot
fail would prove nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from lobbycore import (
    AlreadyBooked,
    AsyncLobbyStore,
    AsyncNaiveLobbyStore,
    Booking,
    LobbyError,
    LobbyStore,
    NaiveLobbyStore,
    SoldOut,
)
from lobbycore._keys import PoolKeys
from lobbycore.audit import History, check, snapshot
from lobbycore.violations import Violation
from lobbysim.testing import RedisServer

from .harness import in_threads, run_tasks, run_threads

THREADS = 32
SHARDED_SEATS = 300


def test_threads_mixed_workload_keeps_every_guarantee(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client(max_connections=THREADS + 4)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    result = run_threads(store, client, threads=THREADS, ops_per_thread=150)
    assert result.report.ok, result.report.findings[:10]
    ops = result.tally.ops
    # Every kind of operation really ran (the mix varies with scheduling; these are loose floors).
    assert ops["join"] > 1000 and ops["party"] > 50 and ops["leave"] > 100 and ops["book"] > 100, (
        ops
    )
    stats = store.stats()
    assert stats.waiting_users == result.report.figures["waiting"]
    assert stats.bookings == len(result.history.bookings) == result.report.figures["bookings"]


@pytest.mark.parametrize("shards", [2, 5])
def test_a_sharded_pool_keeps_every_guarantee_under_threads(
    redis_server: RedisServer, pool_name: str, shards: int
) -> None:
    client = redis_server.client(max_connections=THREADS + 4)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None, shards=shards)
    store.set_seats(SHARDED_SEATS)  # scarce: each shard sells out its share
    result = run_threads(
        store, client, threads=THREADS, ops_per_thread=100, initial_seats=SHARDED_SEATS
    )
    assert result.report.ok, result.report.findings[:10]
    ops = result.tally.ops
    assert ops["join"] > 500 and ops["party"] > 50 and ops["book"] > 50, ops
    assert ops["book:SoldOut"] > 0, ops
    stats = store.stats()
    assert stats.waiting_users == result.report.figures["waiting"]
    assert stats.bookings == len(result.history.bookings) == result.report.figures["bookings"]
    # Every shard did work.
    lobby_shards = {lobby.id.rsplit(".", 1)[1] for _, lobby in result.history.joins}
    assert lobby_shards == {str(i) for i in range(shards)}


def test_naive_store_fails_the_same_thread_harness(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client(max_connections=THREADS + 4)
    store = NaiveLobbyStore(client, pool=pool_name)
    result = run_threads(store, client, threads=THREADS, ops_per_thread=25, naive=True)
    counts = result.report.counts()
    assert not result.report.ok
    print(result.report.summary())
    assert counts[Violation.USER_IN_TWO_LOBBIES] > 0 and counts[Violation.LOST_JOIN] > 0, counts


async def test_asyncio_200_tasks_keep_every_guarantee(
    redis_server: RedisServer, pool_name: str
) -> None:
    aclient = redis.asyncio.Redis(
        # No wait limit: 200 tasks share 64 connections, and a loaded machine made the
        # last of them wait past the default 20 s (the suite's timeout still bounds it).
        connection_pool=redis.asyncio.BlockingConnectionPool(
            port=redis_server.port, max_connections=64, timeout=None
        )
    )
    store = AsyncLobbyStore(aclient, pool=pool_name, lobby_ttl=None)
    result = await run_tasks(store, redis_server.client(), tasks=250, ops_per_task=20)
    await aclient.aclose()
    assert result.report.ok, result.report.findings[:10]
    ops = result.tally.ops
    # Every kind of operation really ran (the mix varies with scheduling; these are loose floors).
    assert ops["join"] > 1000 and ops["party"] > 50 and ops["leave"] > 100 and ops["book"] > 100, (
        ops
    )


async def test_a_sharded_pool_keeps_every_guarantee_under_asyncio_tasks(
    redis_server: RedisServer, pool_name: str
) -> None:
    aclient = redis.asyncio.Redis(port=redis_server.port, max_connections=64)
    store = AsyncLobbyStore(aclient, pool=pool_name, lobby_ttl=None, shards=3)
    result = await run_tasks(store, redis_server.client(), tasks=150, ops_per_task=6)
    await aclient.aclose()
    assert result.report.ok, result.report.findings[:10]
    assert (await store.stats()).waiting_users == result.report.figures["waiting"]


async def test_naive_store_fails_the_same_asyncio_harness(
    redis_server: RedisServer, pool_name: str
) -> None:
    aclient = redis.asyncio.Redis(
        # No wait limit: 200 tasks share 64 connections, and a loaded machine made the
        # last of them wait past the default 20 s (the suite's timeout still bounds it).
        connection_pool=redis.asyncio.BlockingConnectionPool(
            port=redis_server.port, max_connections=64, timeout=None
        )
    )
    store = AsyncNaiveLobbyStore(aclient, pool=pool_name)
    result = await run_tasks(store, redis_server.client(), tasks=200, ops_per_task=2, naive=True)
    await aclient.aclose()
    counts = result.report.counts()
    print(result.report.summary())
    assert counts[Violation.USER_IN_TWO_LOBBIES] > 0 and counts[Violation.LOST_JOIN] > 0, counts


def _join_storm(store: Any, users: int, threads: int, max_users: int) -> History:
    """The issue's scenario: `threads` concurrent joiners, `users` users, joins only."""
    history = History()

    def run(k: int) -> None:
        for i in range(k, users, threads):
            user = f"user-{i}"
            history.joined([user], store.find_or_create_lobby(user, max_users))

    in_threads(threads, run)
    return history


def test_join_storm_fills_lobbies_exactly(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=64)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    history = _join_storm(store, users=400, threads=50, max_users=4)
    report = check(snapshot(client, pool_name), history)
    assert report.ok, report.findings[:10]
    stats = store.stats()
    # Capacity and fill-oldest-first together: 400 users make exactly 100 full lobbies.
    assert (stats.full_lobbies, stats.open_lobbies, stats.waiting_users) == (100, 0, 400)


def test_naive_join_storm_puts_users_in_two_lobbies(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client(max_connections=64)
    store = NaiveLobbyStore(client, pool=pool_name)
    history = _join_storm(store, users=400, threads=50, max_users=4)
    report = check(snapshot(client, pool_name, naive=True), history)
    assert report.counts()[Violation.USER_IN_TWO_LOBBIES] > 0, report.summary()


def _book_concurrently(store: Any, lobby_id: str, callers: int) -> list[Booking | Exception]:
    results: list[Booking | Exception] = []

    def run(_k: int) -> None:
        try:
            results.append(store.book_ticket(lobby_id))
        except Exception as exc:
            results.append(exc)

    in_threads(callers, run)
    return results


def test_concurrent_bookings_exactly_one_wins(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=64)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    history = History()
    for round_ in range(10):
        lobby = store.join_party([f"r{round_}-{i}" for i in range(4)], 4)
        history.joined(lobby.users, lobby)
        results = _book_concurrently(store, lobby.id, callers=THREADS)
        wins = [r for r in results if isinstance(r, Booking)]
        losses = [r for r in results if isinstance(r, AlreadyBooked)]
        assert len(wins) == 1 and len(losses) == THREADS - 1, results
        assert all(loss.booking == wins[0] for loss in losses)
        history.booked(wins[0])
    assert check(snapshot(client, pool_name), history).ok


def test_naive_concurrent_bookings_double_book(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=64)
    store = NaiveLobbyStore(client, pool=pool_name)
    history = History()
    for round_ in range(10):
        lobby = store.join_party([f"r{round_}-{i}" for i in range(4)], 4)
        history.joined(lobby.users, lobby)
        for result in _book_concurrently(store, lobby.id, callers=THREADS):
            if isinstance(result, Booking):
                history.booked(result)
    report = check(snapshot(client, pool_name, naive=True), history)
    assert report.counts()[Violation.DOUBLE_BOOKING] > 0, report.summary()


SEATS = 150


def _seat_rush(store: Any, client: redis.Redis, naive: bool) -> tuple[Any, int]:
    store.set_seats(SEATS)
    lobbies = [store.join_party([f"s{j}-{i}" for i in range(4)], 4) for j in range(60)]
    history = History()
    for lobby in lobbies:
        history.joined(lobby.users, lobby)
    sold_out = 0
    lock = threading.Lock()

    def run(k: int) -> None:
        nonlocal sold_out
        for lobby in lobbies[k::THREADS]:
            try:
                history.booked(store.book_ticket(lobby.id))
            except SoldOut:
                with lock:
                    sold_out += 1

    in_threads(THREADS, run)
    return check(snapshot(client, store.pool, naive=naive), history, initial_seats=SEATS), sold_out


def test_seats_are_never_oversold(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=64)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    report, sold_out = _seat_rush(store, client, naive=False)
    assert report.ok, report.findings
    # 60 lobbies of 4 want 240 seats; 150 seats hold 37 lobbies (148 seats), 2 are left.
    assert store.seats_left() == 2 and report.figures["bookings"] == 37 and sold_out == 23


def test_naive_seats_oversell(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=64)
    report, _ = _seat_rush(NaiveLobbyStore(client, pool=pool_name), client, naive=True)
    assert report.counts()[Violation.OVERSELL] > 0, report.summary()


def test_all_keys_of_a_pool_share_one_cluster_slot(
    redis_server: RedisServer, pool_name: str
) -> None:
    from redis.crc import key_slot

    client = redis_server.client()
    store = LobbyStore(client, pool=pool_name, lobby_ttl=60)
    run_threads(store, client, threads=4, ops_per_thread=50)
    store.set_seats(1000)
    keys = list(client.scan_iter(match=PoolKeys.for_pool(pool_name).all_pattern))
    assert len(keys) > 10
    assert {key_slot(k) for k in keys} == {key_slot(pool_name.encode())}


class CountingConnection(redis.Connection):
    sent: Callable[[], None] = staticmethod(lambda: None)

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent()
        super().send_packed_command(command, check_health)


def test_each_operation_is_one_round_trip(redis_server: RedisServer, pool_name: str) -> None:
    sent = [0]
    CountingConnection.sent = staticmethod(lambda: sent.__setitem__(0, sent[0] + 1))
    pool = redis.ConnectionPool(port=redis_server.port, connection_class=CountingConnection)
    store = LobbyStore(redis.Redis(connection_pool=pool), pool=pool_name, lobby_ttl=60)

    def operations(r: int) -> list[Callable[[], Any]]:
        return [
            lambda: store.find_or_create_lobby(f"a{r}", 2),
            lambda: store.join_party([f"b{r}", f"c{r}"], 3),
            lambda: store.lobby_of(f"a{r}"),
            lambda: store.get_lobby("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            lambda: store.leave_lobby(f"b{r}"),
            lambda: store.set_seats(10),
            lambda: store.book_ticket(store.join_party([f"d{r}"], 1).id),  # two calls
            lambda: store.stats(),
            lambda: store.sweep_expired(),
            lambda: store.events(),
        ]

    for op in operations(0):  # the first use of each script also loads it (NOSCRIPT)
        op()
    counts = []
    for op in operations(1):
        before = sent[0]
        op()
        counts.append(sent[0] - before)
    assert counts == [1, 1, 1, 1, 1, 1, 2, 1, 1, 1]


def test_operations_survive_script_flush(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client()
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    store.find_or_create_lobby("a", 2)
    client.script_flush()  # our own server: every cached script is gone,
    client.function_flush()  # and every function library
    lobby = store.find_or_create_lobby("b", 2)  # not found -> EVAL, library loaded again
    assert lobby.users == ("a", "b")
    assert store.find_or_create_lobby("c", 2).users == ("c",)  # by the reloaded function
    assert client.function_list()


def test_reads_still_answer_when_the_server_is_out_of_memory(
    redis_server: RedisServer, pool_name: str
) -> None:
    # Over maxmemory (noeviction) Redis refuses a function that may write, before it runs;
    # the reading operations are flagged no-writes, so they still answer.
    client = redis_server.client()
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 2)
    client.config_set("maxmemory", "1")
    try:
        assert store.lobby_of("a") == lobby
        assert store.get_lobby(lobby.id) == lobby
        assert store.stats().waiting_users == 1
        assert [event.type for event in store.events()] == ["created", "joined"]
        with pytest.raises(LobbyError, match="maxmemory"):
            store.find_or_create_lobby("b", 2)
    finally:
        client.config_set("maxmemory", "0")
    assert store.find_or_create_lobby("b", 2).users == ("a", "b")


class _FlushBeforeEveryCall(redis.Redis):
    """A client whose script cache and function libraries are flushed just before each
    FCALL or EVALSHA: the worst timing of a flush (or a restart), which a load-then-call
    retry cannot survive."""

    flushes = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if args[0] in ("FCALL", "EVALSHA"):
            self.script_flush()
            self.function_flush()
            self.flushes += 1
        return super().execute_command(*args, **options)


def test_operations_survive_a_flush_before_every_call(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = _FlushBeforeEveryCall(port=redis_server.port)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    lobby = store.join_party(["a", "b"], 2)
    assert store.book_ticket(lobby.id, "r").users == ("a", "b")
    assert client.flushes >= 2  # every call met a missing function and still ran, exactly once
    assert store.stats().bookings == 1
    client.close()


async def test_async_calls_survive_a_flush_before_every_call(
    redis_server: RedisServer, pool_name: str
) -> None:
    aclient = redis.asyncio.Redis(port=redis_server.port)

    async def flush() -> None:
        await aclient.script_flush()
        await aclient.function_flush()

    class FlushingPipeline:
        def __init__(self, pipe: Any) -> None:
            self._pipe = pipe

        def __getattr__(self, name: str) -> Any:
            return getattr(self._pipe, name)

        async def execute(self, **kwargs: Any) -> Any:
            await flush()  # lands before the pipeline's FCALLs
            return await self._pipe.execute(**kwargs)

    class FlushingClient:
        def __getattr__(self, name: str) -> Any:
            return getattr(aclient, name)

        def pipeline(self, **kwargs: Any) -> FlushingPipeline:
            return FlushingPipeline(aclient.pipeline(**kwargs))

        async def execute_command(self, *args: Any, **options: Any) -> Any:
            if args[0] in ("FCALL", "EVALSHA"):
                await flush()
            return await aclient.execute_command(*args, **options)

    for autopipeline in (True, False):
        store = AsyncLobbyStore(
            FlushingClient(),  # type: ignore[arg-type]
            pool=f"{pool_name}-{autopipeline}",
            lobby_ttl=None,
            autopipeline=autopipeline,
        )
        lobbies = await asyncio.gather(*(store.find_or_create_lobby(f"u{i}", 4) for i in range(20)))
        assert len({lobby.id for lobby in lobbies}) == 5
        assert (await store.stats()).waiting_users == 20
    await aclient.aclose()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("decode", [False, True])
def test_real_redis_resp_and_decoding(
    redis_server: RedisServer, pool_name: str, protocol: int, decode: bool
) -> None:
    client = redis_server.client(protocol=protocol, decode_responses=decode)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=30)
    lobby = store.join_party(["ü", "b c"], 2)
    assert lobby.users == ("ü", "b c") and lobby.is_full
    assert store.events()[-1].type == "full"
    assert store.book_ticket(lobby.id, "r").users == ("ü", "b c")
    assert store.stats().bookings == 1


def _mixed_capacity_storm(store: Any) -> History:
    """Two client groups that disagree on the lobby size, joining at once."""
    history = History()

    def run(k: int) -> None:
        for i in range(12):
            user = f"m{k}-{i}"
            history.joined([user], store.find_or_create_lobby(user, 3 if k % 2 else 5))

    in_threads(16, run)
    return history


def test_mixed_capacities_never_overfill(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=32)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    history = _mixed_capacity_storm(store)
    report = check(snapshot(client, pool_name), history)
    assert report.ok, report.findings[:10]
    assert {lobby.max_users for _, lobby in history.joins} == {3, 5}


def test_naive_mixed_capacities_overfill(redis_server: RedisServer, pool_name: str) -> None:
    # The article never compares a lobby's size with the capacity it was made for.
    client = redis_server.client(max_connections=32)
    store = NaiveLobbyStore(client, pool=pool_name)
    history = _mixed_capacity_storm(store)
    report = check(snapshot(client, pool_name, naive=True), history)
    assert report.counts()[Violation.OVER_CAPACITY] > 0, report.summary()


async def test_pipelined_calls_survive_script_flush(
    redis_server: RedisServer, pool_name: str
) -> None:
    aclient = redis.asyncio.Redis(port=redis_server.port)
    store = AsyncLobbyStore(aclient, pool=pool_name, lobby_ttl=None)  # auto-pipelined
    admin = redis_server.client()
    lobbies = []
    for wave in range(5):
        admin.script_flush()  # every wave's first pipeline meets a missing function
        admin.function_flush()  # (or NOSCRIPT) and must reload
        lobbies += await asyncio.gather(
            *(store.find_or_create_lobby(f"w{wave}-{i}", 4) for i in range(80))
        )
    await aclient.aclose()
    assert len({lobby.id for lobby in lobbies}) == 100
    assert check(snapshot(admin, pool_name)).ok
