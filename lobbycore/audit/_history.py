"""The told history: what the clients of a run were told, for the checker."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._models import Booking, Lobby


@dataclass
class History:
    """What clients were told, as they were told it. Thread-safe."""

    joins: list[tuple[tuple[str, ...], Lobby]] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    last_op: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """user -> ("join", lobby id) or ("leave", None), the user's latest completed operation."""
    unsure: set[str] = field(default_factory=set)
    """Users whose latest operation failed with a connection error: it may or may not have
    taken effect, so both outcomes are allowed until their next operation completes."""
    retried: set[str] = field(default_factory=set)
    """Users who ever had an unanswered operation. A join that took effect unseen may have
    put them in a lobby that was then booked before the retry joined them again, so they may
    appear in a booking no answer named."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def joined(self, users: Iterable[str], lobby: Lobby) -> None:
        users = tuple(users)
        with self._lock:
            self.joins.append((users, lobby))
            for user in users:
                self.last_op[user] = ("join", lobby.id)
                self.unsure.discard(user)

    def left(self, user: str) -> None:
        with self._lock:
            self.last_op[user] = ("leave", None)
            self.unsure.discard(user)

    def unknown(self, users: Iterable[str]) -> None:
        """An operation of these users failed without an answer (a connection error)."""
        with self._lock:
            for user in users:
                self.last_op.pop(user, None)
                self.unsure.add(user)
                self.retried.add(user)

    def booked(self, booking: Booking) -> None:
        with self._lock:
            self.bookings.append(booking)
