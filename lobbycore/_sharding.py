"""Sans-IO routing for a pool split into N sub-pools (``LobbyStore(..., shards=N)``).

Each sub-pool is a whole pool of its own (its own hash tag, so its own Cluster slot and
possibly its own primary) and every operation on a user runs in the user's shard:
``crc32(utf-8 user id) mod N``, stable across processes and languages. A lobby's id ends in
``.<shard>``, so bookings and lookups by lobby id go straight to their shard. Every
guarantee holds per shard, and since a user only ever touches one shard, per user.

Reads of the whole pool (stats, events) and writes to all of it (seats, sweep) fan out:
one call per shard, each atomic on its own, combined here.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from . import _validate as check
from ._errors import InvalidInput, PartySpansShards
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from ._protocol import FanOut, PoolProtocol, ScriptCall
from .defaults import (
    DEFAULT_BOOKING_TTL,
    DEFAULT_EVENT_COUNT,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_SWEEP_LIMIT,
    MAX_BATCH,
)

__all__ = ["ShardedProtocol", "shard_of"]


def shard_of(user_id: str, shards: int) -> int:
    """The shard of a user in a pool split into ``shards``."""
    return zlib.crc32(user_id.encode("utf-8")) % shards


def split_seats(seats: int, shards: int) -> list[int]:
    """An inventory split as evenly as possible (the first shards get the remainder)."""
    base, extra = divmod(seats, shards)
    return [base + (i < extra) for i in range(shards)]


def _stream_order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _sum_stats(parts: list[PoolStats]) -> PoolStats:
    totals: dict[str, Any] = {
        f.name: sum(getattr(p, f.name) or 0 for p in parts) for f in fields(PoolStats)
    }
    if all(p.seats_left is None for p in parts):
        totals["seats_left"] = None
    return PoolStats(**totals)


def _sum_seats(parts: list[int | None]) -> int | None:
    return None if all(p is None for p in parts) else sum(p or 0 for p in parts)


class ShardedProtocol:
    """Builds the calls of a pool split into ``shards`` sub-pools; same methods as
    :class:`~lobbycore._protocol.PoolProtocol`, some returning a :class:`FanOut`."""

    __slots__ = ("parts", "pool", "shards")

    def __init__(
        self,
        pool: str,
        lobby_ttl: float | None,
        booking_ttl: float = DEFAULT_BOOKING_TTL,
        replay_window: float | None = DEFAULT_REPLAY_WINDOW,
        *,
        shards: int,
    ) -> None:
        self.shards = check.shards(shards)
        self.pool = check.pool_name(pool)
        self.parts = tuple(
            PoolProtocol(pool, lobby_ttl, booking_ttl, replay_window, shard=i, shards=self.shards)
            for i in range(self.shards)
        )

    @property
    def lobby_ttl(self) -> float | None:
        return self.parts[0].lobby_ttl

    def _of_user(self, user_id: object) -> PoolProtocol:
        return self.parts[shard_of(check.opaque_id(user_id), self.shards)]

    def _of_lobby(self, lobby_id: object) -> PoolProtocol:
        if isinstance(lobby_id, str):
            _, dot, shard = lobby_id.rpartition(".")
            if dot and shard.isdecimal() and shard.isascii() and int(shard) < self.shards:
                return self.parts[int(shard)]
        raise InvalidInput(
            f"lobby id must be a ULID followed by .<shard> (0..{self.shards - 1}), "
            f"got {lobby_id!r:.80}"
        )

    def find_or_create_lobby(self, user_id: object, max_users: object) -> ScriptCall[Lobby]:
        return self._of_user(user_id).find_or_create_lobby(user_id, max_users)

    def join_party(self, user_ids: object, max_users: object) -> ScriptCall[Lobby]:
        users = check.user_ids(user_ids, check.max_users(max_users))
        where = {user: shard_of(user, self.shards) for user in users}
        if len(set(where.values())) > 1:
            raise PartySpansShards(where)
        return self.parts[where[users[0]]].join_party(users, max_users)

    def leave_lobby(self, user_id: object) -> ScriptCall[Lobby | None]:
        return self._of_user(user_id).leave_lobby(user_id)

    def lobby_of(self, user_id: object) -> ScriptCall[Lobby | None]:
        return self._of_user(user_id).lobby_of(user_id)

    def get_lobby(self, lobby_id: object) -> ScriptCall[Lobby | None]:
        return self._of_lobby(lobby_id).get_lobby(lobby_id)

    def book_ticket(self, lobby_id: object, request_id: object = None) -> ScriptCall[Booking]:
        return self._of_lobby(lobby_id).book_ticket(lobby_id, request_id)

    def set_seats(self, seats: object) -> FanOut[int | None]:
        """Each shard gets its share of the inventory: a shard never sells what another
        holds, so the pool never oversells; a shard may sell out while another still has
        seats (at most one lobby's worth per shard is left unsold at the end)."""
        n = check.seats(seats)
        shares: Sequence[int | None] = (
            [None] * self.shards if n is None else split_seats(n, self.shards)
        )
        return FanOut(
            tuple(part.set_seats(share) for part, share in zip(self.parts, shares, strict=True)),
            _sum_seats,
        )

    def stats(self) -> FanOut[PoolStats]:
        return FanOut(tuple(part.stats() for part in self.parts), _sum_stats)

    def sweep_expired(self, limit: object = DEFAULT_SWEEP_LIMIT) -> FanOut[int]:
        return FanOut(tuple(part.sweep_expired(limit) for part in self.parts), sum)

    def events(
        self, after: object = "0-0", count: object = DEFAULT_EVENT_COUNT
    ) -> FanOut[list[LobbyEvent]]:
        """Events of the shards, merged in stream-id order: at most ``count``, fewer when
        the shards' events are unevenly spread (read on until a batch is empty).

        An event's id is ``<its stream id>/<shard>/<cursor>``, where the cursor holds every
        shard's position after that event; pass the id back as ``after=`` and no shard's
        events are skipped or repeated. A plain stream id as ``after`` applies to every shard.
        """
        cursor = self._cursor(after)
        n = check.whole(count, "count", 1, MAX_BATCH)

        # Each shard is asked for its share of ``count`` (rounded up), so one call reads
        # about ``count`` events in all, not ``count`` per shard.
        share = -(-n // self.shards)

        def merge(per_shard: list[list[LobbyEvent]]) -> list[LobbyEvent]:
            tagged = sorted(
                ((_stream_order(e.id), shard, e) for shard, es in enumerate(per_shard) for e in es),
                key=lambda t: (t[0], t[1]),
            )
            # A shard that filled its share may hold more events: stop at the earliest last
            # event of such shards, so that no later page brings an event older than this
            # page's (pages stay in stream-id order; the horizon's shard gives at least one).
            horizon = min(
                (
                    (_stream_order(es[-1].id), shard)
                    for shard, es in enumerate(per_shard)
                    if len(es) >= share
                ),
                default=None,
            )
            position = list(cursor)
            merged = []
            for order, shard, event in tagged[:n]:
                if horizon is not None and (order, shard) > horizon:
                    break
                position[shard] = event.id
                merged.append(replace(event, id=f"{event.id}/{shard}/{','.join(position)}"))
            return merged

        return FanOut(
            tuple(part.events(at, share) for part, at in zip(self.parts, cursor, strict=True)),
            merge,
        )

    def _cursor(self, after: object) -> list[str]:
        if isinstance(after, str) and "/" in after:
            positions = after.rsplit("/", 1)[1].split(",")
            if len(positions) != self.shards:
                raise InvalidInput(
                    f"event id is from a pool with {len(positions)} shards, not {self.shards}"
                )
            return [check.stream_id(p) for p in positions]
        return [check.stream_id(after)] * self.shards
