"""The dashboard: Pilot tests that press the keys, and snapshots with time and chance frozen
at the three terminal sizes it must stay readable at, in both strategies and in watch mode."""

from __future__ import annotations

from typing import Any

import pytest
from textual.command import CommandList

from lobbycore import Lobby, LobbyEvent
from lobbysim.cli._redis import open_embedded
from simulator import PoolFollower, SimConfig, Simulation
from simulator.board import BOOKED, BOOKING, Board
from simulator.dashboard import LobbySimApp
from simulator.dashboard.widgets import CARD_WIDTH, EventLog, LobbyGrid
from simulator.metrics import LatencyHistogram, Metrics, RateMeter
from simulator.source import LiveSource

SIZE = (150, 40)


def live_app(**config: Any) -> tuple[LobbySimApp, Simulation]:
    sim = Simulation(open_embedded(), SimConfig(**{"seed": 7, "rate": 60.0, **config}))
    return LobbySimApp(sim), sim


async def test_lobbies_fill_and_book_live() -> None:
    app, sim = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(2.5)
        assert sim.metrics.joins.total > 0  # how many a busy machine manages is not the point
        assert sim.metrics.bookings.total > 0
        assert app.refreshes >= 2  # the tick repeats (its rate: benchmarks/bench_tui.py)
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
        # Until the live audit has caught the naive store and a red card is drawn (at most
        # 20 s: a loaded machine runs fewer buyers in the same time).
        for _ in range(100):
            await pilot.pause(0.2)
            if any(card.violated for card in sim.board.cards.values()) and red_drawn(app):
                break
        assert sim.auditor.violations > 0
        assert any(card.violated for card in sim.board.cards.values())
        assert red_drawn(app)


def red_drawn(app: LobbySimApp) -> bool:
    faces = app.query_one(LobbyGrid).faces
    return any(face is not None and face.state == "violated" for face in faces)


async def test_command_palette_lists_the_actions() -> None:
    app, sim = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"pause")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert sim.paused


def watch_app() -> tuple[LobbySimApp, PoolFollower]:
    follower = PoolFollower(open_embedded(), "watched")
    return LobbySimApp(follower), follower


SIMULATION_KEYS = ("plus", "minus", "s", "b", "r")


async def footer_keys(app: LobbySimApp, pilot: Any) -> set[str]:
    """The keys the footer shows, once it has drawn them (it is recomposed after the
    screen's first refresh; on a busy machine that took more than a fixed 0.3 s)."""
    for _ in range(100):
        keys = {key.key for key in app.query("FooterKey").results()}  # type: ignore[attr-defined]
        if keys:
            return keys
        await pilot.pause(0.1)
    return set()


async def test_watch_mode_hides_and_refuses_the_simulation_keys() -> None:
    app, follower = watch_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause(0.3)
        shown = {key for key, active in app.screen.active_bindings.items() if active.enabled}
        assert shown.isdisjoint(SIMULATION_KEYS) and {"space", "q"} <= shown
        shown_in_footer = await footer_keys(app, pilot)
        assert shown_in_footer.isdisjoint(SIMULATION_KEYS) and "space" in shown_in_footer
        await pilot.press(*SIMULATION_KEYS)
        await pilot.pause(0.2)
        assert not app.screen.query("Toast")  # no "read-only" notice: the keys do nothing
        assert follower.pool == "watched" and app.mode == "watch"
        await pilot.press("space")  # pausing the view still works: it freezes the follower
        assert follower.paused and "[paused]" in app.sub_title


async def test_demo_mode_shows_every_key() -> None:
    app, _sim = live_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause(0.2)
        assert {*SIMULATION_KEYS, "space", "q"} <= await footer_keys(app, pilot)
        await pilot.press("b")
        await pilot.pause(0.2)
        assert app.screen.query("Toast")  # "Booking N full lobbies."


async def palette_titles(app: LobbySimApp) -> list[str]:
    """The entries the command palette lists with an empty search, as the user sees them."""
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        options = app.screen.query_one(CommandList).options
        return [str(option.hit.text) for option in options]  # type: ignore[attr-defined]


async def test_palette_lists_each_command_once() -> None:
    app, _sim = live_app()
    titles = await palette_titles(app)
    assert len(titles) == len(set(titles)), titles
    assert titles.count("Quit") == 1
    for title in ("Pause / resume", "Book every full lobby now", "Reset the pool"):
        assert title in titles


async def test_palette_in_watch_mode_offers_no_simulation_command() -> None:
    app, _follower = watch_app()
    titles = await palette_titles(app)
    assert len(titles) == len(set(titles)), titles
    assert "Pause / resume" in titles and "Quit" in titles
    for title in titles:
        assert not title.startswith(("Faster", "Slower", "Switch", "Book", "Reset")), titles


# -- snapshots: a populated screen with no clock, no randomness and no running source --------
NOW = 1_800_000_000.0
LOBBIES = 20
"""More lobbies than the small sizes can draw, so that the summary line shows too."""
FILLING_FROM, BOOKING_FROM, BOOKED_BEFORE = 17, 12, 12
"""As in a running pool: the oldest lobbies booked (lingering), then some being booked,
some full, and the newest few filling."""


def users_of(i: int, prefix: str = "u") -> tuple[str, ...]:
    size = 4 if i < FILLING_FROM else i - FILLING_FROM + 1
    return tuple(f"{prefix}{i}-{k}" for k in range(size))


