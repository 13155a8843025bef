"""Locust runs on a real local Redis Cluster (3 primaries, each with a replica), each run in
its own process (Locust monkey-patches on import): the pipelined client batches each
primary's calls, and a primary handing its slots to its replica mid-run (a manual
``CLUSTER FAILOVER``: the old primary answers ``MOVED`` from then on) loses or doubles no
call. No rate or duration is asserted, beyond generous timeouts.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster

from lobbycore import pool_prefix
from lobbysim.testing import RedisClusterProcesses, RedisServer

ROOT = Path(__file__).resolve().parents[2]
LOCUST = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "lobby.py")]
SHARDS = "3"
PIPELINED = "Redis Cluster of 3 primaries: pipelined client, batched per primary"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    processes = RedisClusterProcesses(3, replicas=1, node_timeout_ms=2000)
    try:
        yield processes.start()
    finally:
        processes.close()


def locust_command(cluster: RedisClusterProcesses, out: Path, pool: str, seconds: int) -> list[str]:
    url = f"redis://127.0.0.1:{cluster.primaries()[0].port}/0"
    return [
        *LOCUST, "--headless", "-u", "200", "-r", "200", "-t", f"{seconds}s",
        "--redis-url", url, "--shards", SHARDS, "--pool", pool, "--only-summary",
        "--csv", str(out / "run"), "--result-file", str(out / "result.json"), "JoinStorm",
    ]  # fmt: skip


def assert_exact(process: subprocess.CompletedProcess[str] | Any, out: Path, log: str) -> None:
    """Exit 0, the pipelined cluster client, not one failed call, and an audit whose counts
    agree exactly: every join reported is on the server, once."""
    assert process.returncode == 0, log[-4000:]
    assert PIPELINED in log, log[-4000:]
    audit: dict[str, Any] = json.loads((out / "result.json").read_text())
    assert audit["ok"] is True and not audit["problems"], audit
    assert audit["joins"] == audit["placed_reported"] == audit["placed_server"] > 0, audit
    assert audit["unanswered"] == 0, audit
    with open(out / "run_stats.csv", newline="") as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    assert int(total["Failure Count"]) == 0, total
    assert int(total["Request Count"]) == audit["joins"], (total, audit)


def test_a_sharded_run_on_a_cluster_uses_the_pipelined_client_and_its_audit_is_exact(
    cluster: RedisClusterProcesses, tmp_path: Path
) -> None:
    pool = f"lc-{uuid.uuid4().hex[:8]}"
    run = subprocess.run(
        locust_command(cluster, tmp_path, pool, 3),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert_exact(run, tmp_path, run.stderr + run.stdout)


def errors_and_calls(node: RedisServer) -> tuple[int, int]:
    """The MOVED replies ``node`` gave, and the script calls clients sent it (a replica
    applies its primary's writes as their effects, not as script calls)."""
    with node.client(socket_timeout=10) as client:
        moved = int(client.info("errorstats").get("errorstat_MOVED", {}).get("count", 0))
        stats = client.info("commandstats")
    calls = sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )
    return moved, calls


def test_a_primary_failing_over_mid_run_loses_and_doubles_no_call(
    cluster: RedisClusterProcesses, tmp_path: Path
) -> None:
    pool = f"lf-{uuid.uuid4().hex[:8]}"
    with RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10) as client:
        owner_port = client.get_node_from_key(pool_prefix(pool, 0, int(SHARDS)) + "stats").port
    old = next(node for node in cluster.nodes if node.port == owner_port)
    new = cluster.replica_of(old)
    process = subprocess.Popen(
        locust_command(cluster, tmp_path, pool, 6),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    spawned = threading.Event()

    def follow() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "All users spawned" in line:
                spawned.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        assert spawned.wait(60), "".join(lines)[-4000:]
        time.sleep(1.0)  # shard 0's calls run on its first primary for a while
        with new.client(socket_timeout=10) as client:
            client.execute_command("CLUSTER", "FAILOVER")
        deadline = time.monotonic() + 20
        while cluster.role(new) != "master" or cluster.role(old) != "slave":
            assert time.monotonic() < deadline, "the manual failover did not complete"
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before the failover"
        stdout, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    follower.join(timeout=10)
    assert_exact(process, tmp_path, "".join(lines) + stdout)
    # The old primary redirected calls of the run, and they ran on the new one.
    moved, _ = errors_and_calls(old)
    assert moved > 0
    assert errors_and_calls(new)[1] > 0
