"""What the benchmark scripts share: the private-server helper, pool filling, memory per user.

The benchmarks are scripts run from a checkout (``.venv/bin/python benchmarks/<name>.py``);
this module sits next to them, so ``import _shared`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import redis

from lobbycore import LobbyStore
from lobbycore._scripts import script_sources
from lobbysim.testing import RedisServer

__all__ = [
    "Argv",
    "RedisServer",
    "StoreCommands",
    "bytes_per_waiting_user",
    "memory_growth",
    "prefill",
    "send",
]


# One command: FCALL <function> (or EVALSHA <sha>) <numkeys> <keys...> <args...>, or another.
Argv = list[str]
BATCH = 1_000  # commands per trip when a benchmark fills a pool


class _Captured(Exception):
    def __init__(self, argv: Argv) -> None:
        super().__init__("captured")
        self.argv = argv


class _Capturing:
    """A client for a store: passes everything on, except that while ``capturing`` an
    operation's command (FCALL or EVALSHA) is not sent but kept (raised as :class:`_Captured`)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.capturing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.capturing and args[0] in ("FCALL", "EVALSHA"):
            raise _Captured(list(map(str, args)))
        return self._client.execute_command(*args, **options)


class StoreCommands:
    """The commands a :class:`LobbyStore` sends, made by the store itself (its validation,
    key layout, arguments and whatever else it adds), so that a benchmark can send them in
    bulk (pipelined, or by redis-benchmark) and still measure exactly what the store runs.
    Every script and the function library are loaded: those commands are FCALL (or
    EVALSHA, on a server without functions) only."""

    def __init__(self, client: redis.Redis, pool: str, **settings: Any) -> None:
        self.client = client
        self.pool = pool
        self._settings = settings
        self._proxy = _Capturing(client)
        self.shas = {name: client.script_load(src) for name, src in script_sources().items()}
        self.fresh()

    def fresh(self) -> None:
        """A new store (after a flush): a store may set its pool up, and remember that it
        did, on its first call, which this makes."""
        self.store = LobbyStore(self._proxy, pool=self.pool, **self._settings)
        self.store.stats()

    def capture(self, operation: Callable[[LobbyStore], object]) -> Argv:
        """The command ``operation(store)`` would send, not sent."""
        self._proxy.capturing = True
        try:
            operation(self.store)
        except _Captured as captured:
            return captured.argv
        finally:
            self._proxy.capturing = False
        raise RuntimeError("the store sent no FCALL or EVALSHA")


def send(client: redis.Redis, commands: Iterable[Argv], batch: int = BATCH) -> None:
    """Send the commands ``batch`` a trip; an error reply raises."""
    pipe = client.pipeline(transaction=False)
    queued = 0
    for argv in commands:
        pipe.execute_command(*argv)  # type: ignore[no-untyped-call]
        queued += 1
        if queued == batch:
            pipe.execute()
            queued = 0
    if queued:
        pipe.execute()


def prefill(
    client: redis.Redis,
    pool: str,
    lobbies: int,
    max_users: int = 4,
    replay_window: float | None = 30.0,
) -> None:
    """Fill a pool with full lobbies fast: the store's join commands, pipelined."""
    commands = StoreCommands(client, pool, lobby_ttl=600.0, replay_window=replay_window)
    joins = (partial(LobbyStore.find_or_create_lobby, user_id=f"pre-{i}", max_users=max_users)
             for i in range(lobbies * max_users))  # fmt: skip
    send(client, map(commands.capture, joins))


def bytes_per_waiting_user(
    client: redis.Redis, users: int, max_users: int, replay_window: float | None
) -> float:
    """INFO used_memory grown per waiting user by ``users`` joins into lobbies of
    ``max_users`` (a pool of its own, deleted afterwards).

    Flush the (private) server first when earlier work may still expire keys meanwhile:
    freed memory would shrink the delta.
    """
    pool = f"bench-mem-{max_users}-{replay_window}"
    grown = memory_growth(
        client, lambda: prefill(client, pool, users // max_users, max_users, replay_window)
    )
    waiting = LobbyStore(client, pool=pool).stats().waiting_users
    client.delete(*client.scan_iter(match=f"lobbysim:{{{pool}}}:*", count=10_000))
    return grown / waiting


def memory_growth(client: redis.Redis, fill: Callable[[], object]) -> int:
    """Bytes of INFO used_memory that ``fill()`` added."""
    before = int(client.info("memory")["used_memory"])
    fill()
    return int(client.info("memory")["used_memory"]) - before
