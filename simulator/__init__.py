"""simulator: a live view of lobbycore, and the engine that drives it.

The engine (``engine``, ``follower``, ``board``, ``auditor``, ``metrics``, ``clients``)
imports no Textual; the dashboard (``app``, ``widgets``) imports the engine.
"""

from .board import Board, LobbyCard
from .clients import ConnectError, RedisClients, open_clients
from .engine import SimConfig, Simulation
from .follower import PoolFollower

__all__ = [
    "Board",
    "ConnectError",
    "LobbyCard",
    "PoolFollower",
    "RedisClients",
    "SimConfig",
    "Simulation",
    "open_clients",
]
