"""Sans-IO core: builds every script call and parses every reply.

Nothing here talks to Redis. The sync and async stores ask this module for a
:class:`ScriptCall`, run it with their own client, and hand the reply back to
``call.parse``; so validation, key layout and reply parsing exist once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from redis.exceptions import ResponseError

from . import _validate as check
from ._errors import (
    REFUSALS,
    AlreadyBooked,
    AlreadyInLobby,
    JoinReplayTooLate,
    LayoutMismatch,
    LobbyError,
    LobbyNotFound,
    PoolDamaged,
    PoolNotFound,
    PoolRolledBack,
    PoolStateLost,
    ServerRefused,
    SoldOut,
    UnsafeServer,
)
from ._ids import new_ulid
from ._keys import UNLIMITED_SEATS, PoolKeys, split_users
from ._keys import text as _text
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from .defaults import (
    DEFAULT_BOOKING_TTL,
    DEFAULT_EVENT_COUNT,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_SWEEP_LIMIT,
    MAX_BATCH,
    READ_REPLY_BYTES,
    SWEEP_USER_BUDGET,
)

T = TypeVar("T")


class ScriptCall(NamedTuple, Generic[T]):
    """One EVALSHA: which script, its KEYS and ARGV, and how to read its reply.

    A NamedTuple rather than a frozen dataclass: one is built per operation, and this is
    the cheaper of the two to create.
    """

    script: str
    keys: tuple[str, ...]
    args: tuple[str | int, ...]
    parse: Callable[[Any], T]


def _tag(reply: Any) -> str:
    """A reply's tag; the replies every script may give instead of its own raise here."""
    tag = _text(reply[0])
    if tag == "damaged":
        raise PoolDamaged(_text(reply[1]), _text(reply[2]))
    if tag == "lost":
        raise PoolStateLost(_text(reply[1]), _text(reply[2]))
    if tag == "rolled_back":
        raise PoolRolledBack(_text(reply[1]), int(reply[2]), int(reply[3]), _text(reply[4]))
    if tag == "layout":
        raise LayoutMismatch(_text(reply[1]), _text(reply[2]), _text(reply[3]))
    return tag


class WriteSequences:
    """The highest write sequence a store has seen in each (sub-)pool (keyed by its stats
    key, ``call.keys[0]``), and the pools it found rolled back. One per store's sender.

    Every script call carries the floor (:meth:`floor`: ARGV[2], after the epoch), and
    the script refuses a pool whose sequence is below it before any write; every reply is
    ``[sequence after the call, answer]``, and :meth:`parse` checks it against the floor
    the call carried (not against the highest seen by then: concurrent calls' replies may
    come in another order than they ran), raises :class:`PoolRolledBack` for an older
    one, and keeps the highest. A pool found rolled back stays refused by this store,
    without a call, even once other stores' writes carry its sequence past the floor.
    """

    __slots__ = ("_raise", "rolled_back", "seen")

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.rolled_back: dict[str, PoolRolledBack] = {}
        # A store shared by threads: raising the highest seen is compare-and-set, which
        # two threads interleaved could turn into lowering it.
        self._raise = threading.Lock()

    def floor(self, key: str) -> int:
        """The sequence a call to the (sub-)pool of stats key ``key`` carries; raises
        :class:`PoolRolledBack` for a pool found rolled back (nothing is sent)."""
        if self.rolled_back and key in self.rolled_back:
            found = self.rolled_back[key]
            raise PoolRolledBack(found.key, found.seen, found.sequence, found.epoch)
        return self.seen.get(key, 0)

    def parse(self, call: ScriptCall[T], reply: Any) -> T:
        """The result of ``call`` from its script's ``reply`` (raising its typed error)."""
        sequence, answer = reply
        # -1: the call stopped before reading the sequence (a lost or damaged pool).
        if sequence >= 0:
            key = call.keys[0]
            floor = int(call.args[1])
            if sequence < floor:
                try:
                    _tag(answer)  # the script's own refusal, if it gave one
                except PoolRolledBack as exc:
                    self.rolled_back[key] = exc
                    raise
                meta = PoolKeys(key.removesuffix("stats")).meta
                self.rolled_back[key] = PoolRolledBack(meta, floor, sequence, _text(call.args[0]))
                raise self.rolled_back[key]
            if sequence > self.seen.get(key, 0):
                with self._raise:
                    if sequence > self.seen.get(key, 0):
                        self.seen[key] = sequence
        return call.parse(answer)


