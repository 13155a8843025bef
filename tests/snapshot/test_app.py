"""The dashboard: Pilot tests that press the keys, and a snapshot with time and chance frozen."""

from __future__ import annotations

from typing import Any

import pytest

from lobbycore import Lobby
from simulator import SimConfig, Simulation, open_clients
from simulator.app import LobbySimApp
from simulator.board import BOOKED, BOOKING
from simulator.metrics import LatencyHistogram, Metrics, RateMeter

SIZE = (150, 40)


def live_app(**config: Any) -> tuple[LobbySimApp, Simulation]:
    sim = Simulation(open_clients(None), SimConfig(**{"seed": 7, "rate": 60.0, **config}))
    return LobbySimApp(sim), sim


async def test_lobbies_fill_and_book_live() -> None:
    app, sim = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(2.5)
        assert sim.metrics.joins.total > 20
        assert sim.metrics.bookings.total > 0
        assert app.refreshes >= 10  # the 10 Hz tick runs
        assert sim.auditor.violations == 0


async def test_keys_drive_the_simulation() -> None:
    app, sim = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await pilot.press("space")
        assert sim.paused and "[paused]" in app.sub_title
        await pilot.press("space")
        assert not sim.paused
        await pilot.press("plus")
        assert sim.config.rate == pytest.approx(75)
        await pilot.press("minus", "minus")
        assert sim.config.rate == pytest.approx(48)
        await pilot.press("s")
        await pilot.pause(0.2)
        assert sim.strategy == "naive" and "NAIVE" in app.sub_title
        await pilot.press("s")
        await pilot.pause(0.2)
        assert sim.strategy == "atomic"
        await pilot.pause(1.0)
        before = sim.metrics
        assert before.joins.total > 0
        # Paused first, so that no buyer arrives after the reset: the fresh counters must
        # stay at zero (a live comparison of two counts depended on the machine's speed).
        await pilot.press("space")
        await pilot.press("r")
        await pilot.pause(0.3)
        assert sim.metrics is not before  # counters start again
        assert sim.metrics.joins.total == 0 and sim.paused
        await pilot.press("q")
    assert app.return_code == 0


async def test_book_key_books_every_full_lobby() -> None:
    # Buyers never book on their own here (a long checkout), so only `b` can book.
    app, sim = live_app(checkout=60.0, patience=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(1.5)
        full = [c.id for c in sim.board.ordered() if c.state == BOOKING]
        assert full, "some lobby should be full by now"
        assert sim.metrics.bookings.total == 0
        await pilot.press("b")
        await pilot.pause(0.5)
        assert sim.metrics.bookings.total >= 1


async def test_naive_strategy_turns_cards_red() -> None:
    app, sim = live_app(strategy="naive", rate=150)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(3.0)
        assert sim.auditor.violations > 0
        assert any(card.violated for card in sim.board.cards.values())
        assert app.query(".card.violated")


async def test_command_palette_lists_the_actions() -> None:
    app, sim = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"pause")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert sim.paused


def frozen_app() -> LobbySimApp:
    """A populated screen with no clock, no randomness and no running simulation."""
    now = 1_800_000_000.0
    fixed = lambda: 1000.5  # noqa: E731
    sim = Simulation(open_clients(None), SimConfig(seed=1, pool="snapshot"))
    metrics = Metrics(
        joins=RateMeter(clock=fixed), bookings=RateMeter(clock=fixed), leaves=RateMeter(clock=fixed)
    )
    for second, joins in enumerate([4, 9, 12, 20, 25, 31, 28, 26]):
        metrics.joins._buckets.append((992 + second, joins))
        metrics.bookings._buckets.append((992 + second, joins // 4))
    metrics.joins.total, metrics.bookings.total = 155, 37
    metrics.join_latency = LatencyHistogram()
    for ms in (0.8, 1.0, 1.1, 1.2, 4.0):
        metrics.join_latency.record(ms)
    sim.metrics = metrics
    created = int(now * 1000) - 5000
    for i in range(9):
        users = tuple(f"u{i}-{k}" for k in range(1 + i % 4))
        sim.board.upsert(
            Lobby(f"01ARZ3NDEKTSV4RRFFQ69G5F{i:02d}", "s", users, 4, created + i * 500)
        )
    sim.board.set_state("01ARZ3NDEKTSV4RRFFQ69G5F03", BOOKING)
    sim.board.set_state("01ARZ3NDEKTSV4RRFFQ69G5F07", BOOKED)
    sim.board.mark_violated(["01ARZ3NDEKTSV4RRFFQ69G5F05"])
    for line in ("12:00:01 buyer-1 joined G5F000 (1/4)", "12:00:02 booked G5F007 for 4"):
        sim.log.append(line)
        sim.logged += 1
    return LobbySimApp(sim, run_source=False, tick=None, clock=lambda: now)


def test_dashboard_snapshot(snap_compare: Any) -> None:
    assert snap_compare(frozen_app(), terminal_size=SIZE)
