"""The price of durability: joins/s with and without ``wait_replicas=1``, in one run, against
a private primary with one replica (both redis-server processes on this machine).

    .venv/bin/python benchmarks/bench_wait.py            # or --quick for a smoke run

Not a test: nothing here asserts a speed. Sync (one call per round trip: every join waits
for the replica's acknowledgement) and asyncio auto-pipelined (one WAIT per round trip of up
to 16 calls), each measured without, then with the option, best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import redis
from _shared import RedisServer

from lobbycore import AsyncLobbyStore, LobbyStore, connect


def wait_for_link(replica: redis.Redis) -> None:
    deadline = time.monotonic() + 30
    while replica.info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise SystemExit("the replica did not connect")
        time.sleep(0.05)


def sync_rate(client: redis.Redis, pool: str, n: int, wait: int) -> float:
    store = LobbyStore(client, pool=pool, lobby_ttl=None, wait_replicas=wait, wait_timeout=1.0)
    store.stats()  # opened outside the timing
    start = time.perf_counter()
    for i in range(n):
        store.find_or_create_lobby(f"u{i}", 4)
    return n / (time.perf_counter() - start)


def async_rate(url: str, pool: str, n: int, wait: int, concurrency: int = 64) -> float:
    async def run() -> float:
        client = connect(url, asyncio=True, cluster=False)
        store = AsyncLobbyStore(client, pool=pool, lobby_ttl=None, wait_replicas=wait)
        await store.stats()
        counter = iter(range(n))

        async def worker() -> None:
            for i in counter:
                await store.find_or_create_lobby(f"u{i}", 4)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rate = n / (time.perf_counter() - start)
        await client.aclose()
        return rate

    return asyncio.run(run())


def best(measure: Callable[[str, int], float], wait: int, repeats: int) -> float:
    """The best rate of ``repeats`` runs, each on a fresh pool."""
    return max(measure(f"w{wait}-{r}-{time.monotonic_ns()}", wait) for r in range(repeats))


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
        print(f"joins/s, primary + 1 replica on 127.0.0.1 (best of {args.repeats})")
        measures: list[tuple[str, Callable[[str, int], float]]] = [
            ("sync, one call per round trip", lambda p, w: sync_rate(client, p, n_sync, w)),
            (
                "asyncio auto-pipelined, 64 tasks",
                lambda p, w: async_rate(primary.url, p, n_async, w),
            ),
        ]
        for name, measure in measures:
            off = best(measure, 0, args.repeats)
            on = best(measure, 1, args.repeats)
            print(
                f"  {name:<34} without {off:>9,.0f}   wait_replicas=1 {on:>9,.0f}"
                f"   ratio {on / off:.2f}"
            )
        client.close()
        follower.close()


if __name__ == "__main__":
    main()
