"""The naive strategy on a server that disables KEYS, as a user meets it: one line naming
the cause and exit 2 in the dashboard, the headless demo and race (whose atomic half, which
needs no KEYS, is still run and reported first); no traceback anywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lobbysim.cli._redis import open_clients
from lobbysim.testing import RedisServer
from simulator import SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from tests.cli import lobbysim

ERROR = "lobbysim: error: the naive strategy needs the KEYS command, which this server disables\n"


@pytest.fixture(scope="module")
def no_keys_server() -> Iterator[RedisServer]:
    with RedisServer("--rename-command", "KEYS", "") as server:
        yield server


@pytest.mark.parametrize("headless", [True, False], ids=["headless", "tui"])
def test_the_naive_demo_says_why_in_one_line(no_keys_server: RedisServer, headless: bool) -> None:
    args = ["demo", "--strategy", "naive", "--redis-url", no_keys_server.url, "--duration", "1"]
    result = lobbysim(*args, *(["--headless"] if headless else []), timeout=60)
    assert result.returncode == 2
    assert result.stderr == ERROR and result.stdout == ""


def test_race_reports_the_atomic_half_then_says_why(no_keys_server: RedisServer) -> None:
    result = lobbysim("race", "--redis-url", no_keys_server.url, "--users", "60", timeout=60)
    assert result.returncode == 2
    assert result.stderr == ERROR
    rows = [line for line in result.stdout.splitlines() if line.startswith("strategy=")]
    assert len(rows) == 1 and rows[0].startswith("strategy=atomic") and "ok=true" in rows[0]


async def test_the_strategy_key_stays_atomic_and_says_why(no_keys_server: RedisServer) -> None:
    clients = open_clients(no_keys_server.url)
    sim = Simulation(clients, SimConfig(rate=20.0, seed=1))
    app = LobbySimApp(sim)
    async with app.run_test(size=(150, 40), notifications=True) as pilot:
        await pilot.pause(0.5)
        await pilot.press("s")
        await pilot.pause(0.3)
        toasts = " ".join(str(toast.render()) for toast in app.screen.query("Toast"))
        assert "needs the KEYS command" in toasts
        assert sim.strategy == "atomic" and app.mode == "atomic"
        await pilot.pause(0.5)
        assert sim.metrics.joins.total > 0 and sim.metrics.errors == 0  # still running
        await pilot.press("q")
    await clients.async_client.aclose()
