"""The one vocabulary of broken guarantees.

Every checker (the pool audit, the history checker, the dashboard's live auditor, the
Locust end-of-run audit, ``lobbysim race``'s table) names what it found with these members,
so a count in one tool means the same as in another. Members are ``str``: they print and
serialize as their value (``over_capacity``).
"""

from __future__ import annotations

from enum import StrEnum


class Violation(StrEnum):
    OVER_CAPACITY = "over_capacity"
    """A lobby holds more users than the size it was created with."""
    USER_IN_TWO_LOBBIES = "user_in_two_lobbies"
    """One user is in two lobbies at once (or in two indexes' worth)."""
    LOST_JOIN = "lost_join"
    """A join was answered with lobby L, and the user is not in L (no leave, booking or expiry since)."""
    LOST_LEAVE = "lost_leave"
    """A leave was answered, and the user is still in a lobby."""
    DOUBLE_BOOKING = "double_booking"
    """One lobby was booked by two different calls."""
    LOST_BOOKING = "lost_booking"
    """A booking was answered, and it is not in the bookings stream."""
    INDEX_MISMATCH = "index_mismatch"
    """The pool's derived state disagrees with its lobbies and bookings: an index (user,
    open, room, expiry) or a stats counter (each counter is an index of a count)."""
    OVERSELL = "oversell"
    """More seats were sold than the inventory held."""
    UNEXPLAINED_PARTIAL_LOBBIES = "unexplained_partial_lobbies"
    """More lobbies are left not full than the run's leaves and party joins explain."""


LIVE_CHECKS: tuple[Violation, ...] = (
    Violation.USER_IN_TWO_LOBBIES,
    Violation.OVER_CAPACITY,
    Violation.LOST_JOIN,
    Violation.DOUBLE_BOOKING,
)
"""What can be seen while a pool is in use, from answers and reads alone: the dashboard's
live auditor counts these, and ``lobbysim race``'s table shows them, in this order."""
