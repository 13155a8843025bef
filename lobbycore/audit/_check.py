"""The checker: every lobby guarantee, checked against a pool and what clients were told."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from .._models import Booking, Lobby
from ..violations import Checked, Findings, Verdict, Violation
from ._history import History
from ._snapshot import PoolSnapshot

POOL_CHECKS: tuple[Violation, ...] = tuple(
    kind for kind in Violation if kind is not Violation.UNEXPLAINED_PARTIAL_LOBBIES
)
"""The kinds :func:`check` can find (a Locust run adds its own count of partial lobbies)."""


def check(
    snap: PoolSnapshot,
    history: History | None = None,
    *,
    initial_seats: int | None = None,
    expired_lobbies: Iterable[str] = (),
) -> Verdict:
    """Every guarantee, checked against what the pool holds and what clients were told.

    ``initial_seats``: the inventory the pool was given (its last ``set_seats``); then
    every seat is accounted for (initial = left + sold), and a pool whose inventory reads
    as unlimited is a finding. Without it, seats are only checked to be never negative.

    The verdict's figures are ``lobbies``, ``waiting`` (users in lobbies) and ``bookings``;
    a pool that holds no key is a verdict over nothing (not ok, ``checked=nothing``).
    """
    violation = Findings()
    _check_lobbies(snap, violation)
    _check_seats(snap, initial_seats, violation)
    if snap.user_index is not None:
        _check_user_index(snap, snap.user_index, violation)
    if snap.open_index is not None:
        listed = {(f"open:{cap}", lid) for cap, ids in snap.open_index.items() for lid in ids}
        expected = {(f"open:{x.max_users}", x.id) for x in _open_lobbies(snap)}
        _compare_listing(snap, expected, listed, violation)
    if snap.room_index is not None:
        listed = {
            (f"room:{cap}:{free}", lid)
            for (cap, free), ids in snap.room_index.items()
            for lid in ids
        }
        expected = {
            (f"room:{x.max_users}:{x.max_users - len(x.users)}", x.id) for x in _open_lobbies(snap)
        }
        _compare_listing(snap, expected, listed, violation)
    if snap.expiry_index is not None:
        _check_expiry_index(snap, snap.expiry_index, violation)
    if snap.stats is not None:
        _check_counters(snap, snap.stats, violation)
    for detail in snap.misplaced:
        violation(Violation.INDEX_MISMATCH, detail)

    if history is not None:
        _check_history(snap, history, set(expired_lobbies), violation)

    figures = {
        "lobbies": len(snap.lobbies),
        "waiting": sum(len(lobby.users) for lobby in snap.lobbies.values()),
        "bookings": len(snap.bookings),
    }
    return Verdict(
        tuple(violation.findings),
        Checked(POOL_CHECKS, "pool", 1 if snap.exists else 0, figures),
    )


def _check_lobbies(snap: PoolSnapshot, violation: Findings) -> None:
    """Capacity, one lobby per user, each lobby booked once."""
    for lobby in snap.lobbies.values():
        if lobby.max_users and len(lobby.users) > lobby.max_users:
            violation(
                Violation.OVER_CAPACITY,
                f"lobby {lobby.id} holds {len(lobby.users)}/{lobby.max_users}",
                lobby_id=lobby.id,
            )
    for user, lobby_ids in _holders(snap).items():
        if len(lobby_ids) > 1:
            violation(
                Violation.USER_IN_TWO_LOBBIES,
                f"user {user!r} is in lobbies {sorted(lobby_ids)}",
                user_id=user,
            )
    for lobby in snap.lobbies.values():
        for user, n in Counter(lobby.users).items():
            if n > 1:
                violation(
                    Violation.USER_IN_TWO_LOBBIES,
                    f"user {user!r} is {n} times in lobby {lobby.id}",
                    lobby_id=lobby.id,
                    user_id=user,
                )
    stream_count = Counter(b.lobby_id for b in snap.bookings)
    for lobby_id, n in stream_count.items():
        if n > 1:
            violation(
                Violation.DOUBLE_BOOKING,
                f"lobby {lobby_id} is in the bookings stream {n} times",
                lobby_id=lobby_id,
            )


def _holders(snap: PoolSnapshot) -> dict[str, list[str]]:
    """user -> the lobbies holding them, in lobby order."""
    where: dict[str, list[str]] = defaultdict(list)
    for lobby in snap.lobbies.values():
        for user in dict.fromkeys(lobby.users):
            where[user].append(lobby.id)
    return where


def _check_seats(snap: PoolSnapshot, initial_seats: int | None, violation: Findings) -> None:
    """Seats never negative; with the initial count, initial = left + sold, exactly (a
    booking takes its seats and enters the bookings stream in one script). A pool given
    no inventory (unlimited) has nothing to account for: pass no ``initial_seats``."""
    per_shard = snap.seats_by_shard or (snap.seats_left,)
    for shard, left in enumerate(per_shard):
        if left is not None and left < 0:
            where = f" in shard {shard}" if snap.seats_by_shard else ""
            violation(Violation.OVERSELL, f"seats left is {left}{where}")
    if initial_seats is None:
        return
    sold = sum(len(b.users) for b in snap.bookings)
    unlimited = [shard for shard, left in enumerate(per_shard) if left is None]
    if sold > initial_seats:
        violation(Violation.OVERSELL, f"{sold} seats booked of {initial_seats}")
    elif snap.seats_left is None or unlimited:
        where = f" in shards {unlimited}" if snap.seats_by_shard else ""
        violation(
            Violation.OVERSELL,
            f"{initial_seats} initial seats given, but the inventory reads as unlimited{where} "
            "(its inventory is missing from the pool's meta: lost, or never set), so nothing stops a sale",
        )
    elif initial_seats - sold != snap.seats_left:
        violation(
            Violation.OVERSELL,
            f"{initial_seats} seats - {sold} booked != {snap.seats_left} left",
        )


def _check_user_index(snap: PoolSnapshot, index: dict[str, str], violation: Findings) -> None:
    """The user index maps exactly the users in lobbies, each to their lobby."""
    where = _holders(snap)
    for user, lobby_ids in where.items():
        if index.get(user) != lobby_ids[0]:
            violation(
                Violation.INDEX_MISMATCH,
                f"user {user!r} in {lobby_ids[0]}, index says {index.get(user)}",
                user_id=user,
            )
    for user, lobby_id in index.items():
        if user not in where:
            violation(
                Violation.INDEX_MISMATCH,
                f"index puts {user!r} in {lobby_id}, which does not hold them",
                user_id=user,
            )


def _open_lobbies(snap: PoolSnapshot) -> list[Lobby]:
    return [x for x in snap.lobbies.values() if 0 < len(x.users) < x.max_users]


def _compare_listing(
    snap: PoolSnapshot,
    expected: set[tuple[str, str]],
    listed: set[tuple[str, str]],
    violation: Findings,
) -> None:
    """An index of sorted sets (open:<max>, room:<max>:<free>) against what the lobbies say:
    (key, lobby id) pairs that should be listed and pairs that are."""

    def size(lobby_id: str) -> str:
        lobby = snap.lobbies.get(lobby_id)
        return "absent" if lobby is None else f"{len(lobby.users)}/{lobby.max_users}"

    for key, lobby_id in sorted(expected - listed):
        violation(
            Violation.INDEX_MISMATCH,
            f"lobby {lobby_id} ({size(lobby_id)}) is missing from {key}",
            lobby_id=lobby_id,
        )
    for key, lobby_id in sorted(listed - expected):
        violation(
            Violation.INDEX_MISMATCH,
            f"{key} lists lobby {lobby_id} ({size(lobby_id)})",
            lobby_id=lobby_id,
        )


def _check_expiry_index(snap: PoolSnapshot, index: dict[str, int], violation: Findings) -> None:
    """The expiry index lists exactly the lobbies with a deadline, scored by it. (A lobby
    past its deadline stays listed until an operation or a sweep expires it, which drops
    it from the index and the pool together.)"""
    for lobby_id, deadline in snap.deadlines.items():
        listed = index.get(lobby_id)
        if deadline and listed != deadline:
            says = "lacks it" if listed is None else f"says {listed}"
            violation(
                Violation.INDEX_MISMATCH,
                f"lobby {lobby_id} has deadline {deadline}, the expiry index {says}",
                lobby_id=lobby_id,
            )
        elif not deadline and listed is not None:
            violation(
                Violation.INDEX_MISMATCH,
                f"the expiry index lists lobby {lobby_id}, which has no deadline",
                lobby_id=lobby_id,
            )
    for lobby_id in sorted(index.keys() - snap.lobbies.keys()):
        violation(
            Violation.INDEX_MISMATCH,
            f"the expiry index lists lobby {lobby_id}, which does not exist",
            lobby_id=lobby_id,
        )


def _check_counters(snap: PoolSnapshot, stats: dict[str, int], violation: Findings) -> None:
    """The stats counters against the pool's contents. Only relations that hold after any
    correct history (joins, leaves, bookings, expiry, in any order and concurrency) are
    checked; each counter changes in the same script as what it counts:

    * ``lobbies`` = the lobbies the pool holds; ``full`` = those at capacity;
    * ``bookings`` = entries of the bookings stream; ``booked_users`` = the users they hold
      (the stream is never trimmed by lobbycore);
    * ``joins - leaves - booked_users - expired_users`` = the users in lobbies;
    * ``created - lobbies - bookings - expired`` (the lobbies emptied by leaves) is between
      0 and ``leaves``; every counter is >= 0.
    """

    def n(name: str) -> int:
        return stats.get(name, 0)

    def differs(what: str, counted: int, held: int, held_as: str) -> None:
        if counted != held:
            violation(Violation.INDEX_MISMATCH, f"stats {what}={counted}, {held_as} {held}")

    lobbies = snap.lobbies.values()
    differs("lobbies", n("lobbies"), len(snap.lobbies), "the pool holds")
    differs(
        "full",
        n("full"),
        sum(1 for x in lobbies if len(x.users) >= x.max_users),
        "full lobbies held:",
    )
    differs("bookings", n("bookings"), len(snap.bookings), "the bookings stream holds")
    differs(
        "booked_users",
        n("booked_users"),
        sum(len(b.users) for b in snap.bookings),
        "users in the bookings stream:",
    )
    differs(
        "joins-leaves-booked_users-expired_users",
        n("joins") - n("leaves") - n("booked_users") - n("expired_users"),
        sum(len(x.users) for x in lobbies),
        "users in lobbies:",
    )
    emptied = n("created") - n("lobbies") - n("bookings") - n("expired")
    if not 0 <= emptied <= n("leaves"):
        violation(
            Violation.INDEX_MISMATCH,
            f"stats created-lobbies-bookings-expired={emptied} (lobbies emptied by leaves), "
            f"not within 0..leaves={n('leaves')}",
        )
    for name, value in sorted(stats.items()):
        if value < 0:
            violation(Violation.INDEX_MISMATCH, f"stats {name}={value} is negative")


def _check_history(
    snap: PoolSnapshot, history: History, expired: set[str], violation: Findings
) -> None:
    booked_by_lobby: dict[str, list[Booking]] = defaultdict(list)
    for booking in history.bookings:
        booked_by_lobby[booking.lobby_id].append(booking)
    in_stream = {b.lobby_id for b in snap.bookings}
    for lobby_id, bookings in booked_by_lobby.items():
        if len({b.request_id for b in bookings}) > 1:
            violation(
                Violation.DOUBLE_BOOKING,
                f"lobby {lobby_id} booked by {len(bookings)} different calls",
                lobby_id=lobby_id,
            )
        if lobby_id not in in_stream:
            violation(
                Violation.LOST_BOOKING,
                f"booking of lobby {lobby_id} is not in the bookings stream",
                lobby_id=lobby_id,
            )
    final_booking = {lid: bs[0] for lid, bs in booked_by_lobby.items()}
    # Over capacity as seen by clients.
    for users, lobby in history.joins:
        if lobby.max_users and len(lobby.users) > lobby.max_users:
            violation(
                Violation.OVER_CAPACITY,
                f"a join was told lobby {lobby.id} holds {len(lobby.users)}/{lobby.max_users}",
                lobby_id=lobby.id,
            )
        missing = [u for u in users if u not in lobby.users]
        if missing:
            violation(
                Violation.LOST_JOIN,
                f"join of {missing!r} returned lobby {lobby.id} without them",
                lobby_id=lobby.id,
                user_id=missing[0] if len(missing) == 1 else None,
            )
    # Every placement of a user must be one a join of theirs returned.
    told = {(u, lobby.id) for users, lobby in history.joins for u in users}
    for lobby in snap.lobbies.values():
        for user in lobby.users:
            if (
                user in history.last_op
                and user not in history.unsure
                and (user, lobby.id) not in told
            ):
                violation(
                    Violation.USER_IN_TWO_LOBBIES,
                    f"user {user!r} is in lobby {lobby.id}, which no join of theirs returned",
                    lobby_id=lobby.id,
                    user_id=user,
                )
    for booking in history.bookings:
        for user in booking.users:
            if (
                user in history.last_op
                and user not in history.retried
                and (user, booking.lobby_id) not in told
            ):
                violation(
                    Violation.USER_IN_TWO_LOBBIES,
                    f"user {user!r} was booked in lobby {booking.lobby_id}, which no join of theirs returned",
                    lobby_id=booking.lobby_id,
                    user_id=user,
                )
    # No lost join, no lost leave.
    holders: dict[str, set[str]] = defaultdict(set)
    for lobby in snap.lobbies.values():
        for user in lobby.users:
            holders[user].add(lobby.id)
    for user, (op, told_lobby) in history.last_op.items():
        if op == "leave":
            if holders.get(user):
                violation(
                    Violation.LOST_LEAVE,
                    f"user {user!r} left but is still in {sorted(holders[user])}",
                    user_id=user,
                )
            continue
        if told_lobby is None or told_lobby in holders.get(user, ()):
            continue
        final = final_booking.get(told_lobby)
        if final is not None and user in final.users:
            continue
        if final is None and told_lobby in expired:
            continue
        violation(
            Violation.LOST_JOIN,
            f"user {user!r} was told lobby {told_lobby} but is not in it",
            lobby_id=told_lobby,
            user_id=user,
        )
