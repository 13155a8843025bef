"""``lobbysim watch`` of a pool that holds no key (a typo'd name): the title and the log say
so, and ``--headless`` exits 4 (EXIT_NO_POOL); when the pool appears, the board follows it."""

from __future__ import annotations

import time

from lobbycore import LobbyStore
from lobbysim_cli._common import EXIT_NO_POOL
from lobbysim_cli._redis import open_clients
from lobbysim_testing import RedisServer
from simulator import PoolFollower
from simulator.dashboard import LobbySimApp
from tests.cli import lobbysim

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
