"""What the dashboard reads, shared by the simulation (demo) and the follower (watch)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from lobbycore.audit import read_lobbies

from .auditor import LiveAuditor
from .board import Board
from .clients import RedisClients
from .metrics import Metrics

AUDIT_SECONDS = 0.5
LOG_LINES = 500


class LiveSource:
    """A pool seen live: its board, metrics, auditor and event log."""

    def __init__(self, clients: RedisClients, pool: str, store: Any) -> None:
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

    @property
    def strategy(self) -> str:
        """atomic or naive for a simulation; watch for a follower."""
        return "watch"

    def note(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")
        self.logged += 1

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self.note("paused" if self.paused else "resumed")

    async def run(self, duration: float | None = None) -> None:
        """Run until cancelled, or for ``duration`` seconds."""
        raise NotImplementedError

    def clear(self) -> None:
        self.metrics = Metrics()
        self.board = Board()
        self.auditor = LiveAuditor()
        self.started = time.monotonic()

    async def audit_once(self) -> None:
        """Read the pool, check it against what clients were told, refresh the board."""
        generation, before, read_started = (
            self.generation,
            self.auditor.versions(),
            time.monotonic(),
        )
        naive = self.strategy == "naive"
        lobbies = await asyncio.to_thread(
            read_lobbies,
            self.clients.sync_client,
            self.pool,
            naive=naive,
            shards=getattr(self.store, "shards", 1),
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