# redis-py prefixes an error reply inside a pipeline with the command that got it.
_PIPELINE_NOTE = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ")
# How Redis words an ACL denial inside a script: 7.0 and 6.2 name no command, 7.2 and
# later "ACL failure in script: User u has no permissions to run the 'time' command".
_DENIED_IN_SCRIPT = ("can't run this command", "ACL failure in script", "No permissions to")
_DENIED_COMMAND = re.compile(r"no permissions to run the '([^']+)' command", re.IGNORECASE)


def script_error(exc: ResponseError) -> LobbyError:
    """An error reply to a script call, typed, never a raw ResponseError: a refusal of the
    server (its Redis error code, such as READONLY, OOM, NOPERM) is :class:`ServerRefused`;
    anything else comes from what the scripts, which check every key before writing, could
    not foresee in a key: :class:`PoolDamaged`."""
    message = _PIPELINE_NOTE.sub("", " ".join(str(exc).split()))
    # redis-py 8 keeps the code apart (and takes it off the message of the errors it knows);
    # a refusal a script raised again (a pcall's error) comes as ERR with its code first.
    code: str | None = getattr(exc, "status_code", None)
    first, _, rest = message.partition(" ")
    if first == code or (code in (None, "ERR") and first in REFUSALS):
        code, message = first, rest
    if code == "ERR" and any(words in message for words in _DENIED_IN_SCRIPT):
        code = "NOPERM"
    if code in REFUSALS:
        named = _DENIED_COMMAND.search(message) if code == "NOPERM" else None
        return ServerRefused(code, message, (named[1].lower(),) if named else ())
    return PoolDamaged(None, f"the server answered: {message:.300}")


def parse_open(reply: Any) -> str:
    """The pool epoch from the ``open`` script."""
    if _tag(reply) == "none":
        raise PoolNotFound("the pool holds no key (and this store does not make pools)")
    if _tag(reply) == "no_meta":
        raise PoolStateLost(
            _text(reply[1]),
            "",
            "while the pool's other keys are there: eviction or a partial restore lost it, or "
            "lobbycore 0.1.0 made the pool (it kept no meta); finish such a pool with 0.1.0, "
            "or start a new one",
        )
    if _tag(reply) != "pool":
        raise _unexpected(reply)
    return _text(reply[1])


def open_pool(keys: tuple[str, ...], *, create: bool = True) -> ScriptCall[str]:
    """The call that learns (or, for a new pool and ``create``, makes) the epoch of the pool
    of ``keys``, and its write sequence. Its arguments start with the sequence slot (0:
    nothing seen yet); the store puts the epoch slot, empty, in front."""
    return ScriptCall("open", keys, (0, new_ulid(), "1" if create else "0"), parse_open)


# Redis 6.2 brought what the scripts need (exclusive XRANGE starts, among others).
MIN_SERVER_VERSION = (6, 2)
# With a memory limit, only noeviction keeps every key: the volatile-* policies evict keys
# with a TTL, and the pool's replay answers and booking records carry one.
SAFE_EVICTION_POLICY = "noeviction"


def server_infos(reply: Any) -> list[dict[str, Any]]:
    """INFO of one node, or of each node of a cluster client (a dict per node)."""
    if isinstance(reply, dict) and reply and all(isinstance(v, dict) for v in reply.values()):
        return list(reply.values())
    return [reply]


