"""Dashboards that ride out outages: a private redis-server is stopped for ~1.5 s and
started again on the same port while ``demo --redis-url`` and ``watch`` run. They count the
errors, show "disconnected — retrying", recover, keep auditing, report the outage in the
headless summary (exit 3), and print no traceback. An error that is not Redis's ends the
run with one line instead of "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from lobbycore import LobbyStore
from lobbysim.cli._common import EXIT_INCOMPLETE
from lobbysim.cli._redis import open_clients, open_embedded
from lobbysim.testing import RedisServer
from simulator import PoolFollower, SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from simulator.source import DISCONNECTED, LiveSource

OUTAGE_SECONDS = 1.5


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of the test's own: it is stopped and started again. It keeps its data across
    the restart (AOF, fsync always): an outage, not a loss of state. A restart that loses the
    pool: tests/functional/test_lost_pool.py."""
    with RedisServer("--appendonly", "yes", "--appendfsync", "always") as own:
        yield own


def outage(server: RedisServer, after: float) -> None:
    time.sleep(after)
    server.stop()
    time.sleep(OUTAGE_SECONDS)
    server.start(attempts=20, port=server.port)


def headless(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lobbysim.cli", *args, "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def summary(out: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in out.strip().splitlines()[-1].split())


def assert_rode_it_out(run: subprocess.Popen[str]) -> dict[str, str]:
    out, err = run.communicate(timeout=120)
    assert err == "", err  # no traceback, no "Task exception was never retrieved"
    assert run.returncode == EXIT_INCOMPLETE, out
    values = summary(out)
    assert int(values["errors"]) > 0 and int(values["outages"]) >= 1, values
    assert float(values["disconnected_s"]) > 0, values
    assert int(values["audits_after_outage"]) >= 1, values  # the auditor kept running
    return values


def test_headless_demo_rides_out_an_outage(server: RedisServer, pool_name: str) -> None:
    run = headless(
        "demo", "--redis-url", server.url, "--pool", pool_name, "--duration", "7",
        "--rate", "80", "--seed", "5",
    )  # fmt: skip
    outage(server, after=2.0)
    values = assert_rode_it_out(run)
    assert values["violations"] == "0" and int(values["joins"]) > 0


def test_headless_watch_rides_out_an_outage(server: RedisServer, pool_name: str) -> None:
    store = LobbyStore(server.client(), pool=pool_name, lobby_ttl=None)
    store.find_or_create_lobby("early", 2)
    run = headless("watch", "--redis-url", server.url, "--pool", pool_name, "--duration", "7")
    outage(server, after=2.0)
    for i in range(40):  # after the restart: the watcher must see these events
        lobby = store.find_or_create_lobby(f"late-{i}", 2)
        if lobby.is_full:
            store.book_ticket(lobby.id)
    values = assert_rode_it_out(run)
    assert int(values["joins"]) >= 40 and int(values["bookings"]) >= 20, values
    assert values["pool_found"] == "yes"


async def wait_for(condition: Callable[[], bool], pause: Callable[[float], object]) -> None:
    deadline = time.monotonic() + 30  # generous: only a hang fails it
    while not condition():
        assert time.monotonic() < deadline
        await pause(0.1)  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["demo", "watch"])
async def test_the_title_shows_the_outage_and_the_recovery(
    server: RedisServer, pool_name: str, mode: str
) -> None:
    clients = open_clients(server.url)
    source: LiveSource
    if mode == "demo":
        source = Simulation(clients, SimConfig(pool=pool_name, rate=40.0, seed=2))
    else:
        LobbyStore(server.client(), pool=pool_name, lobby_ttl=None).find_or_create_lobby("a", 2)
        source = PoolFollower(clients, pool_name)
    app = LobbySimApp(source)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause(0.5)
        assert DISCONNECTED not in app.sub_title
        server.stop()
        await wait_for(lambda: DISCONNECTED in app.sub_title, pilot.pause)
        assert "errors]" in app.sub_title and source.metrics.errors > 0
        server.start(attempts=20, port=server.port)
        await wait_for(lambda: DISCONNECTED not in app.sub_title, pilot.pause)
        audits = source.live_audits
        await wait_for(lambda: source.live_audits > audits, pilot.pause)
        assert any("reconnected after" in line for line in source.log)
        await pilot.press("q")
    assert app.failure is None and app.return_code == 0
    await clients.async_client.aclose()


def broken_simulation() -> Simulation:
    """A simulation whose store fails in a way that is no Redis outage (a bug, say)."""
    sim = Simulation(open_embedded(), SimConfig(rate=200.0, seed=1))

    async def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("a bug in a buyer task")

    sim.store.find_or_create_lobby = broken
    return sim


async def test_an_unexpected_task_error_ends_the_run_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = broken_simulation()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(ZeroDivisionError, match="a bug in a buyer task"):
            await asyncio.wait_for(sim.run(), 30)
        await asyncio.sleep(0.1)
    assert "never retrieved" not in caplog.text


async def test_an_unexpected_task_error_ends_the_dashboard_for_its_caller() -> None:
    sim = broken_simulation()
    app = LobbySimApp(sim)
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_for(lambda: app.failure is not None, pilot.pause)
    assert isinstance(app.failure, ZeroDivisionError) and app.return_code == 1


def test_redis_connection_errors_are_not_os_errors() -> None:
    """Why the dashboards catch redis.RedisError and not only OSError."""
    assert not issubclass(redis.ConnectionError, OSError)


async def test_a_task_that_loses_its_cancellation_is_stopped_all_the_same() -> None:
    """A task that rides out its first cancellation (as a loop did when a Python 3.11
    timeout turned it into a TimeoutError) is cancelled again: the run ends."""
    from simulator.engine import _stop

    lost: list[bool] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost.append(True)  # swallowed once

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(_stop({task}), 30)
    assert task.cancelled() and lost


async def test_a_cancellation_seen_as_a_timeout_is_not_counted_as_an_outage() -> None:
    follower = PoolFollower(open_embedded(), "p")

    async def call() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            try:
                raise TimeoutError from None  # what the cancellation may arrive as
            except TimeoutError as exc:
                follower.lost(exc)

    task = asyncio.create_task(call())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert follower.metrics.errors == 0 and not follower.disconnected
