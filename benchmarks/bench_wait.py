"""The price of durability: joins/s, Redis CPU per join and latency with and without
``wait_replicas=1``, side by side in one run, against a private primary with one replica
(both redis-server processes on this machine).

    .venv/bin/python benchmarks/bench_wait.py            # or --quick for a smoke run

Not a test: nothing here asserts a speed. Sync (one call per round trip: every join waits
for the replica's acknowledgement) and asyncio auto-pipelined (one WAIT per round trip of up
to 16 calls), each measured without, then with the option, best of ``--repeats`` runs (by
joins/s; the CPU and latency shown are that run's). CPU per join is each server's
used_cpu_user + used_cpu_sys (INFO) over the run divided by its joins: the primary's
includes the WAITs and feeding the replica, the replica's is what applying them costs.
Latency is each call's, from the client.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from _shared import RedisServer

from lobbycore import AsyncLobbyStore, LobbyStore, connect


def wait_for_link(replica: redis.Redis) -> None:
    deadline = time.monotonic() + 30
    while replica.info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise SystemExit("the replica did not connect")
        time.sleep(0.05)


@dataclass(frozen=True)
class Result:
    rate: float
    """Joins/s."""
    primary_us: float
    """Primary's CPU per join, µs."""
    replica_us: float
    """Replica's CPU per join, µs."""
    p50_us: float
    p99_us: float


def cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def percentile(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1e6


def sync_latencies(client: redis.Redis, pool: str, n: int, wait: int) -> list[float]:
    store = LobbyStore(client, pool=pool, lobby_ttl=None, wait_replicas=wait, wait_timeout=1.0)
    store.stats()  # opened outside the timing
    latencies = []
    for i in range(n):
        start = time.perf_counter()
        store.find_or_create_lobby(f"u{i}", 4)
        latencies.append(time.perf_counter() - start)
    return latencies


def async_latencies(url: str, pool: str, n: int, wait: int, concurrency: int = 64) -> list[float]:
    async def run() -> list[float]:
        client = connect(url, asyncio=True, cluster=False)
        store = AsyncLobbyStore(client, pool=pool, lobby_ttl=None, wait_replicas=wait)
        await store.stats()
        counter = iter(range(n))
        latencies: list[float] = []

        async def worker() -> None:
            for i in counter:
                start = time.perf_counter()
                await store.find_or_create_lobby(f"u{i}", 4)
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await client.aclose()
        return latencies

    return asyncio.run(run())


Joins = Callable[[str, int], list[float]]
"""Runs the joins on a fresh pool with a wait: each join's latency, seconds."""


def measure(joins: Joins, wait: int, primary: redis.Redis, replica: redis.Redis) -> Result:
    pool = f"w{wait}-{time.monotonic_ns()}"
    cpu = cpu_seconds(primary), cpu_seconds(replica)
    start = time.perf_counter()
    latencies = joins(pool, wait)
    elapsed = time.perf_counter() - start
    n = len(latencies)
    wait_for_replica(replica, primary)  # the replica's share of the run is all in
    return Result(
        rate=n / elapsed,
        primary_us=(cpu_seconds(primary) - cpu[0]) / n * 1e6,
        replica_us=(cpu_seconds(replica) - cpu[1]) / n * 1e6,
        p50_us=percentile(latencies, 0.5),
        p99_us=percentile(latencies, 0.99),
    )


def wait_for_replica(replica: redis.Redis, primary: redis.Redis) -> None:
    offset = primary.info("replication")["master_repl_offset"]
    deadline = time.monotonic() + 30
    while replica.info("replication").get("slave_repl_offset", 0) < offset:
        if time.monotonic() > deadline:
            raise SystemExit("the replica did not catch up")
        time.sleep(0.01)


def best(
    joins: Joins, wait: int, repeats: int, primary: redis.Redis, replica: redis.Redis
) -> Result:
    """The run of ``repeats`` (each on a fresh pool) with the most joins/s."""
    return max(
        (measure(joins, wait, primary, replica) for _ in range(repeats)), key=lambda r: r.rate
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n_sync, n_async = (500, 2000) if args.quick else (5000, 20000)
    with RedisServer() as primary, RedisServer() as replica:
        follower = replica.client(socket_timeout=10)
        follower.replicaof("127.0.0.1", str(primary.port))
        wait_for_link(follower)
        client = primary.client(socket_timeout=10)
        print(f"primary + 1 replica on 127.0.0.1, best of {args.repeats} by joins/s")
        print(
            f"  {'client':<34} {'wait':>4} {'joins/s':>9} {'primary µs/join':>16} "
            f"{'replica µs/join':>16} {'p50 µs':>8} {'p99 µs':>8}"
        )
        measures: list[tuple[str, Joins]] = [
            ("sync, one call per round trip", lambda p, w: sync_latencies(client, p, n_sync, w)),
            (
                "asyncio auto-pipelined, 64 tasks",
                lambda p, w: async_latencies(primary.url, p, n_async, w),
            ),
        ]
        for name, joins in measures:
            off = best(joins, 0, args.repeats, client, follower)
            on = best(joins, 1, args.repeats, client, follower)
            for wait, r in ((0, off), (1, on)):
                print(
                    f"  {name if wait == 0 else '':<34} {wait:>4} {r.rate:>9,.0f} "
                    f"{r.primary_us:>16.1f} {r.replica_us:>16.1f} {r.p50_us:>8,.0f} "
                    f"{r.p99_us:>8,.0f}"
                )
            print(
                f"  {'with ÷ without':<34} {'':>4} {on.rate / off.rate:>9.2f} "
                f"{on.primary_us / off.primary_us:>16.2f} {on.replica_us / off.replica_us:>16.2f} "
                f"{on.p50_us / off.p50_us:>8.2f} {on.p99_us / off.p99_us:>8.2f}"
            )
        client.close()
        follower.close()


if __name__ == "__main__":
    main()
