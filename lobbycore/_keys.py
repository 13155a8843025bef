"""The key layout, mirrored in Python: the only place Python names a key or parses a value.

The real layout is the key table at the top of ``lua/common.lua``: the scripts build every
key of a pool from its ``stats`` key. This module names the same keys for the code that
reads a pool from outside the scripts (the audit, the admin tools, tests), and holds the
lobby value codec. ``tests/unit/test_keys.py`` reads the Lua table and checks this mirror
names the same keys, so the two cannot drift apart silently.

The naive (article) layout lives here too: its lobby hashes, seats and bookings stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._models import Lobby

__all__ = [
    "KEY_PREFIX",
    "LAYOUT_VERSION",
    "NAIVE_KEY_PREFIX",
    "REPLAY_BUCKETS",
    "UNLIMITED_SEATS",
    "USER_BUCKETS",
    "NaiveKeys",
    "PoolKeys",
    "decode_hash",
    "escape_glob",
    "join_users",
    "lobby_deadline",
    "lobby_value",
    "naive_lobby",
    "naive_prefix",
    "parse_lobby_value",
    "parse_seats",
    "pool_prefix",
    "seats_query",
    "shard_count_of",
    "sharded_pattern",
    "split_users",
    "sub_pools",
    "text",
]

KEY_PREFIX = "lobbysim"
UNLIMITED_SEATS = "unlimited"
"""The meta hash's ``seats`` value for an unlimited inventory (stored, never implied)."""
NAIVE_KEY_PREFIX = "lobbysim-naive"
USER_BUCKETS = 4096
"""Hashes the user index is split into (``USER_BUCKETS`` in common.lua)."""
REPLAY_BUCKETS = 16
"""Hashes each replay window's join answers are split into (``REPLAY_BUCKETS`` in common.lua)."""
LAYOUT_VERSION = "2"
"""The key layout's version, kept in a pool's meta (``LAYOUT`` in common.lua). A store
refuses a pool of another layout (:class:`~lobbycore.LayoutMismatch`); 1 is a pool whose
meta has no ``layout`` field."""


def text(value: Any) -> str:
    """A reply as str: replies are bytes or str depending on the client's decode_responses."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def escape_glob(pattern: str) -> str:
    """``pattern`` matched literally by SCAN's MATCH (pool names may hold ``*?[]\\``)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", pattern)


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


def naive_prefix(pool: str) -> str:
    """Key prefix of a naive (article) pool."""
    return f"{NAIVE_KEY_PREFIX}:{{{pool}}}:"


def _user_bucket(user: str) -> int:
    # common.lua's bucket_key: the length, then the first 8 and the last 8 bytes (never
    # the same byte twice), each folded in as h * 31 + byte, mod USER_BUCKETS.
    data = user.encode("utf-8")
    h = len(data)
    for byte in data[:8]:
        h = (h * 31 + byte) % USER_BUCKETS
    for byte in data[max(8, len(data) - 8) :]:
        h = (h * 31 + byte) % USER_BUCKETS
    return h


