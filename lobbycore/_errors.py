"""The exceptions lobbycore raises. Every one subclasses :class:`LobbyError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Booking

__all__ = [
    "AlreadyBooked",
    "AlreadyInLobby",
    "InvalidInput",
    "KeysUnavailable",
    "LobbyError",
    "LobbyNotFound",
    "PartySpansShards",
    "PoolDamaged",
    "PoolStateLost",
    "SoldOut",
    "UnsafeServer",
]


class LobbyError(Exception):
    """Base class of every lobbycore error."""


class InvalidInput(LobbyError, ValueError):
    """An argument is malformed. Raised before any command is sent, so nothing was written."""


class LobbyNotFound(LobbyError):
    """No lobby (open, full, or recently booked) has this id."""

    def __init__(self, lobby_id: str) -> None:
        super().__init__(f"no lobby {lobby_id!r}")
        self.lobby_id = lobby_id


class AlreadyBooked(LobbyError):
    """The lobby was booked by another call; ``booking`` is that booking."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(
            f"lobby {booking.lobby_id!r} was already booked by request {booking.request_id!r}"
        )
        self.booking = booking


class AlreadyInLobby(LobbyError):
    """A party join named a user who is already in a lobby the rest of the party is not in."""

    def __init__(self, user_id: str, lobby_id: str) -> None:
        super().__init__(f"user {user_id!r} is already in lobby {lobby_id!r}")
        self.user_id = user_id
        self.lobby_id = lobby_id


class SoldOut(LobbyError):
    """Too few seats are left for this booking; nothing was taken."""

    def __init__(self, seats_left: int, requested: int) -> None:
        super().__init__(f"sold out: {requested} seats requested, {seats_left} left")
        self.seats_left = seats_left
        self.requested = requested


class PartySpansShards(LobbyError):
    """A party join on a sharded pool named users who live in different shards.

    Each user belongs to one shard (a stable hash of their id) and a lobby lives in one
    shard, so such a party could only be placed by a step spanning shards, which would not
    be atomic. Refused before anything is sent: nothing was written. ``shards`` maps each
    user to their shard; see ``LobbyStore.shard_of`` to form parties within a shard.
    """

    def __init__(self, shards: dict[str, int]) -> None:
        super().__init__(
            f"a party's users live in {len(set(shards.values()))} different shards "
            f"({', '.join(f'{u!r:.40}: {s}' for u, s in list(shards.items())[:6])}); "
            "a party on a sharded pool must share one shard"
        )
        self.shards = shards


class KeysUnavailable(LobbyError):
    """The server refuses ``KEYS`` (renamed away, a common hardening, or denied by an ACL),
    which the naive strategy calls on every join. The atomic strategy never needs it."""

    MESSAGE = "the naive strategy needs the KEYS command, which this server disables"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class PoolDamaged(LobbyError):
    """A key of the pool holds what lobbycore did not write (a wrong type, a malformed
    value), or the server refused a command. The operation stopped before writing anything:
    the pool is as it was. ``key`` names the key (None if the server did not say)."""

    def __init__(self, key: str | None, what: str) -> None:
        where = f"key {key!r}" if key is not None else "the pool"
        super().__init__(f"{where} is damaged ({what}); nothing was written")
        self.key = key
        self.what = what


class PoolNotFound(LobbyError):
    """A store made with ``create_pool=False`` (a reader: a dashboard following a pool) met
    a pool that holds no key. Nothing was written; the next call looks again."""


class PoolStateLost(LobbyError):
    """The pool's state is gone or was replaced since this store first used it (a restart
    without persistence, eviction, a failover to a stale replica, FLUSHDB): its meta key
    ``key`` is missing or holds another epoch. Nothing was written. Seats, lobbies and
    bookings cannot be trusted; restore the pool (or start a new one with a new store and
    ``set_seats``) deliberately."""

    def __init__(self, key: str, found: str) -> None:
        now = f"now holds epoch {found!r}" if found else "is missing"
        super().__init__(f"pool state lost: {key!r} {now}; nothing was written")
        self.key = key
        self.found = found


class UnsafeServer(LobbyError):
    """The server cannot keep the guarantees: too old a version, or a ``maxmemory-policy``
    that may evict the pool's keys. Raised by a store's first call, before any write."""
