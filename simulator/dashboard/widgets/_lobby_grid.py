"""The grid of lobby cards: one widget drawing every card line by line. As many cards as fit
are drawn, the board's first lobbies (lobbies filling first); the rest are summarized on one
line under them.

What a frame costs is what changed in it: a lobby keeps its slot for as long as it is drawn,
and only the lines of the slots whose face changed are drawn again (a widget per card costs
Textual a style pass and a render of its own, for dozens of cards many times a second). The
first frame draws the board's order; later ones give a freed slot to the next lobby to draw,
and move the last card into a hole when no lobby is left to fill it, so that the cards stay
together."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.events import Resize
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ...board import STATES, LobbyCard
from ._lobby_card import CARD_HEIGHT, CARD_WIDTH, CardFace, card_lines

MAX_CARDS = 72
"""A larger screen draws this many cards and summarizes the rest."""
GUTTER = 1
"""Columns between two cards."""
SUMMARY_LINES = 1
"""Kept free under the cards for the summary line (never wrapped: see summary_text)."""
FACE_STATES = (*STATES, "violated")


class LobbyGrid(Widget):
    # Colors from the theme (lobbysim.tcss): the text and the border of a card in each state.
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"card--{state}" for state in FACE_STATES),
        *(f"card--{state}-border" for state in FACE_STATES),
        "card--summary",
    }

    capacity: reactive[int] = reactive(0, init=False)
    """How many cards fit the widget's current size (set on resize)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cards: list[LobbyCard] = []
        self._now_ms = 0
        self._columns = 1
        self._edges: list[tuple[int, int]] = []
        """Each column's first cell and width."""
        self._slots: list[str | None] = []
        """The lobby drawn in each of the first ``capacity`` slots (None: a blank)."""
        self.faces: list[CardFace | None] = []
        """What each slot shows, in the grid's order (None: a blank slot)."""
        self._lines: list[list[Strip] | None] = []
        """Each slot's lines as last drawn; None: to draw again."""
        self._base: Style | None = None
        self._state_styles: dict[str, tuple[Style, Style]] = {}
        self.summary = ""
        """The line under the cards ("" when every lobby is drawn)."""
        self.cards_drawn = 0
        self.lines_drawn = 0
        """Cards and lines drawn since the start: what the frames cost (tests, benchmarks)."""

    # -- geometry ---------------------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        width, height = self.content_size
        self._columns = columns = max(1, (width + GUTTER) // (CARD_WIDTH + GUTTER))
        self._edges = column_edges(width, columns)
        rows = max(1, (height - SUMMARY_LINES) // CARD_HEIGHT)
        capacity = min(MAX_CARDS, columns * rows)
        if capacity == self.capacity:
            self._start_over()  # a new width: every card again, in the board's order
        self.capacity = capacity

    def watch_capacity(self) -> None:
        self._start_over()

    def _start_over(self) -> None:
        self._slots = [None] * self.capacity
        self.faces = [None] * self.capacity
        self._lines = [None] * self.capacity
        self._draw()
        self.refresh()

    @property
    def summary_y(self) -> int:
        """The summary line's row: under the last row of slots."""
        return -(-self.capacity // self._columns) * CARD_HEIGHT

    def card_region(self, slot: int) -> Region:
        """Where a slot is drawn, in the widget's content (its lines: CARD_HEIGHT)."""
        row, column = divmod(slot, self._columns)
        x, width = self._edges[column]
        return Region(x, row * CARD_HEIGHT, width, CARD_HEIGHT)

    def notify_style_update(self) -> None:
        # A new theme: every card's colors again.
        super().notify_style_update()
        self._base = None
        self._state_styles.clear()
        self._lines = [None] * len(self._lines)

    # -- what is drawn ----------------------------------------------------------------------
    def show(self, cards: list[LobbyCard], now_ms: int) -> None:
        """Show these lobbies (the first ones first) as they are at ``now_ms``."""
        self._cards, self._now_ms = cards, now_ms
        self._draw()

    def _draw(self) -> None:
        drawn = self._cards[: self.capacity]
        by_id = {card.id: card for card in drawn}
        place(self._slots, [card.id for card in drawn])
        for slot, lobby_id in enumerate(self._slots):
            face = None if lobby_id is None else CardFace.of(by_id[lobby_id], self._now_ms)
            if face != self.faces[slot]:
                self.faces[slot] = face
                self._redraw(slot)
        summary = summary_text(self._cards[len(drawn) :], self.content_size.width)
        if summary != self.summary:
            self.summary = summary
            self.refresh(Region(0, self.summary_y, self.content_size.width, 1))

    def _redraw(self, slot: int) -> None:
        """Draw a slot's card again, and repaint the lines of it that changed (most often
        one: a card's age, or its users)."""
        region = self.card_region(slot)
        before, after = self._lines[slot], self._card(slot, region.width)
        for index, line in enumerate(after):
            if before is None or index >= len(before) or before[index] != line:
                self.refresh(Region(region.x, region.y + index, region.width, 1))

    def render_line(self, y: int) -> Strip:
        self.lines_drawn += 1
        width = self.content_size.width
        base = self._base_style()
        row, line = divmod(y, CARD_HEIGHT)
        first = row * self._columns
        if first >= self.capacity:
            if y == self.summary_y and self.summary:
                style = self.get_component_rich_style("card--summary")
                text = Text(self.summary, style=style, no_wrap=True, overflow="ellipsis")
                options = self.app.console.options.update(width=width, no_wrap=True)
                rendered = self.app.console.render_lines(text, options, style=base)[0]
                return Strip(rendered).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        segments: list[Segment] = []
        x = 0
        for column, (left, cells) in enumerate(self._edges):
            slot = first + column
            if slot >= self.capacity:
                break
            if left > x:
                segments.append(Segment(" " * (left - x), base))
            segments.extend(self._slot_lines(slot, cells)[line])
            x = left + cells
        return Strip(segments).adjust_cell_length(width, base)

    def _slot_lines(self, slot: int, width: int) -> list[Strip]:
        lines = self._lines[slot]
        if lines is None or (lines and lines[0].cell_length != width):
            lines = self._card(slot, width)
        return lines

    def _card(self, slot: int, width: int) -> list[Strip]:
        face = self.faces[slot]
        state = "filling" if face is None else face.state
        text, border = self._styles(state)
        lines = self._lines[slot] = card_lines(face, width, self.app.console, text, border)
        self.cards_drawn += 1
        return lines

    # Styles looked up once per theme: rich_style walks the DOM, and each refresh of a
    # card's lines empties Textual's own cache of the component styles.
    def _base_style(self) -> Style:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _styles(self, state: str) -> tuple[Style, Style]:
        """A card's text and border styles in this state."""
        styles = self._state_styles.get(state)
        if styles is None:
            styles = self._state_styles[state] = (
                self.get_component_rich_style(f"card--{state}"),
                self.get_component_rich_style(f"card--{state}-border"),
            )
        return styles


def column_edges(width: int, columns: int) -> list[tuple[int, int]]:
    """Each column's first cell and width: ``columns`` equal shares of ``width`` (as
    Textual's grid layout divides ``1fr`` columns), GUTTER cells apart."""
    share = Fraction(max(0, width - GUTTER * (columns - 1)), columns)
    edges = []
    for column in range(columns):
        left = (column * (share + GUTTER)).__floor__()
        right = (column * (share + GUTTER) + share).__floor__()
        edges.append((left, right - left))
    return edges


def place(slots: list[str | None], drawn: list[str]) -> None:
    """Put the lobbies ``drawn`` (ids, as many as ``slots`` at most) in ``slots``, in place:
    a lobby already in a slot stays there, one no longer drawn leaves it, the newcomers take
    the free slots in their order, and then the last cards move into the holes left, so that
    the drawn cards stay together at the front."""
    wanted = set(drawn)
    for index, lobby_id in enumerate(slots):
        if lobby_id is not None and lobby_id not in wanted:
            slots[index] = None
    placed = {lobby_id for lobby_id in slots if lobby_id is not None}
    newcomers = iter([lobby_id for lobby_id in drawn if lobby_id not in placed])
    for index, lobby_id in enumerate(slots):
        if lobby_id is None:
            newcomer = next(newcomers, None)
            if newcomer is None:
                break
            slots[index] = newcomer
    hole, last = 0, len(slots) - 1
    while True:
        while hole < len(slots) and slots[hole] is not None:
            hole += 1
        while last >= 0 and slots[last] is None:
            last -= 1
        if hole >= last:
            return
        slots[hole], slots[last] = slots[last], None


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