@dataclass(frozen=True, slots=True)
class PoolKeys:
    """Every key of one lobbycore (sub-)pool, as common.lua's key table names them.

    The parts in angle brackets in that table are the arguments here; they are written as
    they print, so ``PoolKeys("").open("<max>")`` names the table's ``open:<max>``.
    """

    prefix: str

    @classmethod
    def for_pool(cls, pool: str, shard: int | None = None, shards: int = 1) -> PoolKeys:
        return cls(pool_prefix(pool, shard, shards))

    @property
    def stats(self) -> str:
        """The counters hash; the one key the scripts are given (they derive the rest)."""
        return f"{self.prefix}stats"

    def user_index(self, bucket: int | str) -> str:
        """One bucket of the user index (user id -> lobby id)."""
        return f"{self.prefix}u:{bucket}"

    def user_index_of(self, user_id: str) -> str:
        """The user index bucket that holds ``user_id``."""
        return self.user_index(_user_bucket(user_id))

    def lobby(self, lobby_id: str) -> str:
        return f"{self.prefix}l:{lobby_id}"

    def open(self, max_users: int | str) -> str:
        """Open lobbies (0 < size < max) of one capacity, scored by fill order."""
        return f"{self.prefix}open:{max_users}"

    def room(self, max_users: int | str, free: int | str) -> str:
        """Open lobbies of one capacity with ``free`` places left (for party joins)."""
        return f"{self.prefix}room:{max_users}:{free}"

    @property
    def expiry(self) -> str:
        return f"{self.prefix}expiry"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def bookings(self) -> str:
        return f"{self.prefix}bookings"

    def booking(self, lobby_id: str) -> str:
        """A booked lobby's booking, kept for a while to answer retries."""
        return f"{self.prefix}b:{lobby_id}"

    def booked(self, bucket: int | str) -> str:
        """One bucket of the booked-lobby index (lobby id -> booked at, ms), kept for good."""
        return f"{self.prefix}bx:{bucket}"

    def booked_of(self, lobby_id: str) -> str:
        """The booked-lobby index bucket that holds ``lobby_id``."""
        return self.booked(_user_bucket(lobby_id))

    def replay(self, window_ms: int | str, window: int | str, bucket: int | str) -> str:
        """Join answers of one replay window (``window`` = now // ``window_ms``), one bucket."""
        return f"{self.prefix}jr:{window_ms}:{window}:{bucket}"

    @property
    def seq(self) -> str:
        return f"{self.prefix}seq"

    @property
    def meta(self) -> str:
        """The key layout's version (``layout``: :data:`LAYOUT_VERSION`), the pool's epoch,
        seat inventory (``seats``: a count or ``unlimited``) and write sequence (``wseq``: +1 by every writing call; absent means 0) and the start (ms) of
        the latest join replay window used (``jw``: the window never goes backwards)."""
        return f"{self.prefix}meta"

    def layout(self) -> tuple[str, ...]:
        """Every key, its variable parts named as in common.lua's table (``l:<id>``)."""
        return tuple(
            key[len(self.prefix) :]
            for key in (
                self.meta,
                self.stats,
                self.user_index("<bucket>"),
                self.lobby("<id>"),
                self.open("<max>"),
                self.room("<max>", "<free>"),
                self.expiry,
                self.events,
                self.bookings,
                self.booking("<id>"),
                self.booked("<bucket>"),
                self.replay("<ms>", "<w>", "<s>"),
                self.seq,
            )
        )

    # SCAN patterns and the parts read back from key names.
    @property
    def all_pattern(self) -> str:
        return escape_glob(self.prefix) + "*"

    @property
    def lobby_pattern(self) -> str:
        return escape_glob(self.prefix) + "l:*"

    @property
    def user_index_pattern(self) -> str:
        return escape_glob(self.prefix) + "u:*"

    @property
    def open_pattern(self) -> str:
        return escape_glob(self.prefix) + "open:*"

    @property
    def room_pattern(self) -> str:
        return escape_glob(self.prefix) + "room:*"

    @property
    def singletons(self) -> tuple[str, ...]:
        """The keys with fixed names: a pool that holds state has at least one of them."""
        return (self.meta, self.stats, self.expiry, self.events, self.bookings, self.seq)

    def lobby_id_of(self, lobby_key: str) -> str:
        return lobby_key[len(self.lobby("")) :]

    def capacity_of(self, open_key: str) -> int:
        return int(open_key[len(self.open("")) :])

    def room_of(self, room_key: str) -> tuple[int, int]:
        """(max, free) of a ``room:<max>:<free>`` key."""
        max_users, free = room_key[len(self.room("", "")[:-1]) :].split(":")
        return int(max_users), int(free)


def sub_pools(pool: str, shards: int = 1) -> tuple[PoolKeys, ...]:
    """The keys of each sub-pool of a pool split into ``shards`` (one, unsplit, if 1)."""
    if shards == 1:
        return (PoolKeys.for_pool(pool),)
    return tuple(PoolKeys.for_pool(pool, shard, shards) for shard in range(shards))


def sharded_pattern(pool: str) -> str:
    """SCAN pattern for the keys of ``pool`` split into any number of shards (it can also
    match other pools whose name starts with ``<pool>#``: :func:`shard_count_of` tells)."""
    return f"{KEY_PREFIX}:s*:" + escape_glob(f"{{{pool}#") + "*"


def shard_count_of(pool: str, key: str) -> int | None:
    """The shard count of a key of ``pool`` split into shards, None if it is not one.
    (Pool names hold no braces, so the tag ends at the first ``}``.)"""
    head, tag = f"{KEY_PREFIX}:s", f"{{{pool}#"
    if not key.startswith(head):
        return None
    shards_text, _, rest = key[len(head) :].partition(":")
    if not rest.startswith(tag):
        return None
    shard_text, closed, _ = rest[len(tag) :].partition("}:")
    numbers = (shards_text, shard_text)
    if not closed or not all(n.isdecimal() and n.isascii() for n in numbers):
        return None
    shards, shard = int(shards_text), int(shard_text)
    if shard >= shards or not key.startswith(pool_prefix(pool, shard, shards)):
        return None
    return shards


