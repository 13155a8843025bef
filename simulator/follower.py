"""``lobbysim watch``: follow a pool that another process (a Locust run, say) is loading.

No simulated buyers: the board follows the pool's event stream, and a periodic read of
the pool checks what can be checked without knowing what clients were told (capacity,
users in two lobbies).
"""

from __future__ import annotations

import asyncio
import time

from lobbycore import AsyncLobbyStore, LobbyError
from lobbycore.admin import async_count_pool_keys

from .clients import RedisClients
from .source import AUDIT_SECONDS, REDIS_FAILURES, LiveSource

POLL_SECONDS = 0.1
BATCH = 1000


class PoolFollower(LiveSource):
    def __init__(self, clients: RedisClients, pool: str, shards: int = 1) -> None:
        # A follower only reads: it must not make the pool it is told to follow (a typo'd name
        # would then exist); until the pool appears its reads raise PoolNotFound.
        store = AsyncLobbyStore(
            clients.async_client, pool=pool, lobby_ttl=None, shards=shards, create_pool=False
        )
        super().__init__(clients, pool, store)
        self.last_event = "0-0"
        self.pool_seen = False
        """Whether the pool held keys at some point of the run."""

    async def _catch_up(self) -> None:
        """Start from the end of the stream: what came before is in the first read of the pool."""
        while batch := await self.store.events(after=self.last_event, count=BATCH):
            self.last_event = batch[-1].id

    async def run(self, duration: float | None = None) -> None:
        """Follow the pool; Redis failures are counted and retried (see ``lost``)."""
        deadline = None if duration is None else time.monotonic() + duration
        self.note(f"watching pool {self.pool!r} on {self.clients.where}")
        caught_up = False
        next_audit = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            if not self.paused:
                audit_due = time.monotonic() >= next_audit
                try:
                    if audit_due and not self.pool_seen:
                        await self._look_for_pool()
                    if not caught_up:
                        await self._catch_up()
                        caught_up = True
                    await self.poll()
                except LobbyError:
                    pass
                except REDIS_FAILURES as exc:
                    self.lost(exc)
                else:
                    self.reached()
                if caught_up and audit_due:
                    next_audit = time.monotonic() + AUDIT_SECONDS
                    await self.audit_live()
            await asyncio.sleep(POLL_SECONDS)

    async def _look_for_pool(self) -> None:
        """Say so, once, if the pool holds no key; and when it appears."""
        found = await async_count_pool_keys(
            self.clients.async_client, self.pool, shards=self.store.shards
        )
        if found:
            self.pool_seen = True
            if self.pool_missing:
                self.note(f"pool {self.pool!r} appeared")
            self.pool_missing = False
        elif not self.pool_missing:
            self.pool_missing = True
            self.note(
                f"pool {self.pool!r} not found on {self.clients.where}: it holds no key "
                "(a typo in --pool, or a different --shards?); waiting for it"
            )

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
