"""Audit a pool: read everything it holds and check every lobby guarantee.

Two halves:

* :func:`snapshot` walks one pool's keys with SCAN (never KEYS) and reads each lobby,
  the user index and the bookings stream. Run it when the load has stopped: it is a
  sequence of reads, not one atomic step.
* :class:`History` records what the clients were told (each join's lobby, each leave,
  each booking). Record each simulated user's operations in the order they completed;
  a user's operations must not overlap (one user does one thing at a time).

:func:`check` compares the two and returns the violations found. It works the same
for :class:`~lobbycore.LobbyStore` and :class:`~lobbycore.NaiveLobbyStore` pools, which
is how the test suite shows that every check can fail.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._models import Booking, Lobby
from ._naive import _decode, _lobby, naive_prefix
from ._protocol import _text, pool_prefix, split_users
from ._sharding import shard_of

__all__ = [
    "AuditReport",
    "History",
    "PoolSnapshot",
    "Violation",
    "check",
    "delete_pool",
    "read_lobbies",
    "snapshot",
]

VIOLATION_KINDS = (
    "over_capacity",
    "user_in_two_lobbies",
    "lost_join",
    "lost_leave",
    "double_booking",
    "lost_booking",
    "index_mismatch",
    "oversell",
)


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    lobbies: dict[str, Lobby]
    user_index: dict[str, str] | None
    """user -> lobby id, for lobbycore pools; None for naive pools (they keep no index)."""
    open_index: dict[int, set[str]] | None
    """capacity -> lobby ids listed as open, for lobbycore pools."""
    bookings: list[Booking]
    seats_left: int | None
    misplaced: tuple[str, ...] = ()
    """Index entries found outside their user's shard (sharded pools only)."""


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


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _scan(client: Any, pattern: str) -> list[str]:
    return sorted({_text(k) for k in client.scan_iter(match=pattern, count=1000)})


def _read_bookings(client: Any, key: str) -> list[Booking]:
    bookings: list[Booking] = []
    after = "-"
    while True:
        entries = client.xrange(key, min=after, max="+", count=1000)
        if after != "-":
            entries = entries[1:]
        if not entries:
            return bookings
        for _entry_id, raw in entries:
            fields = _decode(raw)
            bookings.append(
                Booking(
                    lobby_id=fields["lobby"],
                    session_id=fields.get("session", ""),
                    users=split_users(fields.get("users", "")),
                    booked_at=int(fields.get("at", 0)),
                    request_id=fields.get("request", ""),
                )
            )
        after = _text(entries[-1][0])


def parse_lobby_value(lobby_id: str, raw: Any) -> Lobby | None:
    """A lobby key's value: NUL + "sid|max|created|order|deadline", then NUL + each user."""
    if raw is None:
        return None
    text = _text(raw)
    if not text.startswith("\0"):
        return None
    meta, *users = text[1:].split("\0")
    session_id, max_users, created, _order, _deadline = meta.split("|")
    return Lobby(
        id=lobby_id,
        session_id=session_id,
        users=tuple(users),
        max_users=int(max_users),
        created_at=int(created),
    )


def _prefixes(pool: str, naive: bool, shards: int) -> list[str]:
    if naive:
        return [naive_prefix(pool)]
    if shards == 1:
        return [pool_prefix(pool)]
    return [pool_prefix(pool, i, shards) for i in range(shards)]


