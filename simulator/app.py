"""The Textual dashboard over a Simulation (``lobbysim demo``) or a PoolFollower (``watch``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import Footer, Header

from .board import BOOKING, FILLING, FULL
from .commands import SimCommands
from .engine import Simulation
from .follower import PoolFollower
from .source import LiveSource
from .widgets import LobbyGrid, StatsPanel

TICK_SECONDS = 0.1
RATE_STEP = 1.25


class LobbySimApp(App[None]):
    CSS_PATH = "lobbysim.tcss"
    TITLE = "lobbysim"
    COMMANDS = App.COMMANDS | {SimCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("plus", "faster", "+Rate"),
        Binding("minus", "slower", "-Rate"),
        Binding("s", "switch_strategy", "Atomic/naive"),
        Binding("b", "book_full", "Book full"),
        Binding("r", "reset", "Reset"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        source: LiveSource,
        *,
        run_source: bool = True,
        tick: float | None = TICK_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``run_source=False`` and ``tick=None`` freeze the screen (snapshot tests)."""
        super().__init__()
        self.source = source
        self._run_source = run_source
        self._tick = tick
        self._clock = clock
        self._seen_lines = 0
        self.refreshes = 0
        self.refresh_seconds = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield LobbyGrid(id="grid")
        yield StatsPanel(id="stats")
        yield Footer()

    def on_mount(self) -> None:
        self._update_titles()
        if self._run_source:
            self.run_worker(self.source.run(), name="simulation", exclusive=True)
        self.refresh_view()
        if self._tick is not None:
            self.set_interval(self._tick, self.refresh_view)

    def _update_titles(self) -> None:
        source = self.source
        pool = source.pool
        mode = "WATCH" if isinstance(source, PoolFollower) else source.strategy.upper()
        paused = "  [paused]" if source.paused else ""
        self.sub_title = f"{mode} · pool {pool} · {source.clients.where}{paused}"

    def refresh_view(self) -> None:
        """Push the source's state into the widgets (10 times a second)."""
        try:
            self._draw()
        except NoMatches:  # a last tick while the app shuts down: widgets already removed
            return

    def _draw(self) -> None:
        grid, panel = self.query_one(LobbyGrid), self.query_one(StatsPanel)
        started = time.perf_counter()
        source = self.source
        now_ms = int(self._clock() * 1000)
        grid.show(source.board.ordered(), now_ms)
        panel.show_numbers(self._numbers())
        panel.show_sparks(source.metrics.joins.history(60), source.metrics.bookings.history(60))
        if source.logged > self._seen_lines:
            fresh = min(source.logged - self._seen_lines, len(source.log))
            panel.log_lines(list(source.log)[-fresh:] if fresh else [])
            self._seen_lines = source.logged
        self.refreshes += 1
        self.refresh_seconds += time.perf_counter() - started

    def _numbers(self) -> list[tuple[str, str]]:
        source, metrics = self.source, self.source.metrics
        counts = source.board.counts()
        latency = metrics.join_latency
        seats = "unlimited" if metrics.seats_left is None else f"{metrics.seats_left:,}"
        rows = [
            ("strategy", source.strategy),
            ("arrivals/s", f"{source.config.rate:.1f}" if isinstance(source, Simulation) else "—"),
            ("joins/s", f"{metrics.joins.rate():.1f}"),
            ("bookings/s", f"{metrics.bookings.rate():.1f}"),
            ("leaves/s", f"{metrics.leaves.rate():.1f}"),
            ("users waiting", f"{source.board.waiting_users():,}"),
            ("open lobbies", f"{counts[FILLING]:,}"),
            ("full lobbies", f"{counts[FULL] + counts[BOOKING]:,}"),
            (
                "join p50 / p99",
                f"{latency.percentile(50):.1f} / {latency.percentile(99):.1f} ms"
                if latency.count
                else "—",
            ),
            ("seats left", seats),
            ("joins / bookings", f"{metrics.joins.total:,} / {metrics.bookings.total:,}"),
            ("violations", f"{source.auditor.violations:,}"),
        ]
        return rows

    # -- actions ---------------------------------------------------------------------------------
    def _simulation(self) -> Simulation | None:
        if isinstance(self.source, Simulation):
            return self.source
        self.notify("Watching another process's pool: read-only.", severity="warning")
        return None

    def action_toggle_pause(self) -> None:
        self.source.toggle_pause()
        self._update_titles()

    def action_faster(self) -> None:
        if sim := self._simulation():
            sim.set_rate(sim.config.rate * RATE_STEP)

    def action_slower(self) -> None:
        if sim := self._simulation():
            sim.set_rate(sim.config.rate / RATE_STEP)

    async def action_switch_strategy(self) -> None:
        if sim := self._simulation():
            await sim.switch_strategy()
            self._update_titles()
            self.notify(
                f"Now {sim.strategy}: "
                + (
                    "watch the cards turn red."
                    if sim.strategy == "naive"
                    else "every guarantee holds."
                )
            )

    def action_book_full(self) -> None:
        if sim := self._simulation():
            n = sim.book_all_full()
            self.notify(f"Booking {n} full lobbies.")

    async def action_reset(self) -> None:
        if sim := self._simulation():
            await sim.reset()
            self._seen_lines = sim.logged

    def stats_for_tests(self) -> dict[str, Any]:
        return {"refreshes": self.refreshes, "refresh_seconds": self.refresh_seconds}
