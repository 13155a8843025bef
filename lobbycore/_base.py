"""What the sync and async stores share: configuration and the registered script set."""

from __future__ import annotations

from typing import Any

from . import _validate as check
from ._protocol import DEFAULT_BOOKING_TTL, DEFAULT_REPLAY_WINDOW, PoolProtocol
from ._scripts import script_sources
from ._sharding import ShardedProtocol, shard_of


class StoreBase:
    """Holds the client, the pool's protocol and one registered Script per Lua script.

    ``client.register_script`` gives a redis-py ``Script`` (sync) or ``AsyncScript``
    (asyncio); either sends EVALSHA and reloads the source itself on NOSCRIPT.
    """

    def __init__(
        self,
        client: Any,
        pool: str = "ticket",
        lobby_ttl: float | None = 600.0,
        *,
        booking_ttl: float = DEFAULT_BOOKING_TTL,
        replay_window: float | None = DEFAULT_REPLAY_WINDOW,
        shards: int = 1,
    ) -> None:
        """``replay_window``: seconds a join's answer is kept so that a replay of that same
        call (a retry after a lost reply) gets it again instead of placing anyone twice,
        even if the lobby was booked meanwhile; None keeps nothing.

        ``shards``: split the pool into this many sub-pools, each on its own hash tag (so
        on a Redis Cluster they spread over the primaries); a user always goes to the same
        one (:meth:`shard_of`). Every guarantee holds per user; a party must share a shard
        (else :class:`~lobbycore.PartySpansShards`); stats, events, seats and sweeps fan
        out, one call per shard. 1 (the default) is a plain pool.
        """
        self._protocol: PoolProtocol | ShardedProtocol
        if check.shards(shards) == 1:
            self._protocol = PoolProtocol(pool, lobby_ttl, booking_ttl, replay_window)
        else:
            self._protocol = ShardedProtocol(
                pool, lobby_ttl, booking_ttl, replay_window, shards=shards
            )
        self.client = client
        self._scripts = {
            name: client.register_script(source) for name, source in script_sources().items()
        }

    @property
    def pool(self) -> str:
        return self._protocol.pool

    @property
    def lobby_ttl(self) -> float | None:
        return self._protocol.lobby_ttl

    @property
    def shards(self) -> int:
        protocol = self._protocol
        return protocol.shards if isinstance(protocol, ShardedProtocol) else 1

    def shard_of(self, user_id: str) -> int:
        """The shard ``user_id`` lives in (always 0 for an unsharded pool)."""
        return shard_of(check.opaque_id(user_id), self.shards)

    def __repr__(self) -> str:
        shards = f", shards={self.shards}" if self.shards > 1 else ""
        return f"{type(self).__name__}(pool={self.pool!r}, lobby_ttl={self.lobby_ttl!r}{shards})"
