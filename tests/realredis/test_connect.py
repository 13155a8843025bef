"""lobbycore.connect against private redis-server processes: kinds, URLs, timeouts, reconnects."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import redis
import redis.asyncio

from lobbycore import InvalidInput, LobbyStore, connect
from lobbysim.testing import RedisServer, free_port


def test_sync_and_async_clients(redis_server: RedisServer) -> None:
    sync_client = connect(redis_server.url)
    assert isinstance(sync_client, redis.Redis) and sync_client.ping()
    async_client = connect(redis_server.url, asyncio=True, cluster=False)
    assert isinstance(async_client, redis.asyncio.Redis)
    assert LobbyStore(sync_client, pool="connect").find_or_create_lobby("a", 2).users == ("a",)


def test_unix_socket_url(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    with RedisServer("--unixsocket", str(sock), "--unixsocketperm", "700") as server:
        client = connect(f"unix://{sock}")
        assert client.ping()
        assert LobbyStore(client, pool="unix").find_or_create_lobby("a", 2).users == ("a",)
        assert server.client().ping()


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:6379", "127.0.0.1:6379", "redis:/x", 42])
def test_malformed_urls_are_invalid_input(url: object) -> None:
    with pytest.raises(InvalidInput):
        connect(url)  # type: ignore[arg-type]


def test_unreachable_server_error_hides_the_password() -> None:
    with pytest.raises(redis.ConnectionError) as info:
        connect(f"redis://alice:s3cret@127.0.0.1:{free_port()}/0")
    assert "s3cret" not in str(info.value) and "alice:***@" in str(info.value)


def test_a_stalled_server_gives_a_timeout_error_not_a_hang() -> None:
    # The server is frozen (SIGSTOP) until the call has given up, however long that takes on
    # a busy machine: the test is that it gives up at all, with a timeout error.
    with RedisServer() as server:
        client = connect(server.url, socket_timeout=0.2)
        client.ping()
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(redis.TimeoutError):
                client.get("anything")
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert client.ping()


def test_killed_connections_are_reopened(redis_server: RedisServer, pool_name: str) -> None:
    client = connect(redis_server.url)
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    first = store.find_or_create_lobby("a", 3)
    killed = redis_server.client().client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert store.find_or_create_lobby("b", 3).id == first.id  # reconnected and retried
    assert store.lobby_of("a") == store.lobby_of("b")
