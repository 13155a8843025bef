"""Metrics, sparklines of joins/s and bookings/s, and the event log."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, RichLog, Sparkline, Static

SPARK_SECONDS = 60


class StatsPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="numbers")
        yield Label("joins/s (last 60 s)", classes="spark-label")
        yield Sparkline([0.0], id="joins-spark")
        yield Label("bookings/s (last 60 s)", classes="spark-label")
        yield Sparkline([0.0], id="bookings-spark")
        yield RichLog(id="log", max_lines=500, wrap=False, markup=False)

    def show_numbers(self, rows: list[tuple[str, str]]) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim")
        table.add_column(justify="right")
        for name, value in rows:
            table.add_row(name, value)
        self.query_one("#numbers", Static).update(table)

    def show_sparks(self, joins: list[float], bookings: list[float]) -> None:
        # The series change once a second; the tick is ten times that: skip repaints.
        if (joins, bookings) == getattr(self, "_sparks", None):
            return
        self._sparks = (joins, bookings)
        self.query_one("#joins-spark", Sparkline).data = joins or [0.0]
        self.query_one("#bookings-spark", Sparkline).data = bookings or [0.0]

    def log_lines(self, lines: list[str]) -> None:
        log = self.query_one("#log", RichLog)
        for line in lines:
            log.write(line)
