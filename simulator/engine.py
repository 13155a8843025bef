"""The simulation engine: simulated ticket buyers over a lobby store.

No Textual here: the dashboard, the headless mode and the tests drive the same engine.
Buyers arrive as a Poisson process, join (alone or as a party), wait, leave when their
patience runs out, and a lobby is booked by one of its members as soon as it is full
(or, with ``book_after``, once it has waited that long). Every operation really runs
against Redis, so with the naive strategy the article's races really happen.

One scheduler loop drives them all (see :mod:`simulator.tasks`): each tick it launches the
tick's arrivals and fires the deadlines due (patience, checkout, book-after), and only a
call in flight is a task. The atomic store pipelines the calls made together (one round
trip for a tick's joins); the naive store sends each on its own, as it always has.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from lobbycore import (
    AlreadyBooked,
    Lobby,
    LobbyError,
    LobbyNotFound,
    NotConfirmed,
    PoolStateLost,
    SoldOut,
    async_check_naive_supported,
)
from lobbycore.admin import async_count_pool_keys, async_delete_pool
from lobbycore.violations import LIVE_CHECKS, Checked

from .board import BOOKED, BOOKING, FULL
from .clients import RedisClients
from .config import MAX_RATE, MIN_RATE, RETRY_SECONDS, SimConfig, fresh_pool_name
from .metrics import Load, load_of
from .source import AUDIT_SECONDS, REDIS_FAILURES, STATE_LOST, LiveSource, what_was_lost
from .tasks import Arrivals, Timers
from .tasks import stop_all as _stop

T = TypeVar("T")
# A write too few replicas confirmed may not survive a failover: an error, as an outage's.
FAILURES = (*REDIS_FAILURES, NotConfirmed)
TICK_SECONDS = 0.02
"""The scheduler's tick: arrivals are launched, and deadlines fired, this often."""
BOOKING_RECHECK_SECONDS = 0.05
"""A buyer out of patience while their lobby's booking runs looks again after this."""
MAX_JOINS_IN_FLIGHT = 1_000
"""Joins launched and not yet answered, at most: an arrival beyond them is offered but not
served (the panel shows it), rather than a queue of tasks growing without end. Room for a
few ticks' arrivals at the highest rate, which the pipelined store sends together."""
MAX_NAIVE_JOINS_IN_FLIGHT = 64
"""The naive store's cap: each of its calls is several round trips of its own, and more of
them at once only contend (on the embedded Redis, served joins fell from 86/s at 16 in
flight to 51/s at 256, and the live audits' reads waited behind them)."""
DRAIN_SECONDS = 5.0
"""At the end of a run, the calls in flight get this long to be answered (and counted)."""
LIMIT_NOTE = "simulator is the limit"
"""What the title says while served arrivals fall short of those offered."""


class ResetRefused(Exception):
    """The pool was not created by this run, so resetting (deleting) it is refused."""


