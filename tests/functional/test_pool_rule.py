"""A run never deletes or disturbs what it did not create: ``race`` and ``demo`` refuse a
``--pool`` that already holds keys, and with ``--reuse-pool`` never delete it (nor let the
dashboard's reset and strategy keys delete it)."""

from __future__ import annotations

import redis

from lobbycore import LobbyStore, NaiveLobbyStore
from lobbysim.cli._redis import open_clients
from lobbysim.testing import RedisServer
from simulator import SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from tests.cli import lobbysim


def someone_elses_pool(client: redis.Redis, pool: str) -> dict[bytes, bytes | None]:
    """A pool in use: an answered booking and a buyer still waiting. Its keys and values."""
    store = LobbyStore(client, pool=pool, lobby_ttl=None)
    store.find_or_create_lobby("alice", 2)
    lobby = store.find_or_create_lobby("bob", 2)
    store.book_ticket(lobby.id)
    store.find_or_create_lobby("carol", 2)  # waiting for a second buyer
    return contents(client, pool)


def contents(client: redis.Redis, pool: str) -> dict[bytes, bytes | None]:
    """Every key naming the pool (either strategy's layout), with its serialized value."""
    keys = sorted(client.scan_iter(match=f"*{pool}*", count=1000))
    assert keys
    return {key: client.dump(key) for key in keys}


def test_race_and_demo_refuse_a_pool_that_holds_keys(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client()
    before = someone_elses_pool(client, pool_name)
    url = redis_server.url
    runs = [
        ("race", "--redis-url", url, "--pool", pool_name, "--users", "40"),
        ("race", "--redis-url", url, "--pool", pool_name, "--users", "40", "--keep"),
        ("demo", "--headless", "--duration", "1", "--redis-url", url, "--pool", pool_name),
    ]
    for args in runs:
        result = lobbysim(*args)
        assert result.returncode == 2, result.stdout + result.stderr
        err = result.stderr.strip().splitlines()
        assert len(err) == 1 and "already holds" in err[0] and "--reuse-pool" in err[0], err
        assert contents(client, pool_name) == before, args


def test_a_reused_pool_is_never_deleted(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client()
    someone_elses_pool(client, pool_name)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    url = redis_server.url
    race = lobbysim(
        "race", "--redis-url", url, "--pool", pool_name, "--users", "40", "--reuse-pool"
    )
    assert race.returncode == 0, race.stdout + race.stderr
    demo = lobbysim(
        "demo", "--headless", "--duration", "1", "--redis-url", url, "--pool", pool_name,
        "--reuse-pool",
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert store.stats().bookings >= 1  # the answered booking is still there
    assert store.lobby_of("carol") is not None


def test_each_help_states_the_pool_rule() -> None:
    for command in ("race", "demo"):
        text = " ".join(lobbysim(command, "--help").stdout.split())
        assert "never deletes or disturbs what it did not create" in text
        assert "--reuse-pool" in text


async def test_the_dashboard_keys_never_delete_a_reused_pool(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client()
    before = someone_elses_pool(client, pool_name)
    clients = open_clients(redis_server.url)
    sim = Simulation(clients, SimConfig(pool=pool_name, rate=0.1), owns_pool=False)
    # Paused before it starts (a "space" once the app is up came after a first arrival on a
    # loaded machine): no arrivals, so the pool must stay exactly as it was.
    sim.paused = True
    app = LobbySimApp(sim)
    async with app.run_test(size=(150, 40), notifications=True) as pilot:
        await pilot.press("r")
        await pilot.pause(0.2)
        await pilot.press("s")
        await pilot.pause(0.3)
        toasts = " ".join(str(toast.render()) for toast in app.screen.query("Toast"))
        assert "--reuse-pool" in toasts and sim.strategy == "atomic"
        await pilot.press("q")
    await clients.async_client.aclose()
    assert contents(client, pool_name) == before


def test_a_pool_name_holding_keys_in_any_layout_is_not_fresh(
    redis_server: RedisServer, pool_name: str
) -> None:
    """ "Fresh" has one definition (lobbysim.run.pools): no key of the name in any layout. A
    name whose only keys are a sharded pool's (or the naive store's) is refused as a pool
    that holds keys, and left as it was."""
    client = redis_server.client()
    LobbyStore(client, pool=pool_name, lobby_ttl=None, shards=3).find_or_create_lobby("ann", 4)
    NaiveLobbyStore(client, pool=f"{pool_name}-n").find_or_create_lobby("bob", 4)
    url = redis_server.url
    for pool in (pool_name, f"{pool_name}-n"):
        before = contents(client, pool)
        for args in (
            ("race", "--redis-url", url, "--pool", pool, "--users", "8"),
            ("demo", "--headless", "--duration", "1", "--redis-url", url, "--pool", pool),
        ):
            result = lobbysim(*args)
            assert result.returncode == 2, result.stdout + result.stderr
            (line,) = result.stderr.strip().splitlines()
            assert f"pool {pool!r} already holds" in line and "--reuse-pool" in line, line
            assert contents(client, pool) == before, args
