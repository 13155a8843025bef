"""Sans-IO core: builds every script call and parses every reply.

Nothing here talks to Redis. The sync and async stores ask this module for a
:class:`ScriptCall`, run it with their own client, and hand the reply back to
``call.parse``; so validation, key layout and reply parsing exist once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from . import _validate as check
from ._errors import AlreadyBooked, AlreadyInLobby, LobbyError, LobbyNotFound, SoldOut
from ._ids import new_ulid
from ._models import Booking, Lobby, LobbyEvent, PoolStats

T = TypeVar("T")

KEY_PREFIX = "lobbysim"
DEFAULT_BOOKING_TTL = 24 * 3600.0
DEFAULT_SWEEP_LIMIT = 100
DEFAULT_REPLAY_WINDOW = 30.0


def pool_prefix(pool: str, shard: int | None = None, shards: int = 1) -> str:
    """Key prefix of a pool, or of sub-pool ``shard`` of a pool split into ``shards``.

    The braces make the pool name the Redis Cluster hash tag, so a pool lives in one slot.
    A sub-pool's tag is ``<pool>#<shard>`` (its own slot), under ``lobbysim:s<shards>:``:
    that part differs from every unsharded prefix, and the shard number has no ``#``, so no
    two (pool, shard, shards) share a prefix, and a pool split 4 ways never mixes with the
    same pool split 2 ways (users would map to other shards).
    """
    if shard is None:
        return f"{KEY_PREFIX}:{{{pool}}}:"
    return f"{KEY_PREFIX}:s{shards}:{{{pool}#{shard}}}:"


@dataclass(frozen=True, slots=True)
class PoolKeys:
    """Names of a pool's keys. Scripts get only ``stats`` and derive the rest from it."""

    prefix: str

    @classmethod
    def for_pool(cls, pool: str, shard: int | None = None, shards: int = 1) -> PoolKeys:
        return cls(pool_prefix(pool, shard, shards))

    @property
    def stats(self) -> str:
        return f"{self.prefix}stats"

    def lobby(self, lobby_id: str) -> str:
        return f"{self.prefix}l:{lobby_id}"

    def booking(self, lobby_id: str) -> str:
        return f"{self.prefix}b:{lobby_id}"


class ScriptCall(NamedTuple, Generic[T]):
    """One EVALSHA: which script, its KEYS and ARGV, and how to read its reply.

    A NamedTuple rather than a frozen dataclass: one is built per operation, and this is
    the cheaper of the two to create.
    """

    script: str
    keys: tuple[str, ...]
    args: tuple[str | int, ...]
    parse: Callable[[Any], T]


def _text(value: Any) -> str:
    # Replies are bytes or str depending on the client's decode_responses.
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _tag(reply: Any) -> str:
    return _text(reply[0])


def _lobby(reply: Sequence[Any]) -> Lobby:
    # {'lobby', id, session id, max, created, users...}
    return Lobby(
        id=_text(reply[1]),
        session_id=_text(reply[2]),
        max_users=int(reply[3]),
        created_at=int(reply[4]),
        users=tuple(map(_text, reply[5:])),
    )


def _booking(reply: Sequence[Any]) -> Booking:
    # {tag, lobby id, session id, booked at, request id, max, users...}
    return Booking(
        lobby_id=_text(reply[1]),
        session_id=_text(reply[2]),
        booked_at=int(reply[3]),
        request_id=_text(reply[4]),
        users=tuple(map(_text, reply[6:])),
    )


def _unexpected(reply: Any) -> LobbyError:
    return LobbyError(f"unexpected reply from lobbycore script: {reply!r:.200}")


def parse_lobby(reply: Any) -> Lobby:
    tag = _tag(reply)
    if tag == "lobby":
        return _lobby(reply)
    if tag == "in_lobby":
        raise AlreadyInLobby(_text(reply[1]), _text(reply[2]))
    if tag == "id_taken":
        raise LobbyError(f"new lobby id {_text(reply[1])!r} already exists; retry the call")
    raise _unexpected(reply)


def parse_optional_lobby(reply: Any) -> Lobby | None:
    return None if _tag(reply) == "none" else parse_lobby(reply)


def parse_booking(reply: Any) -> Booking:
    tag = _tag(reply)
    if tag == "booked":
        return _booking(reply)
    if tag == "already_booked":
        raise AlreadyBooked(_booking(reply))
    if tag == "not_found":
        raise LobbyNotFound(_text(reply[1]))
    if tag == "sold_out":
        raise SoldOut(int(reply[1]), int(reply[2]))
    raise _unexpected(reply)


def parse_stats(reply: Any) -> PoolStats:
    if _tag(reply) != "stats":
        raise _unexpected(reply)
    lobbies, full, bookings, booked_users, joins, leaves, expired, created, waiting, seats = (
        int(v) for v in reply[1:11]
    )
    return PoolStats(
        open_lobbies=lobbies - full,
        full_lobbies=full,
        waiting_users=waiting,
        bookings=bookings,
        booked_users=booked_users,
        seats_left=None if seats < 0 else seats,
        joins=joins,
        leaves=leaves,
        expired=expired,
        lobbies_created=created,
    )


