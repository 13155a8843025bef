"""Check any lobby service from its answers alone: no access to its database needed.

A load test records every call it makes to the service as a
:class:`~lobbysim.checks.calls.Call`: when it was
invoked and answered, for which user, what it answered (the lobby and its users, or the
booking), and its outcome: ``ok`` (an answer), ``fail`` (a refusal, which changed nothing)
or ``unknown`` (no answer, or a server error: it may or may not have taken effect).
:func:`check_answers` then looks for answers no correct service could have given:

* a lobby answered with more users than its size (``over_capacity``);
* a user shown in two lobbies with no leave, booking or expiry that could have moved them
  between the two answers (``user_in_two_lobbies``);
* a user shown in lobby L, and missing from a later answer of L (or L gone, or the user in
  no lobby) with no leave, booking or expiry between (``lost_join``);
* one lobby booked by two calls with different idempotency keys (``double_booking``);
* a booking without a user the lobby certainly held (``lost_join``), or with a user no
  answer ever showed in it (``user_in_two_lobbies``);
* more seats booked than an inventory the tester declares (``oversell``).

Times are compared across calls, so record them with one clock (wall-clock seconds when
several processes record: their clocks must agree). An ``unknown`` call is taken to have
lasted until the end of time: whatever it did, it may have done at any moment after it
was invoked. Unlike :mod:`lobbysim.checks.history`, nothing here reads Redis, so the
service under test may be anyone's.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from lobbycore.violations import Checked, Findings, Verdict, Violation

from .calls import FAIL, OK, UNKNOWN, Call

__all__ = ["ANSWERS_CHECKS", "check_answers"]

ANSWERS_CHECKS: tuple[Violation, ...] = (
    Violation.OVER_CAPACITY,
    Violation.USER_IN_TWO_LOBBIES,
    Violation.LOST_JOIN,
    Violation.DOUBLE_BOOKING,
    Violation.OVERSELL,
)
"""The guarantees :func:`check_answers` looks for (oversell only given an inventory)."""

JOINS = ("join", "party_join")
READS = ("get_lobby", "lobby_of")
KINDS = (*JOINS, "leave", "book", *READS)
ALREADY_BOOKED = "already_booked"
"""The refusal code that says another call booked the lobby."""
GONE = ("lobby_not_found", "not_in_lobby")
"""Refusal codes of reads that say the lobby does not exist / the user is in none."""


@dataclass(frozen=True, slots=True)
class _Seen:
    """An answer showing ``lobby`` with ``users`` (None: the lobby does not exist)."""

    call: Call
    lobby: str
    users: frozenset[str] | None


@dataclass
class _Exits:
    """When could a user have left a lobby: their leaves, the lobby's bookings, expiry."""

    leaves: defaultdict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    bookings: defaultdict[str, list[tuple[float, float, Call | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """lobby -> (from, until, the booking call, or None if only a refusal shows one)."""
    expiry_from: float = math.inf

    def between(
        self,
        user: str,
        lobbies: Iterable[str],
        start: float,
        end: float,
        ignore: Call | None = None,
    ) -> bool:
        """Whether ``user`` may have left one of ``lobbies`` at some moment in (start, end),
        by anything but ``ignore``."""
        if end > self.expiry_from:
            return True
        for call in self.leaves.get(user, ()):
            if call.invoked < end and call.until > start:
                return True
        for lobby in lobbies:
            for since, until, booking in self.bookings.get(lobby, ()):
                if booking is not ignore and since < end and until > start:
                    return True
        return False


def _exits(calls: list[Call], started: float, lobby_ttl: float | None) -> _Exits:
    exits = _Exits(expiry_from=math.inf if lobby_ttl is None else started + lobby_ttl)
    for call in calls:
        if call.kind == "leave" and call.outcome != FAIL:
            for user in call.users:
                exits.leaves[user].append(call)
        elif call.kind == "book" and call.lobby_id is not None:
            if call.outcome != FAIL:
                exits.bookings[call.lobby_id].append((call.invoked, call.until, call))
            elif call.code == ALREADY_BOOKED:  # booked by some call, at some time before this
                exits.bookings[call.lobby_id].append((started, call.until, None))
    return exits


def _seen(calls: list[Call]) -> list[_Seen]:
    """Every answer that shows a lobby's members, or shows a lobby gone."""
    seen: list[_Seen] = []
    for call in calls:
        if call.kind in (*JOINS, *READS) and call.outcome == OK and call.lobby_id is not None:
            seen.append(_Seen(call, call.lobby_id, frozenset(call.lobby_users or ())))
        elif call.kind == "get_lobby" and call.code in GONE and call.lobby_id is not None:
            seen.append(_Seen(call, call.lobby_id, None))
    return seen


def check_answers(
    calls: Iterable[Call],
    *,
    seats: int | None = None,
    lobby_ttl: float | None = None,
    started: float | None = None,
) -> Verdict:
    """Check a run's calls (see the module docstring).

    ``seats``: the inventory the tester declares (None: unlimited). ``lobby_ttl``: seconds
    after which the service may expire an unbooked lobby (None: never during the run).
    ``started``: when the run started (default: the first call's invocation); lobbies are
    taken to be created after it.

    Each finding carries the calls that show it (a counter-example). The verdict's figures:
    ``calls``, ``answered`` (outcome ``ok``), ``refused`` (``fail``) and ``unknown`` (no
    answer, or a server error). Every check needs an answer: a run none of whose calls was
    answered (no call, every one refused, unreachable or failing) checked nothing.
    """
    calls = sorted(calls, key=lambda c: c.invoked)
    found = Findings()
    outcomes = Counter(call.outcome for call in calls)
    figures = {
        "calls": len(calls),
        "answered": outcomes[OK],
        "refused": outcomes[FAIL],
        "unknown": outcomes[UNKNOWN],
    }
    checked = Checked(ANSWERS_CHECKS, "answered calls", outcomes[OK], figures)
    if not calls:
        return Verdict((), checked)
    start = calls[0].invoked if started is None else started
    exits = _exits(calls, start, lobby_ttl)
    seen = _seen(calls)
    sizes: dict[str, int] = {}
    for call in calls:
        if call.kind in JOINS and call.outcome == OK and call.lobby_id and call.size:
            sizes.setdefault(call.lobby_id, call.size)

    _check_each_answer(calls, sizes, found)
    _check_two_lobbies(seen, exits, found)
    _check_lost_joins(calls, seen, exits, found)
    _check_bookings(calls, seen, exits, found, seats)
    return Verdict(tuple(found.findings), checked)


def _check_each_answer(calls: list[Call], sizes: dict[str, int], found: Findings) -> None:
    """What one answer alone shows: over capacity, a user twice, a join without the user."""
    for call in calls:
        if call.outcome != OK or call.lobby_id is None or call.lobby_users is None:
            continue
        users = call.lobby_users
        size = call.size or sizes.get(call.lobby_id)
        if size is not None and len(users) > size:
            found(
                Violation.OVER_CAPACITY,
                f"{call.kind} answered lobby {call.lobby_id} with {len(users)} users, size {size}",
                call,
                lobby_id=call.lobby_id,
            )
        for user, n in Counter(users).items():
            if n > 1:
                found(
                    Violation.USER_IN_TWO_LOBBIES,
                    f"{call.kind} answered lobby {call.lobby_id} with {user!r} {n} times",
                    call,
                    lobby_id=call.lobby_id,
                    user_id=user,
                )
        if call.kind in JOINS:
            missing = [user for user in call.users if user not in users]
            if missing:
                found(
                    Violation.LOST_JOIN,
                    f"join of {missing!r} answered lobby {call.lobby_id} without them",
                    call,
                    lobby_id=call.lobby_id,
                    user_id=missing[0] if len(missing) == 1 else None,
                )


def _check_two_lobbies(seen: list[_Seen], exits: _Exits, found: Findings) -> None:
    """A user in A at one moment and in B at another needs a way out of one of them."""
    by_user: defaultdict[str, list[_Seen]] = defaultdict(list)
    for answer in seen:
        for user in answer.users or ():
            by_user[user].append(answer)
    for user, answers in by_user.items():
        reported: set[frozenset[str]] = set()
        for i, first in enumerate(answers):
            for second in answers[i + 1 :]:
                pair = frozenset((first.lobby, second.lobby))
                if first.lobby == second.lobby or pair in reported:
                    continue
                start = min(first.call.invoked, second.call.invoked)
                end = max(first.call.until, second.call.until)
                if not exits.between(user, pair, start, end):
                    reported.add(pair)
                    found(
                        Violation.USER_IN_TWO_LOBBIES,
                        f"{user!r} was shown in lobby {first.lobby} ({first.call.kind}) and in "
                        f"lobby {second.lobby} ({second.call.kind}), with no leave, booking or "
                        "expiry that could have moved them",
                        first.call,
                        second.call,
                        user_id=user,
                    )


def _check_lost_joins(calls: list[Call], seen: list[_Seen], exits: _Exits, found: Findings) -> None:
    """A user shown in L, then L shown without them (or gone, or they in no lobby)."""
    by_lobby: defaultdict[str, list[_Seen]] = defaultdict(list)
    for answer in seen:
        by_lobby[answer.lobby].append(answer)
    nowhere: defaultdict[str, list[Call]] = defaultdict(list)
    for call in calls:
        if call.kind == "lobby_of" and call.code in GONE:
            for user in call.users:
                nowhere[user].append(call)
    for lobby, answers in by_lobby.items():
        # Each user's answers showing them in L, by answer time.
        shown: defaultdict[str, list[Call]] = defaultdict(list)
        for answer in answers:
            if answer.call.answered is not None:
                for user in answer.users or ():
                    shown[user].append(answer.call)
        for user, showing in shown.items():
            showing.sort(key=lambda c: c.until)
            ends = [c.until for c in showing]
            absent = [a.call for a in answers if a.users is None or user not in a.users]
            for call in sorted(absent + nowhere.get(user, []), key=lambda c: c.invoked):
                # The latest answer showing them in L before this one was invoked: the
                # tightest window for a way out.
                i = bisect.bisect_left(ends, call.invoked) - 1
                if i < 0:
                    continue
                before = showing[i]
                if not exits.between(user, (lobby,), before.invoked, call.until):
                    found(
                        Violation.LOST_JOIN,
                        f"{user!r} was shown in lobby {lobby}, then a later {call.kind} "
                        f"showed {_absence(call, lobby)}, with no leave, booking or expiry "
                        "between",
                        before,
                        call,
                        lobby_id=lobby,
                        user_id=user,
                    )
                    break


def _absence(call: Call, lobby: str) -> str:
    if call.kind == "lobby_of":
        return "them in no lobby" if call.outcome != OK else f"them in lobby {call.lobby_id}"
    if call.outcome != OK:
        return f"lobby {lobby} gone"
    return f"lobby {lobby} without them"


def _check_bookings(
    calls: list[Call], seen: list[_Seen], exits: _Exits, found: Findings, seats: int | None
) -> None:
    """Once-only bookings, of the lobby's users, within the inventory."""
    bookings = [c for c in calls if c.kind == "book" and c.outcome == OK and c.lobby_id]
    by_lobby: defaultdict[str, list[Call]] = defaultdict(list)
    for call in bookings:
        by_lobby[str(call.lobby_id)].append(call)
    for lobby, booked in by_lobby.items():
        keys = {call.key if call.key is not None else id(call) for call in booked}
        if len(keys) > 1:
            found(
                Violation.DOUBLE_BOOKING,
                f"lobby {lobby} was booked by {len(keys)} calls with different idempotency keys",
                *booked[:4],
                lobby_id=lobby,
            )

    shown_in: defaultdict[str, list[_Seen]] = defaultdict(list)
    for answer in seen:
        if answer.users is not None:
            shown_in[answer.lobby].append(answer)
    unknown_joins = {u for c in calls if c.kind in JOINS and c.outcome == UNKNOWN for u in c.users}
    for booking in bookings:
        lobby = str(booking.lobby_id)
        if booking.lobby_users is None:
            continue  # the service does not say whom it booked
        booked_users = set(booking.lobby_users)
        missing_reported = False
        for answer in shown_in[lobby]:
            if missing_reported or answer.call.until >= booking.invoked:
                continue
            for user in (answer.users or frozenset()) - booked_users:
                if not exits.between(
                    user, (lobby,), answer.call.invoked, booking.until, ignore=booking
                ):
                    missing_reported = True
                    found(
                        Violation.LOST_JOIN,
                        f"lobby {lobby} was booked without {user!r}, whom an earlier answer "
                        "showed in it, with no leave or expiry between",
                        answer.call,
                        booking,
                        lobby_id=lobby,
                        user_id=user,
                    )
                    break
        ever_shown = {u for answer in shown_in[lobby] for u in answer.users or ()}
        strangers = sorted(booked_users - ever_shown - unknown_joins)
        if strangers:
            found(
                Violation.USER_IN_TWO_LOBBIES,
                f"lobby {lobby} was booked with {strangers[:3]!r}, whom no answer showed in it",
                booking,
                lobby_id=lobby,
            )

    if seats is not None:
        sold = 0
        counted: set[tuple[str, object]] = set()
        for booking in sorted(bookings, key=lambda c: c.until):
            lobby = str(booking.lobby_id)
            key = (lobby, booking.key if booking.key is not None else id(booking))
            if key in counted:
                continue
            counted.add(key)
            last = [a for a in shown_in[lobby] if a.call.until < booking.invoked]
            users = booking.lobby_users
            sold += len(users) if users is not None else len(last[-1].users or ()) if last else 0
            if sold > seats:
                found(
                    Violation.OVERSELL,
                    f"{sold} seats booked of an inventory of {seats}",
                    booking,
                )
                break
