"""A store's one-time open (the ACL check, the server check, the library's load) runs once,
however many first calls race for it: counted by the server itself (INFO commandstats)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import redis

from lobbycore import LobbyStore, connect
from lobbysim.testing import RedisServer

THREADS = 200
OPENING = ("info", "function|load", "eval")


def calls(admin: redis.Redis) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in OPENING}


def test_concurrent_first_calls_on_a_sync_store_open_it_once() -> None:
    with RedisServer() as server:
        admin = server.client(socket_timeout=10)
        client = connect(server.url, blocking_pool=True, max_connections=64, socket_timeout=30)
        store = LobbyStore(client, pool="stampede", lobby_ttl=None)
        before = calls(admin)
        start = threading.Barrier(THREADS)

        def first_call(i: int) -> str:
            start.wait()
            return store.find_or_create_lobby(f"user-{i}", 4).id

        with ThreadPoolExecutor(THREADS) as threads:
            lobbies = list(threads.map(first_call, range(THREADS)))
        after = calls(admin)
        # The store's own: one each (the admin's first INFO commandstats is counted too).
        assert {name: after[name] - before[name] for name in OPENING} == {
            "info": 2,
            "function|load": 1,
            "eval": 1,
        }
        assert len(set(lobbies)) == THREADS // 4 and store.stats().joins == THREADS
        client.close()
        admin.close()
