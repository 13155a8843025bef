"""What the dashboard reads, shared by the simulation (demo) and the follower (watch)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque

import redis

from lobbycore import LobbyError, NotConfirmed, PoolRolledBack, PoolStateLost, ServerRefused
from lobbycore.audit import async_read_lobbies
from lobbycore.typing import AsyncStore
from lobbycore.violations import Checked, Finding, Verdict, Violation

from .auditor import LiveAuditor
from .board import Board
from .clients import RedisClients
from .metrics import Metrics

AUDIT_SECONDS = 0.5
LOG_LINES = 500
REDIS_FAILURES = (redis.RedisError, OSError)
"""Redis unreachable or failing (``redis.ConnectionError`` is not an ``OSError``): counted,
shown as disconnected, and retried by the next call; never the end of a run."""
DISCONNECTED = "disconnected — retrying"
NOT_CONFIRMED = "writes not confirmed by replicas — retrying"
REFUSED = "refused by the server — retrying"


def outage_kind(exc: BaseException) -> str:
    """What an outage is, for the title and the log: Redis out of reach, a write its
    replicas did not confirm in time (it may or may not survive a failover), or a refusal."""
    if isinstance(exc, NotConfirmed):
        return NOT_CONFIRMED
    if isinstance(exc, ServerRefused):
        return REFUSED
    return DISCONNECTED


STATE_LOST = "pool state lost on the server"


def what_was_lost(exc: PoolStateLost) -> str:
    """How the server lost a pool's state, for the log: gone, replaced, or rolled back."""
    if isinstance(exc, PoolRolledBack):
        return f"went back in time (write sequence {exc.sequence}, this run had seen {exc.seen})"
    return "was replaced (its meta holds another epoch)" if exc.found else "lost its meta key"


"""What the title and the log say when the server came back without the pool (a restart
without persistence, a FLUSHALL, a failover to an empty replica)."""


def _being_cancelled() -> bool:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop running
        return False
    return task is not None and task.cancelling() > 0


