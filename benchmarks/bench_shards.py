"""Throughput against shard count, on a private 3-primary Redis Cluster (not a test).

    .venv/bin/python benchmarks/bench_shards.py --out docs/capacity-shards
    .venv/bin/python benchmarks/bench_shards.py --out /tmp/shards -- --quick
    .venv/bin/python benchmarks/bench_shards.py --server-only
    .venv/bin/python benchmarks/bench_shards.py --generator --rounds 3

Starts a real Redis Cluster (3 ``redis-server --cluster-enabled yes`` on loopback ports,
joined by ``redis-cli --cluster create``), then:

1. server side, no Python client: three ``redis-benchmark`` processes run the join script
   by EVALSHA at the same time, first all on one sub-pool (one primary does every join),
   then each on its own sub-pool of a 3-shard pool (one per primary); joins/s summed, and
   Redis's CPU per join (INFO, summed over the primaries: a shared machine moves it least);
2. ``lobbysim capacity --shards 1,3 --verify`` against the cluster (any further arguments
   after ``--`` go to ``lobbysim capacity``); the report's command line names the cluster's
   ephemeral port, so this script puts the command that makes it again above it.

Then it shuts the cluster down. The Locust runs of step 2 use the pipelined client, which
on a cluster batches each primary's calls (``locustfiles/pipeline.py``).

``--generator`` measures that client's cost instead: the Locust process's CPU per join with
3 shards, for the pipelined client on one redis-server, the pipelined client on a 3-primary
cluster and the per-call client there, side by side (``bench_locust.py --cluster``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import redis
from redis.cluster import RedisCluster

from lobbycore import LobbyStore, _protocol, pool_prefix
from lobbycore._scripts import script_sources
from lobbysim.testing import RedisClusterProcesses

DEFAULTS = ["--shards", "1,3", "--steps", "6", "--step-seconds", "10", "--start-rate", "2000"]
DEFAULTS += ["--max-rate", "20000", "--max-users", "4", "--verify"]


REQUESTS = 100_000
CLIENTS = 30  # per redis-benchmark process


def _port_of(client: RedisCluster, key: str) -> int:
    cluster: Any = client  # redis-py's cluster methods carry no type hints
    port: int = cluster.get_node_from_key(key).port
    return port


def _spread_pool(client: RedisCluster, shards: int) -> str:
    """A pool name whose sub-pools sit on distinct primaries (with 3 shards on 3 primaries
    that takes the right name; with more shards than primaries they spread by themselves)."""
    cluster: Any = client  # redis-py's cluster methods carry no type hints
    for n in range(1000):
        pool = f"bench-{n}"
        owners = {
            cluster.get_node_from_key(pool_prefix(pool, i, shards) + "stats").port
            for i in range(shards)
        }
        if len(owners) == shards:
            return pool
    raise RuntimeError("no pool name spreads its shards over every primary")


RANDOM_ARGS = ("L__rand_int__", "S__rand_int__")
"""What replaces the new lobby's ids in each benchmark call: redis-benchmark puts a random
number in each ``__rand_int__`` of every request."""


def _join_arguments(store: LobbyStore, stats_key: str) -> list[str]:
    """``numkeys key... arg...`` of one join on the sub-pool whose first key is
    ``stats_key``, as the store itself would send it (its epoch, its write floor), the
    user and the new lobby's ids made random per request: built from the store's own call,
    so it follows the scripts' keys and arguments wherever they go."""
    made = iter(RANDOM_ARGS)
    with mock.patch.object(_protocol, "new_ulid", lambda: next(made)):
        for n in range(10_000):
            made = iter(RANDOM_ARGS)
            call = store._protocol.find_or_create_lobby(f"probe-user-{n}", 4)
            if call.keys[0] == stats_key:
                break
        else:
            raise RuntimeError(f"no user routes to {stats_key}")
    call = store._with_epoch(call)
    args = [str(a).replace(f"probe-user-{n}", "u__rand_int__") for a in call.args]
    return [str(len(call.keys)), *call.keys, *args]


def _cpu_and_calls(ports: list[int]) -> tuple[float, int]:
    """Redis CPU seconds (user + system) and script calls, summed over ``ports``' servers."""
    cpu, calls = 0.0, 0
    for port in sorted(set(ports)):
        with redis.Redis(port=port) as node:
            info = node.info("cpu")
            stats = node.info("commandstats")
        cpu += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        calls += int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
    return cpu, calls


