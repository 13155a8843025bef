"""lobbycore: a ticketing lobby engine on Redis whose guarantees hold under concurrency.

Every operation of :class:`LobbyStore` (sync) and :class:`AsyncLobbyStore` (asyncio) is
one Lua script, run atomically by Redis in one round trip. :class:`NaiveLobbyStore` is the
original article's racy algorithm, kept for side-by-side demonstrations only.
"""

from ._aio import AsyncLobbyStore
from ._connect import connect
from ._errors import (
    AlreadyBooked,
    AlreadyInLobby,
    InvalidInput,
    LobbyError,
    LobbyNotFound,
    PartySpansShards,
    SoldOut,
)
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from ._naive import AsyncNaiveLobbyStore, NaiveLobbyStore
from ._protocol import pool_prefix
from ._store import LobbyStore
from ._urls import redact_url

__all__ = [
    "AlreadyBooked",
    "AlreadyInLobby",
    "AsyncLobbyStore",
    "AsyncNaiveLobbyStore",
    "Booking",
    "InvalidInput",
    "Lobby",
    "LobbyError",
    "LobbyEvent",
    "LobbyNotFound",
    "LobbyStore",
    "NaiveLobbyStore",
    "PartySpansShards",
    "PoolStats",
    "SoldOut",
    "connect",
    "pool_prefix",
    "redact_url",
]
