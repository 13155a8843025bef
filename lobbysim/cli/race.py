"""``lobbysim race``: the same join storm against lobbycore and the article's algorithm.

Runs on an embedded in-process Redis (fakeredis with Lua) unless ``--redis-url`` is given,
then audits both pools and prints what each strategy did to its users. A run longer than a
couple of seconds shows its progress on stderr (the naive half is O(lobbies) per join, so a
large one takes minutes): one line every ``LOBBYSIM_PROGRESS_SECONDS`` (default 2), redrawn
in place on a terminal, printed line after line otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from lobbycore import (
    AlreadyBooked,
    KeysUnavailable,
    LobbyNotFound,
    PoolLayout,
    async_store_for,
    check_naive_supported,
)
from lobbycore.audit import History, Verdict, async_snapshot, check
from lobbycore.defaults import DEFAULT_WAIT_REPLICAS, DEFAULT_WAIT_TIMEOUT, STRATEGIES
from lobbycore.typing import AsyncStore
from lobbycore.violations import LIVE_CHECKS
from lobbysim.checks.counts import over_answers
from lobbysim.run.options import RunOptions, add_to_argparse
from lobbysim.run.pools import claim, release
from lobbysim.run.redis import redis_url, url_help

from ._common import (
    EXIT_VIOLATIONS,
    POOL_RULE,
    UsageError,
    add_pool_options,
    add_redis_url,
    int_in,
    require_extra,
)
from ._redis import open_clients

if TYPE_CHECKING:
    from ._common import Commands

NAME = "race"
MAX_BUYERS = 1_000_000
MAX_CONCURRENCY = 10_000
PROGRESS_ENV = "LOBBYSIM_PROGRESS_SECONDS"
PROGRESS_SECONDS = 2.0
"""Seconds between progress lines (and before the first: a short run prints none)."""


def add_parser(commands: Commands) -> None:
    race = commands.add_parser(
        NAME,
        help="the same join storm against lobbycore and the article's algorithm, side by side",
        description=(
            "Concurrent buyers join lobbies, then two bookers race for every full lobby; "
            "once with lobbycore, once with the article's algorithm. Both pools are then "
            "audited. Exit 1 if lobbycore broke a guarantee (it should not), 2 on bad input "
            "(or when the server disables KEYS, which the naive half needs: the atomic half "
            "is reported first), else 0. Progress (each half's joins, rate and the violations "
            "its answers showed so far) goes to stderr every 2 s: redrawn in place on a "
            "terminal, a line each time otherwise. " + POOL_RULE.format(reset="")
        ),
    )
    add_redis_url(race, url_help("run against this Redis", "an embedded one"))
    add_pool_options(race, "pool name (default: a fresh random one)")
    race.add_argument(
        "--users", type=int_in(1, MAX_BUYERS), default=400, help="buyers (default 400)"
    )
    race.add_argument(
        "--concurrency",
        type=int_in(1, MAX_CONCURRENCY),
        default=50,
        help="concurrent joiners (default 50)",
    )
    add_to_argparse(race, ["max_users", "wait_replicas", "wait_timeout"])
    race.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    every = progress_seconds()
    options = RunOptions.from_namespace(args)
    url = redis_url(args.redis_url)
    if url is None:
        require_extra(NAME, "embedded")
    clients = open_clients(url)
    pool = args.pool or f"race-{uuid.uuid4().hex[:8]}"
    # Both halves write under one name, each in its own layout.
    claimed = claim(
        clients.sync_client, pool, PoolLayout(), reuse=args.reuse_pool, where=clients.where
    )
    try:
        check_naive_supported(clients.sync_client)
        refused: KeysUnavailable | None = None
    except KeysUnavailable as exc:  # the atomic half still runs, and is reported first
        refused = exc
    print(
        f"{args.users} buyers, {args.concurrency} at a time, lobbies of {args.max_users}, "
        f"pool {pool!r} on {clients.where}",
        flush=True,
    )
    strategies = STRATEGIES if refused is None else ("atomic",)
    progress = [Progress(strategy, args.users) for strategy in strategies]
    try:
        results = asyncio.run(
            race(
                clients.async_client,
                pool=pool,
                users=args.users,
                concurrency=args.concurrency,
                max_users=args.max_users,
                strategies=strategies,
                progress=progress,
                progress_every=every,
                wait_replicas=options.wait_replicas,
                wait_timeout=options.wait_timeout,
            )
        )
    finally:
        release(clients.sync_client, claimed, keep=args.keep, also=(PoolLayout(naive=True),))
    print(render(results))
    for result in results:
        print(
            f"strategy={result.strategy} joins_per_s={result.joins_per_s:.0f} {result.report.summary()}"
        )
    atomic = next(result for result in results if result.strategy == "atomic")
    if not atomic.report.ok:
        return EXIT_VIOLATIONS
    if refused is not None:
        raise UsageError(str(refused))
    return 0


def progress_seconds() -> float:
    """The progress interval: ``LOBBYSIM_PROGRESS_SECONDS`` (for tests), else 2 s."""
    text = os.environ.get(PROGRESS_ENV)
    try:
        seconds = float(text) if text else PROGRESS_SECONDS
    except ValueError:
        raise UsageError(f"{PROGRESS_ENV} must be a number of seconds, got {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise UsageError(f"{PROGRESS_ENV} must be > 0, got {text!r}")
    return seconds


@dataclass
class Progress:
    """One half of the race as it goes: joins so far, their rate, violations seen."""

    strategy: str
    users: int
    phase: str = "waiting"
    """waiting, joining, booking, auditing, done."""
    joins: int = 0
    started: float = 0.0
    join_seconds: float = 0.0
    violations: int = 0
    """Seen in the answers so far (the live auditor's checks); the audit's count once done."""

    def rate(self, now: float) -> float:
        seconds = self.join_seconds or now - self.started
        return self.joins / seconds if seconds > 0 else 0.0

    def describe(self, now: float) -> str:
        if self.phase == "waiting":
            return f"{self.strategy} waiting"
        joins = f"{self.joins}/{self.users} joins, {self.rate(now):.0f}/s"
        if self.phase == "done":
            return f"{self.strategy} done: {joins}, violations {self.violations}"
        doing = "" if self.phase == "joining" else f", {self.phase}"
        return f"{self.strategy} {joins}{doing}, violations {self.violations} so far"


def progress_line(halves: list[Progress], now: float) -> str:
    return "race: " + " | ".join(half.describe(now) for half in halves)


async def show_progress(halves: list[Progress], every: float, out: TextIO) -> None:
    """A line every ``every`` seconds until cancelled: redrawn in place (``\r``) on a
    terminal, one plain line each time otherwise (a log, a pipe)."""
    redraw = out.isatty()
    shown = False
    try:
        while True:
            await asyncio.sleep(every)
            line = progress_line(halves, time.perf_counter())
            out.write(f"\r{line}\x1b[K" if redraw else f"{line}\n")
            out.flush()
            shown = True
    finally:
        if redraw and shown:
            out.write("\n")  # the results start on a line of their own
            out.flush()


@dataclass(frozen=True)
class RaceResult:
    strategy: str
    joins: int
    bookings: int
    seconds: float
    report: Verdict

    @property
    def joins_per_s(self) -> float:
        return self.joins / self.seconds if self.seconds else 0.0


async def race_one(
    store: AsyncStore,
    *,
    strategy: str,
    users: int,
    concurrency: int,
    max_users: int,
    progress: Progress | None = None,
) -> RaceResult:
    """``concurrency`` tasks join ``users`` users, then two bookers race for each full lobby."""
    from simulator.auditor import LiveAuditor

    history = History()
    live = LiveAuditor()  # what the answers alone show, for the progress line
    shown = progress or Progress(strategy, users)
    queue = iter(range(users))

    async def joiner() -> None:
        for i in queue:  # tasks share the iterator: each user joins exactly once
            user = f"buyer-{i}"
            lobby = await store.find_or_create_lobby(user, max_users)
            history.joined([user], lobby)
            live.joined([user], lobby)
            shown.joins += 1
            shown.violations = live.violations

    started = time.perf_counter()
    shown.phase, shown.started = "joining", started
    await asyncio.gather(*(joiner() for _ in range(concurrency)))
    shown.phase, shown.join_seconds = "booking", time.perf_counter() - started
    full = {lobby.id for _, lobby in history.joins if lobby.is_full}

    gate = asyncio.Semaphore(concurrency)

    async def booker(lobby_id: str) -> None:
        async with gate:
            # The other booker winning (AlreadyBooked) is the expected outcome.
            with contextlib.suppress(AlreadyBooked, LobbyNotFound):
                booking = await store.book_ticket(lobby_id)
                history.booked(booking)
                live.booked_ok(booking)
                shown.violations = live.violations

    await asyncio.gather(*(booker(lobby_id) for lobby_id in sorted(full) for _ in range(2)))
    seconds = time.perf_counter() - started
    shown.phase = "auditing"
    report = check(
        await async_snapshot(store.client, store.pool, naive=strategy == "naive"), history
    )
    # A refused call ends the race (its error, exit 2), so every race has answers; were one
    # to have none, its verdict is over nothing, whatever the pool holds.
    report = over_answers(report, len(history.joins) + len(history.bookings))
    shown.phase, shown.violations = "done", len(report.findings)
    return RaceResult(
        strategy=strategy,
        joins=users,
        bookings=len(history.bookings),
        seconds=seconds,
        report=report,
    )


async def race(
    async_client: Any,
    *,
    pool: str,
    users: int,
    concurrency: int,
    max_users: int,
    strategies: tuple[str, ...] = STRATEGIES,
    progress: list[Progress] | None = None,
    progress_every: float = PROGRESS_SECONDS,
    progress_to: TextIO | None = None,
    wait_replicas: int = DEFAULT_WAIT_REPLICAS,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> list[RaceResult]:
    """Each strategy under one pool name (their keys do not overlap; the caller deletes
    them). Given ``progress`` (one per strategy), a progress line goes to ``progress_to``
    (stderr) every ``progress_every`` s. ``wait_replicas``/``wait_timeout`` go to the atomic
    store (the naive one has no WAIT)."""
    results = []
    reporter = None
    if progress is not None:
        reporter = asyncio.create_task(
            show_progress(progress, progress_every, progress_to or sys.stderr)
        )
    try:
        for i, strategy in enumerate(strategies):
            durable = strategy == "atomic"
            store = async_store_for(
                async_client,
                strategy,
                pool=pool,
                lobby_ttl=None,
                wait_replicas=wait_replicas if durable else DEFAULT_WAIT_REPLICAS,
                wait_timeout=wait_timeout,
            )
            results.append(
                await race_one(
                    store,
                    strategy=strategy,
                    users=users,
                    concurrency=concurrency,
                    max_users=max_users,
                    progress=None if progress is None else progress[i],
                )
            )
    finally:
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
    return results


def render(results: list[RaceResult]) -> str:
    kinds = LIVE_CHECKS
    header = f"{'strategy':<8} {'joins/s':>9} {'bookings':>9} " + " ".join(
        f"{k:>19}" for k in kinds
    )
    lines = [header]
    for r in results:
        counts = r.report.counts()
        lines.append(
            f"{r.strategy:<8} {r.joins_per_s:>9.0f} {r.bookings:>9} "
            + " ".join(f"{counts.get(k, 0):>19}" for k in kinds)
        )
    return "\n".join(lines)
