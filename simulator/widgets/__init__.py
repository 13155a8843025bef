"""The dashboard's widgets, grouped by feature."""

from .lobby_grid import LobbyCardView, LobbyGrid
from .stats_panel import StatsPanel

__all__ = ["LobbyCardView", "LobbyGrid", "StatsPanel"]
