"""lobbycore benchmark: prints ratios measured side by side in one run, on a private redis-server.

    .venv/bin/python benchmarks/bench_core.py            # or: make bench
    .venv/bin/python benchmarks/bench_core.py --quick    # smaller counts, for a smoke run

Not a test: nothing here asserts a speed. Every ratio compares two things measured in this
run, on this machine, with the same client, so the numbers mean something elsewhere too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio
from _shared import RedisServer, bytes_per_waiting_user, prefill

from lobbycore import AsyncLobbyStore, LobbyStore, NaiveLobbyStore
from lobbycore._keys import NaiveKeys


def row(name: str, value: str, target: str = "") -> None:
    print(f"  {name:<52} {value:>18}   {target}")


async def _rate(concurrency: int, total: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Ops/s of `total` calls made by `concurrency` tasks."""
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await op(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


async def bench_async_vs_ping(server: RedisServer, total: int, rounds: int) -> None:
    print("\n1. asyncio, 50 concurrent callers, one client (redis.asyncio + hiredis)")
    pool = redis.asyncio.BlockingConnectionPool(port=server.port, max_connections=50)
    client = redis.asyncio.Redis(connection_pool=pool)
    plain = AsyncLobbyStore(client, pool="bench-async-plain", lobby_ttl=600.0, autopipeline=False)
    piped = AsyncLobbyStore(client, pool="bench-async-piped", lobby_ttl=600.0)
    await plain.find_or_create_lobby("warm-up", 4)
    await piped.find_or_create_lobby("warm-up", 4)
    await _rate(50, 2000, lambda i: client.ping())  # open the 50 connections
    pings, plain_joins, piped_joins = [], [], []
    for r in range(rounds):  # interleaved, so drift hits all three alike
        pings.append(await _rate(50, total, lambda i: client.ping()))
        plain_joins.append(
            await _rate(50, total, lambda i, r=r: plain.find_or_create_lobby(f"a{r}-{i}", 4))
        )
        piped_joins.append(
            await _rate(50, total, lambda i, r=r: piped.find_or_create_lobby(f"p{r}-{i}", 4))
        )
    ping = statistics.median(pings)
    before, after = statistics.median(plain_joins), statistics.median(piped_joins)
    row("PING/s (median of rounds)", f"{ping:,.0f}")
    row("find_or_create_lobby/s, one call per round trip", f"{before:,.0f}")
    row("  ÷ PING/s", f"{before / ping:.2f}", "target ≥ 0.70")
    row("find_or_create_lobby/s, auto-pipelined (default)", f"{after:,.0f}")
    row("  ÷ PING/s", f"{after / ping:.2f}", "target ≥ 1.0")
    await client.aclose()


def _sync_rate(total: int, op: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(total):
        op(i)
    return total / (time.perf_counter() - start)


def bench_pool_size(server: RedisServer, total: int, big: int, rounds: int) -> None:
    print(f"\n2. join cost vs pool size (sync client, sequential, {total:,} joins per round)")
    client = server.client()
    t0 = time.perf_counter()
    prefill(client, "bench-small", 100)
    prefill(client, "bench-big", big)
    print(f"  (prefilled 100 and {big:,} full lobbies in {time.perf_counter() - t0:.1f}s)")
    small_store = LobbyStore(client, pool="bench-small", lobby_ttl=600.0)
    big_store = LobbyStore(client, pool="bench-big", lobby_ttl=600.0)
    small_rates, big_rates = [], []
    for r in range(rounds):
        small_rates.append(
            _sync_rate(total, lambda i, r=r: small_store.find_or_create_lobby(f"s{r}-{i}", 4))
        )
        big_rates.append(
            _sync_rate(total, lambda i, r=r: big_store.find_or_create_lobby(f"b{r}-{i}", 4))
        )
    small, large = statistics.median(small_rates), statistics.median(big_rates)
    row("joins/s with 100 lobbies present", f"{small:,.0f}")
    row(f"joins/s with {big_stats(big_store):,} lobbies present", f"{large:,.0f}")
    row("ratio (faster ÷ slower)", f"{max(small, large) / min(small, large):.2f}", "target ≤ 1.10")
    ping = _sync_rate(total, lambda i: client.ping())
    row("sync PING/s, same client", f"{ping:,.0f}")
    row("sync joins/s ÷ PING/s (100 lobbies)", f"{small / ping:.2f}")


def big_stats(store: LobbyStore) -> int:
    stats = store.stats()
    return stats.open_lobbies + stats.full_lobbies


def bench_naive(server: RedisServer, naive_lobbies: int, naive_joins: int, total: int) -> None:
    print(f"\n3. the article's algorithm (NaiveLobbyStore) with {naive_lobbies:,} lobbies present")
    client = server.client()
    keys = NaiveKeys.for_pool("bench-naive")
    pipe = client.pipeline(transaction=False)
    for i in range(naive_lobbies):  # full lobbies in the article's own format
        lid = f"{i:026d}"
        users = ",".join(f'"pre-{i}-{k}"' for k in range(4))
        pipe.hset(
            keys.lobby(lid),
            mapping={
                "id": lid,
                "sessionId": lid,
                "users": f"[{users}]",
                "createdAt": 0,
                "maxUsers": 4,
            },
        )
    pipe.execute()
    naive = NaiveLobbyStore(client, pool="bench-naive")
    naive_rate = _sync_rate(naive_joins, lambda i: naive.find_or_create_lobby(f"n{i}", 4))
    prefill(client, "bench-atomic-1k", naive_lobbies)
    store = LobbyStore(client, pool="bench-atomic-1k", lobby_ttl=600.0)
    atomic_rate = _sync_rate(total, lambda i: store.find_or_create_lobby(f"c{i}", 4))
    row("naive joins/s", f"{naive_rate:,.1f}")
    row("lobbycore joins/s, same lobby count", f"{atomic_rate:,.0f}")
    row("lobbycore ÷ naive", f"{atomic_rate / naive_rate:,.0f}x", "target ≥ 100x")


class _CountingConnection(redis.Connection):
    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        _CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def bench_round_trips(server: RedisServer, n: int) -> None:
    print(f"\n4. network round trips per operation (requests sent, averaged over {n:,} calls)")
    pool = redis.ConnectionPool(port=server.port, connection_class=_CountingConnection)
    store = LobbyStore(redis.Redis(connection_pool=pool), pool="bench-rt", lobby_ttl=600.0)
    lobby = store.find_or_create_lobby("warm", 2)
    store.book_ticket(lobby.id)
    store.leave_lobby("nobody")
    store.lobby_of("nobody")
    store.stats()
    ops: list[tuple[str, Callable[[int], Any]]] = [
        ("find_or_create_lobby", lambda i: store.find_or_create_lobby(f"r{i}", 2)),
        ("lobby_of", lambda i: store.lobby_of(f"r{i}")),
        ("leave_lobby", lambda i: store.leave_lobby(f"r{i}")),
        ("join_party (2 users)", lambda i: store.join_party([f"p{i}", f"q{i}"], 2)),
        ("stats", lambda i: store.stats()),
    ]
    for name, op in ops:
        before = _CountingConnection.sent
        for i in range(n):
            op(i)
        row(name, f"{(_CountingConnection.sent - before) / n:.2f}", "target 1")
    lobbies = [store.join_party([f"x{i}", f"y{i}"], 2).id for i in range(n)]
    before = _CountingConnection.sent
    for lobby_id in lobbies:
        store.book_ticket(lobby_id)
    row("book_ticket", f"{(_CountingConnection.sent - before) / n:.2f}", "target 1")


def bench_memory(server: RedisServer, users: int) -> None:
    print(f"\n5. Redis memory per waiting user ({users:,} users, INFO used_memory delta)")
    client = server.client()
    # Our private server: start from empty, so that keys expiring from the earlier sections
    # (the joins' replay records) do not shrink the deltas measured here.
    client.flushall()
    for max_users, replay_window in [(2, None), (4, None), (10, None), (4, 30.0)]:
        label = f"bytes per waiting user, lobbies of {max_users}"
        if replay_window:
            label = "  the same, lobbies of 4, with the joins' 30 s replay records"
        per_user = bytes_per_waiting_user(client, users, max_users, replay_window)
        row(label, f"{per_user:,.0f}", "target ≤ 150" if not replay_window else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts (a smoke run, noisier figures)"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    with RedisServer() as server:
        info = server.client().info("server")
        print(
            f"lobbycore benchmark — private redis-server {info['redis_version']} on 127.0.0.1:{server.port}, "
            f"Python {sys.version.split()[0]}, redis-py {redis.__version__}"
        )
        asyncio.run(bench_async_vs_ping(server, total=20_000 // scale, rounds=3))
        bench_pool_size(server, total=10_000 // scale, big=100_000 // scale, rounds=3)
        bench_naive(
            server, naive_lobbies=1_000, naive_joins=20 if args.quick else 100, total=5_000 // scale
        )
        bench_round_trips(server, n=1_000 // scale)
        bench_memory(server, users=100_000 // scale)


if __name__ == "__main__":
    main()
