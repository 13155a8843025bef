"""The demo at a high arrival rate: its counts are the server's, exactly, and its guarantees
hold (how fast it went is benchmarks/bench_tui.py's business, not a test's); and the panel
says so when the demo serves fewer arrivals than it is offered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from lobbycore import LobbyStore
from lobbysim.cli._redis import open_embedded
from lobbysim.testing import RedisServer
from simulator import SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from simulator.dashboard.widgets import Numbers
from simulator.engine import LIMIT_NOTE
from tests.cli import lobbysim
from tests.functional.test_demo import summary

TIMEOUT = 60.0
"""Generous: only a hang fails a wait."""


def test_a_high_rate_demo_counts_what_the_server_did(
    redis_server: RedisServer, pool_name: str
) -> None:
    result = lobbysim(
        "demo", "--headless", "--rate", "2000", "--duration", "3", "--seed", "5",
        "--redis-url", redis_server.url, "--pool", pool_name, "--keep",
        "--patience", "0.5", "--max-users", "50",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = summary(result)
    assert values["ok"] == "true" and values["violations"] == "0", values
    assert values["errors"] == "0" and values["outages"] == "0", values
    stats = LobbyStore(redis_server.client(), pool=pool_name).stats()
    # Every answered call counted once, none the server did not do.
    assert int(values["joins"]) == stats.joins > 0, (values, stats)
    assert int(values["leaves"]) == stats.leaves > 0, (values, stats)
    assert int(values["bookings"]) == stats.bookings > 0, (values, stats)
    join_calls = int(values["answered"]) - stats.leaves - stats.bookings
    assert stats.joins / 3 <= join_calls <= stats.joins  # a party's call joins 2 or 3
    assert float(values["served_per_s"]) <= float(values["offered_per_s"]), values


def slowed(sim: Simulation, calls_per_s: float) -> None:
    """Joins answered one at a time, at most ``calls_per_s`` a second: a store (or a
    machine) slower than the arrivals asked for."""
    gate = asyncio.Semaphore(1)

    def slow(call: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(*args: Any) -> Any:
            async with gate:
                await asyncio.sleep(1 / calls_per_s)
                return await call(*args)

        return wrapped

    store: Any = sim.store
    store.find_or_create_lobby = slow(store.find_or_create_lobby)
    store.join_party = slow(store.join_party)


async def wait_for(condition: Callable[[], bool], pause: Callable[[float], Any]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline
        await pause(0.1)


async def test_the_panel_shows_offered_against_served_when_the_demo_falls_behind() -> None:
    sim = Simulation(open_embedded(), SimConfig(rate=200.0, seed=1))
    slowed(sim, calls_per_s=20)
    app = LobbySimApp(sim)
    async with app.run_test(size=(150, 40)) as pilot:

        def arrivals() -> tuple[str, str]:
            return app.query_one(Numbers).rows[1]

        await wait_for(lambda: arrivals()[0] == "arrivals", pilot.pause)
        value = arrivals()[1]
        offered_text, served_text = value.removesuffix("/s").split("/s, served ")
        assert float(offered_text.replace(",", "")) > float(served_text.replace(",", ""))
        await wait_for(lambda: LIMIT_NOTE in app.sub_title, pilot.pause)
        await pilot.press("space")  # paused: nothing offered, so nothing behind
        await wait_for(lambda: arrivals() == ("arrivals/s", "200.0"), pilot.pause)
        assert LIMIT_NOTE not in app.sub_title
        await pilot.press("q")
    assert app.failure is None
