"""A hostile server, for real: wrong-type keys on redis-server, a restart that loses the
pool mid-sale, and a server that may evict the pool's keys."""

from __future__ import annotations

import pytest
import redis

from lobbycore import (
    AlreadyBooked,
    LobbyNotFound,
    LobbyStore,
    PoolStateLost,
    ServerRefused,
    SoldOut,
    UnsafeServer,
)
from lobbycore._scripts import ScriptSet
from lobbycore.audit import check, snapshot
from lobbysim.testing import RedisServer
from tests.damage import SCENARIOS, assert_fails_closed, dump, plant_each_key


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_wrong_type_key_anywhere_fails_closed(
    name: str, redis_client: redis.Redis, pool_name: str
) -> None:
    scenario, ttl = SCENARIOS[name]
    store = LobbyStore(redis_client, pool=pool_name, lobby_ttl=ttl)
    operation = scenario(store)
    outcomes, before = plant_each_key(redis_client, store, operation)
    assert_fails_closed(outcomes)
    assert any(o.written for o in outcomes)
    assert dump(redis_client, pool_name) == before
    operation()
    assert check(snapshot(redis_client, pool_name)).ok


def test_a_restart_without_persistence_mid_sale_is_lost_state_never_an_oversell() -> None:
    with RedisServer() as server:  # no RDB, no AOF: a restart loses everything
        client = server.client(socket_timeout=10)
        store = LobbyStore(client, pool="sale", lobby_ttl=None)
        store.set_seats(8)
        sold = 0
        for i in range(3):
            sold += len(store.book_ticket(store.join_party([f"a{i}", f"b{i}"], 2).id).users)
        server.restart()
        refused = 0
        for i in range(20):
            try:
                lobby = store.join_party([f"c{i}", f"d{i}"], 2)
                sold += len(store.book_ticket(lobby.id).users)
            except PoolStateLost:
                refused += 1
            except (SoldOut, AlreadyBooked, LobbyNotFound):
                pass
        assert sold <= 8
        assert refused == 20  # every call after the loss, not just the first
        assert client.dbsize() == 0  # and nothing was written
        client.close()


def test_an_evicting_server_is_refused_unless_allowed() -> None:
    with RedisServer("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru") as server:
        client = server.client(socket_timeout=10)
        with pytest.raises(UnsafeServer, match="maxmemory-policy=allkeys-lru"):
            LobbyStore(client, pool="lru", lobby_ttl=None).find_or_create_lobby("a", 2)
        assert client.dbsize() == 0
        allowed = LobbyStore(client, pool="lru", lobby_ttl=None, allow_eviction=True)
        assert allowed.find_or_create_lobby("a", 2).users == ("a",)
        client.close()


def test_a_memory_limit_with_noeviction_is_accepted() -> None:
    with RedisServer("--maxmemory", "64mb", "--maxmemory-policy", "noeviction") as server:
        client = server.client(socket_timeout=10)
        assert LobbyStore(client, pool="ok", lobby_ttl=None).find_or_create_lobby("a", 2)
        client.close()


@pytest.mark.parametrize("functions", [True, False], ids=["functions", "scripts"])
def test_over_maxmemory_every_operation_is_refused_before_it_writes(
    functions: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over ``maxmemory`` (noeviction) Redis refuses a function that writes before it runs,
    and a script's first write (an event, under pcall, for join, leave and book): an error,
    and the pool as it was."""
    if not functions:  # as on a server without FUNCTION (Redis 6.2, an ACL without it)
        monkeypatch.setattr(ScriptSet, "note_load", lambda self, error: None)
    with RedisServer("--maxmemory-policy", "noeviction") as server:
        client = server.client(socket_timeout=10)
        store = LobbyStore(client, pool="full", lobby_ttl=600.0)
        store.set_seats(10)
        first = store.join_party(["a", "b"], 4)
        before = dump(client, "full")
        client.config_set("maxmemory", str(client.info("memory")["used_memory"] // 2))
        calls = [
            lambda: store.find_or_create_lobby("c", 4),
            lambda: store.find_or_create_lobby("d", 2),
            lambda: store.join_party(["e", "f"], 4),
            lambda: store.leave_lobby("a"),
            lambda: store.book_ticket(first.id, "request-1"),
        ]
        for call in calls:
            with pytest.raises(ServerRefused, match="maxmemory") as refused:
                call()
            assert refused.value.code == "OOM" and not refused.value.retryable
        client.config_set("maxmemory", "0")
        assert dump(client, "full") == before
        assert store.book_ticket(first.id, "request-1").users == ("a", "b")
        client.close()


def test_an_acl_user_without_info_is_told_what_to_grant() -> None:
    acl = ("--user", "noinfo", "on", ">pw", "~lobbysim:*", "&*", "+@all", "-@dangerous")
    with RedisServer(*acl) as server:
        client = server.client(username="noinfo", password="pw", socket_timeout=10)
        with pytest.raises(UnsafeServer, match=r"\+info"):
            LobbyStore(client, pool="acl", lobby_ttl=None).find_or_create_lobby("a", 2)
        client.close()
