"""lobbycore: a ticketing lobby engine on Redis whose guarantees hold under concurrency.

Every operation of :class:`LobbyStore` (sync) and :class:`AsyncLobbyStore` (asyncio) is
one Lua script, run atomically by Redis in one round trip. :class:`NaiveLobbyStore` is the
original article's racy algorithm, kept for side-by-side demonstrations only. How a store's
calls reach Redis is a :class:`Transport` (:mod:`lobbycore.transport`).
"""

from ._aio import AsyncLobbyStore
from ._connect import check_redis_url, connect, unusable
from ._errors import (
    AlreadyBooked,
    AlreadyInLobby,
    InsecureTLS,
    InvalidInput,
    JoinReplayTooLate,
    KeysUnavailable,
    LayoutMismatch,
    LobbyError,
    LobbyNotFound,
    NotConfirmed,
    PartySpansShards,
    PoolDamaged,
    PoolNotFound,
    PoolRolledBack,
    PoolStateLost,
    ServerRefused,
    SoldOut,
    UnsafeServer,
)
from ._factory import async_store_for, store_for
from ._keys import pool_prefix
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from ._naive import (
    AsyncNaiveLobbyStore,
    NaiveLobbyStore,
    async_check_naive_supported,
    check_naive_supported,
)
from ._store import LobbyStore
from ._urls import redact_args, redact_text, redact_url
from .defaults import STRATEGIES, Strategy
from .layout import PoolLayout
from .typing import AsyncStore, AsyncTransport, SyncStore, Transport

__all__ = [
    "STRATEGIES",
    "AlreadyBooked",
    "AlreadyInLobby",
    "AsyncLobbyStore",
    "AsyncNaiveLobbyStore",
    "AsyncStore",
    "AsyncTransport",
    "Booking",
    "InsecureTLS",
    "InvalidInput",
    "JoinReplayTooLate",
    "KeysUnavailable",
    "LayoutMismatch",
    "Lobby",
    "LobbyError",
    "LobbyEvent",
    "LobbyNotFound",
    "LobbyStore",
    "NaiveLobbyStore",
    "NotConfirmed",
    "PartySpansShards",
    "PoolDamaged",
    "PoolLayout",
    "PoolNotFound",
    "PoolRolledBack",
    "PoolStateLost",
    "PoolStats",
    "ServerRefused",
    "SoldOut",
    "Strategy",
    "SyncStore",
    "Transport",
    "UnsafeServer",
    "async_check_naive_supported",
    "async_store_for",
    "check_naive_supported",
    "check_redis_url",
    "connect",
    "pool_prefix",
    "redact_args",
    "redact_text",
    "redact_url",
    "store_for",
    "unusable",
]
