"""The grid of lobby cards. A fixed set of card widgets is updated in place each tick;
lobbies that do not fit are summarized on one line instead of drawn."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static

from ..board import LobbyCard

STATES = ("filling", "full", "booking", "booked", "expired")
BAR_WIDTH = 12


def render_card(card: LobbyCard, now_ms: int) -> Text:
    filled = len(card.users)
    width = min(BAR_WIDTH, max(card.max_users, 1))
    cells = round(width * min(filled, card.max_users) / max(card.max_users, 1))
    age = max(0, now_ms - card.created_at) // 1000
    text = Text()
    text.append(f"{card.short_id}", style="bold")
    text.append(f"  {age}s\n", style="dim")
    text.append("█" * cells + "░" * (width - cells))
    text.append(f" {filled}/{card.max_users}\n")
    text.append("VIOLATION" if card.violated else card.state)
    return text


class LobbyCardView(Static):
    """One card slot; shows whichever lobby the grid gives it."""

    def __init__(self) -> None:
        super().__init__(classes="card empty")
        self._shown: tuple[object, ...] | None = None

    def show(self, card: LobbyCard | None, now_ms: int) -> None:
        key = (
            None
            if card is None
            else (
                card.id,
                card.users,
                card.state,
                card.violated,
                (now_ms - card.created_at) // 1000,
            )
        )
        if key == self._shown:
            return  # nothing changed: no repaint
        self._shown = key
        if card is None:
            self.set_classes("card empty")
            self.update("")
            return
        state = "violated" if card.violated else card.state
        self.set_classes(f"card {state}")
        self.update(render_card(card, now_ms))


class LobbyGrid(Vertical):
    def __init__(self, slots: int = 48, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.slots = slots

    def compose(self) -> ComposeResult:
        with Grid(id="cards"):
            for _ in range(self.slots):
                yield LobbyCardView()
        yield Static(id="overflow")

    def on_mount(self) -> None:
        self._views = list(self.query(LobbyCardView))
        self._overflow = self.query_one("#overflow", Static)

    def show(self, cards: list[LobbyCard], now_ms: int) -> None:
        views = self._views
        visible = cards[: len(views)]
        for view, card in zip(
            views, [*visible, *([None] * (len(views) - len(visible)))], strict=True
        ):
            view.show(card, now_ms)
        hidden = cards[len(views) :]
        summary = ""
        if hidden:
            counts = {state: 0 for state in STATES}
            for card in hidden:
                counts[card.state] += 1
            detail = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
            summary = f"+ {len(hidden)} more lobbies not drawn ({detail})"
        self._overflow.update(summary)
        self._overflow.display = bool(summary)
