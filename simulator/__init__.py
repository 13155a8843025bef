"""simulator: the engine that drives and follows a lobby pool, and its dashboard.

The engine (``config``, ``engine``, ``follower``, ``source``, ``board``, ``auditor``, ``metrics``,
``clients``) imports no Textual, so ``import simulator`` works without the dashboard's
dependencies; the dashboard (``simulator.dashboard``) imports the engine.
"""

from .board import Board, LobbyCard
from .clients import RedisClients
from .config import SimConfig
from .engine import Simulation
from .follower import PoolFollower

__all__ = [
    "Board",
    "LobbyCard",
    "PoolFollower",
    "RedisClients",
    "SimConfig",
    "Simulation",
]
