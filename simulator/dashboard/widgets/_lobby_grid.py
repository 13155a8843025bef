"""The grid of lobby cards. As many cards as fit the widget are drawn, in fill order, from
a fixed set of card widgets updated in place; the rest are summarized on one line."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Static

from ...board import BOOKED, BOOKING, EXPIRED, FILLING, FULL, LobbyCard
from ._lobby_card import CARD_HEIGHT, CARD_WIDTH, CardFace, LobbyCardView

STATES = (FILLING, FULL, BOOKING, BOOKED, EXPIRED)
MAX_CARDS = 72
"""Card widgets made once; a larger screen draws this many and summarizes the rest."""
GUTTER = 1
SUMMARY_LINES = 2
"""Kept free under the cards for the summary line (it may wrap once on a narrow screen)."""


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
        """Show these lobbies (in fill order) as they are at ``now_ms``."""
        self._cards, self._now_ms = cards, now_ms
        self._draw()

    def _draw(self) -> None:
        visible = self._cards[: self.capacity]
        for index, view in enumerate(self._views):
            view.face = CardFace.of(visible[index], self._now_ms) if index < len(visible) else None
        hidden = self._cards[len(visible) :]
        summary = ""
        if hidden:
            counts = dict.fromkeys(STATES, 0)
            for card in hidden:
                counts[card.state] += 1
            detail = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
            summary = f"+ {len(hidden):,} more lobbies not drawn: {detail}"
        self._overflow.update(summary)
        self._overflow.display = bool(summary)
