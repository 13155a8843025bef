"""The values lobbycore returns: plain frozen dataclasses, the same for every store."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Booking", "Lobby", "LobbyEvent", "PoolStats"]


@dataclass(frozen=True, slots=True)
class Lobby:
    """A lobby as it was at the end of the operation that returned it."""

    id: str
    """ULID of the lobby."""
    session_id: str
    """ULID of the checkout session the lobby's users will share."""
    users: tuple[str, ...]
    """Users in join order."""
    max_users: int
    """The capacity the lobby was created with."""
    created_at: int
    """Creation time, ms since the epoch (the Redis server's clock)."""

    @property
    def is_full(self) -> bool:
        return len(self.users) >= self.max_users


@dataclass(frozen=True, slots=True)
class Booking:
    """The one booking of a lobby."""

    lobby_id: str
    session_id: str
    users: tuple[str, ...]
    booked_at: int
    """ms since the epoch (the Redis server's clock)."""
    request_id: str
    """The request id of the call that booked (given by the caller, or made by the store)."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters of one pool, read in one atomic step."""

    open_lobbies: int
    full_lobbies: int
    waiting_users: int
    """Users currently in a lobby (open or full)."""
    bookings: int
    """Bookings made since the pool was created."""
    booked_users: int
    seats_left: int | None
    """None when the inventory is unlimited."""
    joins: int
    leaves: int
    expired: int
    lobbies_created: int


@dataclass(frozen=True, slots=True)
class LobbyEvent:
    """One entry of a pool's change stream."""

    id: str
    """Stream entry id; pass it as ``after=`` to read what follows."""
    type: str
    """created, joined, full, left, booked or expired."""
    lobby_id: str
    max_users: int
    size: int
    """Users in the lobby after the change (0 once it is gone)."""
    users: tuple[str, ...]
    """The users the change is about (who joined or left; who was booked or freed); at most
    16 of them, so that an event stays small whatever the lobby's size."""
    more_users: int = 0
    """How many more users the change is about than ``users`` names."""

    @property
    def at(self) -> int:
        """Time of the event, ms since the epoch."""
        return int(self.id.split("-", 1)[0])
