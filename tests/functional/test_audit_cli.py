"""`lobbysim audit` on a private redis-server: a pool not found, seat accounting, the
server's memory policy. (Each check's own planted-defect tests: tests/realredis/test_audit_planted.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from lobbycore import LobbyStore, NaiveLobbyStore
from lobbycore._keys import PoolKeys
from lobbysim.testing import RedisServer
from tests.cli import lobbysim


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    try:
        yield client
    finally:
        client.close()


def audit(redis_server: RedisServer, *args: str) -> tuple[int, list[str]]:
    result = lobbysim("audit", "--redis-url", redis_server.url, *args)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout.strip().splitlines()


def test_a_pool_not_found_exits_4_and_says_where_the_name_is(
    redis_server: RedisServer, client: redis.Redis, pool_name: str
) -> None:
    LobbyStore(client, pool=pool_name, lobby_ttl=None, shards=3).find_or_create_lobby("a", 2)
    NaiveLobbyStore(client, pool=f"{pool_name}-n").find_or_create_lobby("a", 2)

    assert audit(redis_server, "--pool", pool_name) == (
        4,
        [f"lobbysim audit: pool '{pool_name}' not found (it exists with --shards 3)"],
    )
    assert audit(redis_server, "--pool", pool_name, "--shards", "2")[0] == 4
    assert audit(redis_server, "--pool", f"{pool_name}-n") == (
        4,
        [f"lobbysim audit: pool '{pool_name}-n' not found (it exists with --naive)"],
    )
    assert audit(redis_server, "--pool", f"{pool_name}-typo") == (
        4,
        [f"lobbysim audit: pool '{pool_name}-typo' not found (no key)"],
    )
    code, lines = audit(redis_server, "--pool", pool_name, "--shards", "3")
    assert code == 0 and lines[-1].startswith(f"pool={pool_name} ok=true"), lines


@pytest.mark.parametrize(
    ("layout", "flags", "where"),
    [
        # (how the pool was written, the flags given, what the line says of them)
        ("atomic", ["--naive"], "without --naive"),
        ("atomic", ["--shards", "2"], "without --shards"),
        ("sharded", ["--naive"], "without --naive, with --shards 3"),
        ("sharded", [], "with --shards 3"),
        ("sharded", ["--shards", "2"], "with --shards 3"),
        ("naive", [], "with --naive"),
        ("naive", ["--shards", "2"], "with --naive, without --shards"),
    ],
)
def test_a_pool_not_found_names_the_flag_that_is_wrong(
    redis_server: RedisServer,
    client: redis.Redis,
    pool_name: str,
    layout: str,
    flags: list[str],
    where: str,
) -> None:
    if layout == "naive":
        NaiveLobbyStore(client, pool=pool_name).find_or_create_lobby("a", 2)
    else:
        shards = 3 if layout == "sharded" else 1
        LobbyStore(client, pool=pool_name, lobby_ttl=None, shards=shards).find_or_create_lobby(
            "a", 2
        )
    assert audit(redis_server, "--pool", pool_name, *flags) == (
        4,
        [f"lobbysim audit: pool '{pool_name}' not found (it exists {where})"],
    )


def test_initial_seats_account_for_every_seat(
    redis_server: RedisServer, client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    store.set_seats(10)
    store.book_ticket(store.join_party(["a", "b"], 2).id)
    code, lines = audit(redis_server, "--pool", pool_name, "--initial-seats", "10")
    assert code == 0 and "oversell=0" in lines[-1], lines
    code, lines = audit(redis_server, "--pool", pool_name, "--initial-seats", "9")
    assert code == 1 and "oversell=1" in lines[-1], lines
    assert "oversell: 9 seats - 2 booked != 8 left" in lines[0]

    client.hdel(
        PoolKeys.for_pool(pool_name).meta, "seats"
    )  # the inventory is lost: reads as unlimited
    assert audit(redis_server, "--pool", pool_name)[0] == 0  # no count given: nothing to compare
    code, lines = audit(redis_server, "--pool", pool_name, "--initial-seats", "10")
    assert code == 1 and "reads as unlimited" in lines[0], lines


def test_bad_initial_seats_is_one_line_and_exit_2(redis_server: RedisServer) -> None:
    result = lobbysim(
        "audit", "--redis-url", redis_server.url, "--pool", "p", "--initial-seats", "-1"
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_the_memory_policy_is_reported_and_an_evicting_one_flagged(
    redis_server: RedisServer, client: redis.Redis, pool_name: str
) -> None:
    LobbyStore(client, pool=pool_name, lobby_ttl=None).find_or_create_lobby("a", 2)
    before = client.config_get("maxmemory-policy")["maxmemory-policy"]
    assert before == "noeviction"
    code, lines = audit(redis_server, "--pool", pool_name)
    assert code == 0 and lines[-1].endswith(" maxmemory_policy=noeviction"), lines
    assert not any(line.startswith("warning:") for line in lines)
    try:
        client.config_set("maxmemory-policy", "allkeys-lru")
        code, lines = audit(redis_server, "--pool", pool_name)
    finally:
        client.config_set("maxmemory-policy", before)
    assert code == 0 and lines[-1].endswith(" maxmemory_policy=allkeys-lru"), lines
    assert lines[0].startswith("warning: maxmemory-policy=allkeys-lru: once a maxmemory is set")


def test_a_key_of_the_wrong_type_is_one_line_naming_it_and_exit_2(
    redis_server: RedisServer, client: redis.Redis, pool_name: str
) -> None:
    LobbyStore(client, pool=pool_name, lobby_ttl=None).find_or_create_lobby("a", 2)
    planted = PoolKeys.for_pool(pool_name).lobby("01PLANTED")
    client.sadd(planted, "x")
    result = lobbysim("audit", "--redis-url", redis_server.url, "--pool", pool_name)
    assert result.returncode == 2 and "ok=true" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and planted in result.stderr