def set_life_states(board: Board, *, booking: bool = True) -> None:
    """Book the oldest lobbies (the latest booked last) and, in demo, start booking some
    full ones; a follower sees no booking state, only full then booked."""
    for i in range(LOBBIES):
        if i < BOOKED_BEFORE:
            board.set_state(lobby_id(i), BOOKED)
            board.cards[lobby_id(i)].ended = float(i)
        elif booking and i < BOOKING_FROM + 3:
            board.set_state(lobby_id(i), BOOKING)


def lobby_id(i: int) -> str:
    return f"01ARZ3NDEKTSV4RRFFQ69G5F{i:02d}"


def frozen_metrics() -> Metrics:
    fixed = lambda: 1000.5  # noqa: E731
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
    return metrics


def log(source: LiveSource, *lines: str) -> None:
    for line in lines:
        source.log.append(line)
        source.logged += 1


def frozen_app(strategy: str = "atomic") -> LobbySimApp:
    """A demo screen. Naive adds what the naive store really leaves: a lobby half-written by
    a racing join (4 users, no size, no creation time) holding users told other lobbies,
    found by the live auditor as in a real run, with its long log lines."""
    sim = Simulation(open_embedded(), SimConfig(seed=1, pool="snapshot", strategy=strategy))
    sim.metrics = frozen_metrics()
    created = int(NOW * 1000) - 12_000
    lobbies = {}
    for i in range(LOBBIES):
        users = users_of(i)
        lobbies[lobby_id(i)] = lobby = Lobby(lobby_id(i), "s", users, 4, created + i * 500)
        sim.board.upsert(lobby)
        sim.auditor.joined(users, lobby)
    set_life_states(sim.board)
    log(sim, "12:00:01 u0-0 joined 9G5F00 (1/4)", "12:00:02 booked 9G5F07 for 4")
    if strategy == "naive":
        # A join rewrote `users` on a hash another client had just deleted: the store holds
        # a lobby with neither maxUsers nor createdAt, and its users are in two lobbies.
        half = Lobby("01ARZ3NDEKTSV4RRFFQ69G5FHW", "", ("u13-1", "u15-0", "u17-0", "u18-1"), 0, 0)
        lobbies[half.id] = half
        sim.board.upsert(half)
        sim.auditor.check(lobbies, sim.auditor.versions())
        sim.board.mark_violated(sim.auditor.red_lobbies)
        log(sim, *(f"12:00:03 VIOLATION {line}" for line in sim.auditor.drain()))
    return LobbySimApp(sim, run_source=False, tick=None, clock=lambda: NOW)


def frozen_watch_app() -> LobbySimApp:
    """``lobbysim watch``: the board built from the pool's event stream."""
    follower = PoolFollower(open_embedded(), "loadtest")
    follower.metrics = frozen_metrics()
    at = int(NOW * 1000) - 30_000
    for i in range(LOBBIES):
        users = users_of(i, prefix="user-")
        follower.board.apply(LobbyEvent(f"{at + i * 1000}-0", "created", lobby_id(i), 4, 0, ()))
        follower.board.apply(
            LobbyEvent(f"{at + i * 1000}-1", "joined", lobby_id(i), 4, len(users), users)
        )
    set_life_states(follower.board, booking=False)
    log(
        follower,
        "12:00:00 watching pool 'loadtest' on redis://127.0.0.1:6390/0",
        "12:00:01 booked 9G5F02 for 4",
    )
    return LobbySimApp(follower, run_source=False, tick=None, clock=lambda: NOW)


SIZES = {"80x24": (80, 24), "100x30": (100, 30), "160x48": (160, 48)}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["atomic", "naive", "watch"])
def test_dashboard_snapshot(snap_compare: Any, mode: str, size: str) -> None:
    app = frozen_watch_app() if mode == "watch" else frozen_app(mode)
    assert snap_compare(app, terminal_size=SIZES[size])


@pytest.mark.parametrize("size", SIZES)
async def test_drawn_cards_are_whole_and_wide_enough(size: str) -> None:
    app = frozen_app("naive")
    async with app.run_test(size=SIZES[size]) as pilot:
        await pilot.pause(0.2)
        grid = app.query_one(LobbyGrid)
        cards = [slot for slot, face in enumerate(grid.faces) if face is not None]
        assert 0 < len(cards) <= LOBBIES + 1
        content = grid.content_size.region
        for slot in cards:
            region = grid.card_region(slot)
            assert region.width >= CARD_WIDTH  # id and age on one line, inside border, padding
            assert content.contains_region(region)  # bar and state visible
        hidden = LOBBIES + 1 - len(cards)
        assert (f"+ {hidden} more" in grid.summary) if hidden else not grid.summary


async def test_log_lines_wrap_at_words_and_again_after_a_resize() -> None:
    app = frozen_app("naive")
    written = " ".join(app.source.log).split()
    async with app.run_test(size=SIZES["160x48"]) as pilot:
        for size in ("160x48", "80x24", "100x30"):
            await pilot.resize_terminal(*SIZES[size])
            await pilot.pause(0.3)
            log = app.query_one(EventLog)
            width = log.scrollable_content_region.width
            assert all(strip.cell_length <= width for strip in log.lines)
            shown = " ".join(strip.text for strip in log.lines).split()
            assert shown == written, size  # every word whole: none was cut in two
