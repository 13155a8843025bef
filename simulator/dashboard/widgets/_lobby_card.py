"""One lobby card: short id and age, a fill bar with users/size, and the state; its face
(what it shows) and its lines (drawn by the grid, which holds every card)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from lobbycore.violations import Violation

from ...board import LobbyCard

CARD_WIDTH = 16
"""Narrowest card (border and padding included) that shows id, age, bar and state unwrapped."""
CARD_HEIGHT = 5
"""A border line, three lines of content, a border line."""
PADDING = 1
"""Cells between the border and the content, on either side."""
BAR_CELLS = 12
"""Widest fill bar; a small lobby gets one cell per place."""

VIOLATION_LABELS: dict[Violation, str] = {
    Violation.OVER_CAPACITY: "OVER",
    Violation.USER_IN_TWO_LOBBIES: "2 LOBBIES",
    Violation.LOST_JOIN: "LOST JOIN",
    Violation.LOST_LEAVE: "LOST LEAVE",
    Violation.DOUBLE_BOOKING: "BOOKED 2X",
    Violation.LOST_BOOKING: "LOST BOOKING",
    Violation.INDEX_MISMATCH: "BAD INDEX",
    Violation.OVERSELL: "OVERSOLD",
    Violation.UNEXPLAINED_PARTIAL_LOBBIES: "PARTIAL",
}
"""What a red card says for each broken guarantee: at most CARD_WIDTH - 4 cells, the
narrowest card's content. An over-full lobby's label gets its count when it fits
(``OVER 5/4``)."""
UNNAMED_VIOLATION = "VIOLATION"
"""A red card whose broken guarantee was not named to the board."""


@dataclass(frozen=True, slots=True)
class CardFace:
    """What one card shows: only values read from the store, ``None`` where none was read.

    A lobby half-written by the naive store (a `users` field on a hash without its
    `maxUsers` or `createdAt`) has no size and no age to show; the card says `?` and
    leaves the age out rather than printing ``4/0`` or a 56-year age.
    """

    short_id: str
    users: int
    max_users: int | None
    age_seconds: int | None
    state: str
    """filling, full, booking, booked, expired, or violated."""
    broke: tuple[Violation, ...] = ()
    """The guarantees a violated card's lobby broke, in Violation's order."""

    @classmethod
    def of(cls, card: LobbyCard, now_ms: int) -> CardFace:
        return cls(
            short_id=card.short_id,
            users=len(card.users),
            max_users=card.max_users if card.max_users > 0 else None,
            # A clock a little behind the server's reads as age 0, not a negative age.
            age_seconds=max(0, now_ms - card.created_at) // 1000 if card.created_at > 0 else None,
            state="violated" if card.violated else card.state,
            broke=card.broke if card.violated else (),
        )


def age_text(seconds: int) -> str:
    """At most four characters: 42s, 17m, 3h, 12d."""
    if seconds < 100:
        return f"{seconds}s"
    if seconds < 100 * 60:
        return f"{seconds // 60}m"
    if seconds < 100 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def render_face(face: CardFace, width: int) -> Text:
    """The card's three lines, each cut to ``width`` cells at most (never wrapped)."""
    width = max(1, width)
    top = Text(face.short_id[:width], style="bold")
    if face.age_seconds is not None:
        age = age_text(face.age_seconds)
        if len(face.short_id) + 1 + len(age) <= width:  # the id first; the age if it fits
            top.append(" " * (width - len(face.short_id) - len(age)))
            top.append(age, style="dim")
    size = "?" if face.max_users is None else str(face.max_users)
    label = f"{face.users}/{size}"
    middle = Text()
    if face.max_users is not None:
        cells = min(BAR_CELLS, face.max_users, width - len(label) - 1)
        if cells > 0:
            filled = round(cells * min(face.users, face.max_users) / face.max_users)
            middle.append("█" * filled + "░" * (cells - filled) + " ")
    middle.append(label)
    bottom = Text(violation_text(face, width) if face.state == "violated" else face.state)
    return Text("\n", no_wrap=True, overflow="ellipsis").join([top, middle, bottom])


def violation_text(face: CardFace, width: int) -> str:
    """A red card's state line: the first guarantee it broke, and how many more if that
    fits (``2 LOBBIES +1``)."""
    if not face.broke:
        return UNNAMED_VIOLATION
    first, more = face.broke[0], len(face.broke) - 1
    label = VIOLATION_LABELS[first]
    if first is Violation.OVER_CAPACITY and face.max_users is not None:
        counted = f"{label} {face.users}/{face.max_users}"
        label = counted if len(counted) <= width else label
    extra = f" +{more}" if more else ""
    return label + extra if len(label) + len(extra) <= width else label


BORDERS: dict[str, tuple[str, str, str, str, str, str]] = {
    # top left, top, top right, side, bottom left, bottom right (a bottom is the top's line)
    "round": ("╭", "─", "╮", "│", "╰", "╯"),
    "double": ("╔", "═", "╗", "║", "╚", "╝"),
    "heavy": ("┏", "━", "┓", "┃", "┗", "┛"),
    "blank": (" ", " ", " ", " ", " ", " "),
}
BORDER_OF_STATE = {"booking": "double", "violated": "heavy", "empty": "blank"}
"""The border drawn around a card in each state; round when not named here."""


def card_lines(
    face: CardFace | None,
    width: int,
    console: Console,
    text_style: Style,
    border_style: Style,
) -> list[Strip]:
    """The card's CARD_HEIGHT lines, each ``width`` cells: its border (by its state) in
    ``border_style``, its face's three lines padded in ``text_style``; a blank card with no
    face."""
    if width < 2 + 2 * PADDING:  # no room for a border: a blank
        return [Strip.blank(width, text_style)] * CARD_HEIGHT
    state = "empty" if face is None else face.state
    left, top, right, side, bottom_left, bottom_right = BORDERS[BORDER_OF_STATE.get(state, "round")]
    inner = width - 2
    content = inner - 2 * PADDING
    # One Strip a line, built from segments: a Strip is dear to make (it sets up caches of
    # its own), and these are the lines a frame draws again.
    blank = [Segment(" " * content, text_style)]
    bodies = [blank] * (CARD_HEIGHT - 2)
    if face is not None:
        # Line by line, each already cut to the width: a third of the cost of Rich's
        # wrapping renderer.
        for index, text in enumerate(render_face(face, content).split("\n")[: len(bodies)]):
            text.truncate(content, overflow="ellipsis", pad=True)
            bodies[index] = list(Segment.apply_style(text.render(console), text_style))
    edge, pad = Segment(side, border_style), Segment(" " * PADDING, text_style)
    return [
        Strip([Segment(left + top * inner + right, border_style)], width),
        *(Strip([edge, pad, *body, pad, edge], width) for body in bodies),
        Strip([Segment(bottom_left + top * inner + bottom_right, border_style)], width),
    ]