@dataclass(frozen=True, slots=True)
class NaiveKeys:
    """The keys of one naive pool: the article's own layout, with the pool as its prefix.

    Lobbies are the article's hashes, ``lobby:<pool>:<ulid>`` (``PREFIX = "ticket"`` in the
    article, our default pool), with its fields ``id``, ``sessionId``, ``users`` (a JSON
    list) and ``createdAt``, plus ``maxUsers``, which the article keeps in its callers and
    the naive store writes so that audits know each lobby's size. So the naive store and
    ``lobbysim audit --layout article --prefix P`` read and write what the article's
    service does. The bookings stream and the seat count are lobbysim's additions (the
    article has neither): they live under ``lobbysim-naive:{<pool>}:``, out of the
    article's key space.
    """

    pool: str

    @classmethod
    def for_pool(cls, pool: str) -> NaiveKeys:
        return cls(pool)

    def lobby(self, lobby_id: str) -> str:
        """A lobby hash: id, sessionId, users (a JSON list), createdAt, maxUsers."""
        return f"lobby:{self.pool}:{lobby_id}"

    @property
    def extras_prefix(self) -> str:
        """Prefix of the keys the article does not have (bookings, seats)."""
        return naive_prefix(self.pool)

    @property
    def bookings(self) -> str:
        return f"{self.extras_prefix}bookings"

    @property
    def seats(self) -> str:
        return f"{self.extras_prefix}seats"

    @property
    def all_patterns(self) -> tuple[str, ...]:
        """SCAN patterns that find every key of the pool (lobbies, then the extras)."""
        return (self.lobby_pattern, escape_glob(self.extras_prefix) + "*")

    @property
    def lobby_pattern(self) -> str:
        """Also matches the lobbies of pool ``<pool>:x``: see :meth:`is_lobby_key`."""
        return escape_glob(self.lobby("")) + "*"

    def is_lobby_key(self, key: str) -> bool:
        """Whether a key :attr:`lobby_pattern` found is one of this pool's lobbies: ids
        (ULIDs) hold no ``:``, so ``lobby:a:b:<id>`` belongs to pool ``a:b``, not ``a``."""
        rest = key[len(self.lobby("")) :]
        return key.startswith(self.lobby("")) and bool(rest) and ":" not in rest

    @property
    def singletons(self) -> tuple[str, ...]:
        """The keys with fixed names: a pool that holds state has at least one of them."""
        return (self.bookings, self.seats)

    def lobby_id_of(self, lobby_key: str) -> str:
        return lobby_key[len(self.lobby("")) :]


# -- values ------------------------------------------------------------------------------------
def split_users(value: Any) -> tuple[str, ...]:
    """User ids joined by NUL (an event's or a booking's ``users`` field)."""
    joined = text(value)
    return tuple(joined.split("\0")) if joined else ()


def join_users(users: Iterable[str]) -> str:
    return "\0".join(users)


def lobby_value(lobby: Lobby, order: int = 0, deadline: int = 0) -> str:
    """A lobby key's value (common.lua's save_lobby): NUL + "sid|max|created|order|deadline",
    then NUL + each user id, in join order."""
    meta = f"\0{lobby.session_id}|{lobby.max_users}|{lobby.created_at}|{order}|{deadline}"
    return meta + "".join(f"\0{user}" for user in lobby.users)


def parse_lobby_value(lobby_id: str, raw: Any) -> Lobby | None:
    """The lobby a lobby key's value holds (common.lua's load_lobby); None if absent."""
    if raw is None:
        return None
    value = text(raw)
    if not value.startswith("\0"):
        return None
    meta, *users = value[1:].split("\0")
    try:
        session_id, max_users, created, _order, _deadline = meta.split("|")
        return Lobby(
            id=lobby_id,
            session_id=session_id,
            users=tuple(users),
            max_users=int(max_users),
            created_at=int(created),
        )
    except ValueError:  # cut short or not lobbycore's: no lobby (its indexes then disagree)
        return None


def lobby_deadline(raw: Any) -> int:
    """The expiry deadline (ms, 0 = none) in a lobby key's value (see :func:`lobby_value`)."""
    meta = text(raw)[1:].split("\0", 1)[0]
    return int(meta.split("|")[4])


# How the audit reads a seat inventory (the stores read it inside their scripts and plans).
def seats_query(keys: PoolKeys | NaiveKeys) -> tuple[str, ...]:
    """The command that reads a (sub-)pool's seats left: the meta hash's ``seats`` field for
    lobbycore pools, the ``seats`` string for naive ones."""
    if isinstance(keys, PoolKeys):
        return ("HGET", keys.meta, "seats")
    return ("GET", keys.seats)


def parse_seats(raw: Any) -> int | None:
    """Seats left from the reply of :func:`seats_query`; None = unlimited (``unlimited`` in
    a lobbycore pool's meta, no key in a naive pool's layout, or no meta at all: a pool
    that does not exist, which the audit reports on its own)."""
    if raw is None or text(raw) == UNLIMITED_SEATS:
        return None
    return int(raw)


def decode_hash(data: Mapping[Any, Any] | None) -> dict[str, str]:
    """A hash reply (HGETALL, a stream entry's fields) with str keys and values."""
    return {text(k): text(v) for k, v in (data or {}).items()}


def naive_lobby(lobby_id: str, fields: Mapping[str, str], users: list[str] | None = None) -> Lobby:
    """A naive lobby hash as a Lobby (``users``: already decoded, else read from the hash).

    A booking racing a join can leave a hash with only "users" (the join's HSET recreates
    the deleted key): the id comes from the key, and missing fields read as empty.
    """
    if users is None:
        users = json.loads(fields.get("users") or "[]")
    return Lobby(
        id=lobby_id,
        session_id=fields.get("sessionId", ""),
        users=tuple(users),
        max_users=int(fields.get("maxUsers", 0)),
        created_at=int(fields.get("createdAt", 0)),
    )