def _joins_per_second(ports: list[int], calls: list[list[str]], sha: str) -> tuple[float, float]:
    """Run one redis-benchmark per (port, call) at once: their joins/s summed, and Redis's
    CPU per join over the run, µs (every primary's CPU and script calls summed)."""
    cpu_before, calls_before = _cpu_and_calls(ports)
    runs = [
        subprocess.Popen(
            [
                "redis-benchmark",
                "-p",
                str(port),
                "-n",
                str(REQUESTS),
                "-c",
                str(CLIENTS),
                "-r",
                "1000000000",
                "-q",
                "EVALSHA",
                sha,
                *call,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for port, call in zip(ports, calls, strict=True)
    ]
    total = 0.0
    for run in runs:
        output, _ = run.communicate(timeout=600)
        match = re.search(r"([\d.]+) requests per second", output.replace(",", ""))
        if match is None:
            raise RuntimeError(f"unexpected redis-benchmark output: {output!r}")
        total += float(match.group(1))
    cpu_after, calls_after = _cpu_and_calls(ports)
    return total, (cpu_after - cpu_before) * 1e6 / max(1, calls_after - calls_before)


def server_side(cluster: RedisClusterProcesses) -> None:
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    for port in cluster.ports:  # every primary needs the script
        sha = redis.Redis(port=port).script_load(script_sources()["join"])
    pool = _spread_pool(client, 3)
    store = LobbyStore(client, pool=pool, shards=3)
    store.stats()  # each sub-pool's epoch, as a store learns it on its first call
    keys = list(store._epochs)
    ports = [_port_of(client, key) for key in keys]
    calls = [_join_arguments(store, key) for key in keys]
    one, one_us = _joins_per_second([ports[0]] * 3, [calls[0]] * 3, sha)
    three, three_us = _joins_per_second(ports, calls, sha)
    print(
        f"server side: 3 redis-benchmark processes x {CLIENTS} clients, EVALSHA join, lobbies of 4"
        " (Redis CPU per join: INFO, summed over the primaries that ran them)"
    )
    print(
        f"  1 shard  (one primary does every join)   {one:>10,.0f} joins/s  {one_us:>6.1f} µs/join"
    )
    print(
        f"  3 shards (one primary each)              {three:>10,.0f} joins/s  {three_us:>6.1f} µs/join"
    )
    print(
        f"  3 shards ÷ 1 shard                       {three / one:>10.2f}          "
        f"{three_us / one_us:>6.2f}",
        flush=True,
    )
    client.close()


def _name_this_script(report: Path, argv: list[str], ports: list[int]) -> None:
    """Put the command that makes the report again above the report's own command line."""
    if not report.exists():
        return
    title, _, rest = report.read_text(encoding="utf-8").partition("\n")
    again = " ".join(["python", "benchmarks/bench_shards.py", *argv])
    made = (
        f"Made by `{again}`: a private Redis Cluster of {len(ports)} primaries on loopback "
        f"ports {', '.join(map(str, ports))}, started and stopped by that script."
    )
    report.write_text(f"{title}\n\n{made}\n{rest}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", help="folder for the capacity report (required unless --server-only)"
    )
    parser.add_argument("--server-only", action="store_true", help="only the redis-benchmark part")
    parser.add_argument(
        "--generator",
        action="store_true",
        help="only the generator's CPU per join: pipelined on one server, pipelined and "
        "per-call on a cluster (bench_locust.py --cluster --users 500)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="--generator: rounds (default 2)")
    parser.add_argument("capacity_args", nargs="*", help="extra lobbysim capacity arguments")
    args = parser.parse_args()
    if args.generator:
        from bench_locust import compare_cluster  # a script next to this one

        compare_cluster([500], seconds=10, rounds=args.rounds, pin=False, open_rate=1500.0)
        return 0
    if not args.server_only and not args.out:
        parser.error("--out is required (or --server-only, or --generator)")
    cluster = RedisClusterProcesses(3).start()
    try:
        server_side(cluster)
        if args.server_only:
            return 0
        url = f"redis://127.0.0.1:{cluster.ports[0]}/0"
        command = [str(Path(sys.executable).parent / "lobbysim"), "capacity"]
        command += ["--redis-url", url, "--out", args.out, *DEFAULTS, *args.capacity_args]
        print("cluster primaries on ports", cluster.ports, flush=True)
        print(" ".join(command), flush=True)
        code = subprocess.run(command, check=False).returncode
        _name_this_script(Path(args.out) / "report.md", sys.argv[1:], cluster.ports)
        return code
    finally:
        cluster.close()


if __name__ == "__main__":
    raise SystemExit(main())
