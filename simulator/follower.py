"""``lobbysim watch``: follow a pool that another process (a Locust run, say) is loading.

No simulated buyers: the board follows the pool's event stream, and a periodic read of
the pool checks what can be checked without knowing what clients were told (capacity,
users in two lobbies).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from lobbycore import AsyncLobbyStore, LobbyError

from .clients import RedisClients
from .source import AUDIT_SECONDS, LiveSource

POLL_SECONDS = 0.1
BATCH = 1000


class PoolFollower(LiveSource):
    def __init__(self, clients: RedisClients, pool: str, shards: int = 1) -> None:
        store = AsyncLobbyStore(clients.async_client, pool=pool, lobby_ttl=None, shards=shards)
        super().__init__(clients, pool, store)
        self.last_event = "0-0"

    async def _catch_up(self) -> None:
        """Start from the end of the stream: what came before is in the first read of the pool."""
        while batch := await self.store.events(after=self.last_event, count=BATCH):
            self.last_event = batch[-1].id

    async def run(self, duration: float | None = None) -> None:
        await self._catch_up()
        await self.audit_once()
        self.note(f"watching pool {self.pool!r} on {self.clients.where}")
        deadline = None if duration is None else time.monotonic() + duration
        next_audit = time.monotonic() + AUDIT_SECONDS
        while deadline is None or time.monotonic() < deadline:
            if not self.paused:
                with contextlib.suppress(LobbyError, OSError):
                    await self.poll()
                if time.monotonic() >= next_audit:
                    next_audit = time.monotonic() + AUDIT_SECONDS
                    with contextlib.suppress(LobbyError, OSError):
                        await self.audit_once()
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> int:
        events = await self.store.events(after=self.last_event, count=BATCH)
        for event in events:
            self.board.apply(event)
            if event.type == "joined":
                self.metrics.joins.add(len(event.users))
            elif event.type == "left":
                self.metrics.leaves.add(len(event.users))
            elif event.type == "booked":
                self.metrics.bookings.add()
                self.note(f"booked {event.lobby_id[-6:]} for {len(event.users)}")
            elif event.type == "expired":
                self.metrics.expired.add()
                self.note(f"expired {event.lobby_id[-6:]}")
        if events:
            self.last_event = events[-1].id
        return len(events)
