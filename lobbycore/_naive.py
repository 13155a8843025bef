"""The original article's algorithm, reimplemented from its description. UNSAFE by design.

It exists so the simulator and the load tests can show, side by side, what lobbycore's
guarantees buy. What it does, as the article does:

* every join lists every lobby with ``KEYS`` and reads each one (O(lobbies) per join);
* each lobby's users are a JSON list, updated by read-modify-write from the client;
* the join visits every lobby "in parallel" and adds the user to *each* lobby with room,
  then returns the first one that has them;
* booking reads the lobby, then deletes it; two bookers can both succeed.

So under concurrency users land in two lobbies, joins are lost, lobbies overfill and
bookings double. Do not use it for anything but demonstrations.

The algorithm is written once, as plans: generators that yield a list of commands to run
concurrently (the article's ``Promise.all``) and receive their replies. The sync store
runs each list one command after the other; the async store runs it with
``asyncio.gather``. Both have the same races, the async one more often.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

import redis
from ulid import ULID

from . import _validate as check
from ._errors import KeysUnavailable, LobbyNotFound, SoldOut
from ._keys import NAIVE_KEY_PREFIX, NaiveKeys, decode_hash, join_users, naive_lobby, text
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from .defaults import DEFAULT_EVENT_COUNT, DEFAULT_POOL, DEFAULT_SWEEP_LIMIT

T = TypeVar("T")
Command = tuple[Any, ...]
Plan = Generator[list[Command], list[Any], T]

__all__ = [
    "AsyncNaiveLobbyStore",
    "NaiveLobbyStore",
    "NaivePlans",
    "async_check_naive_supported",
    "check_naive_supported",
]

# A literal name (no glob): the probe's KEYS matches nothing, whatever the server holds.
KEYS_PROBE = (f"{NAIVE_KEY_PREFIX}:probe",)


class NaivePlans:
    """The article's operations as command plans for one pool."""

    def __init__(self, pool: str) -> None:
        self.pool = check.pool_name(pool)
        self.keys = NaiveKeys.for_pool(pool)

    def _lobby(self, key: str, data: dict[str, str], users: list[str]) -> Lobby:
        return naive_lobby(self.keys.lobby_id_of(key), data, users)

    def _all_lobbies(self) -> Plan[list[tuple[str, dict[str, str]]]]:
        (keys,) = yield [("KEYS", self.keys.lobby_pattern)]
        keys = [key for key in (text(k) for k in keys) if self.keys.is_lobby_key(key)]
        datas = yield [("HGETALL", k) for k in keys]
        return [
            (k, d) for k, d in ((k, decode_hash(d)) for k, d in zip(keys, datas, strict=True)) if d
        ]

    def join(self, user_id: str, max_users: int) -> Plan[Lobby]:
        lobbies = yield from self._all_lobbies()
        writes: list[Command] = []
        candidates: list[Lobby] = []
        for key, data in lobbies:
            users = json.loads(data.get("users") or "[]")
            if user_id in users:
                candidates.append(self._lobby(key, data, users))
            elif len(users) < max_users:
                # As in the article: the user is added to every lobby that has room.
                users.append(user_id)
                writes.append(("HSET", key, "users", json.dumps(users)))
                candidates.append(self._lobby(key, data, users))
        if writes:
            yield writes
        if candidates:
            return candidates[0]
        lobby = Lobby(
            id=str(ULID()),
            session_id=str(ULID()),
            users=(user_id,),
            max_users=max_users,
            created_at=int(time.time() * 1000),
        )
        yield [
            (
                "HSET",
                self.keys.lobby(lobby.id),
                *("id", lobby.id, "sessionId", lobby.session_id),
                *("users", json.dumps([user_id]), "createdAt", lobby.created_at),
                *("maxUsers", max_users),
            )
        ]
        return lobby

    def leave(self, user_id: str) -> Plan[Lobby | None]:
        for key, data in (yield from self._all_lobbies()):
            users = json.loads(data.get("users") or "[]")
            if user_id in users:
                users.remove(user_id)
                if not users:
                    yield [("DEL", key)]
                    return None
                yield [("HSET", key, "users", json.dumps(users))]
                return self._lobby(key, data, users)
        return None

    def lobby_of(self, user_id: str) -> Plan[Lobby | None]:
        for key, data in (yield from self._all_lobbies()):
            users = json.loads(data.get("users") or "[]")
            if user_id in users:
                return self._lobby(key, data, users)
        return None

    def get_lobby(self, lobby_id: str) -> Plan[Lobby | None]:
        key = self.keys.lobby(lobby_id)
        (raw,) = yield [("HGETALL", key)]
        data = decode_hash(raw)
        return self._lobby(key, data, json.loads(data.get("users") or "[]")) if data else None

    def book(self, lobby_id: str, request_id: str) -> Plan[Booking]:
        key = self.keys.lobby(lobby_id)
        (users_json,) = yield [("HGET", key, "users")]
        if not users_json:
            raise LobbyNotFound(lobby_id)
        users = json.loads(text(users_json))
        (raw,) = yield [("HGETALL", key)]
        data = decode_hash(raw)
        (seats,) = yield [("GET", self.keys.seats)]
        if seats is not None:
            if int(seats) < len(users):
                raise SoldOut(int(seats), len(users))
            yield [("SET", self.keys.seats, int(seats) - len(users))]
        booking = Booking(
            lobby_id=lobby_id,
            session_id=data.get("sessionId", ""),
            users=tuple(users),
            booked_at=int(time.time() * 1000),
            request_id=request_id,
        )
        # The article only deletes the lobby; the bookings stream is added so audits can
        # see what was booked (and find the double bookings).
        yield [
            ("DEL", key),
            (
                "XADD",
                self.keys.bookings,
                "*",
                *("lobby", lobby_id, "session", booking.session_id, "request", request_id),
                *("at", booking.booked_at, "users", join_users(users)),
            ),
        ]
        return booking

    def stats(self) -> Plan[PoolStats]:
        lobbies = yield from self._all_lobbies()
        sizes = [
            (len(json.loads(d.get("users") or "[]")), int(d.get("maxUsers", 0))) for _, d in lobbies
        ]
        full = sum(1 for n, m in sizes if n >= m)
        bookings, seats = yield [("XLEN", self.keys.bookings), ("GET", self.keys.seats)]
        return PoolStats(
            open_lobbies=len(sizes) - full,
            full_lobbies=full,
            waiting_users=sum(n for n, _ in sizes),
            bookings=int(bookings),
            booked_users=0,
            seats_left=None if seats is None else int(seats),
            joins=0,
            leaves=0,
            expired=0,
            lobbies_created=0,
        )

    def set_seats(self, seats: int | None) -> Plan[None]:
        yield [("DEL", self.keys.seats) if seats is None else ("SET", self.keys.seats, seats)]


