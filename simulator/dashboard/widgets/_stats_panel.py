"""The right-hand panel: the numbers, sparklines of joins/s and bookings/s, the event log."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from ...metrics import Load
from ._event_log import EventLog

SPARK_SECONDS = 60
NAME_GAP = 2
"""Cells kept between a name and its value."""
DIM = Style(dim=True)


def arrivals_row(load: Load | None) -> tuple[str, str]:
    """The arrivals row: the rate asked for while the demo keeps up with it; offered against
    served when it does not; a dash with no simulation (watch)."""
    if load is None:
        return ("arrivals/s", "—")
    if load.behind:
        return ("arrivals", f"{load.offered:,.0f}/s, served {load.served:,.0f}/s")
    return ("arrivals/s", f"{load.rate:.1f}")


class Numbers(Widget):
    """Name / value rows, one line each: the name on the left (cut with `…` when the line is
    short), the value on the right. A frame repaints only the rows whose value changed."""

    # Not repaint: watch_rows repaints the rows that changed (the joins total changes every
    # frame, and a whole table redrawn for it is a large part of a frame); only a change in
    # the number of rows changes the layout.
    rows: reactive[tuple[tuple[str, str], ...]] = reactive((), repaint=False)

    def watch_rows(
        self, old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]
    ) -> None:
        if len(old) != len(new):
            self.refresh(layout=True)
            return
        width = self.content_size.width
        for y, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                self.refresh(Region(0, y, width, 1))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.rows)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        base = self.rich_style
        if y >= len(self.rows):
            return Strip.blank(width, base)
        name, value = self.rows[y]
        value = value[-width:] if width else ""
        room = width - len(value) - NAME_GAP
        if len(name) > room:
            name = name[: room - 1] + "…" if room > 1 else ""
        gap = width - len(name) - len(value)
        return Strip(
            [
                Segment(name, base + DIM),
                Segment(" " * gap, base),
                Segment(value, base),
            ],
            width,
        )


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
