"""A server's refusals are typed (ServerRefused: the Redis code, retryable or not), never
PoolDamaged; they write nothing, and once the cause is gone the same store goes on. On real
servers: a replica, a replica cut from its primary, min-replicas-to-write, a busy script."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
import redis

from lobbycore import (
    AsyncLobbyStore,
    LayoutMismatch,
    LobbyStore,
    PoolDamaged,
    ServerRefused,
    connect,
)
from lobbycore._keys import PoolKeys
from lobbycore._scripts import script_sources
from lobbysim.testing import RedisServer, free_port
from tests.damage import dump
from tests.functional.test_serve import http, serve


def refused(call: Callable[[], object], code: str) -> ServerRefused:
    with pytest.raises(ServerRefused) as raised:
        call()
    assert not isinstance(raised.value, PoolDamaged)
    assert raised.value.code == code and raised.value.retryable, raised.value
    assert f"({code}: " in str(raised.value) and "retry later" in str(raised.value)
    return raised.value


def wait_in_sync(replica: redis.Redis, primary: redis.Redis) -> None:
    deadline = time.monotonic() + 30
    while replica.info("replication").get("master_link_status") != "up" or replica.dbsize() != (
        primary.dbsize()
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_replica_refuses_writes_as_readonly_and_the_reads_go_on() -> None:
    with RedisServer() as primary, RedisServer() as replica:
        admin = primary.client(socket_timeout=10)
        lobby = LobbyStore(admin, pool="ro", lobby_ttl=None).find_or_create_lobby("a", 4)
        follower = replica.client(socket_timeout=10)
        follower.replicaof("127.0.0.1", str(primary.port))
        wait_in_sync(follower, admin)
        before = dump(follower, "ro")
        store = LobbyStore(follower, pool="ro", lobby_ttl=None)
        assert store.lobby_of("a") == lobby  # a read-only call is served
        refused(lambda: store.find_or_create_lobby("b", 4), "READONLY")
        aclient = connect(replica.url, asyncio=True, cluster=False)
        astore = AsyncLobbyStore(aclient, pool="ro", lobby_ttl=None)
        refused(lambda: asyncio.run(astore.leave_lobby("a")), "READONLY")
        assert dump(follower, "ro") == before
        follower.replicaof("NO", "ONE")  # promoted: the same store writes
        assert store.find_or_create_lobby("b", 4).users == ("a", "b")
        admin.close()
        follower.close()


def test_a_replica_cut_from_its_primary_refuses_as_masterdown() -> None:
    with RedisServer("--replica-serve-stale-data", "no") as replica:
        client = replica.client(socket_timeout=10)
        client.replicaof("127.0.0.1", str(free_port()))  # nobody there
        store = LobbyStore(client, pool="stale", lobby_ttl=None)
        refused(lambda: store.find_or_create_lobby("a", 2), "MASTERDOWN")
        client.replicaof("NO", "ONE")
        assert store.find_or_create_lobby("a", 2).users == ("a",)
        client.close()


def test_too_few_replicas_is_a_retryable_refusal_that_writes_nothing() -> None:
    with RedisServer() as server:
        client = server.client(socket_timeout=10)
        store = LobbyStore(client, pool="wait", lobby_ttl=None)
        store.set_seats(3)
        lobby = store.join_party(["a", "b"], 2)
        before = dump(client, "wait")
        client.config_set("min-replicas-to-write", "1")
        refused(lambda: store.find_or_create_lobby("c", 2), "NOREPLICAS")
        refused(lambda: store.book_ticket(lobby.id, "r1"), "NOREPLICAS")
        assert dump(client, "wait") == before
        client.config_set("min-replicas-to-write", "0")
        assert store.book_ticket(lobby.id, "r1").users == ("a", "b")
        client.close()


def test_a_server_busy_with_a_script_refuses_as_busy_until_it_ends() -> None:
    with RedisServer("--busy-reply-threshold", "100") as server:
        client = server.client(socket_timeout=10)
        store = LobbyStore(client, pool="busy", lobby_ttl=None)
        store.find_or_create_lobby("a", 2)
        before = dump(client, "busy")
        looping = server.client(socket_timeout=30)

        def loop() -> None:
            with pytest.raises(redis.ResponseError, match="killed"):
                looping.eval("local i = 0 while true do i = i + 1 end", 0)

        runner = threading.Thread(target=loop)
        runner.start()
        time.sleep(0.2)  # the loop holds the server past the threshold
        refused(lambda: store.find_or_create_lobby("b", 2), "BUSY")
        server.client(socket_timeout=10).script_kill()
        runner.join(timeout=30)
        assert dump(client, "busy") == before
        assert store.find_or_create_lobby("b", 2).users == ("a", "b")
        looping.close()
        client.close()


def test_the_http_service_answers_a_retryable_refusal_with_503() -> None:
    with RedisServer() as primary, RedisServer() as replica:
        admin = primary.client(socket_timeout=10)
        LobbyStore(admin, pool="ro-http", lobby_ttl=None).find_or_create_lobby("a", 4)
        follower = replica.client(socket_timeout=10)
        follower.replicaof("127.0.0.1", str(primary.port))
        wait_in_sync(follower, admin)
        with serve(replica, "ro-http") as base:
            status, body = http("POST", f"{base}/lobbies/join", {"userId": "b", "maxUsers": 4})
        assert status == 503 and body["code"] == "redis_unavailable", body
        assert "READONLY" in body["detail"] and "retry later" in body["detail"]
        admin.close()
        follower.close()


def test_a_pool_written_in_layout_1_is_refused_and_left_as_it_was(
    redis_client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(redis_client, pool=pool_name, lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 4)
    meta = PoolKeys.for_pool(pool_name).meta
    redis_client.hdel(meta, "layout")  # as layout 1 wrote meta: no layout field
    before = dump(redis_client, pool_name)
    fresh = LobbyStore(redis_client, pool=pool_name)  # functions (FCALL)
    with pytest.raises(LayoutMismatch, match="layout 1, and this lobbycore uses layout 2"):
        fresh.find_or_create_lobby("b", 4)
    with pytest.raises(LayoutMismatch):
        LobbyStore(redis_client, pool=pool_name).book_ticket(lobby.id)
    # The same refusal from the script (EVAL, as on a server without functions).
    stats = PoolKeys.for_pool(pool_name).stats  # the key the scripts are given
    reply = redis_client.eval(script_sources()["open"], 1, stats, "", 0, "01NEW", "1")
    assert reply == [-1, [b"layout", meta.encode(), b"1", b"2"]]  # -1: no sequence read
    assert dump(redis_client, pool_name) == before
