"""Durability (``wait_replicas``) on real servers: a primary and a replica. With the replica
in sync, writing calls succeed; with it frozen (SIGSTOP: it acknowledges nothing), every writing call raises NotConfirmed carrying its result, the reads
still answer, and a retry of the same call once the replica is back is confirmed."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from lobbycore import AsyncLobbyStore, Booking, Lobby, LobbyStore, NotConfirmed, connect
from lobbysim.testing import RedisServer

TIMEOUT = 1.0  # seconds: a confirmed write on a loaded CI machine took more than 0.2


@contextmanager
def primary_and_replica() -> Iterator[tuple[RedisServer, redis.Redis, RedisServer]]:
    # No diskless-sync delay (Redis 7 waits 5 s for more replicas before a full sync).
    with RedisServer("--repl-diskless-sync-delay", "0") as primary, RedisServer() as replica:
        replica.follow(primary)
        admin = primary.client(socket_timeout=10)
        try:
            yield primary, admin, replica
        finally:
            admin.close()


@contextmanager
def paused(replica: RedisServer) -> Iterator[None]:
    """The replica's process stopped (so it acknowledges nothing), then resumed."""
    assert replica.process is not None
    replica.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        replica.process.send_signal(signal.SIGCONT)


def not_confirmed(raised: pytest.ExceptionInfo[NotConfirmed]) -> NotConfirmed:
    error = raised.value
    assert error.acknowledged_by == 0 and error.wanted == 1 and error.timeout == TIMEOUT
    assert "may or may not survive a failover" in str(error)
    return error


def test_sync_writes_are_confirmed_by_a_healthy_replica_and_refused_as_success_without() -> None:
    with primary_and_replica() as (_, admin, replica):
        store = LobbyStore(admin, pool="w", lobby_ttl=None, wait_replicas=1, wait_timeout=TIMEOUT)
        store.set_seats(10)
        lobby = store.join_party(["a", "b"], 2)
        booking = store.book_ticket(lobby.id, "r1")
        assert booking.users == ("a", "b")
        assert store.find_or_create_lobby("c", 2).users == ("c",)

        with paused(replica):
            with pytest.raises(NotConfirmed) as joined:
                store.find_or_create_lobby("d", 2)
            placed = not_confirmed(joined).result
            assert isinstance(placed, Lobby) and placed.users == ("c", "d")
            with pytest.raises(NotConfirmed) as booked:
                store.book_ticket(placed.id, "r2")
            assert isinstance(not_confirmed(booked).result, Booking)
            with pytest.raises(NotConfirmed) as left:
                store.leave_lobby("x")  # writes nothing, still waits: the answer is a write's
            assert not_confirmed(left).result is None
            with pytest.raises(NotConfirmed):
                store.set_seats(20)
            with pytest.raises(NotConfirmed):
                store.sweep_expired()
            # The reads answer at once, unaffected.
            assert store.lobby_of("d") is None  # booked: no longer in a lobby
            assert store.stats().bookings == 2
            assert store.seats_left() == 20

        # The replica is back: the same calls again (safe to replay) are confirmed, same answers.
        assert store.book_ticket(placed.id, "r2") == not_confirmed(booked).result
        store.set_seats(20)  # confirmed: no error
        assert store.seats_left() == 20


def test_asyncio_auto_pipelined_writes_are_confirmed_or_not_and_reads_answer() -> None:
    with primary_and_replica() as (primary, admin, replica):

        async def run() -> None:
            client = connect(primary.url, asyncio=True, cluster=False)
            store = AsyncLobbyStore(client, pool="aw", wait_replicas=1, wait_timeout=TIMEOUT)
            lobbies = await asyncio.gather(
                *(store.find_or_create_lobby(f"u{i}", 4) for i in range(40))
            )
            with paused(replica):
                outcomes = await asyncio.gather(
                    *(store.find_or_create_lobby(f"v{i}", 4) for i in range(40)),
                    *(store.lobby_of(f"u{i}") for i in range(40)),
                    return_exceptions=True,
                )
            writes, reads = outcomes[:40], outcomes[40:]
            refused = [o for o in writes if isinstance(o, NotConfirmed)]
            assert len(refused) == 40, writes
            assert [o.result.users[-1] for o in refused] == [f"v{i}" for i in range(40)]
            assert [r.id if isinstance(r, Lobby) else r for r in reads] == [
                lobby.id for lobby in lobbies
            ]
            await client.aclose()

        asyncio.run(run())
        # Each writing round trip carried one WAIT: never more WAITs than writing calls.
        stats = admin.info("commandstats")
        assert 0 < stats["cmdstat_wait"]["calls"] <= 80
