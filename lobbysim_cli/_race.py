"""``lobbysim race``: the same join storm against lobbycore and the article's algorithm.

Runs on an embedded in-process Redis (fakeredis with Lua) unless ``--redis-url`` is given,
then audits both pools and prints what each strategy did to its users.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from lobbycore import AlreadyBooked, AsyncLobbyStore, AsyncNaiveLobbyStore, LobbyNotFound
from lobbycore.audit import AuditReport, History, check, delete_pool, snapshot


@dataclass(frozen=True)
class RaceResult:
    strategy: str
    joins: int
    bookings: int
    seconds: float
    report: AuditReport

    @property
    def joins_per_s(self) -> float:
        return self.joins / self.seconds if self.seconds else 0.0


async def race_one(
    store: Any, sync_client: Any, *, naive: bool, users: int, concurrency: int, max_users: int
) -> RaceResult:
    """``concurrency`` tasks join ``users`` users, then two bookers race for each full lobby."""
    history = History()
    queue = iter(range(users))

    async def joiner() -> None:
        for i in queue:  # tasks share the iterator: each user joins exactly once
            user = f"buyer-{i}"
            history.joined([user], await store.find_or_create_lobby(user, max_users))

    started = time.perf_counter()
    await asyncio.gather(*(joiner() for _ in range(concurrency)))
    full = {lobby.id for _, lobby in history.joins if lobby.is_full}

    gate = asyncio.Semaphore(concurrency)

    async def booker(lobby_id: str) -> None:
        async with gate:
            # The other booker winning (AlreadyBooked) is the expected outcome.
            with contextlib.suppress(AlreadyBooked, LobbyNotFound):
                history.booked(await store.book_ticket(lobby_id))

    await asyncio.gather(*(booker(lobby_id) for lobby_id in sorted(full) for _ in range(2)))
    seconds = time.perf_counter() - started
    report = check(snapshot(sync_client, store.pool, naive=naive), history)
    return RaceResult(
        strategy="naive" if naive else "atomic",
        joins=users,
        bookings=len(history.bookings),
        seconds=seconds,
        report=report,
    )


async def race(
    async_client: Any,
    sync_client: Any,
    *,
    pool: str,
    users: int,
    concurrency: int,
    max_users: int,
    keep: bool = False,
) -> list[RaceResult]:
    """Both strategies under one pool name (their keys do not overlap). The pool's keys are
    deleted afterwards unless ``keep``; no other key is touched."""
    results = []
    for naive, store_type in ((False, AsyncLobbyStore), (True, AsyncNaiveLobbyStore)):
        store = store_type(async_client, pool=pool, lobby_ttl=None)
        try:
            results.append(
                await race_one(
                    store,
                    sync_client,
                    naive=naive,
                    users=users,
                    concurrency=concurrency,
                    max_users=max_users,
                )
            )
        finally:
            if not keep:
                delete_pool(sync_client, pool, naive=naive)
    return results


def render(results: list[RaceResult]) -> str:
    kinds = ("user_in_two_lobbies", "lost_join", "over_capacity", "double_booking")
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
