"""The watch's engine (simulator/follower.py) counts the events its pool's stream trimmed
before it read them, exactly (Redis 7's entries-added), and its verdict names them; its
reads are folded per batch. Driven directly, on the embedded server: no subprocess, no
Textual."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest

from lobbycore import AsyncLobbyStore, LobbyEvent, PoolRolledBack, PoolStateLost, admin
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


async def read_20(store: AsyncLobbyStore, after: str, *, reply_bytes: int) -> list[LobbyEvent]:
    """A watch's read slowed down: 20 events at most."""
    return await store.events(after=after, count=20)


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
    monkeypatch.setattr(follower, "async_read_events", read_20)
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


async def test_large_reads_give_the_store_s_events_and_each_reply_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch's large reads (lobbycore.admin.async_read_events) give exactly the events
    ``store.events`` gives, parties, leaves and bookings included, in reads of at most
    ``reply_bytes // MAX_EVENT_BYTES`` entries."""
    clients = open_embedded()
    store = AsyncLobbyStore(clients.async_client, pool="large", lobby_ttl=None)
    for i in range(300):
        await store.find_or_create_lobby(f"solo-{i}", 4)
    await store.join_party([f"party-{i}" for i in range(20)], 40)  # its event names 16 of 20
    await store.leave_lobby("solo-1")
    full = await store.join_party([f"pair-{i}" for i in range(2)], 2)
    await store.book_ticket(full.id)
    expected, after = [], "0-0"
    while batch := await store.events(after=after, count=100):
        expected += batch
        after = batch[-1].id
    assert any(e.more_users == 4 for e in expected)
    counts: list[int] = []
    original = type(clients.async_client.pipeline()).execute_command

    def spy(self: Any, *args: Any, **options: Any) -> Any:
        if args[0] == "XRANGE":
            counts.append(int(args[-1]))
        return original(self, *args, **options)

    monkeypatch.setattr(type(clients.async_client.pipeline()), "execute_command", spy)
    reply_bytes = admin.MAX_EVENT_BYTES * admin.LARGE_READ_EVENTS
    read, after = [], "0-0"
    while batch := await admin.async_read_events(store, after, reply_bytes=reply_bytes):
        assert len(batch) <= admin.LARGE_READ_EVENTS
        read += batch
        after = batch[-1].id
    assert read == expected
    # The first read opened the pool through the store's script; every other was an XRANGE
    # of at most the events whose largest possible replies fit reply_bytes.
    assert counts and set(counts) == {admin.LARGE_READ_EVENTS}, counts


async def ten_joins_and_a_reader(
    pool: str,
) -> tuple[RedisClients, AsyncLobbyStore, AsyncLobbyStore]:
    """An embedded Redis, a store that made ten joins in ``pool``, and a reader's store of
    the same pool (which never creates it)."""
    clients = open_embedded()
    store = AsyncLobbyStore(clients.async_client, pool=pool, lobby_ttl=None)
    for i in range(10):
        await store.find_or_create_lobby(f"a-{i}", 4)
    reader = AsyncLobbyStore(clients.async_client, pool=pool, lobby_ttl=None, create_pool=False)
    return clients, store, reader


async def test_a_large_read_of_a_replaced_pool_is_refused() -> None:
    """A pool deleted and made again between two large reads (a new epoch) is not read as
    the same pool: the read raises PoolStateLost, as the store's script does."""
    clients, _, reader = await ten_joins_and_a_reader("again")
    big = admin.FOLLOW_REPLY_BYTES
    first = await admin.async_read_events(reader, "0-0", reply_bytes=big)  # opens the pool
    assert first
    await admin.async_delete_pool(clients.async_client, "again")
    other = AsyncLobbyStore(clients.async_client, pool="again", lobby_ttl=None)
    for i in range(10):
        await other.find_or_create_lobby(f"b-{i}", 4)
    with pytest.raises(PoolStateLost):
        await admin.async_read_events(reader, first[-1].id, reply_bytes=big)