def parse_count(reply: Any) -> int:
    return int(reply[1])


def parse_seats(reply: Any) -> int | None:
    seats = int(reply[1])
    return None if seats < 0 else seats


def split_users(value: Any) -> tuple[str, ...]:
    text = _text(value)
    return tuple(text.split("\0")) if text else ()


def parse_events(reply: Any) -> list[LobbyEvent]:
    events = []
    for entry_id, flat in reply:
        fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        events.append(
            LobbyEvent(
                id=_text(entry_id),
                type=_text(fields["type"]),
                lobby_id=_text(fields["lobby"]),
                max_users=int(fields["max"]),
                size=int(fields["size"]),
                users=split_users(fields["users"]),
            )
        )
    return events


class FanOut(NamedTuple, Generic[T]):
    """Several script calls, one per sub-pool of a sharded pool, and how to combine their
    parsed results. Each call is its own atomic step: a fan-out is not a snapshot."""

    calls: tuple[ScriptCall[Any], ...]
    combine: Callable[[list[Any]], T]


class PoolProtocol:
    """Builds the script calls of one pool. Shared by :class:`LobbyStore` and :class:`AsyncLobbyStore`.

    With ``shard`` set it is sub-pool ``shard`` of a pool split into ``shards``
    (see :mod:`lobbycore._sharding`): its own keys, and lobby ids ending in ``.<shard>``.
    """

    __slots__ = ("_booking_ttl_ms", "_id_suffix", "_keys", "_replay_ms", "_ttl_ms", "keys", "pool")

    def __init__(
        self,
        pool: str,
        lobby_ttl: float | None,
        booking_ttl: float = DEFAULT_BOOKING_TTL,
        replay_window: float | None = DEFAULT_REPLAY_WINDOW,
        *,
        shard: int | None = None,
        shards: int = 1,
    ) -> None:
        self.pool = check.pool_name(pool)
        self._ttl_ms = check.ttl_ms(lobby_ttl, "lobby_ttl")
        self._booking_ttl_ms = check.ttl_ms(booking_ttl, "booking_ttl") or 1
        self._replay_ms = check.ttl_ms(replay_window, "replay_window")
        self.keys = PoolKeys.for_pool(pool, shard, shards)
        self._keys = (self.keys.stats,)
        self._id_suffix = "" if shard is None else f".{shard}"

    @property
    def lobby_ttl(self) -> float | None:
        return self._ttl_ms / 1000 if self._ttl_ms else None

    def _call(self, script: str, parse: Callable[[Any], T], *args: str | int) -> ScriptCall[T]:
        return ScriptCall(script, self._keys, args, parse)

    def _join(self, users: tuple[str, ...], max_users: int) -> ScriptCall[Lobby]:
        # The new lobby's ids are made here, before the call, so a replayed call carries the
        # same ids (and the script is deterministic apart from the server clock).
        return self._call(
            "join",
            parse_lobby,
            max_users,
            new_ulid() + self._id_suffix,
            new_ulid(),
            self._ttl_ms,
            self._replay_ms,
            *users,
        )

    def find_or_create_lobby(self, user_id: object, max_users: object) -> ScriptCall[Lobby]:
        return self._join((check.opaque_id(user_id),), check.max_users(max_users))

    def join_party(self, user_ids: object, max_users: object) -> ScriptCall[Lobby]:
        capacity = check.max_users(max_users)
        return self._join(check.user_ids(user_ids, capacity), capacity)

    def leave_lobby(self, user_id: object) -> ScriptCall[Lobby | None]:
        return self._call("leave", parse_optional_lobby, check.opaque_id(user_id))

    def lobby_of(self, user_id: object) -> ScriptCall[Lobby | None]:
        return self._call("lookup", parse_optional_lobby, "user", check.opaque_id(user_id))

    def get_lobby(self, lobby_id: object) -> ScriptCall[Lobby | None]:
        return self._call(
            "lookup", parse_optional_lobby, "lobby", check.lobby_id(lobby_id, self._id_suffix)
        )

    def book_ticket(self, lobby_id: object, request_id: object = None) -> ScriptCall[Booking]:
        lid = check.lobby_id(lobby_id, self._id_suffix)
        rid = new_ulid() if request_id is None else check.opaque_id(request_id, "request id")
        return self._call("book", parse_booking, lid, rid, self._booking_ttl_ms)

    def set_seats(self, seats: object) -> ScriptCall[int | None]:
        n = check.seats(seats)
        return self._call("seats", parse_seats, "" if n is None else n)

    def stats(self) -> ScriptCall[PoolStats]:
        return self._call("stats", parse_stats)

    def sweep_expired(self, limit: object = DEFAULT_SWEEP_LIMIT) -> ScriptCall[int]:
        return self._call("sweep", parse_count, check.whole(limit, "limit", 1, check.MAX_BATCH))

    def events(self, after: object = "0-0", count: object = 100) -> ScriptCall[list[LobbyEvent]]:
        return self._call(
            "events",
            parse_events,
            check.stream_id(after),
            check.whole(count, "count", 1, check.MAX_BATCH),
        )
