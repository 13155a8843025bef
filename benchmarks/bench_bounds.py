"""The worst single calls one can construct, and what each costs Redis, on a private
redis-server (not a test: nothing is asserted).

    .venv/bin/python benchmarks/bench_bounds.py

Every user id is 256 bytes (the longest allowed) and lobbies hold 1,000 users (the largest
capacity). Each call's Redis time is the ``usec`` that ``INFO commandstats`` adds to
EVALSHA/EVAL for that one call (the script and every command it runs), read after a
``CONFIG RESETSTAT``; each case is run REPEAT times on fresh state, and the least and the
median are shown (on a shared machine the least is the call's own cost; the median adds
what other processes took from Redis's core meanwhile).
Then memory per join: ``used_memory`` grown by filling lobbies of 1,000 such users, per user.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from lobbycore import LobbyStore
from lobbycore.admin import delete_pool
from lobbycore.defaults import MAX_ID_BYTES, MAX_USERS_LIMIT
from lobbysim.testing import RedisServer

BIG = MAX_USERS_LIMIT
REPEAT = 5
TARGET_MS = 5.0


def uid(tag: str, i: int) -> str:
    head = f"{tag}-{i:07d}-"
    return head + "x" * (MAX_ID_BYTES - len(head))


def users(tag: str, n: int) -> list[str]:
    return [uid(tag, i) for i in range(n)]


def script_usec(client: Any) -> tuple[int, int]:
    """(calls, usec) of FCALL + EVALSHA + EVAL since the last CONFIG RESETSTAT."""
    stats = client.info("commandstats")
    calls = usec = 0
    for name in ("cmdstat_fcall", "cmdstat_evalsha", "cmdstat_eval"):
        if name in stats:
            calls += int(stats[name]["calls"])
            usec += int(stats[name]["usec"])
    return calls, usec


def measure(client: Any, call: Callable[[], object]) -> float:
    """Redis time (ms) of the script call(s) made by ``call``."""
    client.config_resetstat()
    call()
    calls, usec = script_usec(client)
    if calls != 1:
        raise RuntimeError(f"expected one script call, saw {calls}")
    return usec / 1000


class Case:
    """One worst-case call: ``setup`` builds the state on a fresh pool and returns the call."""

    def __init__(self, name: str, setup: Callable[[LobbyStore], Callable[[], object]]) -> None:
        self.name, self.setup = name, setup


def fresh_store(client: Any, n: int, ttl: float | None = None) -> LobbyStore:
    pool = f"bounds-{n}-{time.monotonic_ns()}"
    store = LobbyStore(client, pool=pool, lobby_ttl=ttl)
    store.stats()  # opens the pool (and checks the server) outside the measured call
    for script in store._scripts.scripts.values():
        client.script_load(script.script)  # so that no measured call meets NOSCRIPT
    return store


def _join_last(store: LobbyStore) -> Callable[[], object]:
    store.join_party(users("a", BIG - 1), BIG)
    return lambda: store.find_or_create_lobby(uid("z", 0), BIG)


def _party_biggest(store: LobbyStore) -> Callable[[], object]:
    return lambda: store.join_party(users("p", BIG), BIG)


def _party_half(store: LobbyStore) -> Callable[[], object]:
    store.join_party(users("a", BIG // 2), BIG)
    return lambda: store.join_party(users("p", BIG // 2), BIG)


def _replay_join(store: LobbyStore) -> Callable[[], object]:
    call = store._protocol.find_or_create_lobby(uid("z", 0), BIG)
    store.join_party(users("a", BIG - 1), BIG)
    store._run(call)
    return lambda: store._run(call)


def _leave_big(store: LobbyStore) -> Callable[[], object]:
    store.join_party(users("a", BIG), BIG)
    return lambda: store.leave_lobby(uid("a", BIG // 2))


def _book_big(store: LobbyStore) -> Callable[[], object]:
    store.set_seats(10 * BIG)
    lobby = store.join_party(users("a", BIG), BIG)
    return lambda: store.book_ticket(lobby.id)


def _lookup_big(store: LobbyStore) -> Callable[[], object]:
    store.join_party(users("a", BIG), BIG)
    return lambda: store.lobby_of(uid("a", 7))


def _due_lobbies(store: LobbyStore, lobbies: int) -> None:
    for k in range(lobbies):
        store.join_party(users(f"e{k}", BIG), BIG)
    time.sleep(2 * (store.lobby_ttl or 0))


def _sweep_biggest(store: LobbyStore) -> Callable[[], object]:
    _due_lobbies(store, 3)
    return lambda: store.sweep_expired(10_000)


def _inline_expiry(store: LobbyStore) -> Callable[[], object]:
    _due_lobbies(store, 3)
    return lambda: store.find_or_create_lobby(uid("z", 0), 4)


CASES = [
    (Case("join: the 1,000th user of a lobby", _join_last), None),
    (Case("join: a replayed join into a 1,000-user lobby", _replay_join), None),
    (Case("party join: 1,000 users, new lobby", _party_biggest), None),
    (Case("party join: 500 users into 500 free places", _party_half), None),
    (Case("leave: from a 1,000-user lobby", _leave_big), None),
    (Case("book: a 1,000-user lobby", _book_big), None),
    (Case("lookup: a user of a 1,000-user lobby", _lookup_big), None),
    (Case("sweep: 3 due lobbies of 1,000 users", _sweep_biggest), 0.2),
    (Case("join with 3 due 1,000-user lobbies (inline)", _inline_expiry), 0.2),
]


def memory_per_join(client: Any, lobbies: int = 5) -> tuple[float, float]:
    """(bytes per join, bytes of the stored replay answers per join), filling ``lobbies``
    lobbies of 1,000 users with one join per user."""
    store = fresh_store(client, 0)
    before = int(client.info("memory")["used_memory"])
    for k in range(lobbies):
        for i in range(BIG):
            store.find_or_create_lobby(uid(f"m{k}", i), BIG)
    after = int(client.info("memory")["used_memory"])
    replay = 0
    for key in client.scan_iter(match=f"lobbysim:{{{store.pool}}}:jr:*", count=1000):
        replay += int(client.memory_usage(key) or 0)
    joins = lobbies * BIG
    delete_pool(client, store.pool)
    return (after - before) / joins, replay / joins


def main() -> None:
    with RedisServer() as server:
        client = server.client(socket_timeout=60)
        info = client.info("server")
        print(
            f"private redis-server {info['redis_version']}, user ids of {MAX_ID_BYTES} bytes, "
            f"lobbies of {BIG}; Redis time per call (least / median of {REPEAT}), "
            "INFO commandstats"
        )
        worst = 0.0
        for case, ttl in CASES:
            times = []
            for _ in range(REPEAT):
                store = fresh_store(client, BIG, ttl)
                call = case.setup(store)
                times.append(measure(client, call))
                delete_pool(client, store.pool)
            least, median = min(times), statistics.median(times)
            worst = max(worst, least)
            flag = "" if least < TARGET_MS else f"  over {TARGET_MS} ms"
            print(f"  {case.name:<48} {least:8.2f} / {median:6.2f} ms{flag}")
        print(
            f"  costliest call (least of its runs): {worst:.2f} ms (target: under {TARGET_MS} ms)"
        )
        per_join, replay = memory_per_join(client)
        print(
            f"memory per join, lobbies of {BIG} users with {MAX_ID_BYTES}-byte ids: "
            f"{per_join:,.0f} bytes (of which replay answers: {replay:,.0f} bytes)"
        )
        client.close()


if __name__ == "__main__":
    main()
