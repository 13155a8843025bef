"""lobbycore unchanged on a real 3-primary Redis Cluster (through redis-py's RedisCluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from lobbycore import AsyncLobbyStore, LobbyStore
from lobbycore.admin import async_delete_pool
from lobbycore.audit import async_snapshot, snapshot
from lobbysim.testing import RedisClusterProcesses

from .harness import run_tasks, run_threads


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    processes = RedisClusterProcesses(3)
    try:
        yield processes.start()
    finally:
        processes.close()


def test_pools_spread_over_primaries_and_keep_every_guarantee(
    cluster: RedisClusterProcesses,
) -> None:
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    pools = [f"cluster-{i}" for i in range(6)]
    owners = {client.get_node_from_key(f"lobbysim:{{{pool}}}:stats").port for pool in pools}
    assert len(owners) >= 2  # the pools do not all hash to one primary
    for pool in pools:
        store = LobbyStore(client, pool=pool, lobby_ttl=60)
        result = run_threads(store, client, threads=8, ops_per_thread=40)
        assert result.report.ok, (pool, result.report.findings[:5])
        assert store.stats().waiting_users == result.report.figures["waiting"]
    client.close()


def test_one_hot_pool_sharded_over_every_primary(cluster: RedisClusterProcesses) -> None:
    from lobbycore import pool_prefix

    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    store = LobbyStore(client, pool="hot-sale", lobby_ttl=60, shards=6)
    owners = {
        client.get_node_from_key(pool_prefix("hot-sale", i, 6) + "stats").port for i in range(6)
    }
    assert owners == set(cluster.ports)  # one on-sale, spread over all three primaries
    store.set_seats(400)
    result = run_threads(store, client, threads=12, ops_per_thread=60, initial_seats=400)
    assert result.report.ok, result.report.findings[:5]
    assert store.stats().waiting_users == result.report.figures["waiting"]
    client.close()


@pytest.mark.parametrize("shards", [1, 3])
async def test_async_store_on_the_cluster(cluster: RedisClusterProcesses, shards: int) -> None:
    aclient = AsyncRedisCluster(host="127.0.0.1", port=cluster.ports[1])
    await aclient.initialize()  # before the tasks race to do it
    store = AsyncLobbyStore(aclient, pool=f"cluster-async-{shards}", lobby_ttl=60, shards=shards)
    sync_client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    result = await run_tasks(store, sync_client, tasks=40, ops_per_task=15)
    # The async reader (the dashboard's) sees the cluster pool as the sync one does.
    assert await async_snapshot(aclient, store.pool, shards=shards) == snapshot(
        sync_client, store.pool, shards=shards
    )
    assert await async_delete_pool(aclient, store.pool, shards=shards) > 0
    assert snapshot(sync_client, store.pool, shards=shards).lobbies == {}
    await aclient.aclose()
    sync_client.close()
    assert result.report.ok, result.report.findings[:5]


def test_connect_detects_a_cluster(cluster: RedisClusterProcesses) -> None:
    from lobbycore import connect

    url = f"redis://127.0.0.1:{cluster.ports[2]}/0"
    client = connect(url)
    assert isinstance(client, RedisCluster)
    store = LobbyStore(client, pool="cluster-connect", lobby_ttl=60)
    assert store.join_party(["a", "b"], 2).is_full
    assert isinstance(connect(url, asyncio=True), AsyncRedisCluster)


def test_locust_join_storm_on_the_cluster(cluster: RedisClusterProcesses, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    locustfile = Path(__file__).resolve().parents[2] / "locustfiles" / "lobby.py"
    url = f"redis://127.0.0.1:{cluster.ports[0]}/0"
    result_file = tmp_path / "result.json"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "20", "-r", "20",
         "-t", "3s", "--redis-url", url, "--pool", "cluster-locust", "--party-share", "0.2",
         "--result-file", str(result_file), "JoinStorm"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    audit = json.loads(result_file.read_text())
    assert audit["ok"] is True
    assert audit["joins"] > 100


def test_capacity_reads_cpu_and_memory_of_every_primary(cluster: RedisClusterProcesses) -> None:
    from lobbysim.cli.capacity.measure import per_primary
    from lobbysim.cli.capacity.run import _memory_mb

    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    nodes = per_primary(client, "memory")
    assert len(nodes) == 3
    per_node_mb = [int(info["used_memory"]) / 1e6 for _, info in nodes]
    # Two INFO reads apart: a live server's memory moves by a few kB in between, while
    # every primary holds over 1 MB, so leaving one out would miss by more than 0.5 MB.
    assert min(per_node_mb) > 1.0
    assert _memory_mb(client) == pytest.approx(sum(per_node_mb), abs=0.5)
    client.close()


def _getkeys_calls(client: RedisCluster) -> int:
    total = 0
    for node in client.get_primaries():
        stats = client.get_redis_connection(node).info("commandstats")
        total += int(stats.get("cmdstat_command|getkeys", {}).get("calls", 0))
    return total


@pytest.mark.parametrize("shards", [1, 3])
async def test_operations_on_a_cluster_cost_one_round_trip_not_a_key_lookup_too(
    cluster: RedisClusterProcesses, shards: int
) -> None:
    # redis-py's cluster clients ask a node for FCALL's keys (COMMAND GETKEYS) before each
    # call; the stores send EVALSHA there, whose keys redis-py reads itself.
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    aclient = AsyncRedisCluster(host="127.0.0.1", port=cluster.ports[0])
    store = LobbyStore(client, pool=f"no-getkeys-{shards}", lobby_ttl=60, shards=shards)
    astore = AsyncLobbyStore(aclient, pool=f"no-getkeys-a{shards}", lobby_ttl=60, shards=shards)
    before = _getkeys_calls(client)
    for i in range(30):
        store.find_or_create_lobby(f"u{i}", 4)
        await astore.find_or_create_lobby(f"u{i}", 4)
    store.leave_lobby("u0")
    await astore.leave_lobby("u0")
    assert store.stats().waiting_users == 29 and (await astore.stats()).waiting_users == 29
    assert _getkeys_calls(client) == before
    client.close()
    await aclient.aclose()
