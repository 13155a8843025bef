"""The right-hand panel: the numbers, sparklines of joins/s and bookings/s, the event log."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from ...metrics import Load
from ._event_log import EventLog

SPARK_SECONDS = 60


def arrivals_row(load: Load | None) -> tuple[str, str]:
    """The arrivals row: the rate asked for while the demo keeps up with it; offered against
    served when it does not; a dash with no simulation (watch)."""
    if load is None:
        return ("arrivals/s", "—")
    if load.behind:
        return ("arrivals", f"{load.offered:,.0f}/s, served {load.served:,.0f}/s")
    return ("arrivals/s", f"{load.rate:.1f}")


class Numbers(Widget):
    """Name / value rows; repainted only when a value changes."""

    # Values change most ticks; only a change in the number of rows changes the layout (a
    # layout pass for each new value was most of the dashboard's CPU).
    rows: reactive[tuple[tuple[str, str], ...]] = reactive(())

    def watch_rows(
        self, old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]
    ) -> None:
        if len(old) != len(new):
            self.refresh(layout=True)

    def render(self) -> Table:
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim", no_wrap=True, overflow="ellipsis")
        table.add_column(justify="right", no_wrap=True)
        for name, value in self.rows:
            table.add_row(name, value)
        return table


class StatsPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Numbers(id="numbers")
        yield Label(f"joins/s (last {SPARK_SECONDS} s)", classes="spark spark-label")
        yield Sparkline([0.0], id="joins-spark", classes="spark")
        yield Label(f"bookings/s (last {SPARK_SECONDS} s)", classes="spark spark-label")
        yield Sparkline([0.0], id="bookings-spark", classes="spark")
        yield EventLog(id="log")

    def show_numbers(self, rows: list[tuple[str, str]]) -> None:
        self.query_one(Numbers).rows = tuple(rows)

    def show_sparks(self, joins: list[float], bookings: list[float]) -> None:
        # Sparkline.data is reactive: an unchanged series (most ticks) is no repaint.
        self.query_one("#joins-spark", Sparkline).data = joins or [0.0]
        self.query_one("#bookings-spark", Sparkline).data = bookings or [0.0]

    def log_lines(self, lines: list[str]) -> None:
        self.query_one(EventLog).add(lines)
