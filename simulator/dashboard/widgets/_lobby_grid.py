"""The grid of lobby cards. As many cards as fit the widget are drawn, in the board's order
(lobbies filling first), from a fixed set of card widgets updated in place; the rest are
summarized on one line."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Static

from ...board import STATES, LobbyCard
from ._lobby_card import CARD_HEIGHT, CARD_WIDTH, CardFace, LobbyCardView

MAX_CARDS = 72
"""Card widgets made once; a larger screen draws this many and summarizes the rest."""
GUTTER = 1
SUMMARY_LINES = 1
"""Kept free under the cards for the summary line (never wrapped: see summary_text)."""


class LobbyGrid(Vertical):
    capacity: reactive[int] = reactive(0, init=False)
    """How many cards fit the widget's current size (set on resize)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cards: list[LobbyCard] = []
        self._now_ms = 0
        self._views = [LobbyCardView() for _ in range(MAX_CARDS)]
        self._grid = Grid(*self._views, id="cards")
        self._overflow = Static(id="overflow")

    def compose(self) -> ComposeResult:
        yield self._grid
        yield self._overflow

    def on_resize(self, event: Resize) -> None:
        width, height = self.content_size
        columns = max(1, (width + GUTTER) // (CARD_WIDTH + GUTTER))
        rows = max(1, (height - SUMMARY_LINES) // CARD_HEIGHT)
        self._grid.styles.grid_size_columns = columns
        self.capacity = min(MAX_CARDS, columns * rows)

    def watch_capacity(self) -> None:
        self._draw()

    def show(self, cards: list[LobbyCard], now_ms: int) -> None:
        """Show these lobbies (the first ones first) as they are at ``now_ms``."""
        self._cards, self._now_ms = cards, now_ms
        self._draw()

    def _draw(self) -> None:
        visible = self._cards[: self.capacity]
        for index, view in enumerate(self._views):
            view.face = CardFace.of(visible[index], self._now_ms) if index < len(visible) else None
        hidden = self._cards[len(visible) :]
        summary = summary_text(hidden, self.content_size.width)
        self._overflow.update(Text(summary, no_wrap=True, overflow="ellipsis"))
        self._overflow.display = bool(summary)


def summary_text(hidden: list[LobbyCard], width: int) -> str:
    """The line under the cards: how many lobbies are not drawn, and in which states, in
    the longest wording that fits ``width`` cells; states that do not fit become `…`."""
    if not hidden:
        return ""
    counts = dict.fromkeys(STATES, 0)
    for card in hidden:
        counts[card.state] += 1
    parts = [f"{n:,} {state}" for state, n in counts.items() if n]
    more = f"+ {len(hidden):,} more"
    wordings = [f"{more} lobbies: {', '.join(parts)}"]
    for kept in range(len(parts), 0, -1):
        shown = parts[:kept] + (["…"] if kept < len(parts) else [])
        wordings.append(f"{more}: {', '.join(shown)}")
    wordings.append(f"{more} lobbies")
    return next((text for text in wordings if len(text) <= width), more)