class LiveSource:
    """A pool seen live: its board, metrics, auditor and event log."""

    def __init__(self, clients: RedisClients, pool: str, store: AsyncStore) -> None:
        self.clients = clients
        self.pool = pool
        self.store = store
        self.metrics = Metrics()
        self.board = Board()
        self.auditor = LiveAuditor()
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.logged = 0
        """Lines ever logged: a reader remembers how many it has seen."""
        self.paused = False
        self.started = time.monotonic()
        self.generation = 0
        """Bumped when the pool is reset, so that reads started before are dropped."""
        self.disconnected_since: float | None = None
        """When the current outage began (the first failed call), None while connected."""
        self.outage = DISCONNECTED
        """What the current (or last) outage is: see :func:`outage_kind`."""
        self.outages = 0
        self._disconnected_before = 0.0
        self.pool_missing = False
        """The pool holds no key (watch: a typo'd name, or a pool not made yet)."""
        self.live_audits = 0
        """Periodic audits that read the pool since the last Redis failure (or the start)."""
        self.lost_pools: list[str] = []
        """Pools whose state the server lost during the run, in the order it happened."""
        self._retired: list[Finding] = []
        """Violations found in those pools: the auditor starts over, the summary keeps them."""
        self.last_failure: str | None = None
        """The Redis failure that began the latest outage (redacted): what a summary that
        checked nothing names."""
        self.stop_requested = False
        """Asked to end (a signal): the run stops as if its duration were up."""

    @property
    def strategy(self) -> str:
        """atomic or naive for a simulation; watch for a follower."""
        return "watch"

    def note(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")
        self.logged += 1

    # -- the connection, as the calls find it ----------------------------------------------------
    @property
    def disconnected(self) -> bool:
        return self.disconnected_since is not None

    @property
    def disconnected_s(self) -> float:
        """Seconds spent disconnected, the current outage included."""
        ongoing = (
            0.0 if self.disconnected_since is None else time.monotonic() - self.disconnected_since
        )
        return self._disconnected_before + ongoing

    @property
    def incomplete(self) -> bool:
        """Redis failed, or lost the pool, during the run: its counts and audit cover only
        part of it."""
        return self.outages > 0 or bool(self.lost_pools)

    def stop(self) -> None:
        """End the run soon, as if its duration were up (the last look at the pool included)."""
        self.stop_requested = True

    # -- the pool, as the server keeps it ---------------------------------------------------------
    def state_lost(self, exc: PoolStateLost, generation: int) -> None:
        """The server answered without the pool's state (``exc``), for a call started in
        ``generation``: the source moves on (a fresh pool, or waiting for the pool)."""
        raise NotImplementedError

    def retire_pool(self) -> None:
        """Give up the current pool (its state was lost): its violations stay counted, the
        auditor and the board start over."""
        self.lost_pools.append(self.pool)
        self._retired.extend(self.auditor.found.values())
        self.auditor = LiveAuditor()
        self.board = Board()

    def violation_counts(self) -> dict[Violation, int]:
        """Violations of the run, by kind: the current pool's and those of lost pools."""
        counts = self.auditor.counts()
        retired = Counter(finding.violation for finding in self._retired)
        return {kind: n + retired[kind] for kind, n in counts.items()}

    @property
    def violations(self) -> int:
        return self.auditor.violations + len(self._retired)

    def verdict(self) -> Verdict:
        """The run's verdict: the live auditor's findings, lost pools' included, over what
        the run checked (:meth:`checked`: nothing, and the verdict is not ok, when the run
        had nothing to check)."""
        return Verdict((*self._retired, *self.auditor.found.values()), self.checked())

    def checked(self) -> Checked:
        """What the run's live checks covered, and how much of it."""
        raise NotImplementedError

    def coverage(self) -> dict[str, str]:
        """The summary line's account of what the run checked: its figures, then
        ``checked=nothing`` when that is nothing (the verdict's ``ok=`` is then false)."""
        verdict = self.verdict()
        figures = {name: str(value) for name, value in verdict.figures.items()}
        return {**figures, **({"checked": "nothing"} if verdict.checked_nothing else {})}

    @property
    def pool_never_seen(self) -> bool:
        """The pool held no key during the whole run (watch)."""
        return False

    def summary(self) -> dict[str, str]:
        """The headless summary line's fields."""
        raise NotImplementedError

    def pool_notes(self) -> list[str]:
        """What the title says about the pool (the connection aside)."""
        return ["pool not found"] if self.pool_missing else []

    def pool_summary(self) -> dict[str, str]:
        """The summary line's account of the pool: the one in use, and the lost ones."""
        return {
            "pool": self.pool,
            "pools_lost": str(len(self.lost_pools)),
            "lost_pools": ",".join(self.lost_pools),
        }

    def lost(self, exc: BaseException) -> None:
        """A call failed for want of Redis: count it; the first starts an outage.

        Raises CancelledError if the task is being cancelled: Python 3.11's timeouts may
        turn that cancellation into a TimeoutError, which must not be ridden out."""
        if _being_cancelled():
            raise asyncio.CancelledError
        self.metrics.errors += 1
        self.live_audits = 0
        if self.disconnected_since is None:
            self.disconnected_since = time.monotonic()
            self.outages += 1
            reason = self.clients.shown(" ".join(str(exc).split()))[:120] or type(exc).__name__
            self.last_failure = f"{type(exc).__name__}: {reason}"
            self.outage = outage_kind(exc)
            self.note(f"{self.outage} ({self.last_failure})")

    def reached(self) -> None:
        """A call succeeded: an outage, if any, is over."""
        if self.disconnected_since is not None:
            gap = time.monotonic() - self.disconnected_since
            self._disconnected_before += gap
            self.disconnected_since = None
            self.note(f"reconnected after {gap:.1f}s")

    def health(self) -> dict[str, str]:
        """The summary line's account of Redis failures during the run."""
        return {
            "errors": str(self.metrics.errors),
            "outages": str(self.outages),
            "disconnected_s": f"{self.disconnected_s:.1f}",
            "audits_after_outage": str(self.live_audits),
        }

    async def audit_live(self) -> None:
        """The periodic audit: a failure is counted, and the next one tries again."""
        generation = self.generation
        try:
            await self.audit_once()
        except PoolStateLost as exc:
            self.reached()
            self.state_lost(exc, generation)
            return
        except LobbyError:
            return
        except REDIS_FAILURES as exc:
            self.lost(exc)
            return
        self.reached()
        self.live_audits += 1

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self.note("paused" if self.paused else "resumed")

    async def run(self, duration: float | None = None) -> None:
        """Run until cancelled, or for ``duration`` seconds."""
        raise NotImplementedError

    def clear(self) -> None:
        """Start every count over (a reset): lost pools included."""
        self.metrics = Metrics()
        self.board = Board()
        self.auditor = LiveAuditor()
        self.lost_pools.clear()
        self._retired.clear()
        self.started = time.monotonic()

    async def audit_once(self) -> None:
        """Read the pool, check it against what clients were told, refresh the board."""
        generation, before, read_started = (
            self.generation,
            self.auditor.versions(),
            time.monotonic(),
        )
        naive = self.strategy == "naive"
        lobbies = await async_read_lobbies(
            self.clients.async_client,
            self.pool,
            naive=naive,
            shards=self.store.shards,
        )
        if generation != self.generation:
            return
        self.auditor.check(lobbies, before)
        self.board.sync(lobbies, read_started)
        self.board.mark_violated(self.auditor.red_lobbies)
        self.board.prune()
        self.metrics.seats_left = await self.store.seats_left()
        for line in self.auditor.drain():
            self.note(f"VIOLATION {line}")