def _refuses_keys(command: Command, exc: redis.ResponseError) -> bool:
    """Whether ``exc`` says the server has no KEYS command for us: renamed away
    (``unknown command``) or denied by an ACL (``NOPERM``)."""
    text = str(exc).lower()
    return str(command[0]).upper() == "KEYS" and (
        "unknown command" in text or isinstance(exc, redis.exceptions.NoPermissionError)
    )


def _run_sync(client: Any, plan: Plan[T]) -> T:
    try:
        step = next(plan)
        while True:
            replies = []
            for command in step:
                try:
                    replies.append(client.execute_command(*command))
                except redis.ResponseError as exc:
                    if _refuses_keys(command, exc):
                        raise KeysUnavailable() from None
                    raise
            step = plan.send(replies)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _run_async(client: Any, plan: Plan[T]) -> T:
    async def run(command: Command) -> Any:
        try:
            return await client.execute_command(*command)
        except redis.ResponseError as exc:
            if _refuses_keys(command, exc):
                raise KeysUnavailable() from None
            raise

    try:
        step = next(plan)
        while True:
            replies = await asyncio.gather(*(run(c) for c in step))
            step = plan.send(list(replies))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _probe() -> Plan[None]:
    yield [("KEYS", *KEYS_PROBE)]


def check_naive_supported(client: Any) -> None:
    """Raise KeysUnavailable if this server refuses KEYS; call it before starting naive users.

    One KEYS of a literal name: it matches nothing, but (as every naive join) it walks the
    database's key space, so call it once at start, not per operation.
    """
    _run_sync(client, _probe())


async def async_check_naive_supported(client: Any) -> None:
    """:func:`check_naive_supported` for a ``redis.asyncio`` client."""
    await _run_async(client, _probe())


