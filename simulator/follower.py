"""``lobbysim watch``: follow a pool that another process (a Locust run, say) is loading.

No simulated buyers: the board follows the pool's event stream, and a periodic read of
the pool checks what can be checked without knowing what clients were told (capacity,
users in two lobbies). The totals (joins, leaves, bookings) are the pool's own counters,
read at the end: exact, however far the stream (capped at about 10,000 events) was trimmed
before the watch read it. The events feed the board, the log, the rates and the live
checks; ``joins_unseen`` says how many of the pool's joins they never showed. A watch of a
pool in which nothing ever happened (no event, no join in its counters), or that never held a
key, had nothing to check: its verdict says so (``checked=nothing``).

A watch that falls behind by more than the stream keeps loses events to the trim: it says
so (the title, the log, and ``events_missed`` among its verdict's figures, what its board,
rates and log never showed). The number is exact, counted with the stream's entries-added
(Redis 7), whenever the watch finds its cursor behind the stream's first entry or at its
last one, or no trim since it last did can have passed its cursor; otherwise it is a lower
bound, named as such (``events_missed_at_least``).

The stream is read in large reads (lobbycore.admin.async_read_events: up to about 880
events a reply, each reply bounded in bytes whatever the events hold), so that one watch
reads far more events a second than a pool gets from one Redis core; ``lag_s`` says how far
behind the stream's newest event the watch was when it last looked (``lag_max_s``: at most,
in the run). The periodic audit reads the whole pool, a cost in proportion to its size: it
is spaced so that it takes at most a quarter of the watch's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from lobbycore import AsyncLobbyStore, LobbyError, LobbyEvent, PoolStateLost, PoolStats
from lobbycore.admin import (
    StreamInfo,
    async_count_pool_keys,
    async_follow_reply_bytes,
    async_read_events,
    async_stream_info,
)
from lobbycore.audit import async_output_buffer_limit, cut_off
from lobbycore.violations import LIVE_CHECKS, Checked

from .clients import RedisClients
from .source import AUDIT_SECONDS, REDIS_FAILURES, STATE_LOST, LiveSource

POLL_SECONDS = 0.1
MAX_BATCHES = 50
"""Reads per poll at most: a backlog is read at once (a read holds up to about 880
events; the stream keeps about 10,000), and the screen stays live."""
LAG_SHOWN_S = 1.0
"""A lag the title shows (a poll's own wait is a tenth of a second)."""
AUDIT_SPACING = 3.0
"""The wait after a periodic audit, at least, as a multiple of the time it took: audits take
at most a quarter of the time."""
NOTES_PER_POLL = 10
"""Bookings and expiries logged one by one per poll; the rest of the poll's in one line
(thousands a second would only scroll the log, 500 lines long, past reading)."""


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
        self._gaps = [_Gap() for _ in range(shards)]
        """Each shard's stream, as the current pool's reads went through it."""
        self._retired_gap = _Gap()
        """The events lost pools' streams trimmed before the watch read them."""
        self._missed_told = 0
        """events_missed as the log last said it."""
        self._auditing = False
        """The periodic audit runs (beside the reads of the stream, during ``run``)."""
        self.reply_bytes: int | None = None
        """The bound of each read's reply (lobbycore.admin.async_follow_reply_bytes), read
        from the server before the first read and again after a connection was cut."""
        self.lag_s = 0.0
        """How far the last event read was behind the stream's newest, in the time the
        events were written (stream ids), when the watch last looked (after its reads)."""
        self.lag_max_s = 0.0
        """The largest ``lag_s`` of the run."""

    @property
    def pool_never_seen(self) -> bool:
        return not self.pool_seen

    @property
    def events_missed(self) -> tuple[int, bool]:
        """Events the stream trimmed before the watch read them, in the whole run, and
        whether that is exact (else a lower bound)."""
        gaps = [self._retired_gap, *self._gaps]
        return sum(g.missed for g in gaps), all(g.exact for g in gaps)

    def pool_notes(self) -> list[str]:
        if self.pool_gone:
            notes = [f"{STATE_LOST}: waiting for the pool"]
        elif self.lost_pools:
            notes = [f"{STATE_LOST}: following a new pool"]
        else:
            notes = super().pool_notes()
        missed, exact = self.events_missed
        if missed:
            notes.append(f"{'' if exact else '≥'}{missed:,} events missed")
        if self.lag_s >= LAG_SHOWN_S:
            notes.append(f"{self.lag_s:.1f} s behind")
        return notes

    async def _catch_up(self) -> None:
        """Count the pool's events from its first one (those from before the watch started
        too); the board is drawn from the first read of the pool, not from old news."""
        while batch := await self._read():
            self._fold(batch, live=False)
            self.last_event = batch[-1].id
        self._caught_up = True
        self.pool_seen = True
        if self.pool_missing:  # it appeared between two looks for it
            self.pool_missing = False
            self.note(f"pool {self.pool!r} appeared")
        if self.pool_gone:
            self.pool_gone = False
            self.note(f"pool {self.pool!r} is back (a new pool): following it from its first event")

    async def run(self, duration: float | None = None) -> None:
        """Follow the pool; Redis failures are counted and retried (see ``lost``), a lost
        pool is waited for. The periodic audit runs beside the reads of the stream: a read of
        a large pool (seconds, under load) never holds the stream's reads back."""
        deadline = None if duration is None else time.monotonic() + duration
        self.note(f"watching pool {self.pool!r} on {self.clients.where}")
        next_look = time.monotonic()
        self._auditing = True
        audits = asyncio.create_task(self._audits())
        try:
            while not self.stop_requested and (deadline is None or time.monotonic() < deadline):
                if not self.paused:
                    look = not self.pool_seen and time.monotonic() >= next_look
                    if look:
                        next_look = time.monotonic() + AUDIT_SECONDS
                    await self._follow(look=look)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            # Also stops a loop whose cancellation a Redis client swallowed mid-call.
            self._auditing = False
            audits.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await audits
        if not self.paused and self._caught_up:
            await self._follow(look=False)  # the events up to the end of the run
        await self.read_counters()

    async def _audits(self) -> None:
        # A read of the whole pool costs in proportion to the pool (tens of thousands of
        # lobbies under a load run): spaced so that it takes at most a share of the watch's
        # time (and of the server's), whatever the pool's size, the stream's reads the rest.
        wait = AUDIT_SECONDS
        while self._auditing:
            await asyncio.sleep(wait)
            started = time.monotonic()
            if not self.paused and self._caught_up:
                await self.audit_live()
            wait = max(AUDIT_SECONDS, AUDIT_SPACING * (time.monotonic() - started))

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
            if self.reply_bytes is None:
                self.reply_bytes = await async_follow_reply_bytes(self.clients.async_client)
            # The stream's position just before and just after the reads: a trim that passed
            # the cursor in between (and only such a trim) leaves the count a lower bound.
            await self._gauge()
            if not self._caught_up:
                await self._catch_up()
            await self.poll()
            await self._gauge(after_reads=True)
        except PoolStateLost as exc:
            self.reached()
            self.state_lost(exc, generation)
        except LobbyError:  # PoolNotFound: not made yet, or still gone
            self.reached()
        except redis.ConnectionError as exc:
            # Cut off mid-read? Name the server's output buffer limit, once per outage, and
            # size the reads to it again (it may have changed).
            bound, self.reply_bytes = self.reply_bytes, None
            if not self.disconnected:
                limit = await async_output_buffer_limit(self.clients.async_client)
                what = f"events (replies of up to {bound:,} bytes)" if bound else "events"
                named = cut_off(exc, what, limit)
                if named is not exc:
                    self.note(str(named))
            self.lost(exc)
        except REDIS_FAILURES as exc:
            self.lost(exc)
        else:
            self.reached()

    async def _read(self) -> list[LobbyEvent]:
        """The next events after the cursor: one read, its reply bounded (see reply_bytes)."""
        assert self.reply_bytes is not None
        return await async_read_events(self.store, self.last_event, reply_bytes=self.reply_bytes)

    async def _gauge(self, *, after_reads: bool = False) -> None:
        """Read where each shard's stream stands, and count what it trimmed unread; after
        the reads, how far behind its newest event the watch is (``lag_s``)."""
        generation = self.generation
        streams = await async_stream_info(self.clients.async_client, self.pool, shards=self.shards)
        if generation != self.generation:
            return
        lag_ms = 0
        for gap, cursor, stream in zip(self._gaps, self._cursors(), streams, strict=True):
            gap.gauge(cursor, stream)
            at = _stream_order(cursor)[0]
            if at:  # 0: nothing read yet
                lag_ms = max(lag_ms, _stream_order(stream.last_id)[0] - at)
        if after_reads:
            self.lag_s = lag_ms / 1000
            self.lag_max_s = max(self.lag_max_s, self.lag_s)
        self._tell_missed()

    def _tell_missed(self) -> None:
        missed, exact = self.events_missed
        if missed > self._missed_told:
            self.note(
                f"{'' if exact else 'at least '}{missed:,} events missed: the pool's stream "
                "(it keeps about 10,000) trimmed them before this watch read them; the totals "
                "are the pool's counters, the board, the rates and this log lack those events"
            )
            self._missed_told = missed

    def _cursors(self) -> list[str]:
        """Each shard's stream position (a sharded pool's event id holds them all)."""
        if "/" in self.last_event:
            return self.last_event.rsplit("/", 1)[1].split(",")
        return [self.last_event] * self.shards

    def state_lost(self, exc: PoolStateLost, generation: int) -> None:
        """The pool is gone from the server (or replaced): say so, and wait for it; its
        counts stay, a pool that appears under the name is followed from its first event."""
        if generation != self.generation:
            return
        self.generation += 1
        self.retire_pool()
        self._retired_seen = self._retired_seen + self._seen
        self._seen = _Seen()
        for gap in self._gaps:
            self._retired_gap.missed += gap.missed
            self._retired_gap.exact = self._retired_gap.exact and gap.exact
        self._gaps = [_Gap() for _ in range(self.shards)]
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

    def _fold(self, events: Sequence[LobbyEvent], *, live: bool) -> list[LobbyEvent]:
        """Count a batch of events, each kind once into the metrics; ``live=False``: read on
        catching up, counted in the totals but not in the rates (they may be older than the
        watch), and not drawn. Returns the batch's bookings and expiries, for the log."""
        joins = leaves = bookings = expired = 0
        ended = []
        apply = self.board.apply
        for event in events:
            kind = event.type
            if live:
                apply(event)
            if kind == "joined":
                joins += len(event.users) + event.more_users
            elif kind == "left":
                leaves += len(event.users) + event.more_users
            elif kind == "booked":
                bookings += 1
                if live:
                    ended.append(event)
            elif kind == "expired":
                expired += 1
                if live:
                    ended.append(event)
        if self.shards == 1:
            self._gaps[0].read += len(events)
        else:
            for event in events:  # <stream id>/<shard>/<cursor>
                self._gaps[int(event.id.split("/", 2)[1])].read += 1
        self.events += len(events)
        metrics, seen = self.metrics, self._seen
        if joins:
            metrics.joins.add(joins, rated=live)
            seen.joins += joins
        if leaves:
            metrics.leaves.add(leaves, rated=live)
            seen.leaves += leaves
        if bookings:
            metrics.bookings.add(bookings, rated=live)
            seen.bookings += bookings
        if expired:
            metrics.expired.add(expired, rated=live)
        return ended

    async def poll(self) -> int:
        """Apply the events since the last one read, in batches, each folded into the
        counts at once; how many."""
        read = 0
        ended: list[LobbyEvent] = []
        try:
            for _ in range(MAX_BATCHES):
                events = await self._read()
                if not events:
                    break
                ended += self._fold(events, live=True)
                self.last_event = events[-1].id
                read += len(events)
        finally:
            self._log_ended(ended)
        return read

    def _log_ended(self, ended: list[LobbyEvent]) -> None:
        for event in ended[:NOTES_PER_POLL]:
            if event.type == "booked":
                users = len(event.users) + event.more_users
                self.note(f"booked {event.lobby_id[-6:]} for {users}")
            else:
                self.note(f"expired {event.lobby_id[-6:]}")
        rest = ended[NOTES_PER_POLL:]
        if rest:
            booked = sum(1 for event in rest if event.type == "booked")
            self.note(f"… and {booked:,} more booked, {len(rest) - booked:,} more expired")

    def checked(self) -> Checked:
        """The pool's activity: the events read, and the joins only its counters showed (the
        stream is capped); among the figures, the events it trimmed unread, which nothing
        checked (``events_missed``, or ``events_missed_at_least`` when only a lower bound is
        known). None: nothing ever happened in the pool, or it never held a key."""
        counters = self.counters
        unseen = 0 if counters is None else max(0, counters.joins - self._seen.joins)
        missed, exact = self.events_missed
        figures = {
            "events": self.events,
            "events_missed" if exact else "events_missed_at_least": missed,
        }
        return Checked(LIVE_CHECKS, "events", self.events + unseen, figures)

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
            "lag_s": f"{self.lag_s:.1f}",
            "lag_max_s": f"{self.lag_max_s:.1f}",
            **self.coverage(),
        }


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Gap:
    """One shard's stream as the watch read it: entries read, and entries it trimmed before
    they were read (exact, or a lower bound).

    The stream is numbered (see lobbycore.admin.StreamInfo): at a reading of it, the watch's
    cursor is entry ``missed + read``. ``gauge`` computes ``missed`` afresh when that number
    is known from the stream alone (the cursor at its last entry, or behind its first), and
    keeps it when no entry past the cursor can have been trimmed since the last reading (the
    reads in between were then unbroken); otherwise it is only a lower bound until then."""

    read: int = 0
    missed: int = 0
    exact: bool = True
    """Whether ``missed`` is exact (before any reading: nothing read, nothing missed)."""
    at: int = 0
    """The cursor's number in the stream at the last exact reading."""

    def gauge(self, cursor: str, stream: StreamInfo) -> None:
        trimmed = stream.trimmed
        if stream.first_id is None:
            return  # no stream (yet): a pool with no event, or one gone (the read says so)
        if trimmed is None:  # before Redis 7: no count of what was trimmed
            self.exact = False
            return
        if _stream_order(cursor) >= _stream_order(stream.last_id):
            self.missed = (stream.added or 0) - self.read  # every entry added was read or missed
        elif _stream_order(stream.first_id) > _stream_order(cursor):
            self.missed = trimmed - self.read  # every entry held is unread: the rest was trimmed
        elif not (self.exact and trimmed <= self.at):
            self.exact = False  # a trim may have passed the cursor between two readings
            return
        self.exact = True
        self.at = self.missed + self.read


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