def may_evict(policy: str, maxmemory: int) -> bool:
    """Whether a server with this ``maxmemory-policy`` and ``maxmemory`` (0 = no limit) can
    drop a pool's keys now: the one eviction rule of the stores and the audit."""
    return maxmemory > 0 and policy != SAFE_EVICTION_POLICY


def check_server(info: dict[str, Any], *, allow_eviction: bool) -> None:
    """Refuse a server older than MIN_SERVER_VERSION, or one that may evict the pool's keys
    (``maxmemory`` set and ``maxmemory-policy`` other than noeviction) unless allowed."""
    version = str(info.get("redis_version", ""))
    parts = version.split(".")
    if not (len(parts) >= 2 and parts[0].isdecimal() and parts[1].isdecimal()):
        raise UnsafeServer(f"cannot tell the server's version (INFO redis_version={version!r})")
    if (int(parts[0]), int(parts[1])) < MIN_SERVER_VERSION:
        raise UnsafeServer(
            f"Redis {version} is not supported: lobbycore needs Redis "
            f"{'.'.join(map(str, MIN_SERVER_VERSION))} or later (or Valkey)"
        )
    policy = str(info.get("maxmemory_policy", ""))
    if may_evict(policy, int(info.get("maxmemory", 0) or 0)) and not allow_eviction:
        raise UnsafeServer(
            f"maxmemory-policy={policy} can evict the pool's keys (maxmemory="
            f"{info.get('maxmemory')}), which would lose seats, lobbies and bookings; "
            "set maxmemory-policy noeviction, or pass allow_eviction=True to accept that"
        )


def _lobby(reply: Sequence[Any]) -> Lobby:
    # {'lobby', id, session id, max, created, users joined by NUL}
    return Lobby(
        id=_text(reply[1]),
        session_id=_text(reply[2]),
        max_users=int(reply[3]),
        created_at=int(reply[4]),
        users=split_users(reply[5]),
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
    if tag == "booked_before":
        raise JoinReplayTooLate(_text(reply[1]))
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
    if _tag(reply) != "swept":
        raise _unexpected(reply)
    return int(reply[1])


def parse_seats(reply: Any) -> int | None:
    if _tag(reply) != "seats":
        raise _unexpected(reply)
    seats = int(reply[1])
    return None if seats < 0 else seats


def parse_events(reply: Any) -> list[LobbyEvent]:
    if reply and not isinstance(reply[0], (list, tuple)):
        _tag(reply)  # raises for a damaged or lost pool
        raise _unexpected(reply)
    events = []
    for entry_id, flat in reply:
        fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        users = split_users(fields["users"])
        events.append(
            LobbyEvent(
                id=_text(entry_id),
                type=_text(fields["type"]),
                lobby_id=_text(fields["lobby"]),
                max_users=int(fields["max"]),
                size=int(fields["size"]),
                users=users,
                more_users=int(fields.get("n", len(users))) - len(users),
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
        self._booking_ttl_ms = check.ttl_ms(booking_ttl, "booking_ttl", allow_none=False)
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
        return self._call("seats", parse_seats, UNLIMITED_SEATS if n is None else n)

    def stats(self) -> ScriptCall[PoolStats]:
        return self._call("stats", parse_stats)

    def sweep_expired(self, limit: object = DEFAULT_SWEEP_LIMIT) -> ScriptCall[int]:
        return self._call(
            "sweep", parse_count, check.whole(limit, "limit", 1, MAX_BATCH), SWEEP_USER_BUDGET
        )

    def events(
        self, after: object = "0-0", count: object = DEFAULT_EVENT_COUNT
    ) -> ScriptCall[list[LobbyEvent]]:
        return self._call(
            "events",
            parse_events,
            check.stream_id(after),
            check.whole(count, "count", 1, MAX_BATCH),
            READ_REPLY_BYTES,  # fewer events when they are large: see events.lua
        )
