"""The demo's batched scheduler: arrivals taken per tick, deadlines in a heap, each buyer's
lifetime ending once; and the panel's arrivals row, offered against served."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from lobbysim.cli._redis import open_embedded
from simulator import SimConfig, Simulation
from simulator.dashboard.widgets import arrivals_row
from simulator.metrics import Load, RateMeter, load_of
from simulator.tasks import Arrivals, Timers

TICK = 0.02


def test_arrivals_per_tick_follow_the_rate() -> None:
    rate, ticks = 500.0, 10_000  # 200 s of ticks: 100,000 arrivals expected
    arrivals = Arrivals(random.Random(1), 0.0, rate)
    per_tick = [arrivals.due(i * TICK, rate) for i in range(1, ticks + 1)]
    assert abs(sum(per_tick) - rate * TICK * ticks) < 0.01 * rate * TICK * ticks
    assert max(per_tick) > rate * TICK  # a Poisson count, not a fixed one
    assert arrivals.due(ticks * TICK, rate) == 0  # taken once


def test_a_late_tick_gets_the_arrivals_it_missed_and_a_pause_none() -> None:
    rate = 1000.0
    arrivals = Arrivals(random.Random(2), 0.0, rate)
    assert 900 < arrivals.due(1.0, rate) < 1100  # one tick a second late: that second's
    arrivals.skip(11.0, rate)  # paused ten seconds
    assert arrivals.due(11.0, rate) == 0
    assert arrivals.due(11.0 + TICK, rate) < 60  # no burst after the pause


def test_timers_fire_once_in_order_and_not_early() -> None:
    timers: Timers[str] = Timers()
    for at, item in [(0.3, "c"), (0.1, "a"), (0.2, "b"), (0.2, "b2"), (5.0, "late")]:
        timers.add(at, item)
    assert timers.due(0.05) == []
    assert timers.due(0.2) == ["a", "b", "b2"]
    assert timers.due(0.3) == ["c"] and timers.due(1.0) == []
    assert len(timers) == 1
    timers.clear()
    assert timers.due(10.0) == []


async def test_each_buyer_leaves_or_is_booked_once() -> None:
    """Through the engine on the embedded Redis: no buyer's patience fires twice, and each
    joined buyer ends exactly one way (left, booked, or still waiting when the run ends)."""
    sim = Simulation(
        open_embedded(),
        SimConfig(rate=200.0, patience=0.1, checkout=0.05, party_share=0.3, seed=4, lobby_ttl=None),
    )
    joined: list[str] = []
    left: Counter[str] = Counter()
    booked: Counter[str] = Counter()
    store = sim.store
    find, party, leave, book = (
        store.find_or_create_lobby,
        store.join_party,
        store.leave_lobby,
        store.book_ticket,
    )

    async def counted_find(user: str, max_users: int) -> object:
        lobby = await find(user, max_users)
        joined.append(user)
        return lobby

    async def counted_party(users: tuple[str, ...], max_users: int) -> object:
        lobby = await party(users, max_users)
        joined.extend(users)
        return lobby

    async def counted_leave(user: str) -> object:
        left[user] += 1
        # As on a loaded machine: the leave is slow to go, and its lobby may fill and be
        # checked out meanwhile (its booking must wait for it, or the buyer ends both ways).
        await asyncio.sleep(0.08)
        return await leave(user)

    async def counted_book(lobby_id: str) -> object:
        booking = await book(lobby_id)
        booked.update(booking.users)
        return booking

    store.find_or_create_lobby = counted_find  # type: ignore[method-assign]
    store.join_party = counted_party  # type: ignore[method-assign]
    store.leave_lobby = counted_leave  # type: ignore[method-assign]
    store.book_ticket = counted_book  # type: ignore[method-assign]
    await asyncio.wait_for(sim.run(2.0), 60)
    assert sim.summary()["ok"] == "true"
    assert left and booked, (left, booked)
    assert max(left.values()) == 1 and max(booked.values()) == 1
    waiting = set(sim._waiting)
    for user in joined:
        assert (left[user] + booked[user] + (user in waiting)) == 1, user
    assert sim.metrics.leaves.total == sum(left.values())


def test_the_arrivals_row_shows_offered_against_served_only_when_behind() -> None:
    now = [100.5]
    offered, served = RateMeter(clock=lambda: now[0]), RateMeter(clock=lambda: now[0])
    for second in range(95, 100):
        offered._buckets.append((second, 888))
        served._buckets.append((second, 255))
    behind = load_of(888.0, offered, served)
    assert behind.behind and arrivals_row(behind) == ("arrivals", "888/s, served 255/s")
    kept_up = load_of(25.0, RateMeter(), RateMeter())
    assert not kept_up.behind and arrivals_row(kept_up) == ("arrivals/s", "25.0")
    assert not load_of(25.0, offered, offered).behind
    assert arrivals_row(None) == ("arrivals/s", "—")
    assert arrivals_row(Load(30.0, 30.0, 27.5, False)) == ("arrivals/s", "30.0")