def delete_pool(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> int:
    """Delete every key of one pool (found with SCAN); how many were deleted.

    For tools that made a throw-away pool (``lobbysim race``); it touches no other key.
    ``shards``: the pool's shard count, as given to the store.
    """
    deleted = 0
    for prefix in _prefixes(pool, naive, shards):
        # One sub-pool at a time: its keys share one slot, so the DEL works on a cluster.
        keys = _scan(client, _escape_glob(prefix) + "*")
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        deleted += len(keys)
    return deleted


def read_lobbies(
    client: Any, pool: str, *, naive: bool = False, shards: int = 1
) -> dict[str, Lobby]:
    """Every lobby of a pool (sync client, SCAN): lighter than a full :func:`snapshot`."""
    if naive:
        return _read_naive_lobbies(client, naive_prefix(pool))
    lobbies: dict[str, Lobby] = {}
    for prefix in _prefixes(pool, naive, shards):
        lobbies.update(_read_lobbies(client, prefix))
    return lobbies


def _read_naive_lobbies(client: Any, prefix: str) -> dict[str, Lobby]:
    lobbies: dict[str, Lobby] = {}
    for key in _scan(client, _escape_glob(prefix) + "lobby:*"):
        data = _decode(client.hgetall(key))
        if data:
            lobby = _lobby(key, data, json.loads(data.get("users") or "[]"))
            lobbies[lobby.id] = lobby
    return lobbies


def _read_lobbies(client: Any, prefix: str) -> dict[str, Lobby]:
    lobbies: dict[str, Lobby] = {}
    for key in _scan(client, _escape_glob(prefix) + "l:*"):
        lobby_id = key[len(prefix) + 2 :]
        parsed = parse_lobby_value(lobby_id, client.get(key))
        if parsed is not None:
            lobbies[lobby_id] = parsed
    return lobbies


def snapshot(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> PoolSnapshot:
    """Read a whole pool (sync client) with SCAN/HSCAN/XRANGE.

    ``shards``: the pool's shard count, as given to the store; the sub-pools are read one
    after the other and merged, and index entries outside their user's shard are reported.
    """
    if shards > 1 and not naive:
        return _merge_shards(
            [_snapshot(client, prefix, False) for prefix in _prefixes(pool, False, shards)]
        )
    return _snapshot(client, naive_prefix(pool) if naive else pool_prefix(pool), naive)


def _merge_shards(parts: list[PoolSnapshot]) -> PoolSnapshot:
    lobbies: dict[str, Lobby] = {}
    user_index: dict[str, str] = {}
    open_index: dict[int, set[str]] = defaultdict(set)
    bookings: list[Booking] = []
    misplaced: list[str] = []
    for shard, part in enumerate(parts):
        lobbies.update(part.lobbies)
        for user, lobby_id in (part.user_index or {}).items():
            if shard_of(user, len(parts)) != shard or user in user_index:
                misplaced.append(f"user {user!r} is indexed in shard {shard} (in {lobby_id})")
            user_index.setdefault(user, lobby_id)
        for capacity, ids in (part.open_index or {}).items():
            open_index[capacity] |= ids
        bookings.extend(part.bookings)
    seats = [p.seats_left for p in parts]
    seats_left = None if all(s is None for s in seats) else sum(s or 0 for s in seats)
    return PoolSnapshot(
        lobbies, user_index, dict(open_index), bookings, seats_left, tuple(misplaced)
    )


def _snapshot(client: Any, prefix: str, naive: bool) -> PoolSnapshot:
    lobbies = _read_naive_lobbies(client, prefix) if naive else _read_lobbies(client, prefix)
    seats = client.get(f"{prefix}seats")
    seats_left = None if seats is None else int(seats)
    bookings = _read_bookings(client, f"{prefix}bookings")
    if naive:
        return PoolSnapshot(lobbies, None, None, bookings, seats_left)
    user_index: dict[str, str] = {}
    for bucket in _scan(client, _escape_glob(prefix) + "u:*"):
        for user, lobby_id in client.hscan_iter(bucket, count=1000):
            user_index[_text(user)] = _text(lobby_id)
    open_index: dict[int, set[str]] = {}
    for key in _scan(client, _escape_glob(prefix) + "open:*"):
        open_index[int(key.rsplit(":", 1)[1])] = {_text(m) for m in client.zrange(key, 0, -1)}
    return PoolSnapshot(lobbies, user_index, open_index, bookings, seats_left)


@dataclass(frozen=True, slots=True)
class AuditReport:
    violations: list[Violation]
    lobbies: int
    users_waiting: int
    bookings: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> Counter[str]:
        return Counter(v.kind for v in self.violations)

    def summary(self) -> str:
        """One line of key=value pairs."""
        counts = self.counts()
        parts = [
            f"ok={str(self.ok).lower()}",
            f"violations={len(self.violations)}",
            *(f"{kind}={counts.get(kind, 0)}" for kind in VIOLATION_KINDS),
            f"lobbies={self.lobbies}",
            f"waiting={self.users_waiting}",
            f"bookings={self.bookings}",
        ]
        return " ".join(parts)


def check(
    snap: PoolSnapshot,
    history: History | None = None,
    *,
    initial_seats: int | None = None,
    expired_lobbies: Iterable[str] = (),
) -> AuditReport:
    """Every guarantee, checked against what the pool holds and what clients were told."""
    found: list[Violation] = []

    def violation(kind: str, detail: str) -> None:
        found.append(Violation(kind, detail))

    # Capacity.
    for lobby in snap.lobbies.values():
        if lobby.max_users and len(lobby.users) > lobby.max_users:
            violation(
                "over_capacity", f"lobby {lobby.id} holds {len(lobby.users)}/{lobby.max_users}"
            )
    # One lobby per user (in what the pool holds).
    where: dict[str, list[str]] = defaultdict(list)
    for lobby in snap.lobbies.values():
        for user, n in Counter(lobby.users).items():
            where[user].append(lobby.id)
            if n > 1:
                violation("user_in_two_lobbies", f"user {user!r} is {n} times in lobby {lobby.id}")
    for user, lobby_ids in where.items():
        if len(lobby_ids) > 1:
            violation("user_in_two_lobbies", f"user {user!r} is in lobbies {sorted(lobby_ids)}")
    # Each lobby booked once.
    stream_count = Counter(b.lobby_id for b in snap.bookings)
    for lobby_id, n in stream_count.items():
        if n > 1:
            violation("double_booking", f"lobby {lobby_id} is in the bookings stream {n} times")
    # Seats.
    if snap.seats_left is not None and snap.seats_left < 0:
        violation("oversell", f"seats left is {snap.seats_left}")
    if initial_seats is not None and snap.seats_left is not None:
        sold = sum(len(b.users) for b in snap.bookings)
        if sold > initial_seats:
            violation("oversell", f"{sold} seats booked of {initial_seats}")
        elif initial_seats - sold != snap.seats_left:
            violation(
                "oversell",
                f"{initial_seats} seats - {sold} booked != {snap.seats_left} left",
            )
    # The lobbycore user index agrees with the lobbies, and the open index with sizes.
    if snap.user_index is not None:
        for user, lobby_ids in where.items():
            if snap.user_index.get(user) != lobby_ids[0]:
                violation(
                    "index_mismatch",
                    f"user {user!r} in {lobby_ids[0]}, index says {snap.user_index.get(user)}",
                )
        for user, lobby_id in snap.user_index.items():
            if user not in where:
                violation(
                    "index_mismatch", f"index puts {user!r} in {lobby_id}, which does not hold them"
                )
    if snap.open_index is not None:
        listed = {lid for ids in snap.open_index.values() for lid in ids}
        for lobby in snap.lobbies.values():
            if (0 < len(lobby.users) < lobby.max_users) != (lobby.id in listed):
                violation(
                    "index_mismatch",
                    f"lobby {lobby.id} ({len(lobby.users)}/{lobby.max_users}) open-listing is wrong",
                )
        for lobby_id in listed - snap.lobbies.keys():
            violation("index_mismatch", f"open index lists missing lobby {lobby_id}")
    for detail in snap.misplaced:
        violation("index_mismatch", detail)

    if history is not None:
        _check_history(snap, history, set(expired_lobbies), violation)

    return AuditReport(
        violations=found,
        lobbies=len(snap.lobbies),
        users_waiting=sum(len(lobby.users) for lobby in snap.lobbies.values()),
        bookings=len(snap.bookings),
    )


def _check_history(snap: PoolSnapshot, history: History, expired: set[str], violation: Any) -> None:
    booked_by_lobby: dict[str, list[Booking]] = defaultdict(list)
    for booking in history.bookings:
        booked_by_lobby[booking.lobby_id].append(booking)
    in_stream = {b.lobby_id for b in snap.bookings}
    for lobby_id, bookings in booked_by_lobby.items():
        if len({b.request_id for b in bookings}) > 1:
            violation(
                "double_booking", f"lobby {lobby_id} booked by {len(bookings)} different calls"
            )
        if lobby_id not in in_stream:
            violation("lost_booking", f"booking of lobby {lobby_id} is not in the bookings stream")
    final_booking = {lid: bs[0] for lid, bs in booked_by_lobby.items()}
    # Over capacity as seen by clients.
    for users, lobby in history.joins:
        if lobby.max_users and len(lobby.users) > lobby.max_users:
            violation(
                "over_capacity",
                f"a join was told lobby {lobby.id} holds {len(lobby.users)}/{lobby.max_users}",
            )
        missing = [u for u in users if u not in lobby.users]
        if missing:
            violation("lost_join", f"join of {missing!r} returned lobby {lobby.id} without them")
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
                    "user_in_two_lobbies",
                    f"user {user!r} is in lobby {lobby.id}, which no join of theirs returned",
                )
    for booking in history.bookings:
        for user in booking.users:
            if (
                user in history.last_op
                and user not in history.retried
                and (user, booking.lobby_id) not in told
            ):
                violation(
                    "user_in_two_lobbies",
                    f"user {user!r} was booked in lobby {booking.lobby_id}, which no join of theirs returned",
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
                    "lost_leave", f"user {user!r} left but is still in {sorted(holders[user])}"
                )
            continue
        if told_lobby is None or told_lobby in holders.get(user, ()):
            continue
        final = final_booking.get(told_lobby)
        if final is not None and user in final.users:
            continue
        if final is None and told_lobby in expired:
            continue
        violation("lost_join", f"user {user!r} was told lobby {told_lobby} but is not in it")
