"""The history checker on real concurrent runs: clean for lobbycore, failing for the naive
store, and tolerant (but still watchful) of calls that got no answer."""

from __future__ import annotations

import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lobbycore import LobbyStore, NaiveLobbyStore, connect
from lobbycore.audit import snapshot
from lobbycore.violations import Violation
from lobbysim.checks.history import Recorder, check_history
from lobbysim.testing import RedisServer

from .harness import run_threads


def test_history_of_a_lobbycore_run_is_consistent(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client(max_connections=40)
    recorder = Recorder()
    run_threads(
        LobbyStore(client, pool=pool_name, lobby_ttl=None),
        client,
        threads=32,
        ops_per_thread=100,
        recorder=recorder,
    )
    report = check_history(recorder.ops, snapshot(client, pool_name))
    assert report.ok, report.findings[:5]
    assert report.figures["operations"] == 3200 and report.figures["unknown"] == 0


def test_history_of_a_naive_run_is_not(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client(max_connections=40)
    recorder = Recorder()
    run_threads(
        NaiveLobbyStore(client, pool=pool_name),
        client,
        threads=32,
        ops_per_thread=20,
        naive=True,
        recorder=recorder,
    )
    report = check_history(recorder.ops, snapshot(client, pool_name, naive=True))
    kinds = {v.violation for v in report.findings}
    assert {Violation.USER_IN_TWO_LOBBIES, Violation.LOST_JOIN} <= kinds, kinds


def test_history_with_unanswered_calls(pool_name: str) -> None:
    with RedisServer() as server:
        admin = server.client()
        store = LobbyStore(
            connect(server.url, max_connections=64, retry=Retry(NoBackoff(), 0)),
            pool=pool_name,
            lobby_ttl=None,
        )
        recorder = Recorder(unanswered=(redis.ConnectionError, redis.TimeoutError))
        done = threading.Event()
        load = threading.Thread(
            target=lambda: (
                run_threads(
                    store, admin, threads=16, ops_per_thread=150, retry=True, recorder=recorder
                ),
                done.set(),
            )
        )
        load.start()
        while not done.is_set():
            time.sleep(0.02)
            admin.client_kill_filter(_type="normal", skipme=True)
        load.join()
        report = check_history(recorder.ops, snapshot(admin, pool_name))
        assert report.figures["unknown"] > 0, "no call was cut off"
        assert report.ok, report.findings[:5]
