"""A server that comes back without the pool (a restart without persistence, a FLUSHALL):
``demo`` says so in its title and log, carries on in a fresh pool of its own, keeps the lost
pool's counts in its summary, and ``r`` (reset) works afterwards. Real redis-server
processes, restarted without persistence (lobbysim.testing's default: nothing on disk)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from lobbycore import LobbyStore
from lobbycore.admin import count_pool_keys, delete_pool
from lobbysim.cli._common import EXIT_INCOMPLETE
from lobbysim.cli._redis import open_clients
from lobbysim.testing import RedisServer
from simulator import SimConfig, Simulation
from simulator.config import FRESH_POOL_PREFIX
from simulator.dashboard import LobbySimApp
from simulator.source import DISCONNECTED, STATE_LOST

TIMEOUT = 60.0
"""Generous: only a hang fails a wait."""


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of the test's own, without persistence: a restart loses every key."""
    with RedisServer() as own:
        yield own


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def demo(server: RedisServer, pool: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "lobbysim.cli", "demo", "--headless", "--redis-url",
            server.url, "--pool", pool, "--duration", "8", "--rate", "80", "--seed", "4", *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def summary(out: str) -> dict[str, str]:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return dict(part.split("=", 1) for part in lines[0].split())


def test_headless_demo_carries_on_in_a_fresh_pool_after_a_restart_without_persistence(
    server: RedisServer, pool_name: str
) -> None:
    run = demo(server, pool_name, "--keep")
    wait_until(lambda: count_pool_keys(server.client(), pool_name) > 0)
    server.restart()  # no persistence: the pool is gone
    out, err = run.communicate(timeout=120)
    assert err == "", err  # no error line, no traceback
    assert run.returncode == EXIT_INCOMPLETE, out
    values = summary(out)
    assert values["pools_lost"] == "1" and values["lost_pools"] == pool_name, values
    fresh = values["pool"]
    assert fresh.startswith(FRESH_POOL_PREFIX) and fresh != pool_name, values
    assert values["violations"] == "0" and values["ended"] == "duration", values
    # It carried on: buyers joined in the fresh pool, as its own counters say.
    client = server.client()
    assert LobbyStore(client, pool=fresh, create_pool=False).stats().joins > 0
    assert count_pool_keys(client, pool_name) == 0  # the lost pool was never made again
    delete_pool(client, fresh)


def test_after_a_flushall_the_run_deletes_the_pools_it_made(
    server: RedisServer, pool_name: str
) -> None:
    run = demo(server, pool_name)
    client = server.client()
    wait_until(lambda: count_pool_keys(client, pool_name) > 0)
    client.flushall()
    out, err = run.communicate(timeout=120)
    assert err == "" and run.returncode == EXIT_INCOMPLETE, out + err
    values = summary(out)
    # A lost pool without an outage: the summary says so all the same.
    assert values["outages"] == "0" and values["pools_lost"] == "1", values
    assert values["pool"].startswith(FRESH_POOL_PREFIX), values
    assert client.dbsize() == 0  # the fresh pool was the run's own: deleted at its end


async def test_the_dashboard_says_the_pool_was_lost_carries_on_and_r_works(
    server: RedisServer, pool_name: str
) -> None:
    clients = open_clients(server.url)
    sim = Simulation(clients, SimConfig(pool=pool_name, rate=60.0, seed=6))
    app = LobbySimApp(sim)
    async with app.run_test(size=(150, 40)) as pilot:

        async def wait_for(condition: Callable[[], bool]) -> None:
            deadline = time.monotonic() + TIMEOUT
            while not condition():
                assert time.monotonic() < deadline
                await pilot.pause(0.1)

        await wait_for(lambda: sim.metrics.joins.total > 0)
        server.restart()
        await wait_for(lambda: STATE_LOST in app.sub_title)
        await wait_for(lambda: sim.pool != pool_name and f"pool {sim.pool} " in app.sub_title)
        await wait_for(lambda: DISCONNECTED not in app.sub_title)  # Redis answers again
        started = [line for line in sim.log if f"{STATE_LOST}: started a fresh pool" in line]
        assert len(started) == 1 and sim.pool in started[0] and pool_name in started[0]
        # Buyers carry on in the fresh pool.
        joins = sim.metrics.joins.total
        await wait_for(lambda: sim.metrics.joins.total > joins)

        await pilot.press("r")
        await wait_for(lambda: any(f"pool {sim.pool!r} reset" in line for line in sim.log))
        since_reset = sim.logged
        await wait_for(lambda: sim.metrics.joins.total > 0)  # counted afresh, and growing
        fresh_lines = (
            list(sim.log)[-(sim.logged - since_reset) :] if sim.logged > since_reset else []
        )
        assert not any("failed" in line for line in fresh_lines), fresh_lines
        await pilot.press("q")
    assert app.failure is None and app.return_code == 0
    await clients.async_client.aclose()
    for pool in sim.created_pools:
        delete_pool(server.client(), pool)
