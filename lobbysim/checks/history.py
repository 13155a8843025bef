"""Jepsen-style history checking of a concurrent run.

Record every operation with the time it was invoked and the time it completed, its
arguments and its outcome: ``ok`` (an answer), ``fail`` (a typed refusal, which changes
nothing) or ``unknown`` (no answer: a connection error or timeout, so it may or may not
have taken effect). :func:`check_history` then checks the whole history, and the pool as
it ended, against what any correct pool could have done:

* a join that returned L put its users in L (and L was not over capacity);
* a booking's users are exactly the lobby's members at the moment of booking: everyone
  certainly in L throughout the booking call is in it, nobody is in it who could not have
  been in L then;
* a lobby is booked once;
* a booking that was answered is in the pool's bookings record at the end (under its
  request id): a lost one, or one whose lobby was then booked by another call, is
  ``LOST_BOOKING``;
* at the end, a user whose last operation was a join that returned L is still in L unless
  L was booked after, and a user whose last operation was a leave is in no lobby;
* an unknown operation may have taken effect or not: both are allowed, and the checker
  says which it was when the history shows it (a user found in a lobby only that unknown
  join could have put them in; a lobby in the bookings record that only unknown bookings
  asked for). An unknown booking that ran took its members out of their lobby: they did
  not lose their join.

Each user's operations must not overlap in time (one simulated user does one thing at a
time); different users' operations overlap freely. Lobbies must not expire during the run.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lobbycore import Booking, Lobby, LobbyError
from lobbycore.audit import PoolSnapshot
from lobbycore.violations import Checked, Finding, Verdict, Violation

from .calls import FAIL, OK, UNKNOWN

T = TypeVar("T")

HISTORY_CHECKS: tuple[Violation, ...] = (
    Violation.OVER_CAPACITY,
    Violation.USER_IN_TWO_LOBBIES,
    Violation.LOST_JOIN,
    Violation.LOST_LEAVE,
    Violation.DOUBLE_BOOKING,
    Violation.LOST_BOOKING,
)
"""The guarantees :func:`check_history` looks for."""

__all__ = ["HISTORY_CHECKS", "Op", "Recorder", "check_history"]


@dataclass(frozen=True, slots=True)
class Op:
    kind: str
    """join (one user or a party), leave or book."""
    users: tuple[str, ...]
    invoked: float
    completed: float
    outcome: str
    lobby_id: str | None = None
    """book: the lobby asked for; join: the lobby returned."""
    lobby: Lobby | None = None
    booking: Booking | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples), for JSON."""
        data = dataclasses.asdict(self)
        data["users"] = list(self.users)
        return data

    def describe(self) -> str:
        return (
            f"{self.kind} by {list(self.users)} invoked {self.invoked:.6f} "
            f"completed {self.completed:.6f} {self.outcome} lobby={self.lobby_id}"
        )


@dataclass
class Recorder:
    """Thread-safe log of operations. ``unanswered`` lists the exception types that mean
    'no answer' (connection errors, timeouts); any other non-LobbyError is re-raised."""

    unanswered: tuple[type[BaseException], ...] = ()
    clock: Callable[[], float] = time.monotonic
    ops: list[Op] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(
        self,
        kind: str,
        users: Iterable[str],
        operation: Callable[[], T],
        lobby_id: str | None = None,
    ) -> T:
        users = tuple(users)
        invoked = self.clock()
        try:
            result = operation()
        except LobbyError:
            self._add(Op(kind, users, invoked, self.clock(), FAIL, lobby_id))
            raise
        except self.unanswered:
            self._add(Op(kind, users, invoked, self.clock(), UNKNOWN, lobby_id))
            raise
        completed = self.clock()
        if isinstance(result, Booking):
            op = Op(kind, users, invoked, completed, OK, result.lobby_id, booking=result)
        elif isinstance(result, Lobby):
            op = Op(kind, users, invoked, completed, OK, result.id, lobby=result)
        else:
            op = Op(kind, users, invoked, completed, OK, lobby_id)
        self._add(op)
        return result

    def _add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)


