"""The simulation engine: simulated ticket buyers as asyncio tasks over a lobby store.

No Textual here: the dashboard, the headless mode and the tests drive the same engine.
Buyers arrive as a Poisson process, join (alone or as a party), wait, leave when their
patience runs out, and a lobby is booked by one of its members as soon as it is full
(or, with ``book_after``, once it has waited that long). Every operation really runs
against Redis, so with the naive strategy the article's races really happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
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
from .source import AUDIT_SECONDS, REDIS_FAILURES, STATE_LOST, LiveSource, what_was_lost
from .tasks import stop_all as _stop

T = TypeVar("T")
# A write too few replicas confirmed may not survive a failover: an error, as an outage's.
FAILURES = (*REDIS_FAILURES, NotConfirmed)


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
        self._waiting: dict[str, asyncio.Event] = {}
        self._booking: set[str] = set()
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
            self._spawn(self._book(lobby_id, self.generation, delay=0.0, force=True))
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
            if self._ending is not None:
                self._ending.set()

    def _spawn(self, coroutine: Any) -> None:
        task = self._supervised(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _arrivals(self) -> None:
        while True:
            await asyncio.sleep(self.rng.expovariate(self.config.rate))
            if self.paused or self._switching.locked():
                continue
            size = 1
            if self.rng.random() < self.config.party_share:
                size = min(self.rng.randint(2, 3), self.config.max_users)
            users = tuple(f"buyer-{next(self._ids)}" for _ in range(size))
            self._spawn(self._buyers(users, self.generation))

    async def _buyers(self, users: tuple[str, ...], epoch: int) -> None:
        """One buyer, or a party arriving together, from arrival to booking or leaving."""
        store, config = self.store, self.config
        patience = self.rng.expovariate(1 / config.patience)
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
            self.auditor.end(*users)
        self.reached()
        if epoch != self.generation:
            return
        self.metrics.join_latency.record((time.perf_counter() - started) * 1000)
        self.metrics.joins.add(len(users))
        self.answered += 1
        self.auditor.joined(users, lobby)
        card = self.board.upsert(lobby)
        who = users[0] if len(users) == 1 else f"party of {len(users)}"
        self.note(f"{who} joined {card.short_id} ({len(lobby.users)}/{lobby.max_users})")
        if lobby.is_full:
            self._spawn(self._book(lobby.id, epoch, delay=config.checkout))
        elif config.book_after is not None and len(lobby.users) == len(users):
            # its creator's timer
            self._spawn(self._book(lobby.id, epoch, delay=config.book_after, claim_first=False))
        await self._wait_or_leave(users, lobby, patience, epoch)

    async def _wait_or_leave(
        self, users: tuple[str, ...], lobby: Lobby, patience: float, epoch: int
    ) -> None:
        booked = asyncio.Event()
        for user in users:
            self._waiting[user] = booked
        try:
            await asyncio.wait_for(booked.wait(), patience)
            return
        except TimeoutError:
            pass
        finally:
            for user in users:
                self._waiting.pop(user, None)
        while lobby.id in self._booking:  # a booking is running: let it decide
            await asyncio.sleep(0.05)
        if booked.is_set() or epoch != self.generation:
            return
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

    async def _book(
        self,
        lobby_id: str,
        epoch: int,
        delay: float,
        *,
        claim_first: bool = True,
        force: bool = False,
    ) -> None:
        """Book a lobby after ``delay``. A full lobby is claimed first, so that its impatient
        members wait for the outcome; a ``book_after`` timer claims it only when it fires."""
        if not claim_first:
            await asyncio.sleep(delay)
            delay = 0.0
        if (lobby_id in self._booking and not force) or epoch != self.generation:
            return
        self._booking.add(lobby_id)
        self.board.set_state(lobby_id, BOOKING)
        try:
            await asyncio.sleep(delay)
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
            event = self._waiting.get(user)
            if event is not None:
                event.set()

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

    def pool_notes(self) -> list[str]:
        if self._recovery is not None:
            return [f"{STATE_LOST}: starting a fresh pool"]
        return [f"{STATE_LOST}: fresh pool"] if self.lost_pools else []

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
            "p50_ms": f"{self.metrics.join_latency.percentile(50):.2f}",
            "p99_ms": f"{self.metrics.join_latency.percentile(99):.2f}",
            **self.health(),
            "seats_left": "unlimited"
            if self.metrics.seats_left is None
            else str(self.metrics.seats_left),
            **self.pool_summary(),
            **self.coverage(),
        }
