"""The watch's engine (simulator/follower.py) counts the events its pool's stream trimmed
before it read them, exactly (Redis 7's entries-added), and its verdict names them; its
reads are folded per batch. Driven directly, on the embedded server: no subprocess, no
Textual."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lobbycore import AsyncLobbyStore
from lobbycore._keys import sub_pools
from lobbycore.admin import StreamInfo
from lobbysim.cli._redis import open_embedded
from simulator import PoolFollower, follower
from simulator.clients import RedisClients

STREAM_KEEPS = 10_000
"""About what the pool's change stream keeps (MAXLEN ~ in lobbycore/lua/common.lua)."""


async def fill(clients: RedisClients, pool: str, users: int, prefix: str = "u") -> None:
    """``users`` joins, each in a lobby of its own: three events each (created, joined, full),
    sent pipelined."""
    store = AsyncLobbyStore(clients.async_client, pool=pool, lobby_ttl=None, autopipeline=True)
    await asyncio.gather(*(store.find_or_create_lobby(f"{prefix}-{i}", 1) for i in range(users)))


def stream(clients: RedisClients, pool: str) -> dict[str, Any]:
    (keys,) = sub_pools(pool)
    return clients.sync_client.xinfo_stream(keys.events)  # type: ignore[no-any-return]


def truly_missed(clients: RedisClients, watch: PoolFollower) -> int:
    """Entries ever added minus those the watch read minus those still held past its cursor."""
    (keys,) = sub_pools(watch.pool)
    unread = len(clients.sync_client.xrange(keys.events, f"({watch.last_event}", "+"))
    return int(stream(clients, watch.pool)["entries-added"]) - watch.events - unread


def figures(watch: PoolFollower) -> dict[str, int]:
    return dict(watch.verdict().figures)


async def test_a_stream_trimmed_before_the_first_read_is_named_exactly() -> None:
    clients = open_embedded()
    await fill(clients, "early", 4_000)  # 12,000 events: the stream trimmed some
    info = stream(clients, "early")
    assert info["entries-added"] > info["length"]  # the premise: events were trimmed
    watch = PoolFollower(clients, "early")
    await watch.run(duration=0.3)
    missed = info["entries-added"] - info["length"]
    assert watch.events_missed == (missed, True)
    assert watch.events == info["length"]
    assert figures(watch)["events_missed"] == missed
    summary = watch.summary()
    assert summary["events_missed"] == str(missed) and summary["joins"] == "4000", summary
    assert any(f"{missed:,} events missed" in line for line in watch.log)
    assert f"{missed:,} events missed" in watch.pool_notes()


async def test_a_watch_that_reads_every_event_says_it_missed_none_sharded_too() -> None:
    clients = open_embedded()
    for shards in (1, 3):
        pool = f"small-{shards}"
        store = AsyncLobbyStore(clients.async_client, pool=pool, lobby_ttl=None, shards=shards)
        for i in range(60):
            await store.find_or_create_lobby(f"v-{i}", 2)
        watch = PoolFollower(clients, pool, shards=shards)
        await watch.run(duration=0.3)
        assert watch.events > 60
        assert figures(watch)["events_missed"] == 0, (shards, figures(watch))
        assert [gap.missed for gap in watch._gaps] == [0] * shards  # each shard's reads its own
        assert not [note for note in watch.pool_notes() if "missed" in note]


async def test_a_slowed_watch_names_the_events_trimmed_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A watch that reads 20 events a poll, behind a pool that got 12,000 more since its last
    read: the stream trimmed past its cursor; what it missed is counted exactly, and its
    verdict says so. Then it reads on, and the count stays exact."""
    clients = open_embedded()
    await fill(clients, "slow", 30, prefix="first")
    monkeypatch.setattr(follower, "BATCH", 20)
    monkeypatch.setattr(follower, "MAX_BATCHES", 1)
    watch = PoolFollower(clients, "slow")
    await watch.run(duration=0.05)  # catches up: the 90 events
    assert (watch.events, watch.events_missed) == (90, (0, True))
    await fill(clients, "slow", 4_000, prefix="later")
    for _ in range(3):
        await watch.run(duration=0.05)  # a few polls of 20 events: far behind
        missed, exact = watch.events_missed
        assert exact and missed == truly_missed(clients, watch) > 0
    assert 90 < watch.events < 1_000
    verdict = watch.verdict()
    assert verdict.figures["events_missed"] == missed and not verdict.findings
    summary = watch.summary()
    assert summary["events_missed"] == str(missed) and summary["joins"] == "4030", summary
    assert any(f"{missed:,} events missed" in line for line in watch.log)


async def test_reads_are_folded_per_batch_and_the_log_stays_short() -> None:
    """A poll that reads 40 bookings counts them all at once, and logs NOTES_PER_POLL of
    them and one line for the rest."""
    clients = open_embedded()
    store = AsyncLobbyStore(clients.async_client, pool="busy", lobby_ttl=None)
    await store.find_or_create_lobby("first", 1)
    watch = PoolFollower(clients, "busy")
    await watch.run(duration=0.05)
    for i in range(40):
        await store.book_ticket((await store.find_or_create_lobby(f"b-{i}", 1)).id)
    logged = watch.logged
    await watch.poll()
    assert (watch.metrics.joins.total, watch.metrics.bookings.total) == (41, 40)
    lines = list(watch.log)[-(watch.logged - logged) :]
    assert len(lines) == follower.NOTES_PER_POLL + 1, lines
    assert lines[-1].endswith(f"… and {40 - follower.NOTES_PER_POLL} more booked, 0 more expired")


def test_a_trim_past_the_cursor_between_two_readings_leaves_a_lower_bound_named_so() -> None:
    """The cursor inside the stream at both readings, and a trim in between that passed it:
    what the reads skipped is unknown, so the count becomes a lower bound, and the verdict
    names it ``events_missed_at_least``; a reading with the cursor at the end makes it exact."""
    gap = follower._Gap()
    gap.gauge("0-0", StreamInfo(100, "1-1", "1-100", 100))  # nothing trimmed: exact, 0
    gap.read = 50  # read 1-1 .. 1-50
    gap.gauge("1-50", StreamInfo(100, "1-101", "1-200", 200))  # trimmed past the cursor
    assert (gap.missed, gap.exact) == (50, True)
    gap.read = 60  # read 10 from the head
    gap.gauge("1-110", StreamInfo(100, "1-1000", "1-1100", 1100))  # passed it again
    assert (gap.missed, gap.exact) == (940, True)
    gap.read = 70
    gap.gauge("1-1010", StreamInfo(100, "1-1005", "1-1104", 1104))  # it may have skipped some
    assert (gap.missed, gap.exact) == (940, False)
    watch = PoolFollower(open_embedded(), "bound")
    watch._gaps = [gap]
    assert figures(watch) == {"events": 0, "events_missed_at_least": 940}
    gap.read = 154  # read on to the end: the reads had skipped 10
    gap.gauge("1-1104", StreamInfo(100, "1-1005", "1-1104", 1104))  # at the end: exact again
    assert (gap.missed, gap.exact) == (950, True)
