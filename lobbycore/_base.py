"""What the sync and async stores share: configuration and the registered script set."""

from __future__ import annotations

from typing import Any

from ._protocol import DEFAULT_BOOKING_TTL, DEFAULT_REPLAY_WINDOW, PoolProtocol
from ._scripts import script_sources


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
    ) -> None:
        """``replay_window``: seconds a join's answer is kept so that a replay of that same
        call (a retry after a lost reply) gets it again instead of placing anyone twice,
        even if the lobby was booked meanwhile; None keeps nothing."""
        self._protocol = PoolProtocol(pool, lobby_ttl, booking_ttl, replay_window)
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool={self.pool!r}, lobby_ttl={self.lobby_ttl!r})"