async def test_the_lag_is_how_far_behind_the_newest_event_the_watch_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A watch held to 20 events a poll, behind events written 1 s after those it reads,
    says it is at least 1 s behind (``lag_s``, the largest, ``lag_max_s``, and the title);
    once it has read to the end, 0."""
    clients = open_embedded()
    await fill(clients, "lag", 10, prefix="early")
    watch = PoolFollower(clients, "lag")
    await watch.run(duration=0.05)  # caught up
    assert (watch.lag_s, watch.lag_max_s) == (0.0, 0.0)
    await fill(clients, "lag", 100, prefix="mid")
    await asyncio.sleep(1.0)
    await fill(clients, "lag", 10, prefix="late")
    monkeypatch.setattr(follower, "async_read_events", read_20)
    monkeypatch.setattr(follower, "MAX_BATCHES", 1)
    await watch.run(duration=0.05)  # read 20 of the 300 events of "mid"
    assert watch.lag_max_s >= watch.lag_s >= 1.0, watch.summary()
    assert f"{watch.lag_s:.1f} s behind" in watch.pool_notes()
    monkeypatch.undo()
    await watch.run(duration=0.05)
    summary = watch.summary()
    assert (watch.lag_s, summary["lag_s"]) == (0.0, "0.0"), summary
    assert float(summary["lag_max_s"]) >= 1.0, summary
    assert not [note for note in watch.pool_notes() if "behind" in note]


async def test_the_periodic_audit_waits_in_proportion_to_what_it_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An audit (a read of the whole pool) that took 0.2 s is followed by a wait of at least
    AUDIT_SPACING times that, not the usual AUDIT_SECONDS: audits take at most a share of
    the watch's time, whatever the pool's size."""
    clients = open_embedded()
    await fill(clients, "audited", 5)
    real_sleep = asyncio.sleep
    waits: list[float] = []
    audits: list[int] = []

    class Clock:
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        @staticmethod
        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await real_sleep(min(seconds, 0.01))

    async def slow_audit() -> None:
        audits.append(len(waits))
        await real_sleep(0.2)

    monkeypatch.setattr(follower, "asyncio", Clock())
    watch = PoolFollower(clients, "audited")
    monkeypatch.setattr(watch, "audit_live", slow_audit)
    await watch.run(duration=2.0)
    assert len(audits) >= 2, (audits, waits)
    # Each audit after the first came after a wait of at least 3 x 0.2 s.
    spaced = [w for w in waits if w >= follower.AUDIT_SPACING * 0.2]
    assert len(spaced) >= len(audits) - 1, (audits, waits)


async def test_a_large_read_of_a_pool_gone_back_in_time_is_refused() -> None:
    """A pool whose write sequence went below one the reader's store has seen (a failover
    to a lagging replica) is refused by a large read, as by the store's script."""
    clients, store, reader = await ten_joins_and_a_reader("back")
    big = admin.FOLLOW_REPLY_BYTES
    await admin.async_read_events(reader, "0-0", reply_bytes=big)  # opens the pool
    await store.find_or_create_lobby("later", 4)
    assert await admin.async_read_events(reader, "0-0", reply_bytes=big)  # sees the sequence
    (keys,) = sub_pools("back")
    clients.sync_client.hset(keys.meta, "wseq", "3")
    with pytest.raises(PoolRolledBack):
        await admin.async_read_events(reader, "0-0", reply_bytes=big)


async def test_large_reads_of_a_client_that_decodes_replies() -> None:
    """A client with decode_responses answers in str: the large reads give the same events."""
    client = fakeredis.FakeAsyncRedis(decode_responses=True)
    store = AsyncLobbyStore(client, pool="text", lobby_ttl=None)
    for i in range(30):
        await store.find_or_create_lobby(f"t-{i}", 4)
    await store.join_party([f"p-{i}" for i in range(20)], 40)
    expected = await store.events(after="0-0", count=1000)
    assert any(e.more_users == 4 for e in expected)
    reply_bytes = admin.MAX_EVENT_BYTES * admin.LARGE_READ_EVENTS
    # The store has opened the pool: every read is a large one.
    assert await admin.async_read_events(store, "0-0", reply_bytes=reply_bytes) == expected