class NaiveLobbyStore:
    """The article's lobby store (sync). UNSAFE: see the module docstring."""

    def __init__(
        self, client: Any, pool: str = DEFAULT_POOL, lobby_ttl: float | None = None
    ) -> None:
        self.client = client
        self._plans = NaivePlans(pool)
        self.lobby_ttl = lobby_ttl  # accepted for signature parity; the article has no expiry

    @property
    def pool(self) -> str:
        return self._plans.pool

    @property
    def shards(self) -> int:
        return 1  # the article's layout has no shards

    def shard_of(self, user_id: str) -> int:
        check.opaque_id(user_id)
        return 0

    def find_or_create_lobby(self, user_id: str, max_users: int) -> Lobby:
        plan = self._plans.join(check.opaque_id(user_id), check.max_users(max_users))
        return _run_sync(self.client, plan)

    def join_party(self, user_ids: Sequence[str], max_users: int) -> Lobby:
        """The article has no parties: members join one by one."""
        users = check.user_ids(user_ids, check.max_users(max_users))
        lobby = None
        for user in users:
            lobby = self.find_or_create_lobby(user, max_users)
        assert lobby is not None
        return lobby

    def leave_lobby(self, user_id: str) -> Lobby | None:
        return _run_sync(self.client, self._plans.leave(check.opaque_id(user_id)))

    def lobby_of(self, user_id: str) -> Lobby | None:
        return _run_sync(self.client, self._plans.lobby_of(check.opaque_id(user_id)))

    def get_lobby(self, lobby_id: str) -> Lobby | None:
        return _run_sync(self.client, self._plans.get_lobby(check.lobby_id(lobby_id)))

    def book_ticket(self, lobby_id: str, request_id: str | None = None) -> Booking:
        rid = str(ULID()) if request_id is None else check.opaque_id(request_id, "request id")
        return _run_sync(self.client, self._plans.book(check.lobby_id(lobby_id), rid))

    def set_seats(self, n: int | None) -> None:
        _run_sync(self.client, self._plans.set_seats(check.seats(n)))

    def seats_left(self) -> int | None:
        return self.stats().seats_left

    def stats(self) -> PoolStats:
        return _run_sync(self.client, self._plans.stats())

    def sweep_expired(self, limit: int = DEFAULT_SWEEP_LIMIT) -> int:
        return 0  # the article has no expiry

    def events(self, after: str = "0-0", count: int = DEFAULT_EVENT_COUNT) -> list[LobbyEvent]:
        return []  # the article has no change stream


class AsyncNaiveLobbyStore:
    """The article's lobby store (asyncio), visiting lobbies in parallel as it does. UNSAFE."""

    def __init__(
        self, client: Any, pool: str = DEFAULT_POOL, lobby_ttl: float | None = None
    ) -> None:
        self.client = client
        self._plans = NaivePlans(pool)
        self.lobby_ttl = lobby_ttl

    @property
    def pool(self) -> str:
        return self._plans.pool

    @property
    def shards(self) -> int:
        return 1  # the article's layout has no shards

    def shard_of(self, user_id: str) -> int:
        check.opaque_id(user_id)
        return 0

    async def find_or_create_lobby(self, user_id: str, max_users: int) -> Lobby:
        plan = self._plans.join(check.opaque_id(user_id), check.max_users(max_users))
        return await _run_async(self.client, plan)

    async def join_party(self, user_ids: Sequence[str], max_users: int) -> Lobby:
        """The article has no parties: members join one by one."""
        users = check.user_ids(user_ids, check.max_users(max_users))
        lobby = None
        for user in users:
            lobby = await self.find_or_create_lobby(user, max_users)
        assert lobby is not None
        return lobby

    async def leave_lobby(self, user_id: str) -> Lobby | None:
        return await _run_async(self.client, self._plans.leave(check.opaque_id(user_id)))

    async def lobby_of(self, user_id: str) -> Lobby | None:
        return await _run_async(self.client, self._plans.lobby_of(check.opaque_id(user_id)))

    async def get_lobby(self, lobby_id: str) -> Lobby | None:
        return await _run_async(self.client, self._plans.get_lobby(check.lobby_id(lobby_id)))

    async def book_ticket(self, lobby_id: str, request_id: str | None = None) -> Booking:
        rid = str(ULID()) if request_id is None else check.opaque_id(request_id, "request id")
        return await _run_async(self.client, self._plans.book(check.lobby_id(lobby_id), rid))

    async def set_seats(self, n: int | None) -> None:
        await _run_async(self.client, self._plans.set_seats(check.seats(n)))

    async def seats_left(self) -> int | None:
        return (await self.stats()).seats_left

    async def stats(self) -> PoolStats:
        return await _run_async(self.client, self._plans.stats())

    async def sweep_expired(self, limit: int = DEFAULT_SWEEP_LIMIT) -> int:
        return 0

    async def events(
        self, after: str = "0-0", count: int = DEFAULT_EVENT_COUNT
    ) -> list[LobbyEvent]:
        return []
