"""What an audit reads: one pool's contents, as plain data."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .._models import Booking, Lobby
from .._sharding import shard_of


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    lobbies: dict[str, Lobby]
    user_index: dict[str, str] | None
    """user -> lobby id, for lobbycore pools; None for naive pools (they keep no index)."""
    open_index: dict[int, set[str]] | None
    """capacity -> lobby ids listed as open, for lobbycore pools."""
    bookings: list[Booking]
    seats_left: int | None
    """Seats left (summed over shards); None = unlimited."""
    misplaced: tuple[str, ...] = ()
    """Index entries found in the wrong shard: a user outside their user's shard, a lobby
    listed by another shard's open, room or expiry index (sharded pools only)."""
    exists: bool = True
    """False if the pool holds no key at all under the layout and shard count read."""
    stats: dict[str, int] | None = None
    """The counters hash (summed over shards), for lobbycore pools; absent fields read 0."""
    room_index: dict[tuple[int, int], set[str]] | None = None
    """(capacity, free places) -> lobby ids listed in ``room:<max>:<free>``."""
    expiry_index: dict[str, int] | None = None
    """lobby id -> deadline (ms) listed in the expiry index."""
    deadlines: dict[str, int] = field(default_factory=dict)
    """lobby id -> the deadline (ms) its value holds, 0 = none (lobbycore pools)."""
    seats_by_shard: tuple[int | None, ...] = ()
    """Each sub-pool's seats left (sharded pools only; None = unlimited)."""


def _listed(part: PoolSnapshot) -> list[tuple[str, set[str]]]:
    """Each index of a sub-pool that lists lobbies: its name, the ids it lists."""
    listed = [(f"open:{cap}", ids) for cap, ids in (part.open_index or {}).items()]
    listed += [(f"room:{m}:{f}", ids) for (m, f), ids in (part.room_index or {}).items()]
    listed.append(("expiry index", set(part.expiry_index or ())))
    return listed


def merge_shards(parts: list[PoolSnapshot]) -> PoolSnapshot:
    """The snapshots of a sharded pool's sub-pools (in shard order) as one pool's."""
    lobbies: dict[str, Lobby] = {}
    user_index: dict[str, str] = {}
    open_index: dict[int, set[str]] = defaultdict(set)
    room_index: dict[tuple[int, int], set[str]] = defaultdict(set)
    expiry_index: dict[str, int] = {}
    deadlines: dict[str, int] = {}
    stats: Counter[str] = Counter()
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
        for room, ids in (part.room_index or {}).items():
            room_index[room] |= ids
        expiry_index.update(part.expiry_index or {})
        deadlines.update(part.deadlines)
        stats.update(part.stats or {})
        bookings.extend(part.bookings)
    for shard, part in enumerate(parts):
        for what, ids in _listed(part):
            for lobby_id in sorted(ids & lobbies.keys() - part.lobbies.keys()):
                misplaced.append(f"lobby {lobby_id} of another shard is in shard {shard}'s {what}")
    seats = tuple(p.seats_left for p in parts)
    seats_left = None if all(s is None for s in seats) else sum(s or 0 for s in seats)
    return PoolSnapshot(
        lobbies,
        user_index,
        dict(open_index),
        bookings,
        seats_left,
        tuple(misplaced),
        exists=any(p.exists for p in parts),
        stats=dict(stats),
        room_index=dict(room_index),
        expiry_index=expiry_index,
        deadlines=deadlines,
        seats_by_shard=seats,
    )