def check_history(ops: list[Op], final: PoolSnapshot) -> Verdict:
    """The history against the rules (see the module docstring). The verdict's figures:
    ``operations``, ``unknown`` (unanswered) and ``took_effect`` (unanswered joins and
    bookings the history shows did take effect). A history of no operation checked nothing.

    The history is sorted once and indexed, and each rule is checked by look-ups in the
    indexes, so the time grows near-linearly with the history's length (a lobby booked by
    many calls, itself a finding, costs its bookings times its joiners)."""
    found: list[Finding] = []

    def violation(
        kind: Violation,
        detail: str,
        *shown: Op,
        lobby_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        found.append(Finding(kind, detail, lobby_id=lobby_id, user_id=user_id, calls=shown))

    by_user: defaultdict[str, list[Op]] = defaultdict(list)
    for op in sorted(ops, key=lambda o: o.invoked):
        for user in op.users:
            by_user[user].append(op)
    bookings = [op for op in ops if op.kind == "book" and op.outcome == OK and op.booking]

    # Each join's answer.
    for op in ops:
        if op.kind == "join" and op.outcome == OK and op.lobby is not None:
            lobby = op.lobby
            if len(lobby.users) > lobby.max_users:
                violation(
                    Violation.OVER_CAPACITY,
                    f"a join was answered {lobby.id} with {len(lobby.users)}/{lobby.max_users}",
                    op,
                    lobby_id=lobby.id,
                )
            for user in op.users:
                if user not in lobby.users:
                    violation(
                        Violation.LOST_JOIN,
                        f"join of {user!r} answered {lobby.id} without them",
                        op,
                        lobby_id=lobby.id,
                        user_id=user,
                    )

    # A lobby is booked once.
    request_ids: defaultdict[str, set[str]] = defaultdict(set)
    booked_by: defaultdict[str, list[Op]] = defaultdict(list)
    for op in bookings:
        assert op.booking is not None
        request_ids[op.booking.lobby_id].add(op.booking.request_id)
        booked_by[op.booking.lobby_id].append(op)
    for lobby_id, ids in request_ids.items():
        if len(ids) > 1:
            violation(
                Violation.DOUBLE_BOOKING,
                f"lobby {lobby_id} booked by {len(ids)} different calls",
                *booked_by[lobby_id][:4],
                lobby_id=lobby_id,
            )

    # Indexes built once, so that each question below is a look-up in them, not a scan of
    # the history (or of a user's operations): the check stays near-linear in its length.
    # user -> the place of their first unanswered join among their operations;
    # (user, lobby) -> the places of their joins answered that lobby.
    first_unknown_join: dict[str, int] = {}
    joins_to: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for user, ops_of in by_user.items():
        for i, op in enumerate(ops_of):
            if op.kind != "join":
                continue
            if op.outcome == UNKNOWN:
                first_unknown_join.setdefault(user, i)
            elif op.outcome == OK and op.lobby_id is not None:
                joins_to[(user, op.lobby_id)].append(i)
    joined_to: defaultdict[str, list[str]] = defaultdict(list)  # lobby -> users joins named
    unanswered_books: defaultdict[str, list[Op]] = defaultdict(list)  # lobby -> unanswered
    for op in ops:
        if op.kind == "join" and op.lobby_id is not None:
            joined_to[op.lobby_id].extend(op.users)
        elif op.kind == "book" and op.outcome == UNKNOWN and op.lobby_id is not None:
            unanswered_books[op.lobby_id].append(op)

    def could_enter(user: str, lobby_id: str, before: float) -> Op | None:
        """The op that could have put ``user`` in ``lobby_id`` before ``before``, if any: their
        first join (by invocation) answered ``lobby_id`` or unanswered, if invoked before."""
        places = [first_unknown_join[user]] if user in first_unknown_join else []
        places += joins_to.get((user, lobby_id), [])[:1]
        if not places:
            return None
        source = by_user[user][min(places)]
        return source if source.invoked < before else None

    def certainly_in(user: str, lobby_id: str, start: float, end: float) -> bool:
        """An answered join put them in before ``start`` and nothing of theirs ran until ``end``."""
        places = joins_to.get((user, lobby_id))
        if not places:
            return False
        # Their operations are in invocation order: those from place ``after`` on were
        # invoked at ``end`` or later, so a join at place ``after - 1`` or later is followed
        # by nothing of theirs invoked before ``end``.
        ops_of = by_user[user]
        after = bisect_left(ops_of, end, key=lambda op: op.invoked)
        return any(ops_of[i].completed < start for i in places[bisect_left(places, after - 1) :])

    unknown_explained: set[int] = set()

    def explain(user: str, lobby_id: str, before: float, where: str, *shown: Op) -> None:
        """A user found in a lobby must have a join that could have put them there."""
        source = could_enter(user, lobby_id, before)
        if source is None:
            violation(
                Violation.USER_IN_TWO_LOBBIES,
                f"{where}, which no join of theirs could have entered",
                *shown,
                lobby_id=lobby_id,
                user_id=user,
            )
        elif source.outcome == UNKNOWN:
            unknown_explained.add(id(source))  # the unanswered join did take effect

    # Answered bookings survive: each is in the pool's bookings record at the end.
    recorded = {(b.lobby_id, b.request_id) for b in final.bookings}
    recorded_lobbies = {b.lobby_id for b in final.bookings}
    for op in bookings:
        answered = op.booking
        assert answered is not None
        lid = answered.lobby_id
        if (lid, answered.request_id) not in recorded and (
            answered.request_id or lid not in recorded_lobbies
        ):
            again = " (and it is booked by another call)" if lid in recorded_lobbies else ""
            violation(
                Violation.LOST_BOOKING,
                f"booking of {lid} was answered but is not in the bookings record{again}",
                op,
                lobby_id=lid,
            )

    booked_until: dict[str, float] = {}
    # A lobby in the record that no answered booking asked for, but an unanswered one did:
    # that booking ran, at some time after it was sent (its users left their lobby then).
    answered_lobbies = {op.booking.lobby_id for op in bookings if op.booking}
    for record in final.bookings:
        lid = record.lobby_id
        unanswered = unanswered_books.get(lid, [])
        if lid in answered_lobbies or not unanswered:
            continue
        booked_until[lid] = float("inf")
        unknown_explained.add(id(unanswered[0]))
        for user in record.users:
            explain(user, lid, float("inf"), f"{user!r} was booked in {lid}", *unanswered[:1])

    for op in bookings:
        booking = op.booking
        assert booking is not None
        lid = booking.lobby_id
        booked_until[lid] = max(booked_until.get(lid, 0.0), op.completed)
        for user in dict.fromkeys(joined_to.get(lid, ())):
            if certainly_in(user, lid, op.invoked, op.completed) and user not in booking.users:
                violation(
                    Violation.LOST_JOIN,
                    f"{user!r} was certainly in {lid} while it was booked, but not in the booking",
                    op,
                    lobby_id=lid,
                    user_id=user,
                )
        for user in booking.users:
            explain(user, lid, op.completed, f"{user!r} was booked in {lid}", op)

    # The pool as it ended.
    holders: defaultdict[str, list[str]] = defaultdict(list)
    for lobby in final.lobbies.values():
        for user in lobby.users:
            holders[user].append(lobby.id)
            explain(user, lobby.id, float("inf"), f"{user!r} is in {lobby.id}")
    for user, lobby_ids in holders.items():
        if len(lobby_ids) > 1:
            violation(
                Violation.USER_IN_TWO_LOBBIES,
                f"{user!r} is in {len(lobby_ids)} lobbies at the end",
                user_id=user,
            )
    for user, ops_of in by_user.items():
        last = ops_of[-1]
        if last.outcome != OK:
            continue  # unknown or refused: either way is allowed
        if last.kind == "leave" and holders.get(user):
            violation(
                Violation.LOST_LEAVE,
                f"{user!r} left last but is in {holders[user]}",
                last,
                user_id=user,
            )
        if (
            last.kind == "join"
            and last.lobby_id is not None
            and last.lobby_id not in holders.get(user, ())
        ):
            booked = booked_until.get(last.lobby_id)
            if booked is None or booked < last.invoked:  # no booking could have come after
                violation(
                    Violation.LOST_JOIN,
                    f"{user!r} was last answered {last.lobby_id} but is not in it",
                    last,
                    lobby_id=last.lobby_id,
                    user_id=user,
                )

    figures = {
        "operations": len(ops),
        "unknown": sum(1 for op in ops if op.outcome == UNKNOWN),
        "took_effect": len(unknown_explained),
    }
    return Verdict(tuple(found), Checked(HISTORY_CHECKS, "operations", len(ops), figures))
