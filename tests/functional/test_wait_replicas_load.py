"""Durability (``wait_replicas``) through the Locust client, on a real primary and replica:
the gevent auto-pipeline (in this process: plain gevent, no monkey-patching) confirms writes
while the replica is in sync and reports NotConfirmed while it is frozen; a Locust run (in a
subprocess: it monkey-patches) with ``--wait-replicas 1`` passes its audit with no failure."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from lobbycore import Lobby, NotConfirmed
from lobbysim.testing import RedisServer
from locustfiles.pipeline import PipelinedLobbyStore
from tests.functional.test_locust import (
    assert_clean,
    headless,
    result_file,
    run_locust,
    stats_rows,
)

__all__ = ["result_file"]  # its autouse fixture: where each Locust run writes its audit


@pytest.fixture(scope="module")
def primary() -> Iterator[tuple[RedisServer, RedisServer]]:
    # No diskless-sync delay: the replica's first sync starts at once, not after 5 s.
    with RedisServer("--repl-diskless-sync-delay", "0") as primary, RedisServer() as replica:
        replica.follow(primary)
        yield primary, replica


def joins(store: PipelinedLobbyStore, prefix: str, n: int) -> list[Any]:
    def join(i: int) -> Any:
        try:
            return store.find_or_create_lobby(f"{prefix}{i}", 4)
        except NotConfirmed as exc:
            return exc

    greenlets = [gevent.spawn(join, i) for i in range(n)]
    gevent.joinall(greenlets, timeout=30, raise_error=True)
    return [g.value for g in greenlets]


def test_the_gevent_pipeline_waits_for_the_replica_and_reports_not_confirmed_without_it(
    primary: tuple[RedisServer, RedisServer],
) -> None:
    server, replica = primary
    client = server.client(socket_timeout=10)
    store = PipelinedLobbyStore(
        client, pool="gw", lobby_ttl=None, shards=1, connections=2, wait_replicas=1,
        wait_timeout=1.0,  # a healthy replica's ack took more than 0.2 s on a busy CI machine
    )  # fmt: skip
    # Opened first: its lock is a thread's, which greenlets cannot share unpatched.
    assert store.stats().joins == 0
    confirmed = joins(store, "a", 40)
    assert all(isinstance(outcome, Lobby) for outcome in confirmed), confirmed
    assert replica.process is not None
    replica.process.send_signal(signal.SIGSTOP)
    try:
        unconfirmed = joins(store, "b", 40)
        assert store.lobby_of("a0") is not None  # a read answers at once
    finally:
        replica.process.send_signal(signal.SIGCONT)
    assert all(isinstance(outcome, NotConfirmed) for outcome in unconfirmed), unconfirmed
    assert sorted(o.result.users[-1] for o in unconfirmed) == sorted(f"b{i}" for i in range(40))
    assert client.info("commandstats")["cmdstat_wait"]["calls"] <= 80 + 4  # one per round
    client.close()


def test_a_locust_run_with_wait_replicas_passes_its_audit_without_a_failure(
    primary: tuple[RedisServer, RedisServer], tmp_path: Path
) -> None:
    server, _ = primary
    result = run_locust(
        *headless(server, "--wait-replicas", "1", "--csv", str(tmp_path / "run"), users="100"),
        "Churn",
    )
    assert_clean(result)
    rows = stats_rows(tmp_path / "run")
    assert int(rows["Aggregated"]["Request Count"]) > 100
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert server.client().info("commandstats")["cmdstat_wait"]["calls"] > 0
