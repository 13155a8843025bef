"""The naive store on a server without KEYS (``rename-command KEYS ""``, or an ACL denying it):
one typed error naming the cause, from the first call and from the start-up probe; the
atomic store, which never needs KEYS, runs there as usual."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from lobbycore import (
    AsyncNaiveLobbyStore,
    KeysUnavailable,
    LobbyError,
    LobbyStore,
    NaiveLobbyStore,
    async_check_naive_supported,
    check_naive_supported,
)
from lobbycore._keys import NaiveKeys
from lobbysim.testing import RedisServer

MESSAGE = "the naive strategy needs the KEYS command, which this server disables"


@pytest.fixture(scope="module")
def no_keys_server() -> Iterator[RedisServer]:
    with RedisServer("--rename-command", "KEYS", "") as server:
        yield server


@pytest.fixture
def acl_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client logged in as an ACL user who may run everything but KEYS."""
    admin = redis_server.client()
    user, password = f"nokeys-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-keys"]
    )
    client = redis_server.client(username=user, password=password)
    try:
        yield client
    finally:
        client.close()
        admin.acl_deluser(user)
        admin.close()


def test_the_server_really_has_no_keys(no_keys_server: RedisServer) -> None:
    with pytest.raises(redis.ResponseError, match="unknown command"):
        no_keys_server.client().keys("*")


def test_sync_naive_store_raises_keys_unavailable_and_writes_nothing(
    no_keys_server: RedisServer, pool_name: str
) -> None:
    client = no_keys_server.client()
    store = NaiveLobbyStore(client, pool=pool_name)
    calls = [
        lambda: store.find_or_create_lobby("a", 2),
        lambda: store.join_party(["a", "b"], 2),
        lambda: store.leave_lobby("a"),
        lambda: store.lobby_of("a"),
        store.stats,
    ]
    for call in calls:
        with pytest.raises(KeysUnavailable) as info:
            call()
        assert str(info.value) == MESSAGE
        assert isinstance(info.value, LobbyError)
    assert client.dbsize() == 0


async def test_async_naive_store_raises_keys_unavailable_and_writes_nothing(
    no_keys_server: RedisServer, pool_name: str
) -> None:
    aclient = redis.asyncio.Redis(port=no_keys_server.port)
    store = AsyncNaiveLobbyStore(aclient, pool=pool_name)
    try:
        for call in (
            lambda: store.find_or_create_lobby("a", 2),
            lambda: store.join_party(["a", "b"], 2),
            lambda: store.leave_lobby("a"),
            lambda: store.lobby_of("a"),
            store.stats,
        ):
            with pytest.raises(KeysUnavailable, match=f"^{MESSAGE}$"):
                await call()
        assert await aclient.dbsize() == 0
    finally:
        await aclient.aclose()


def test_sync_probe_names_the_cause(no_keys_server: RedisServer) -> None:
    with pytest.raises(KeysUnavailable, match=f"^{MESSAGE}$"):
        check_naive_supported(no_keys_server.client())


async def test_async_probe_names_the_cause(no_keys_server: RedisServer) -> None:
    aclient = redis.asyncio.Redis(port=no_keys_server.port)
    try:
        with pytest.raises(KeysUnavailable, match=f"^{MESSAGE}$"):
            await async_check_naive_supported(aclient)
    finally:
        await aclient.aclose()


def test_an_acl_denying_keys_is_the_same_error(acl_client: redis.Redis, pool_name: str) -> None:
    with pytest.raises(KeysUnavailable, match=f"^{MESSAGE}$"):
        check_naive_supported(acl_client)
    with pytest.raises(KeysUnavailable, match=f"^{MESSAGE}$"):
        NaiveLobbyStore(acl_client, pool=pool_name).find_or_create_lobby("a", 2)


async def test_probes_pass_where_keys_works(redis_server: RedisServer, pool_name: str) -> None:
    client = redis_server.client()
    check_naive_supported(client)  # raises if it wrongly refused
    aclient = redis.asyncio.Redis(port=redis_server.port)
    try:
        await async_check_naive_supported(aclient)
    finally:
        await aclient.aclose()
    assert NaiveLobbyStore(client, pool=pool_name).find_or_create_lobby("a", 2).users == ("a",)


def test_other_server_errors_are_not_mistaken_for_missing_keys(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client()
    store = NaiveLobbyStore(client, pool=pool_name)
    lobby = store.find_or_create_lobby("a", 2)
    client.set(NaiveKeys.for_pool(pool_name).lobby(lobby.id), "not a hash")  # WRONGTYPE
    with pytest.raises(redis.ResponseError, match="WRONGTYPE") as info:
        store.find_or_create_lobby("b", 2)
    assert not isinstance(info.value, KeysUnavailable)


def test_the_atomic_store_needs_no_keys(no_keys_server: RedisServer, pool_name: str) -> None:
    store = LobbyStore(no_keys_server.client(), pool=pool_name, lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 2)
    assert store.find_or_create_lobby("b", 2).id == lobby.id
    assert store.book_ticket(lobby.id).users == ("a", "b")
    assert store.stats().bookings == 1
