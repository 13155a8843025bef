"""The simulation and the follower after the server lost the pool (here a FLUSHALL of the
embedded server); and a reset, whose new store must not carry the deleted pool's epoch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from lobbycore import AsyncLobbyStore
from lobbysim.cli._redis import open_embedded
from simulator import PoolFollower, SimConfig, Simulation
from simulator.config import FRESH_POOL_PREFIX
from simulator.source import STATE_LOST

TIMEOUT = 30.0
"""Generous: only a hang fails a wait."""


async def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_the_simulation_carries_on_in_a_fresh_pool_and_keeps_the_counts() -> None:
    clients = open_embedded()
    sim = Simulation(clients, SimConfig(rate=300.0, seed=2))
    run = asyncio.create_task(sim.run())
    await wait_for(lambda: sim.metrics.joins.total > 20)
    await clients.async_client.flushall()
    await wait_for(lambda: sim.pool != "demo")
    assert sim.lost_pools == ["demo"] and sim.pool.startswith(FRESH_POOL_PREFIX)
    assert sim.created_pools == ["demo", sim.pool] and sim.incomplete
    assert [note for note in sim.pool_notes() if STATE_LOST in note]
    joins = sim.metrics.joins.total
    await wait_for(lambda: sim.metrics.joins.total > joins + 20)  # joining in the fresh pool
    sim.stop()
    await asyncio.wait_for(run, TIMEOUT)
    values = sim.summary()
    assert values["pools_lost"] == "1" and values["lost_pools"] == "demo", values
    assert values["pool"] == sim.pool and int(values["joins"]) > joins + 20, values
    assert not [line for line in sim.log if "failed" in line]


async def test_after_a_reset_buyers_join_again() -> None:
    sim = Simulation(open_embedded(), SimConfig(rate=300.0, seed=3))
    run = asyncio.create_task(sim.run())
    await wait_for(lambda: sim.metrics.joins.total > 20)
    await sim.reset()
    await wait_for(lambda: sim.metrics.joins.total > 20)
    sim.stop()
    await asyncio.wait_for(run, TIMEOUT)  # the last audit reads the reset pool
    assert not sim.lost_pools and sim.pool == "demo"
    assert not [line for line in sim.log if "failed" in line or STATE_LOST in line]


async def test_the_follower_waits_for_a_lost_pool_and_follows_the_new_one() -> None:
    clients = open_embedded()
    store = AsyncLobbyStore(clients.async_client, pool="p", lobby_ttl=None)
    for i in range(3):
        await store.find_or_create_lobby(f"before-{i}", 2)
    follower = PoolFollower(clients, "p")
    run = asyncio.create_task(follower.run())
    await wait_for(lambda: follower.metrics.joins.total == 3)
    await clients.async_client.flushall()
    await wait_for(lambda: follower.pool_gone)
    assert follower.lost_pools == ["p"] and follower.incomplete
    assert follower.pool_notes() == [f"{STATE_LOST}: waiting for the pool"]
    again = AsyncLobbyStore(clients.async_client, pool="p", lobby_ttl=None)
    for i in range(4):
        await again.find_or_create_lobby(f"after-{i}", 2)
    await wait_for(lambda: not follower.pool_gone and follower.metrics.joins.total == 7)
    follower.stop()
    await asyncio.wait_for(run, TIMEOUT)
    assert follower.summary()["pools_lost"] == "1"