class Simulation(LiveSource):
    """Runs buyers against one pool; the dashboard reads ``board``, ``metrics``, ``log``."""

    def __init__(self, clients: RedisClients, config: SimConfig, *, owns_pool: bool = True) -> None:
        """``owns_pool=False``: the pool held keys before this run (``--reuse-pool``), so
        :meth:`reset` and :meth:`switch_strategy`, which delete it, are refused."""
        self.config = config
        self.owns_pool = owns_pool
        super().__init__(clients, config.pool, config.store(clients.async_client))
        self.rng = random.Random(config.seed)
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.fatal: BaseException | None = None
        """The first unexpected error of any task: it ends the run, which raises it."""
        self._waiting: dict[str, str] = {}
        """user -> the lobby they wait in; a booking takes them out (patience then spares
        them)."""
        self._booking: set[str] = set()
        self._leaving: Counter[str] = Counter()
        """lobby id -> its leaves on their way: its booking waits for them, so a leave and
        a booking never race for one buyer (each buyer is counted left or booked, as the
        server did)."""
        self._patience: Timers[tuple[tuple[str, ...], Lobby, int]] = Timers()
        """When each group that joined gives up: (users, lobby, generation)."""
        self._book_timers: Timers[tuple[str, int, bool]] = Timers()
        """When a lobby's booking call goes: (lobby id, generation, already claimed)."""
        self._joins_in_flight = 0
        self.dropped = 0
        """Arrivals offered while MAX_JOINS_IN_FLIGHT joins were in flight: never launched."""
        self.created_pools: list[str] = [config.pool] if owns_pool else []
        """Pools this run made (so may delete at its end): the first, if it held no key, and
        each fresh pool started after the server lost the state of the one in use."""
        self._switching = asyncio.Lock()
        """Held while the buyers are stopped and the pool changes (reset, or a lost pool)."""
        self._recovery: asyncio.Task[None] | None = None
        self._ending: asyncio.Event | None = None
        self._running = False
        self.answered = 0
        """Calls of the run Redis answered (joins, leaves, bookings): what the live checks
        compare. None (no buyer arrived, every call failed) and the run checked nothing."""

    # -- controls ------------------------------------------------------------------------------
    @property
    def strategy(self) -> str:
        return self.config.strategy

    def set_rate(self, rate: float) -> None:
        self.config = replace(self.config, rate=min(MAX_RATE, max(MIN_RATE, rate)))
        self.note(f"arrival rate {self.config.rate:.1f} buyers/s")

    def book_all_full(self) -> int:
        """Book every full lobby at once, even those a member is checking out (two members
        booking the same lobby: lobbycore answers one, the naive store may book twice)."""
        full = [
            card.id
            for card in self.board.ordered()
            if card.is_full and card.state in (FULL, BOOKING)
        ]
        for lobby_id in full:
            self._booking.add(lobby_id)
            self.board.set_state(lobby_id, BOOKING)
            self._spawn(self._book(lobby_id, self.generation))
        self.note(f"booking {len(full)} full lobbies now")
        return len(full)

    async def reset(self, strategy: str | None = None) -> None:
        """Stop every buyer, delete the pool's keys, and start again (optionally switched).

        ResetRefused if the run did not create the pool: its keys are someone else's."""
        if not self.owns_pool:
            raise ResetRefused(
                f"pool {self.config.pool!r} held keys before this run (--reuse-pool): "
                "it is never deleted, so reset and strategy switch are off"
            )
        # InvalidInput (naive with wait_replicas), KeysUnavailable: before anything is stopped.
        config = replace(self.config, strategy=strategy or self.config.strategy)
        if strategy == "naive":
            await async_check_naive_supported(self.clients.async_client)
        async with self._switching:
            await self._stop_buyers()
            for naive in (False, True):
                await async_delete_pool(self.clients.async_client, self.config.pool, naive=naive)
            # A new store: the old one holds the deleted pool's epoch, and would find every
            # call's pool lost.
            self._use(config)
            self.clear()
            await self._prepare()
        self.note(f"pool {self.config.pool!r} reset, strategy {self.config.strategy}")

    async def switch_strategy(self) -> None:
        await self.reset("naive" if self.config.strategy == "atomic" else "atomic")

    async def _stop_buyers(self) -> None:
        """Stop every buyer; what they were doing is dropped (a new generation)."""
        self.generation += 1
        await _stop(self._tasks)
        self._tasks.clear()
        self._waiting.clear()
        self._booking.clear()
        self._leaving.clear()
        self._patience.clear()
        self._book_timers.clear()
        self._joins_in_flight = 0  # a join cancelled before it began never counted itself out

    def _use(self, config: SimConfig) -> None:
        """Go on with ``config`` through a new store; reads started before are dropped."""
        self.config = config
        self.pool = config.pool
        self.store = config.store(self.clients.async_client)
        self.generation += 1

    # -- a pool the server lost ----------------------------------------------------------------
    def state_lost(self, exc: PoolStateLost, generation: int) -> None:
        """Buyers cannot go on in a pool whose state is gone (the store refuses, rightly, to
        read it as a new one): carry on in a fresh pool, once, whoever noticed first."""
        if generation != self.generation or self._recovery is not None:
            return
        lost = self.pool
        self.generation += 1  # what buyers still hear back from the lost pool is dropped
        self.retire_pool()
        if not self._running:  # found by the last look at the pool, after the run
            self.note(f"{STATE_LOST}: pool {lost!r} {what_was_lost(exc)}")
            return
        self._recovery = self._supervised(self._start_fresh_pool(lost, exc))

    async def _start_fresh_pool(self, lost: str, exc: PoolStateLost) -> None:
        try:
            async with self._switching:
                await self._stop_buyers()
                pool = await self._retried(self._free_pool_name)
                self.created_pools.append(pool)
                self.owns_pool = True  # a pool of its own: reset works again
                self._use(replace(self.config, pool=pool))
                await self._retried(self._prepare)
        finally:
            self._recovery = None
        self.note(
            f"{STATE_LOST}: started a fresh pool {pool} (pool {lost!r} {what_was_lost(exc)}; "
            "its counts stay in the summary)"
        )

    async def _free_pool_name(self) -> str:
        while True:
            pool = fresh_pool_name()
            held = 0
            for naive in (False, True):
                held += await async_count_pool_keys(self.clients.async_client, pool, naive=naive)
            if not held:
                return pool

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` until Redis answers it (each failure counted as an outage's)."""
        while True:
            try:
                result = await call()
            except REDIS_FAILURES as exc:
                self.lost(exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.reached()
            return result

    # -- running -------------------------------------------------------------------------------
    async def _prepare(self) -> None:
        if self.config.seats is not None:
            await self.store.set_seats(self.config.seats)

    def stop(self) -> None:
        super().stop()
        if self._ending is not None:
            self._ending.set()

    async def run(self, duration: float | None = None) -> None:
        """Run until cancelled, or for ``duration`` seconds (then stop every buyer).

        Redis failures are counted and ride out (see ``lost``); any other error of any task
        ends the run, and is raised here, once."""
        await self._prepare()
        self.started = time.monotonic()
        self._ending = asyncio.Event()
        if self.stop_requested:
            self._ending.set()
        self.note(
            f"{self.config.strategy} store, pool {self.config.pool!r} on {self.clients.where}"
        )
        self._running = True
        arrivals = self._supervised(self._arrivals())
        audits = self._supervised(self._audits())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ending.wait(), duration)
        finally:
            self._running = False
            try:
                await _stop({arrivals, audits})  # no new arrival, no deadline fired
                if self.fatal is None and self._tasks:
                    # The calls in flight finish, so that the counts are the server's: a
                    # call cut off here may have been done, and would go uncounted.
                    await asyncio.wait(set(self._tasks), timeout=DRAIN_SECONDS)
            finally:
                recovery = {self._recovery} if self._recovery is not None else set()
                await _stop({arrivals, audits, *recovery, *self._tasks})
        if self.fatal is not None:
            raise self.fatal
        generation = self.generation
        try:
            await self.audit_once()  # a last look at the pool, with nothing in flight
        except PoolStateLost as exc:
            self.reached()
            self.state_lost(exc, generation)
        except REDIS_FAILURES as exc:
            self.lost(exc)

    def _supervised(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Retrieve every task's outcome (no "exception was never retrieved"): the first
        unexpected error is kept, and ends the run."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self.fatal is None:
            self.fatal = exc
            self.generation += 1  # the run ends here: calls still in flight count no more
            if self._ending is not None:
                self._ending.set()

    def _spawn(self, coroutine: Any) -> None:
        task = self._supervised(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _arrivals(self) -> None:
        """The scheduler: once a tick, the tick's arrivals and the deadlines due."""
        arrivals = Arrivals(self.rng, time.monotonic(), self.config.rate)
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now, rate = time.monotonic(), self.config.rate
            if self._switching.locked():
                arrivals.skip(now, rate)
                continue  # the buyers are being stopped: their deadlines go with them
            if self.paused:
                arrivals.skip(now, rate)
            else:
                self._launch(arrivals.due(now, rate))
            self._fire(now)

    def _launch(self, count: int) -> None:
        """Start the joins of ``count`` arrivals (each a buyer, or a party)."""
        if not count:
            return
        self.metrics.offered.add(count)
        config, rng, epoch = self.config, self.rng, self.generation
        cap = MAX_NAIVE_JOINS_IN_FLIGHT if config.strategy == "naive" else MAX_JOINS_IN_FLIGHT
        for _ in range(count):
            if self._joins_in_flight >= cap:
                self.dropped += 1
                continue
            size = 1
            if rng.random() < config.party_share:
                size = min(rng.randint(2, 3), config.max_users)
            users = tuple(f"buyer-{next(self._ids)}" for _ in range(size))
            self._joins_in_flight += 1
            self._spawn(self._join(users, epoch))

    def _fire(self, now: float) -> None:
        """The deadlines due: bookings to send, buyers out of patience."""
        generation = self.generation
        for lobby_id, epoch, claimed in self._book_timers.due(now):
            if epoch != generation:
                continue
            if self._leaving[lobby_id]:  # its impatient members first
                self._book_timers.add(now + BOOKING_RECHECK_SECONDS, (lobby_id, epoch, claimed))
                continue
            if not claimed:  # a book-after timer: the lobby may be booking already
                if lobby_id in self._booking:
                    continue
                self._claim(lobby_id)
            self._spawn(self._book(lobby_id, epoch))
        for users, lobby, epoch in self._patience.due(now):
            if epoch != generation:
                continue
            if lobby.id in self._booking:  # a booking is running: let it decide
                self._patience.add(now + BOOKING_RECHECK_SECONDS, (users, lobby, epoch))
                continue
            waiting = [user for user in users if self._waiting.pop(user, None) is not None]
            if waiting:  # not booked meanwhile
                self._leaving[lobby.id] += 1
                self._spawn(self._leave(users, lobby, epoch))

    def _claim(self, lobby_id: str) -> None:
        """A booking is on its way: the lobby's impatient members wait for its outcome."""
        self._booking.add(lobby_id)
        self.board.set_state(lobby_id, BOOKING)

    async def _join(self, users: tuple[str, ...], epoch: int) -> None:
        """One buyer's join, or a party's arriving together; then their deadlines are set."""
        store, config = self.store, self.config
        self.auditor.start(*users)
        started = time.perf_counter()
        try:
            if len(users) == 1:
                lobby = await store.find_or_create_lobby(users[0], config.max_users)
            else:
                lobby = await store.join_party(users, config.max_users)
        except PoolStateLost as exc:
            self.reached()
            self.state_lost(exc, epoch)
            return
        except FAILURES as exc:
            self.lost(exc)  # the join may have happened: nothing is believed about them
            return
        except LobbyError as exc:
            self.metrics.errors += 1
            self.note(f"join failed: {exc}")
            return
        finally:
            self._joins_in_flight -= 1
            self.auditor.end(*users)
        self.reached()
        if epoch != self.generation:
            return
        self.metrics.join_latency.record((time.perf_counter() - started) * 1000)
        self.metrics.joins.add(len(users))
        self.metrics.served.add()
        self.answered += 1
        self.auditor.joined(users, lobby)
        card = self.board.upsert(lobby)
        who = users[0] if len(users) == 1 else f"party of {len(users)}"
        self.note(f"{who} joined {card.short_id} ({len(lobby.users)}/{lobby.max_users})")
        now = time.monotonic()
        if lobby.is_full:
            if lobby.id not in self._booking:  # claimed at once, booked after the checkout
                self._claim(lobby.id)
                self._book_timers.add(now + config.checkout, (lobby.id, epoch, True))
        elif config.book_after is not None and len(lobby.users) == len(users):
            # its creator's timer: it claims the lobby only when it fires
            self._book_timers.add(now + config.book_after, (lobby.id, epoch, False))
        for user in users:
            self._waiting[user] = lobby.id
        patience = self.rng.expovariate(1 / config.patience)
        self._patience.add(now + patience, (users, lobby, epoch))

    async def _leave(self, users: tuple[str, ...], lobby: Lobby, epoch: int) -> None:
        """A group out of patience, not booked: each of them still in the lobby leaves."""
        try:
            await self._leave_each(users, lobby, epoch)
        finally:
            if epoch == self.generation:
                self._leaving[lobby.id] -= 1
                if not self._leaving[lobby.id]:
                    del self._leaving[lobby.id]

    async def _leave_each(self, users: tuple[str, ...], lobby: Lobby, epoch: int) -> None:
        for user in users:
            if self.auditor.belief.get(user) != lobby.id:
                continue  # booked (or the party's other member already left)
            self.auditor.start(user)
            try:
                after = await self.store.leave_lobby(user)
            except PoolStateLost as exc:
                self.reached()
                self.state_lost(exc, epoch)
                return
            except FAILURES as exc:
                # The leave may have happened: stop expecting this user in the lobby.
                self.auditor.left(user)
                self.lost(exc)
                continue
            except LobbyError as exc:
                self.note(f"leave failed: {exc}")
                continue
            except asyncio.CancelledError:
                # Stopped while the leave was on its way: it may have happened, so the
                # auditor stops expecting this user in the lobby.
                self.auditor.left(user)
                raise
            finally:
                self.auditor.end(user)
            self.reached()
            if epoch != self.generation:
                return
            self.metrics.leaves.add()
            self.answered += 1
            self.auditor.left(user)
            if after is None:
                self.board.remove(lobby.id)
            else:
                self.board.upsert(after)
            self.note(f"{user} left {lobby.id[-6:]} (impatient)")

    async def _book(self, lobby_id: str, epoch: int) -> None:
        """Book a claimed lobby now (its checkout is over, or the b key asked)."""
        try:
            if epoch != self.generation:
                return
            self.auditor.start(lobby_id)
            try:
                booking = await self.store.book_ticket(lobby_id)
            finally:
                self.auditor.end(lobby_id)
        except AlreadyBooked:
            self.board.set_state(lobby_id, BOOKED)
            return
        except SoldOut as exc:
            self.note(f"sold out: {lobby_id[-6:]} needs {exc.requested}, {exc.seats_left} left")
            self.board.set_state(lobby_id, FULL)
            return
        except LobbyNotFound:
            self.board.remove(lobby_id)  # emptied or expired meanwhile
            return
        except PoolStateLost as exc:
            self.reached()
            self.state_lost(exc, epoch)
            return
        except FAILURES as exc:
            # Booked or not, unknown: the next audit's read tells the board.
            self.board.set_state(lobby_id, FULL)
            self.lost(exc)
            return
        except LobbyError as exc:
            self.metrics.errors += 1
            self.note(f"booking failed: {exc}")
            return
        finally:
            self._booking.discard(lobby_id)
        self.reached()
        if epoch != self.generation:
            return
        self.metrics.bookings.add()
        self.answered += 1
        self.auditor.booked_ok(booking)
        self.board.set_state(lobby_id, BOOKED)
        self.note(f"booked {lobby_id[-6:]} for {len(booking.users)}")
        for user in booking.users:
            self._waiting.pop(user, None)  # booked: their patience no longer matters

    async def _audits(self) -> None:
        while True:
            await asyncio.sleep(AUDIT_SECONDS)
            await self.audit_live()

    # -- reporting -----------------------------------------------------------------------------
    def clear(self) -> None:
        super().clear()
        self.answered = 0

    def checked(self) -> Checked:
        """The answered calls: a run none of whose calls was answered checked nothing,
        however clean the pool it never changed."""
        return Checked(LIVE_CHECKS, "answered calls", self.answered, {"answered": self.answered})

    def load(self) -> Load:
        """Arrivals offered against served, lately (see :func:`~simulator.metrics.load_of`);
        never behind while paused or cut off from Redis (the title says those)."""
        metrics = self.metrics
        load = load_of(self.config.rate, metrics.offered, metrics.served)
        if load.behind and (self.paused or self.disconnected):
            return replace(load, behind=False)
        return load

    def pool_notes(self) -> list[str]:
        """The title's notes: a lost pool's, and the simulator's own limit."""
        notes = []
        if self._recovery is not None:
            notes.append(f"{STATE_LOST}: starting a fresh pool")
        elif self.lost_pools:
            notes.append(f"{STATE_LOST}: fresh pool")
        if self._running and self.load().behind:
            notes.append(LIMIT_NOTE)
        return notes

    def summary(self) -> dict[str, str]:
        """The headless summary: the counts of the whole run, lost pools' included."""
        elapsed = max(1e-9, time.monotonic() - self.started)
        counts = self.violation_counts()
        return {
            "strategy": self.config.strategy,
            "joins": str(self.metrics.joins.total),
            "leaves": str(self.metrics.leaves.total),
            "bookings": str(self.metrics.bookings.total),
            "ok": str(self.verdict().ok).lower(),
            "violations": str(self.violations),
            **{kind: str(n) for kind, n in counts.items()},
            "joins_per_s": f"{self.metrics.joins.total / elapsed:.1f}",
            "offered_per_s": f"{self.metrics.offered.total / elapsed:.1f}",
            "served_per_s": f"{self.metrics.served.total / elapsed:.1f}",
            "p50_ms": f"{self.metrics.join_latency.percentile(50):.2f}",
            "p99_ms": f"{self.metrics.join_latency.percentile(99):.2f}",
            **self.health(),
            "seats_left": "unlimited"
            if self.metrics.seats_left is None
            else str(self.metrics.seats_left),
            **self.pool_summary(),
            **self.coverage(),
        }
