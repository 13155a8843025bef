"""``lobbysim watch`` of a pool that holds no key (a typo'd name): the title and the log say
so, and ``--headless`` exits 4 (EXIT_NO_POOL); when the pool appears, the board follows it.
A pool whose state the server lost is said to be gone, and waited for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

from lobbycore import LobbyStore
from lobbysim.cli._common import EXIT_INTERRUPTED, EXIT_NO_POOL
from lobbysim.cli._redis import open_clients
from lobbysim.testing import RedisServer
from simulator import PoolFollower
from simulator.dashboard import LobbySimApp
from simulator.source import STATE_LOST
from tests.cli import lobbysim
from tests.functional.test_headless_endings import script_calls

NOT_FOUND = "[pool not found]"


def test_headless_watch_of_a_missing_pool_exits_4(
    redis_server: RedisServer, pool_name: str
) -> None:
    result = lobbysim(
        "watch", "--headless", "--duration", "1", "--redis-url", redis_server.url,
        "--pool", pool_name,
    )  # fmt: skip
    assert result.returncode == EXIT_NO_POOL, result.stdout + result.stderr
    assert "pool_found=no" in result.stdout and result.stderr == ""


def test_headless_watch_of_a_pool_that_exists_exits_0(
    redis_server: RedisServer, pool_name: str
) -> None:
    LobbyStore(redis_server.client(), pool=pool_name).find_or_create_lobby("a", 2)
    result = lobbysim(
        "watch", "--headless", "--duration", "1", "--redis-url", redis_server.url,
        "--pool", pool_name,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pool_found=yes" in result.stdout


async def test_the_title_and_log_say_the_pool_is_missing_until_it_appears(
    redis_server: RedisServer, pool_name: str
) -> None:
    clients = open_clients(redis_server.url)
    follower = PoolFollower(clients, pool_name)
    app = LobbySimApp(follower)
    async with app.run_test(size=(150, 40)) as pilot:
        deadline = time.monotonic() + 30
        while NOT_FOUND not in app.sub_title:
            assert time.monotonic() < deadline
            await pilot.pause(0.1)
        assert any(f"pool {pool_name!r} not found" in line for line in follower.log)
        LobbyStore(redis_server.client(), pool=pool_name).find_or_create_lobby("a", 2)
        while NOT_FOUND in app.sub_title:
            assert time.monotonic() < deadline
            await pilot.pause(0.1)
        assert any("appeared" in line for line in follower.log)
        await pilot.press("q")
    await clients.async_client.aclose()


GONE = f"[{STATE_LOST}: waiting for the pool]"


def fill(store: LobbyStore, prefix: str, n: int) -> None:
    for i in range(n):
        store.find_or_create_lobby(f"{prefix}-{i}", 2)


async def test_a_pool_lost_on_the_server_is_said_and_waited_for(pool_name: str) -> None:
    """A restart without persistence takes the pool away: the title and the log say it is
    gone, the follower waits, and follows the pool made again under that name from its first
    event (the counts go on)."""
    with RedisServer() as server:  # its own: restarted, without persistence
        clients = open_clients(server.url)
        follower = PoolFollower(clients, pool_name)
        fill(LobbyStore(server.client(), pool=pool_name), "before", 3)
        app = LobbySimApp(follower)
        async with app.run_test(size=(150, 40)) as pilot:
            deadline = time.monotonic() + 30

            async def wait_for(condition: Callable[[], bool]) -> None:
                while not condition():
                    assert time.monotonic() < deadline
                    await pilot.pause(0.1)

            await wait_for(lambda: follower.metrics.joins.total == 3)
            server.restart()
            await wait_for(lambda: GONE in app.sub_title)
            assert any(f"pool {pool_name!r} is gone: {STATE_LOST}" in line for line in follower.log)
            await pilot.pause(0.5)
            assert GONE in app.sub_title  # still waiting: nothing made the pool again
            fill(LobbyStore(server.client(), pool=pool_name), "after", 4)
            await wait_for(lambda: GONE not in app.sub_title)
            await wait_for(lambda: follower.metrics.joins.total == 3 + 4)
            assert any("is back" in line for line in follower.log)
            assert f"[{STATE_LOST}: following a new pool]" in app.sub_title
            await pilot.press("q")
        await clients.async_client.aclose()


def test_headless_watch_counts_both_pools_and_says_one_was_lost(pool_name: str) -> None:
    with RedisServer() as server:
        fill(LobbyStore(server.client(), pool=pool_name), "before", 3)
        run = subprocess.Popen(
            [
                sys.executable, "-m", "lobbysim.cli", "watch", "--headless", "--duration", "600",
                "--redis-url", server.url, "--pool", pool_name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        client = server.client()
        calls = script_calls(client)
        deadline = time.monotonic() + 30
        while script_calls(client) < calls + 3:  # following the pool
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.restart()
        client = server.client()
        fill(LobbyStore(client, pool=pool_name), "after", 4)
        calls = script_calls(client)
        while script_calls(client) < calls + 10:  # followed the new pool a while
            assert time.monotonic() < deadline
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    assert err == "" and run.returncode == EXIT_INTERRUPTED, out + err
    values = dict(part.split("=", 1) for part in out.strip().splitlines()[-1].split())
    assert values["joins"] == "7" and values["pools_lost"] == "1", values
    assert values["pool_gone"] == "no" and values["ended"] == "sigint", values
