"""The Textual dashboard over a Simulation (``lobbysim demo``) or a PoolFollower (``watch``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header

from lobbycore import LobbyError

from ..board import BOOKING, FILLING, FULL
from ..engine import ResetRefused, Simulation
from ..source import REDIS_FAILURES, LiveSource
from .widgets import LobbyGrid, StatsPanel, arrivals_row

TICK_SECONDS = 0.2
"""One frame: what changed since the last is drawn at once, 5 times a second, whatever the
arrival rate (a frame costs what changed in it; at 10 a second the demo's default rate
cost twice the CPU for no more that a viewer can follow)."""
RATE_STEP = 1.25
WIDE = 120
"""Terminal width from which the panel gets its full width and the footer its spacing."""
TALL = 30
"""Terminal height from which the sparklines are drawn."""
SIMULATION_ACTIONS = frozenset({"faster", "slower", "switch_strategy", "book_full", "reset"})
"""Actions that drive simulated buyers: hidden, and refused, when watching another process."""


class LobbySimApp(App[None]):
    CSS_PATH = "lobbysim.tcss"
    TITLE = "lobbysim"
    # The screen gets these classes by its size; lobbysim.tcss narrows the panel and drops
    # the sparklines on small terminals. (No ClassVar: Textual's own annotation makes mypy
    # read them as instance variables.)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL, "-tall")]  # noqa: RUF012
    # The one list of what the user can do: the footer shows the descriptions, and the
    # command palette lists the tooltips (get_system_commands), both filtered by check_action.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause", tooltip="Pause / resume"),
        Binding("plus", "faster", "Faster", key_display="+", tooltip="Faster arrivals (x1.25)"),
        Binding("minus", "slower", "Slower", key_display="-", tooltip="Slower arrivals (/1.25)"),
        Binding(
            "s",
            "switch_strategy",
            "Strategy",
            tooltip="Switch strategy atomic ↔ naive (resets the pool)",
        ),
        Binding("b", "book_full", "Book", tooltip="Book every full lobby now"),
        Binding("r", "reset", "Reset", tooltip="Reset the pool"),
        Binding("q", "quit", "Quit"),
    ]

    mode: reactive[str] = reactive("", init=False)
    """atomic or naive (demo), or watch."""
    paused: reactive[bool] = reactive(False, init=False)
    status: reactive[str] = reactive("", init=False)
    """What the title adds about the connection (and the pool, when watching)."""

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
        self.simulation = source if isinstance(source, Simulation) else None
        """The simulation driven by the keys; None when watching another process's pool."""
        self._run_source = run_source
        self._tick = tick
        self._clock = clock
        self._seen_lines = 0
        self._last_seen: tuple[object, ...] = ()
        self.refreshes = 0
        self.refresh_seconds = 0.0
        self.failure: BaseException | None = None
        """The error that ended the source's run: the app exits and the caller reports it."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield LobbyGrid(id="grid")
        yield StatsPanel(id="stats")
        yield Footer(compact=self.size.width < WIDE)

    def on_mount(self) -> None:
        if self._run_source:
            self.run_worker(self._drive(), name="simulation", exclusive=True)
        self.refresh_view()
        if self._tick is not None:
            self.set_interval(self._tick, self.refresh_view)

    async def _drive(self) -> None:
        """Run the source; an error it could not ride out ends the app (no traceback on the
        screen: the caller prints it in one line)."""
        try:
            await self.source.run()
        except Exception as exc:
            self.failure = exc
            self.exit(return_code=1)

    # -- what the keys can do --------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide (and refuse) the simulation's keys when there is no simulation to drive."""
        return self.simulation is not None or action not in SIMULATION_ACTIONS

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands (Quit among them), then each footer key this mode allows,
        by its tooltip (q has none: Textual's Quit is the palette's)."""
        yield from super().get_system_commands(screen)
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is self and binding.show and binding.tooltip and active.enabled:
                key = binding.key_display or binding.key
                yield SystemCommand(
                    binding.tooltip, f"key: {key}", partial(self.run_action, binding.action)
                )

    # -- the display -----------------------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        # Below the -wide breakpoint, every key still fits on the footer's one line.
        for footer in self.query(Footer):
            footer.compact = event.size.width < WIDE

    def watch_mode(self) -> None:
        self._update_titles()

    def watch_paused(self) -> None:
        self._update_titles()

    def watch_status(self) -> None:
        self._update_titles()

    def _status(self) -> str:
        source = self.source
        notes = []
        if source.disconnected:
            notes.append(f"{source.outage}, {source.metrics.errors:,} errors")
        notes.extend(source.pool_notes())
        return "".join(f"  [{note}]" for note in notes)

    def _update_titles(self) -> None:
        paused = "  [paused]" if self.paused else ""
        where = self.source.clients.where
        self.sub_title = (
            f"{self.mode.upper()} · pool {self.source.pool} · {where}{paused}{self.status}"
        )

    def refresh_view(self) -> None:
        """Push the source's state into the widgets (each frame): nothing when nothing
        changed since the last frame (paused, or no buyer), but at least once a second
        (the ages and the rates)."""
        seen = self._seen()
        if seen == self._last_seen:
            return
        try:
            self._draw()
        except NoMatches:  # a last tick while the app shuts down: widgets already removed
            return
        self._last_seen = seen

    def _seen(self) -> tuple[object, ...]:
        """What a frame depends on, cheap to read: equal, there is nothing new to draw."""
        source, metrics = self.source, self.source.metrics
        return (
            int(self._clock()),
            source.board,
            source.board.version,
            source.logged,
            metrics,
            metrics.joins.total,
            metrics.leaves.total,
            metrics.bookings.total,
            metrics.errors,
            source.violations,
            source.paused,
            source.strategy,
            self._status(),
            self.size,
        )

    def _draw(self) -> None:
        grid, panel = self.query_one(LobbyGrid), self.query_one(StatsPanel)
        started = time.perf_counter()
        source = self.source
        self.mode, self.paused, self.status = source.strategy, source.paused, self._status()
        grid.show(source.board.ordered(), int(self._clock() * 1000))
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
        return [
            ("strategy", source.strategy),
            arrivals_row(None if self.simulation is None else self.simulation.load()),
            ("joins/s", f"{metrics.joins.rate():.1f}"),
            ("bookings/s", f"{metrics.bookings.rate():.1f}"),
            ("leaves/s", f"{metrics.leaves.rate():.1f}"),
            ("users waiting", f"{source.board.waiting_users():,}"),
            ("open lobbies", f"{counts[FILLING]:,}"),
            ("full lobbies", f"{counts[FULL] + counts[BOOKING]:,}"),
            (
                "join p50/p99",
                f"{latency.percentile(50):.1f} / {latency.percentile(99):.1f} ms"
                if latency.count
                else "—",
            ),
            (
                "seats left",
                "unlimited" if metrics.seats_left is None else f"{metrics.seats_left:,}",
            ),
            ("total joins", f"{metrics.joins.total:,}"),
            ("total bookings", f"{metrics.bookings.total:,}"),
            ("violations", f"{source.violations:,}"),
        ]

    # -- actions (the simulation's are only reachable when check_action allows them) ------------
    def action_toggle_pause(self) -> None:
        self.source.toggle_pause()
        self.paused = self.source.paused

    def action_faster(self) -> None:
        if sim := self.simulation:
            sim.set_rate(sim.config.rate * RATE_STEP)

    def action_slower(self) -> None:
        if sim := self.simulation:
            sim.set_rate(sim.config.rate / RATE_STEP)

    async def action_switch_strategy(self) -> None:
        if sim := self.simulation:
            try:
                await sim.switch_strategy()
            except (ResetRefused, LobbyError, *REDIS_FAILURES) as exc:
                self.notify(str(exc), title="Strategy unchanged", severity="warning")
                return
            self.mode = sim.strategy
            self.notify(
                f"Now {sim.strategy}: "
                + (
                    "watch the cards turn red."
                    if sim.strategy == "naive"
                    else "every guarantee holds."
                )
            )

    def action_book_full(self) -> None:
        if sim := self.simulation:
            self.notify(f"Booking {sim.book_all_full()} full lobbies.")

    async def action_reset(self) -> None:
        if sim := self.simulation:
            try:
                await sim.reset()
            except (ResetRefused, LobbyError, *REDIS_FAILURES) as exc:
                self.notify(str(exc), title="Reset refused", severity="warning")
                return
            self._seen_lines = sim.logged
