"""The dashboard's widgets, one private module each."""

from ._event_log import EventLog
from ._lobby_card import (
    CARD_WIDTH,
    VIOLATION_LABELS,
    CardFace,
    age_text,
    card_lines,
    render_face,
)
from ._lobby_grid import LobbyGrid
from ._stats_panel import Numbers, StatsPanel, arrivals_row

__all__ = [
    "CARD_WIDTH",
    "VIOLATION_LABELS",
    "CardFace",
    "EventLog",
    "LobbyGrid",
    "Numbers",
    "StatsPanel",
    "age_text",
    "arrivals_row",
    "card_lines",
    "render_face",
]
