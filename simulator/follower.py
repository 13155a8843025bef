"""``lobbysim watch``: follow a pool that another process (a Locust run, say) is loading.

No simulated buyers: the board follows the pool's event stream, and a periodic read of
the pool checks what can be checked without knowing what clients were told (capacity,
users in two lobbies). The totals (joins, leaves, bookings) are the pool's own counters,
read at the end: exact, however far the stream (capped at about 10,000 events) was trimmed
before the watch read it. The events feed the board, the log, the rates and the live
checks; ``joins_unseen`` says how many of the pool's joins they never showed. A watch of a
pool in which nothing ever happened (no event, no join in its counters), or that never held a
key, had nothing to check: its verdict says so (``checked=nothing``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis

from lobbycore import AsyncLobbyStore, LobbyError, LobbyEvent, PoolStateLost, PoolStats
from lobbycore.admin import async_count_pool_keys
from lobbycore.audit import async_output_buffer_limit, cut_off
from lobbycore.violations import LIVE_CHECKS, Checked

from .clients import RedisClients
from .source import AUDIT_SECONDS, REDIS_FAILURES, STATE_LOST, LiveSource

POLL_SECONDS = 0.1
BATCH = 1000
"""Events asked for per read: the store answers fewer when they are large (each reply
stays under lobbycore.defaults.READ_REPLY_BYTES), so fewer is not the end; none is."""
MAX_BATCHES = 50
"""Batches read per poll at most: a backlog is read at once, and the screen stays live."""


def _reader(clients: RedisClients, pool: str, shards: int) -> AsyncLobbyStore:
    # A follower only reads: it must not make the pool it is told to follow (a typo'd name
    # would then exist); until the pool appears its reads raise PoolNotFound.
    return AsyncLobbyStore(
        clients.async_client, pool=pool, lobby_ttl=None, shards=shards, create_pool=False
    )


class PoolFollower(LiveSource):
    def __init__(self, clients: RedisClients, pool: str, shards: int = 1) -> None:
        super().__init__(clients, pool, _reader(clients, pool, shards))
        self.shards = shards
        self.last_event = "0-0"
        self.pool_seen = False
        """Whether the pool held keys at some point of the run."""
        self.pool_gone = False
        """The server lost the pool's state after it was seen: waiting for the pool."""
        self._caught_up = False
        self.counters: PoolStats | None = None
        """The current pool's own counters, from its last read (None before one)."""
        self._seen = _Seen()
        """What the events of the current pool showed."""
        self._retired_seen = _Seen()
        """What the events of lost pools showed (their counters are gone with them)."""
        self.events = 0
        """Events read from the pool's stream during the run (from its first one, lost
        pools' included)."""

    @property
    def pool_never_seen(self) -> bool:
        return not self.pool_seen

    def pool_notes(self) -> list[str]:
        if self.pool_gone:
            return [f"{STATE_LOST}: waiting for the pool"]
        if self.lost_pools:
            return [f"{STATE_LOST}: following a new pool"]
        return super().pool_notes()

    async def _catch_up(self) -> None:
        """Count the pool's events from its first one (those from before the watch started
        too); the board is drawn from the first read of the pool, not from old news."""
        while batch := await self.store.events(after=self.last_event, count=BATCH):
            for event in batch:
                self._count(event, live=False)
            self.last_event = batch[-1].id
        self._caught_up = True
        self.pool_seen = True
        if self.pool_gone:
            self.pool_gone = False
            self.note(f"pool {self.pool!r} is back (a new pool): following it from its first event")

    async def run(self, duration: float | None = None) -> None:
        """Follow the pool; Redis failures are counted and retried (see ``lost``), a lost
        pool is waited for."""
        deadline = None if duration is None else time.monotonic() + duration
        self.note(f"watching pool {self.pool!r} on {self.clients.where}")
        next_audit = time.monotonic()
        while not self.stop_requested and (deadline is None or time.monotonic() < deadline):
            if not self.paused:
                audit_due = time.monotonic() >= next_audit
                await self._follow(look=audit_due and not self.pool_seen)
                if self._caught_up and audit_due:
                    next_audit = time.monotonic() + AUDIT_SECONDS
                    await self.audit_live()
            await asyncio.sleep(POLL_SECONDS)
        if not self.paused and self._caught_up:
            await self._follow(look=False)  # the events up to the end of the run
        await self.read_counters()

    async def read_counters(self) -> None:
        """Read the pool's own counters (one call): the exact totals of the summary."""
        if self.pool_gone or not self._caught_up:
            return
        generation = self.generation
        try:
            counters = await self.store.stats()
        except PoolStateLost as exc:
            self.state_lost(exc, generation)
        except (LobbyError, *REDIS_FAILURES):
            return  # the summary then falls back on what the events showed
        else:
            if generation == self.generation:
                self.counters = counters

    async def _follow(self, *, look: bool) -> None:
        generation = self.generation
        try:
            if look:
                await self._look_for_pool()
            if not self._caught_up:
                await self._catch_up()
            await self.poll()
        except PoolStateLost as exc:
            self.reached()
            self.state_lost(exc, generation)
        except LobbyError:  # PoolNotFound: not made yet, or still gone
            self.reached()
        except redis.ConnectionError as exc:
            # Cut off mid-read? Name the server's output buffer limit, once per outage.
            if not self.disconnected:
                limit = await async_output_buffer_limit(self.clients.async_client)
                named = cut_off(exc, f"up to {BATCH} events", limit)
                if named is not exc:
                    self.note(str(named))
            self.lost(exc)
        except REDIS_FAILURES as exc:
            self.lost(exc)
        else:
            self.reached()

    def state_lost(self, exc: PoolStateLost, generation: int) -> None:
        """The pool is gone from the server (or replaced): say so, and wait for it; its
        counts stay, a pool that appears under the name is followed from its first event."""
        if generation != self.generation:
            return
        self.generation += 1
        self.retire_pool()
        self._retired_seen = self._retired_seen + self._seen
        self._seen = _Seen()
        self.counters = None
        self.pool_gone = True
        self.store = _reader(self.clients, self.pool, self.shards)  # forgets the old epoch
        self.last_event = "0-0"
        self._caught_up = False
        self.note(
            f"pool {self.pool!r} is gone: {STATE_LOST} (a restart without persistence, a "
            "FLUSHALL, a failover to an empty replica?); waiting for it"
        )

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

    def _count(self, event: LobbyEvent, *, live: bool = True) -> None:
        """Count an event; ``live=False``: one read on catching up, counted in the totals
        but not in the rates (it may be older than the watch)."""
        metrics = self.metrics
        self.events += 1
        if event.type == "joined":
            metrics.joins.add(len(event.users), rated=live)
            self._seen.joins += len(event.users)
        elif event.type == "left":
            metrics.leaves.add(len(event.users), rated=live)
            self._seen.leaves += len(event.users)
        elif event.type == "booked":
            metrics.bookings.add(rated=live)
            self._seen.bookings += 1
        elif event.type == "expired":
            metrics.expired.add(rated=live)

    async def poll(self) -> int:
        """Apply the events since the last one read; how many."""
        read = 0
        for _ in range(MAX_BATCHES):
            events = await self.store.events(after=self.last_event, count=BATCH)
            for event in events:
                self.board.apply(event)
                self._count(event)
                if event.type == "booked":
                    self.note(f"booked {event.lobby_id[-6:]} for {len(event.users)}")
                elif event.type == "expired":
                    self.note(f"expired {event.lobby_id[-6:]}")
            if not events:
                break
            self.last_event = events[-1].id
            read += len(events)
        return read

    def checked(self) -> Checked:
        """The pool's activity: the events read, and the joins only its counters showed (the
        stream is capped). None: nothing ever happened in the pool, or it never held a key."""
        counters = self.counters
        unseen = 0 if counters is None else max(0, counters.joins - self._seen.joins)
        return Checked(LIVE_CHECKS, "events", self.events + unseen, {"events": self.events})

    def summary(self) -> dict[str, str]:
        """The headless summary: the counts of the whole run, a lost pool's included."""
        seen, counters = self._seen, self.counters
        # Lost pools count as their events showed them; the current one as it counts itself.
        current = (
            seen if counters is None else _Seen(counters.joins, counters.leaves, counters.bookings)
        )
        return {
            "pool": self.pool,
            "joins": str(self._retired_seen.joins + current.joins),
            "leaves": str(self._retired_seen.leaves + current.leaves),
            "bookings": str(self._retired_seen.bookings + current.bookings),
            "totals_from": "events" if counters is None else "counters",
            "joins_unseen": str(max(0, current.joins - seen.joins)),
            "lobbies": str(len(self.board.cards)),
            "ok": str(self.verdict().ok).lower(),
            "violations": str(self.violations),
            "pool_found": "yes" if self.pool_seen else "no",
            **self.health(),
            "pools_lost": str(len(self.lost_pools)),
            "pool_gone": "yes" if self.pool_gone else "no",
            **self.coverage(),
        }


@dataclass
class _Seen:
    """Users joined and left, and bookings, as a pool's events showed them."""

    joins: int = 0
    leaves: int = 0
    bookings: int = 0

    def __add__(self, other: _Seen) -> _Seen:
        return _Seen(
            self.joins + other.joins, self.leaves + other.leaves, self.bookings + other.bookings
        )
